package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func metricsTo(w io.Writer, now func() time.Time) *metrics.Emitter {
	return metrics.New(w, metrics.WithClock(now))
}

// A failed reload serves the last good document, retrying the source every
// StaleRetry, until the document is DefaultMaxStale old; then Load fails.
func TestCachedSourceServesLastGoodDocument(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	src := &countingSource{}
	src.data.Store("v1")
	c := config.NewCachedSource(src, time.Minute, func() time.Time { return now })
	steps := []struct {
		name      string
		at        time.Duration // since the first load
		fail      bool
		want      string // "" = error
		wantLoads int32
	}{
		{"first load", 0, false, "v1", 1},
		{"reload fails: last good document", time.Minute, true, "v1", 2},
		{"no retry within StaleRetry", time.Minute + config.StaleRetry - time.Second, true, "v1", 2},
		{"retried after StaleRetry", time.Minute + config.StaleRetry, true, "v1", 3},
		{"still served just before the bound", config.DefaultMaxStale - time.Second, true, "v1", 4},
		{"past the bound: an error", config.DefaultMaxStale, true, "", 5},
		{"an error again, no stale left", config.DefaultMaxStale + time.Second, true, "", 6},
		{"source back", config.DefaultMaxStale + 2*time.Second, false, "v1", 7},
	}
	start := now
	for _, st := range steps {
		now = start.Add(st.at)
		src.fail.Store(st.fail)
		got, err := c.Load(ctx)
		if (err != nil) != (st.want == "") || string(got) != st.want || src.n.Load() != st.wantLoads {
			t.Fatalf("%s: got %q, %v after %d loads; want %q after %d", st.name, got, err, src.n.Load(), st.want, st.wantLoads)
		}
	}
}

// Serving a stale document is logged (without the document) and counted
// as ConfigReloadFailures{Outcome=stale}; failing for want of one as
// Outcome=failed. A Secrets Manager outage is the real cause here.
func TestCachedSourceStaleIsLoggedAndCounted(t *testing.T) {
	ctx := context.Background()
	fake := fakeaws.New(t)
	client := secretsmanager.NewFromConfig(fake.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	doc := `{"apps":[{"appid":"wxa","secret":"` + secretValue + `"}]}`
	fake.PutSecret("wxcentral/apps", doc)
	now := time.Unix(1_800_000_000, 0)
	var logs, emf bytes.Buffer
	c := config.NewCachedSource(config.NewSecretsManagerSource(client, "wxcentral/apps"), time.Minute,
		func() time.Time { return now },
		config.WithLogger(slogJSON(&logs)), config.WithMetrics(metricsTo(&emf, func() time.Time { return now })),
		config.WithMaxStale(10*time.Minute))

	if apps, err := config.LoadApps(ctx, c); err != nil || apps.Apps[0].AppID != "wxa" {
		t.Fatalf("first load: %v", err)
	}
	fake.FailSecretReads(1000)
	now = now.Add(2 * time.Minute)
	apps, err := config.LoadApps(ctx, c)
	if err != nil || apps.Apps[0].Secret != secretValue {
		t.Fatalf("during the outage: %v; want the last good document", err)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "serving the last good document") ||
		!strings.Contains(logs.String(), "InternalServiceError") {
		t.Errorf("log %q: want a warning naming the failure", logs.String())
	}
	if strings.Contains(logs.String(), secretValue) {
		t.Error("the log carries the secret")
	}
	if got := emfOutcomes(t, emf.String()); strings.Join(got, ",") != "stale" {
		t.Errorf("ConfigReloadFailures outcomes %v, want [stale]", got)
	}

	emf.Reset()
	now = now.Add(10 * time.Minute)
	if _, err := config.LoadApps(ctx, c); err == nil {
		t.Fatal("a document older than the bound was served")
	}
	if got := emfOutcomes(t, emf.String()); strings.Join(got, ",") != "failed" {
		t.Errorf("ConfigReloadFailures outcomes %v, want [failed]", got)
	}
}

// emfOutcomes returns the Outcome of each ConfigReloadFailures line.
func emfOutcomes(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		if m["ConfigReloadFailures"] == float64(1) {
			got = append(got, m["Outcome"].(string))
		}
	}
	return got
}

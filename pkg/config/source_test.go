package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/config"
)

type countingSource struct {
	n    atomic.Int32
	data atomic.Value // string
	fail atomic.Bool
}

func (c *countingSource) Load(context.Context) ([]byte, error) {
	c.n.Add(1)
	if c.fail.Load() {
		return nil, errors.New("source down")
	}
	return []byte(c.data.Load().(string)), nil
}

func TestCachedSource(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	src := &countingSource{}
	src.data.Store("v1")
	c := config.NewCachedSource(src, time.Minute, clock, config.WithMaxStale(0)) // stale serving has its own test
	if src.n.Load() != 0 {
		t.Fatal("loaded before first use")
	}
	steps := []struct {
		name      string
		advance   time.Duration
		setData   string
		fail      bool
		want      string
		wantErr   bool
		wantLoads int32
	}{
		{"first load reads the source", 0, "", false, "v1", false, 1},
		{"within ttl serves the cache", 59 * time.Second, "v2", false, "v1", false, 1},
		{"at ttl reloads", time.Second, "", false, "v2", false, 2},
		{"failed reload is an error", 61 * time.Second, "", true, "", true, 3},
		{"failure not cached", 0, "v3", false, "v3", false, 4},
		{"clock going backwards reloads", -time.Hour, "", false, "v3", false, 5},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.setData != "" {
			src.data.Store(st.setData)
		}
		src.fail.Store(st.fail)
		got, err := c.Load(ctx)
		if (err != nil) != st.wantErr || string(got) != st.want || src.n.Load() != st.wantLoads {
			t.Fatalf("%s: got %q, %v after %d loads; want %q, err=%v, %d loads", st.name, got, err, src.n.Load(), st.want, st.wantErr, st.wantLoads)
		}
	}
	c.Invalidate()
	if _, err := c.Load(ctx); err != nil || src.n.Load() != 6 {
		t.Fatalf("invalidate did not force a load: %v, %d", err, src.n.Load())
	}
}

func TestCachedSourceTTLClamp(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second, time.Hour} {
		now := time.Unix(0, 0)
		src := &countingSource{}
		src.data.Store("x")
		c := config.NewCachedSource(src, ttl, func() time.Time { return now })
		_, _ = c.Load(context.Background())
		now = now.Add(config.MaxCacheTTL - time.Second)
		_, _ = c.Load(context.Background())
		now = now.Add(time.Second)
		_, _ = c.Load(context.Background())
		if src.n.Load() != 2 {
			t.Fatalf("ttl %v: %d loads, want 2 (cache kept exactly MaxCacheTTL)", ttl, src.n.Load())
		}
	}
}

func TestCachedSourceConcurrentLoadsShareOne(t *testing.T) {
	src := &countingSource{}
	src.data.Store("x")
	c := config.NewCachedSource(src, time.Minute, func() time.Time { return time.Unix(0, 0) })
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := c.Load(context.Background()); err != nil || string(b) != "x" {
				t.Error(b, err)
			}
		}()
	}
	wg.Wait()
	if src.n.Load() != 1 {
		t.Fatalf("%d loads, want 1", src.n.Load())
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "apps.json")
	if err := os.WriteFile(p, []byte(`{"apps":[{"appid":"wxa","secret":"x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	apps, err := config.LoadApps(context.Background(), config.NewFileSource(p))
	if err != nil || apps.Apps[0].AppID != "wxa" {
		t.Fatalf("%v %v", apps, err)
	}
	if _, err := config.NewFileSource(filepath.Join(dir, "none.json")).Load(context.Background()); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestSecretsManagerSource(t *testing.T) {
	ctx := context.Background()
	fake := fakeaws.New(t)
	client := secretsmanager.NewFromConfig(fake.AWSConfig())
	doc := `{"apps":[{"appid":"wxa","secret":"` + secretValue + `","tickets":["jsapi"]}]}`
	fake.PutSecret("wxcentral/apps", doc)

	t.Run("by name", func(t *testing.T) {
		b, err := config.NewSecretsManagerSource(client, "wxcentral/apps").Load(ctx)
		if err != nil || string(b) != doc {
			t.Fatalf("%q %v", b, err)
		}
	})
	t.Run("by ARN", func(t *testing.T) {
		b, err := config.NewSecretsManagerSource(client, fake.SecretARN("wxcentral/apps")).Load(ctx)
		if err != nil || string(b) != doc {
			t.Fatalf("%q %v", b, err)
		}
	})
	t.Run("absent secret", func(t *testing.T) {
		_, err := config.NewSecretsManagerSource(client, "wxcentral/none").Load(ctx)
		if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") || !strings.Contains(err.Error(), "wxcentral/none") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty id", func(t *testing.T) {
		_, err := config.NewSecretsManagerSource(client, "").Load(ctx)
		if err == nil || !strings.Contains(err.Error(), "secret id: missing") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cached: one read per ttl, a rotation is seen after it", func(t *testing.T) {
		now := time.Unix(1_800_000_000, 0)
		before := fake.SecretReads("wxcentral/apps")
		c := config.NewCachedSource(config.NewSecretsManagerSource(client, "wxcentral/apps"), 0, func() time.Time { return now })
		for range 5 {
			apps, err := config.LoadApps(ctx, c)
			if err != nil || apps.Apps[0].Secret != secretValue {
				t.Fatal(err)
			}
		}
		if n := fake.SecretReads("wxcentral/apps") - before; n != 1 {
			t.Fatalf("%d reads, want 1", n)
		}
		fake.PutSecret("wxcentral/apps", `{"apps":[{"appid":"wxa","secret":"rotated"}]}`)
		now = now.Add(config.MaxCacheTTL)
		apps, err := config.LoadApps(ctx, c)
		if err != nil || apps.Apps[0].Secret != "rotated" {
			t.Fatalf("rotation not seen: %v", err)
		}
	})
	t.Run("malformed secret names the field", func(t *testing.T) {
		fake.PutSecret("wxcentral/bad", `{"apps":[{"appid":"wxa","secret":"`+secretValue+`"},{"appid":"wxa","secret":"y"}]}`)
		_, err := config.LoadApps(ctx, config.NewSecretsManagerSource(client, "wxcentral/bad"))
		if err == nil || err.Error() != "apps document: apps[1].appid: duplicate of apps[0].appid" {
			t.Fatalf("err = %v", err)
		}
	})
}

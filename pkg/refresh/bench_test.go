package refresh_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// countingStore counts every store call (each is one DynamoDB request).
type countingStore struct {
	refresh.Store
	calls atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error) {
	c.calls.Add(1)
	return c.Store.Get(ctx, appid, kind, consistent)
}

func (c *countingStore) TakeLease(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration) (credential.Record, error) {
	c.calls.Add(1)
	return c.Store.TakeLease(ctx, appid, kind, owner, now, ttl)
}

func (c *countingStore) Commit(ctx context.Context, appid string, kind credential.Kind, cm credential.Commit) (credential.Record, error) {
	c.calls.Add(1)
	return c.Store.Commit(ctx, appid, kind, cm)
}

func (c *countingStore) RecordFailure(ctx context.Context, appid string, kind credential.Kind, owner string, f credential.Failure) error {
	c.calls.Add(1)
	return c.Store.RecordFailure(ctx, appid, kind, owner, f)
}

func (c *countingStore) ReleaseLease(ctx context.Context, appid string, kind credential.Kind, owner string) error {
	c.calls.Add(1)
	return c.Store.ReleaseLease(ctx, appid, kind, owner)
}

func (c *countingStore) SpendForce(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration, limit int) (credential.Record, error) {
	c.calls.Add(1)
	return c.Store.SpendForce(ctx, appid, kind, owner, now, ttl, limit)
}

func (c *countingStore) CommitUnleased(ctx context.Context, appid string, kind credential.Kind, cm credential.Commit) (credential.Record, error) {
	c.calls.Add(1)
	return c.Store.CommitUnleased(ctx, appid, kind, cm)
}

// BenchmarkSweepAllFresh measures the steady state of the scheduled sweep:
// 3 apps with an access_token and a jsapi_ticket each, all fresh. It
// reports WeChat calls (must be 0) and DynamoDB calls per sweep.
func BenchmarkSweepAllFresh(b *testing.B) {
	clock := wechattest.NewClock(start)
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now))
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	client, table := dynamotest.NewTable(b)
	store := &countingStore{Store: dynamo.NewCredentialStore(client, table)}
	var apps []refresh.App
	for i := 0; i < 3; i++ {
		a := refresh.App{AppID: fmt.Sprintf("wx%016d", i), Secret: fmt.Sprintf("bench-secret-%d", i),
			Kinds: []credential.Kind{credential.AccessToken, credential.JSAPITicket}}
		sim.AddApp(a.AppID, a.Secret)
		apps = append(apps, a)
	}
	r := refresh.New(refresh.Options{
		Store:  store,
		WeChat: wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now)),
		Apps:   func(context.Context) ([]refresh.App, error) { return apps, nil },
		Now:    clock.Now,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	ctx := context.Background()
	if _, err := r.Sweep(ctx); err != nil { // fill
		b.Fatal(err)
	}
	wechatCalls := func() int {
		n := 0
		for _, a := range apps {
			n += sim.Counters(a.AppID).Total()
		}
		return n
	}
	before := wechatCalls()
	store.calls.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := r.Sweep(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, res := range sum.Results {
			if res.Outcome != refresh.OutcomeFresh {
				b.Fatalf("%s/%s: outcome %s, want fresh", res.AppID, res.Kind, res.Outcome)
			}
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(wechatCalls()-before)/n, "wechat-calls/op")
	b.ReportMetric(float64(store.calls.Load())/n, "dynamodb-calls/op")
	b.ReportMetric(float64(len(apps)*2), "credentials/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/op")
}

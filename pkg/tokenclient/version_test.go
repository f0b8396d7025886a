package tokenclient

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// gatedReader answers each read with the value the store held when the
// read began, but only once the test opens the gate: a slow DynamoDB read.
type gatedReader struct {
	st    *memStore
	gate  chan struct{}
	began atomic.Int64
}

func (g *gatedReader) Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	v, err := g.st.Read(ctx, appid, kind)
	g.began.Add(1)
	<-g.gate
	return v, err
}

// A read that began before an Invalidate and ends after it must not put
// the rejected, lower version back in the cache (nor hand it to its caller).
func TestInFlightReadDoesNotUndoInvalidate(t *testing.T) {
	clk := newClock()
	st := newMemStore()
	st.put(cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(time.Hour), 1))
	gr := &gatedReader{st: st, gate: make(chan struct{})}
	inv := InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, stale string) (credential.Credential, error) {
		fresh := cred(appid, kind, "tok-b", clk.Now().Add(2*time.Hour), 2)
		st.put(fresh) // the refresh function commits, then answers
		return fresh, nil
	})
	c := New(gr, WithClock(clk.Now), WithInvalidator(inv))
	ctx := context.Background()

	slow := make(chan credential.Credential, 1)
	go func() {
		got, err := c.Get(ctx, "wxa", credential.AccessToken)
		if err != nil {
			t.Error(err)
		}
		slow <- got
	}()
	for gr.began.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	got, err := c.Invalidate(ctx, "wxa", credential.AccessToken, "tok-a")
	if err != nil || got.Value != "tok-b" {
		t.Fatalf("Invalidate = %q, %v", got.Value, err)
	}
	close(gr.gate) // the slow read now returns version 1
	if v := (<-slow).Value; v != "tok-b" {
		t.Errorf("the read that lost the race returned %q, want the newer tok-b", v)
	}
	after, err := c.Get(ctx, "wxa", credential.AccessToken)
	if err != nil || after.Value != "tok-b" || after.Version != 2 {
		t.Fatalf("after the race Get = %q v%d, %v; want tok-b v2 (the cache went back to the rejected token)", after.Value, after.Version, err)
	}

	// Once the newer entry is no longer servable, a lower version is
	// accepted again (an item recreated by an operator starts at 1).
	st.put(cred("wxa", credential.AccessToken, "tok-c", clk.Now().Add(time.Hour), 1))
	clk.Advance(credential.MaxCacheAge)
	if got, err := c.Get(ctx, "wxa", credential.AccessToken); err != nil || got.Value != "tok-c" {
		t.Fatalf("after the cache aged out Get = %q, %v; want tok-c", got.Value, err)
	}
}

// The cache deadline is a wall-clock instant: expires_at is wall-clock
// time, and a monotonic clock stands still while a Lambda environment is
// frozen between invocations, so a deadline held on it would be served
// past expiry after a thaw.
func TestCacheDeadlineIsOnTheWallClock(t *testing.T) {
	st := newMemStore()
	st.put(cred("wxa", credential.AccessToken, "tok-a", time.Now().Add(2*time.Hour), 1))
	c := New(st) // the default clock, time.Now, carries monotonic readings
	if _, err := c.Get(context.Background(), "wxa", credential.AccessToken); err != nil {
		t.Fatal(err)
	}
	e := c.lookup(cacheKey{"wxa", credential.AccessToken}).e.Load()
	if e == nil {
		t.Fatal("nothing cached")
	}
	if e.until != e.until.Round(0) {
		t.Fatalf("cache deadline %v carries a monotonic reading: freshness would be judged on the monotonic clock", e.until)
	}
}

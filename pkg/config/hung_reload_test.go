package config_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/config"
)

// A reload that hangs instead of failing (Secrets Manager
// unreachable behind a black-holing VPC endpoint: the SDK's HTTP client has
// no response timeout) runs on the caller's context with no bound of its
// own, so the last good document is never served in time: the refresh
// sweep (55 s) spends its whole invocation on the reload every minute and
// refreshes nothing, and a callback request waits past WeChat's 5 s. The
// stale document must come back while the caller still has time to use it.
func TestCachedSourceHungReloadServesLastGoodDocumentInTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	hang := false
	src := config.SourceFunc(func(ctx context.Context) ([]byte, error) {
		if hang {
			<-ctx.Done() // no answer until the caller gives up
			return nil, ctx.Err()
		}
		return []byte("v1"), nil
	})
	c := config.NewCachedSource(src, time.Minute, func() time.Time { return now })
	if _, err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	now, hang = now.Add(2*time.Minute), true                                // past the ttl: a reload is due
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // a short invocation
	defer cancel()
	got, err := c.Load(ctx)
	if ctxErr := ctx.Err(); ctxErr != nil || err != nil || string(got) != "v1" {
		t.Fatalf("Load = %q, %v; caller's context after it: %v — want the last good document with the caller's time left", got, err, ctxErr)
	}
}

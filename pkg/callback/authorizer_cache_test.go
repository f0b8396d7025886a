package callback

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// The authorizer cache stays within its size: expired entries go first,
// then everything.
func TestAuthorizerCacheBounded(t *testing.T) {
	at := time.Unix(1714112445, 0)
	calls := 0
	c := newAuthorizerCache(func(context.Context, string) (string, error) { calls++; return "wxc", nil }, func() time.Time { return at }, 3)
	for i := 0; i < 10; i++ {
		if _, err := c.resolve(context.Background(), "wx"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if n := len(c.entries); n > 3 {
			t.Fatalf("%d entries, want at most 3", n)
		}
	}
	// wx9 is cached; past its TTL it is read again.
	c.resolve(context.Background(), "wx9")
	if calls != 10 {
		t.Fatalf("%d lookups, want 10 (wx9 cached)", calls)
	}
	at = at.Add(DefaultAuthorizerTTL + time.Second)
	c.resolve(context.Background(), "wx9")
	if calls != 11 {
		t.Fatalf("%d lookups, want 11 (wx9 expired)", calls)
	}
}

func TestPlausibleAppID(t *testing.T) {
	for s, want := range map[string]bool{"wx0123456789abcdef": true, "wxc0mp0nent0000001": true, "ww1:1000002": false,
		"": false, "wx": false, "wx/../x": false, "wx%2f": false, "wx 1": false, string(make([]byte, 65)): false} {
		if got := plausibleAppID(s); got != want {
			t.Errorf("plausibleAppID(%q) = %v, want %v", s, got, want)
		}
	}
}

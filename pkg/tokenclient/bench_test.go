package tokenclient

import (
	"context"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// BenchmarkCacheHit measures Get when the value is cached (the path every
// WeChat call takes): target ≤ 100 ns/op and 0 allocs/op.
func BenchmarkCacheHit(b *testing.B) {
	st := newMemStore()
	now := time.Now()
	for _, appid := range []string{"wx0123456789abcdef", "wx1111111111111111", "wx2222222222222222"} {
		for _, k := range credential.Kinds {
			st.put(cred(appid, k, "token-"+appid, now.Add(2*time.Hour), 1))
		}
	}
	c := New(st)
	ctx := context.Background()
	if _, err := c.Get(ctx, "wx0123456789abcdef", credential.AccessToken); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Get(ctx, "wx0123456789abcdef", credential.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
	if st.reads.Load() != 1 {
		b.Fatalf("%d store reads: the benchmark left the hit path", st.reads.Load())
	}
}

// BenchmarkCacheHitParallel is the same under concurrent callers.
func BenchmarkCacheHitParallel(b *testing.B) {
	st := newMemStore()
	st.put(cred("wx0123456789abcdef", credential.AccessToken, "tok", time.Now().Add(2*time.Hour), 1))
	c := New(st)
	ctx := context.Background()
	if _, err := c.Get(ctx, "wx0123456789abcdef", credential.AccessToken); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "wx0123456789abcdef", credential.AccessToken); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

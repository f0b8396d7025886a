package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// clock is a virtual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memStore is an in-memory Reader whose items and failures tests control.
type memStore struct {
	mu    sync.Mutex
	items map[cacheKey]credential.Credential
	fail  error
	reads atomic.Int64
}

func newMemStore() *memStore { return &memStore{items: map[cacheKey]credential.Credential{}} }

func (m *memStore) put(c credential.Credential) {
	m.mu.Lock()
	m.items[cacheKey{c.AppID, c.Kind}] = c
	m.mu.Unlock()
}

func (m *memStore) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *memStore) Read(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return credential.Credential{}, m.fail
	}
	c, ok := m.items[cacheKey{appid, kind}]
	if !ok {
		return credential.Credential{}, fmt.Errorf("get %s/%s: %w", appid, kind, credential.ErrNotFound)
	}
	return c, nil
}

func cred(appid string, kind credential.Kind, value string, expiresAt time.Time, version int64) credential.Credential {
	return credential.Credential{AppID: appid, Kind: kind, Value: value, ExpiresAt: expiresAt, Version: version}
}

// TestGetCacheTiming walks a virtual clock through the cache bounds: at most
// MaxCacheAge, never at or past expires_at - ReaderMargin.
func TestGetCacheTiming(t *testing.T) {
	type step struct {
		advance   time.Duration // before the Get
		wantValue string        // "" means an error is expected
		wantErr   error
		wantReads int64 // cumulative store reads after the Get
	}
	tests := []struct {
		name      string
		expiresIn time.Duration // from the start of the clock
		steps     []step
	}{
		{"long-lived value cached 60s", 2 * time.Hour, []step{
			{0, "v1", nil, 1},
			{59 * time.Second, "v1", nil, 1},
			{time.Second, "v1", nil, 2}, // age 60 s: read again
			{30 * time.Second, "v1", nil, 2},
		}},
		{"cache ends at expires_at - 10s", 30 * time.Second, []step{
			{0, "v1", nil, 1},
			{19 * time.Second, "v1", nil, 1},
			{time.Second, "", credential.ErrUnavailable, 2}, // expires_at - now = 10 s
			{0, "", credential.ErrUnavailable, 3},           // not cached
		}},
		{"already within margin", 10 * time.Second, []step{
			{0, "", credential.ErrUnavailable, 1},
		}},
		{"already expired", -time.Second, []step{
			{0, "", credential.ErrUnavailable, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st := newMemStore()
			st.put(cred("wxa", credential.AccessToken, "v1", clk.Now().Add(tt.expiresIn), 1))
			c := New(st, WithClock(clk.Now))
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				got, err := c.Get(context.Background(), "wxa", credential.AccessToken)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
					}
					if strings.Contains(err.Error(), "v1") {
						t.Fatalf("step %d: error %q contains the token", i, err)
					}
				} else if err != nil || got.Value != s.wantValue {
					t.Fatalf("step %d: Get = %q, %v; want %q", i, got.Value, err, s.wantValue)
				}
				if r := st.reads.Load(); r != s.wantReads {
					t.Fatalf("step %d: %d store reads, want %d", i, r, s.wantReads)
				}
			}
		})
	}
}

// TestGetNeverStale drives random clock steps and store updates and checks
// every value Get returns: never within ReaderMargin of its expiry and
// never older than MaxCacheAge relative to the store.
func TestGetNeverStale(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clk := newClock()
	st := newMemStore()
	c := New(st, WithClock(clk.Now))
	ctx := context.Background()
	// history[version] = when the store stopped holding that version.
	replaced := map[int64]time.Time{}
	version := int64(1)
	st.put(cred("wxa", credential.AccessToken, "v1", clk.Now().Add(time.Duration(rng.IntN(300))*time.Second), version))
	served, unavailable := 0, 0
	for i := range 5000 {
		clk.Advance(time.Duration(rng.IntN(20_000)) * time.Millisecond)
		if rng.IntN(10) == 0 {
			replaced[version] = clk.Now()
			version++
			st.put(cred("wxa", credential.AccessToken, fmt.Sprintf("v%d", version),
				clk.Now().Add(time.Duration(rng.IntN(300))*time.Second), version))
		}
		now := clk.Now()
		got, err := c.Get(ctx, "wxa", credential.AccessToken)
		if err != nil {
			if !errors.Is(err, credential.ErrUnavailable) {
				t.Fatalf("iteration %d: unexpected error %v", i, err)
			}
			unavailable++
			continue
		}
		served++
		if !now.Before(got.ExpiresAt.Add(-credential.ReaderMargin)) {
			t.Fatalf("iteration %d: served version %d at %v, expires_at %v: within the margin", i, got.Version, now, got.ExpiresAt)
		}
		if r, ok := replaced[got.Version]; ok && now.Sub(r) >= credential.MaxCacheAge {
			t.Fatalf("iteration %d: served version %d replaced %v ago", i, got.Version, now.Sub(r))
		}
	}
	if served == 0 || unavailable == 0 {
		t.Fatalf("served %d, unavailable %d: the walk did not exercise both outcomes", served, unavailable)
	}
}

func TestGetErrors(t *testing.T) {
	clk := newClock()
	st := newMemStore()
	st.put(cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(time.Hour), 1))
	c := New(st, WithClock(clk.Now))
	tests := []struct {
		name  string
		appid string
		kind  credential.Kind
		is    error
		field string
	}{
		{"missing appid", "", credential.AccessToken, nil, "appid"},
		{"empty kind", "wxa", "", nil, "kind"},
		{"bad kind", "wxa", "refresh_token", nil, "kind"},
		{"unknown app", "wxnone", credential.AccessToken, credential.ErrNotFound, "wxnone"},
		{"unknown kind of known app", "wxa", credential.JSAPITicket, credential.ErrNotFound, "jsapi_ticket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Get(context.Background(), tt.appid, tt.kind)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want one naming %q", err, tt.field)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

// TestGetStoreFailure: a store error serves a cached value while it is
// usable, and ErrUnavailable (wrapping the cause) after.
func TestGetStoreFailure(t *testing.T) {
	clk := newClock()
	st := newMemStore()
	st.put(cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(100*time.Second), 1))
	c := New(st, WithClock(clk.Now), WithLogger(discardLogger()))
	ctx := context.Background()
	if _, err := c.Get(ctx, "wxa", credential.AccessToken); err != nil {
		t.Fatal(err)
	}
	outage := errors.New("connection refused")
	st.setFail(outage)

	// Past the cache age: the store fails, the value is still usable.
	clk.Advance(61 * time.Second)
	got, err := c.Get(ctx, "wxa", credential.AccessToken)
	if err != nil || got.Value != "tok-a" {
		t.Fatalf("during outage: Get = %q, %v; want cached tok-a", got.Value, err)
	}
	reads := st.reads.Load()
	// Within the outage retry interval the store is not hammered.
	clk.Advance(time.Second)
	if _, err := c.Get(ctx, "wxa", credential.AccessToken); err != nil || st.reads.Load() != reads {
		t.Fatalf("within outage retry: err %v, reads %d -> %d", err, reads, st.reads.Load())
	}
	// At expires_at - 10s the cached value is no longer usable.
	clk.Advance(28 * time.Second) // now = start + 90 s
	_, err = c.Get(ctx, "wxa", credential.AccessToken)
	if !errors.Is(err, credential.ErrUnavailable) || !errors.Is(err, outage) {
		t.Fatalf("after margin: err = %v, want ErrUnavailable wrapping the outage", err)
	}
	// A key never cached is unavailable during the outage.
	_, err = c.Get(ctx, "wxb", credential.AccessToken)
	if !errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("cold key: err = %v, want ErrUnavailable", err)
	}
	// Recovery: the store answers again.
	st.setFail(nil)
	st.put(cred("wxa", credential.AccessToken, "tok-a2", clk.Now().Add(time.Hour), 2))
	if got, err := c.Get(ctx, "wxa", credential.AccessToken); err != nil || got.Version != 2 {
		t.Fatalf("after recovery: Get = v%d, %v", got.Version, err)
	}
}

// blockingReader blocks every read until released, counting them.
type blockingReader struct {
	release chan struct{}
	reads   atomic.Int64
	value   credential.Credential
}

func (b *blockingReader) Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	b.reads.Add(1)
	<-b.release
	return b.value, nil
}

func TestGetSingleFlightAndCallerCancel(t *testing.T) {
	clk := newClock()
	br := &blockingReader{release: make(chan struct{}),
		value: cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(time.Hour), 1)}
	c := New(br, WithClock(clk.Now))

	// An impatient caller gives up; the shared read continues for the rest.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "wxa", credential.AccessToken); errc <- err }()
	for br.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	results := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Get(context.Background(), "wxa", credential.AccessToken)
			if err != nil {
				results <- "error: " + err.Error()
				return
			}
			results <- got.Value
		}()
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	close(br.release)
	wg.Wait()
	close(results)
	for r := range results {
		if r != "tok-a" {
			t.Fatalf("waiter got %q", r)
		}
	}
	if n := br.reads.Load(); n != 1 {
		t.Fatalf("%d reads, want 1", n)
	}
}

func TestInvalidate(t *testing.T) {
	type call struct{ appid, kind, stale string }
	tests := []struct {
		name      string
		answer    func(now time.Time) (credential.Credential, error)
		wantValue string
		wantIs    error
	}{
		{"new token cached", func(now time.Time) (credential.Credential, error) {
			return cred("wxa", credential.AccessToken, "tok-b", now.Add(7200*time.Second), 2), nil
		}, "tok-b", nil},
		{"budget exhausted", func(time.Time) (credential.Credential, error) {
			return credential.Credential{}, &RefreshError{Code: tokenapi.CodeForceBudgetExhausted, Message: "10 of 10 used today"}
		}, "", ErrForceBudgetExhausted},
		{"too soon", func(time.Time) (credential.Credential, error) {
			return credential.Credential{}, &RefreshError{Code: tokenapi.CodeForceTooSoon}
		}, "", ErrForceTooSoon},
		{"unknown app", func(time.Time) (credential.Credential, error) {
			return credential.Credential{}, &RefreshError{Code: tokenapi.CodeUnknownApp}
		}, "", credential.ErrNotFound},
		{"answer already expiring", func(now time.Time) (credential.Credential, error) {
			return cred("wxa", credential.AccessToken, "tok-b", now.Add(5*time.Second), 2), nil
		}, "", credential.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st := newMemStore()
			st.put(cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(time.Hour), 1))
			var calls []call
			inv := InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, stale string) (credential.Credential, error) {
				calls = append(calls, call{appid, string(kind), stale})
				return tt.answer(clk.Now())
			})
			c := New(st, WithClock(clk.Now), WithInvalidator(inv))
			ctx := context.Background()
			if _, err := c.Get(ctx, "wxa", credential.AccessToken); err != nil {
				t.Fatal(err)
			}
			got, err := c.Invalidate(ctx, "wxa", credential.AccessToken, "tok-a")
			if tt.wantIs != nil {
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("err = %v, want %v", err, tt.wantIs)
				}
			} else if err != nil || got.Value != tt.wantValue {
				t.Fatalf("Invalidate = %q, %v", got.Value, err)
			}
			if len(calls) != 1 || calls[0] != (call{"wxa", "access_token", "tok-a"}) {
				t.Fatalf("invalidator calls %v", calls)
			}
			// The cached entry was dropped (or replaced by the answer).
			readsBefore := st.reads.Load()
			after, err := c.Get(ctx, "wxa", credential.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantValue != "" {
				if after.Value != tt.wantValue || st.reads.Load() != readsBefore {
					t.Fatalf("after Invalidate: Get = %q with %d new reads; want the answer from cache", after.Value, st.reads.Load()-readsBefore)
				}
			} else if st.reads.Load() != readsBefore+1 {
				t.Fatalf("after failed Invalidate: want the store re-read, got %d reads", st.reads.Load()-readsBefore)
			}
		})
	}

	c := New(newMemStore())
	if _, err := c.Invalidate(context.Background(), "wxa", credential.AccessToken, "t"); !errors.Is(err, ErrNoInvalidator) {
		t.Fatalf("without invalidator: %v", err)
	}
}

func TestDo(t *testing.T) {
	rejected := &wechat.Error{Code: wechat.CodeInvalidCredential, Msg: "invalid credential"}
	tests := []struct {
		name       string
		results    []error // what fn returns on each call
		invErr     error
		wantTokens []string
		wantInv    int
		wantIs     error
	}{
		{"success first time", []error{nil}, nil, []string{"tok-a"}, 0, nil},
		{"other error not retried", []error{&wechat.Error{Code: 45009}}, nil, []string{"tok-a"}, 0, nil},
		{"40001 retried with new token", []error{rejected, nil}, nil, []string{"tok-a", "tok-b"}, 1, nil},
		{"42001 retried", []error{&wechat.Error{Code: 42001}, nil}, nil, []string{"tok-a", "tok-b"}, 1, nil},
		{"40014 retried", []error{&wechat.Error{Code: 40014}, nil}, nil, []string{"tok-a", "tok-b"}, 1, nil},
		{"retried only once", []error{rejected, rejected}, nil, []string{"tok-a", "tok-b"}, 1, rejected},
		{"refresh refused", []error{rejected}, &RefreshError{Code: tokenapi.CodeForceTooSoon}, []string{"tok-a"}, 1, ErrForceTooSoon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			st := newMemStore()
			st.put(cred("wxa", credential.AccessToken, "tok-a", clk.Now().Add(time.Hour), 1))
			invs := 0
			inv := InvalidatorFunc(func(context.Context, string, credential.Kind, string) (credential.Credential, error) {
				invs++
				if tt.invErr != nil {
					return credential.Credential{}, tt.invErr
				}
				return cred("wxa", credential.AccessToken, "tok-b", clk.Now().Add(2*time.Hour), 2), nil
			})
			c := New(st, WithClock(clk.Now), WithInvalidator(inv), WithLogger(discardLogger()))
			var tokens []string
			err := c.Do(context.Background(), "wxa", func(tok string) error {
				tokens = append(tokens, tok)
				return tt.results[len(tokens)-1]
			})
			if fmt.Sprint(tokens) != fmt.Sprint(tt.wantTokens) || invs != tt.wantInv {
				t.Fatalf("tokens %v, invalidations %d; want %v, %d", tokens, invs, tt.wantTokens, tt.wantInv)
			}
			want := tt.wantIs
			if want == nil {
				want = tt.results[len(tokens)-1]
			}
			if (err == nil) != (want == nil) || (want != nil && !errors.Is(err, want)) {
				t.Fatalf("err = %v, want %v", err, want)
			}
		})
	}
}

package tokenclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Reader reads a stored credential. It returns an error wrapping
// credential.ErrNotFound when no item exists for appid and kind.
type Reader interface {
	Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error)
}

// ReaderFunc adapts a function to Reader.
type ReaderFunc func(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error)

// Read calls f.
func (f ReaderFunc) Read(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	return f(ctx, appid, kind)
}

// DefaultReadTimeout bounds one shared store read; it is detached from the
// caller's context so that one impatient caller does not fail the others
// waiting on the same read.
const DefaultReadTimeout = 5 * time.Second

// outageRetry is how long a value served because the store failed is kept
// before the store is tried again (never past expires_at - ReaderMargin),
// so an outage does not turn every Get into a slow failing read.
const outageRetry = 5 * time.Second

// Client serves credentials from a Reader through an in-memory cache. It is
// safe for concurrent use; build it with New.
type Client struct {
	reader      Reader
	inv         Invalidator
	wc          *wechat.Client
	now         func() time.Time
	log         *slog.Logger
	readTimeout time.Duration

	// slots holds, per kind, each appid ever loaded and its slot. A map is
	// replaced (copy on write) only when a key is added, so the hit path is
	// two atomic loads and one string-keyed map lookup: no lock, no
	// allocation.
	slots  atomic.Pointer[slotTable]
	slotMu sync.Mutex // serialises table replacement

	reads       singleflight.Group
	invalidates singleflight.Group
}

type cacheKey struct {
	appid string
	kind  credential.Kind
}

type slot struct{ e atomic.Pointer[entry] }

// slotTable indexes slots by kind (see kindIndex), then appid.
type slotTable [numKinds]map[string]*slot

// numKinds is len(credential.Kinds) (TestEveryKindIsServed checks it).
const numKinds = 6

// kindIndex maps a valid kind to its slotTable index, anything else to -1.
func kindIndex(k credential.Kind) int {
	for i, x := range credential.Kinds {
		if x == k {
			return i
		}
	}
	return -1
}

// entry is an immutable cached value: served while now < until.
type entry struct {
	cred  credential.Credential
	until time.Time // a wall-clock instant (no monotonic reading)
}

// fresh reports whether e may be served from memory now. until carries no
// monotonic reading, so the comparison is on the wall clock, the clock of
// expires_at: a monotonic clock that stood still while the process was
// frozen (a Lambda between invocations) would serve past expiry.
func (c *Client) fresh(e *entry) bool {
	return c.now().Before(e.until)
}

// Option configures a Client.
type Option func(*Client)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Client) { c.now = now }
}

// WithInvalidator sets how Invalidate reaches the refresh function. Without
// one, Invalidate and Do's retry fail with ErrNoInvalidator.
func WithInvalidator(inv Invalidator) Option {
	return func(c *Client) { c.inv = inv }
}

// WithWeChat sets the WeChat client used by Call, SendCustomMessage and
// UserInfo (default wechat.NewClient()).
func WithWeChat(wc *wechat.Client) Option {
	return func(c *Client) {
		if wc != nil {
			c.wc = wc
		}
	}
}

// WithLogger sets the logger for degraded-mode warnings (default
// slog.Default()). Tokens are never logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithReadTimeout bounds each store read (default DefaultReadTimeout).
func WithReadTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.readTimeout = d
		}
	}
}

// New returns a Client reading credentials through reader.
func New(reader Reader, opts ...Option) *Client {
	c := &Client{reader: reader, log: slog.Default(), readTimeout: DefaultReadTimeout}
	for _, o := range opts {
		o(c)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.wc == nil {
		c.wc = wechat.NewClient()
	}
	c.slots.Store(&slotTable{})
	return c
}

// Get returns the credential of kind for appid. The error wraps
// credential.ErrNotFound when no item exists and credential.ErrUnavailable
// when the stored value is expired or within ReaderMargin of expiry, or when
// the store cannot be read and no usable value is cached.
func (c *Client) Get(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	if s := c.lookup(cacheKey{appid, kind}); s != nil {
		if e := s.e.Load(); e != nil && c.fresh(e) {
			return e.cred, nil
		}
	}
	return c.load(ctx, appid, kind)
}

// load is Get's miss path: one shared read per key.
func (c *Client) load(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
	if appid == "" {
		return credential.Credential{}, errors.New("tokenclient: appid is empty")
	}
	if kindIndex(kind) < 0 {
		return credential.Credential{}, fmt.Errorf("tokenclient: %s: kind %q: must be one of %v", appid, kind, credential.Kinds)
	}
	rctx := context.WithoutCancel(ctx)
	ch := c.reads.DoChan(appid+"\x00"+string(kind), func() (any, error) {
		rctx, cancel := context.WithTimeout(rctx, c.readTimeout)
		defer cancel()
		return c.fetch(rctx, cacheKey{appid, kind})
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return credential.Credential{}, r.Err
		}
		return r.Val.(credential.Credential), nil
	case <-ctx.Done():
		return credential.Credential{}, fmt.Errorf("tokenclient: %s/%s: %w", appid, kind, ctx.Err())
	}
}

// fetch reads the store and updates the cache. It runs once per key at a
// time (single-flight).
func (c *Client) fetch(ctx context.Context, k cacheKey) (credential.Credential, error) {
	s := c.lookup(k)
	// A caller may have missed the cache just before the previous flight
	// stored its result: serve that instead of reading again.
	if s != nil {
		if e := s.e.Load(); e != nil && c.fresh(e) {
			return e.cred, nil
		}
	}
	cred, err := c.reader.Read(ctx, k.appid, k.kind)
	now := c.now()
	switch {
	case err == nil:
		if !cred.Usable(now) {
			c.drop(k)
			return credential.Credential{}, fmt.Errorf("tokenclient: %s/%s: stored value expires at %s: %w",
				k.appid, k.kind, cred.ExpiresAt.UTC().Format(time.RFC3339), credential.ErrUnavailable)
		}
		return c.store(k, cred, cred.CacheUntil(now)), nil
	case errors.Is(err, credential.ErrNotFound):
		c.drop(k)
		return credential.Credential{}, fmt.Errorf("tokenclient: %s/%s: %w", k.appid, k.kind, err)
	case errors.Is(err, credential.ErrUnavailable):
		// The store answered: it holds no usable value (e.g. LastFailureError).
		c.drop(k)
		return credential.Credential{}, fmt.Errorf("tokenclient: %w", err)
	}
	if s != nil {
		if e := s.e.Load(); e != nil && e.cred.Usable(now) {
			c.log.WarnContext(ctx, "store read failed; serving cached value",
				"appid", k.appid, "kind", string(k.kind), "version", e.cred.Version, "error", err.Error())
			until := now.Add(outageRetry)
			if limit := e.cred.ExpiresAt.Add(-credential.ReaderMargin); limit.Before(until) {
				until = limit
			}
			return c.store(k, e.cred, until), nil
		}
	}
	return credential.Credential{}, fmt.Errorf("tokenclient: %s/%s: read failed and no usable cached value: %w: %w",
		k.appid, k.kind, credential.ErrUnavailable, err)
}

func (c *Client) lookup(k cacheKey) *slot {
	i := kindIndex(k.kind)
	if i < 0 {
		return nil
	}
	return c.slots.Load()[i][k.appid]
}

// store caches cred for k until the given instant, creating k's slot, and
// returns the credential now cached. A servable entry of a higher version is
// kept: versions only grow, so a read that started before an Invalidate (or
// another read) stored a newer value must not put the older one back.
func (c *Client) store(k cacheKey, cred credential.Credential, until time.Time) credential.Credential {
	s := c.lookup(k)
	if s == nil {
		i := kindIndex(k.kind)
		c.slotMu.Lock()
		table := *c.slots.Load() // copies the array, shares the maps
		if s = table[i][k.appid]; s == nil {
			next := make(map[string]*slot, len(table[i])+1)
			for appid, v := range table[i] {
				next[appid] = v
			}
			s = &slot{}
			next[k.appid] = s
			table[i] = next
			c.slots.Store(&table)
		}
		c.slotMu.Unlock()
	}
	next := &entry{cred: cred, until: until.Round(0)} // Round(0) drops the monotonic reading
	for {
		old := s.e.Load()
		if old != nil && old.cred.Version > cred.Version && c.fresh(old) {
			return old.cred
		}
		if s.e.CompareAndSwap(old, next) {
			return cred
		}
	}
}

// drop forgets the cached value of k (the slot stays, empty).
func (c *Client) drop(k cacheKey) {
	if s := c.lookup(k); s != nil {
		s.e.Store(nil)
	}
}

// Forget drops the cached value of appid and kind, so the next Get reads
// the store. It does not contact the refresh function (see Invalidate).
func (c *Client) Forget(appid string, kind credential.Kind) { c.drop(cacheKey{appid, kind}) }

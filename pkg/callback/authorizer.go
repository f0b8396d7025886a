package callback

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// This file is the routing of an authorizer's pushes: an Official Account
// or mini-program that authorised a third-party platform has no entry of
// its own (a platform may have thousands); WeChat pushes its messages to
// /wechat/{authorizer_appid}, signed and encrypted with the platform's
// token and key, receive id = the component appid (docs/platform.md).

// ErrUnknownAuthorizer is what an AuthorizerLookup answers for an appid
// that is no platform's authorizer.
var ErrUnknownAuthorizer = errors.New("not an authorizer of a configured platform")

// AuthorizerLookup returns the component appid of the platform that
// authorizerAppID authorised, or ErrUnknownAuthorizer. In the callback
// function it reads cred#<authorizer_appid>#access_token's component_appid.
type AuthorizerLookup func(ctx context.Context, authorizerAppID string) (componentAppID string, err error)

// Defaults of the authorizer cache.
const (
	// DefaultAuthorizerTTL is how long a resolved authorizer is kept: an
	// authorisation moves to another platform rarely, and a revoked one
	// only keeps routing pushes WeChat no longer sends.
	DefaultAuthorizerTTL = 5 * time.Minute
	// DefaultUnknownTTL is how long "not an authorizer" is kept: short, so
	// that the first messages of a new authorisation are not refused for
	// long, yet a flood of pushes for one unknown appid reads once.
	DefaultUnknownTTL = 10 * time.Second
	// DefaultAuthorizerCacheSize bounds the cache (entries); when it is
	// full, expired entries go, then everything.
	DefaultAuthorizerCacheSize = 10000
)

// authorizerCache keeps appid → component appid ("" for unknown) for a
// while, bounded in size.
type authorizerCache struct {
	lookup AuthorizerLookup
	clock  func() time.Time
	max    int

	mu      sync.Mutex
	entries map[string]authorizerEntry
}

type authorizerEntry struct {
	component string // "" : not an authorizer
	until     time.Time
}

func newAuthorizerCache(lookup AuthorizerLookup, clock func() time.Time, max int) *authorizerCache {
	if max <= 0 {
		max = DefaultAuthorizerCacheSize
	}
	return &authorizerCache{lookup: lookup, clock: clock, max: max, entries: map[string]authorizerEntry{}}
}

// resolve returns the component appid of appid ("" when it is none); err
// is a lookup failure (the store unreachable), never cached.
func (c *authorizerCache) resolve(ctx context.Context, appid string) (string, error) {
	now := c.clock()
	c.mu.Lock()
	e, ok := c.entries[appid]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.component, nil
	}
	comp, err := c.lookup(ctx, appid)
	ttl := DefaultAuthorizerTTL
	switch {
	case errors.Is(err, ErrUnknownAuthorizer) || (err == nil && comp == ""):
		comp, ttl = "", DefaultUnknownTTL
	case err != nil:
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, v := range c.entries {
			if !now.Before(v.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[appid] = authorizerEntry{component: comp, until: now.Add(ttl)}
	return comp, nil
}

// plausibleAppID reports whether s could be an appid: WeChat's are "wx"
// and 16 hex digits; anything else in the path is refused before a read.
func plausibleAppID(s string) bool {
	if len(s) < 4 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// authorizerApp is the app serving appid's pushes when appid is an
// authorizer of a configured platform: the platform's token, mode and
// ciphers under the authorizer's id. nil with a zero outcome means
// unknown; a decided outcome is a lookup failure (503).
func (h *Handler) authorizerApp(ctx context.Context, due time.Time, c *compiled, appid string) (*app, outcome) {
	if h.authorizers == nil || len(c.platforms) == 0 || !plausibleAppID(appid) {
		return nil, outcome{}
	}
	lctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
	comp, err := h.authorizers.resolve(lctx, appid)
	cancel()
	if err != nil {
		h.logError(ctx, appid, "authorizer lookup", err)
		return nil, reject(http.StatusServiceUnavailable, "authorizer_lookup_error")
	}
	p := c.platforms[comp]
	if p == nil {
		if comp != "" {
			h.opt.Logger.LogAttrs(ctx, slog.LevelWarn, "callback authorizer of an unconfigured platform",
				slog.String("appid", appid), slog.String("component_appid", comp))
		}
		return nil, outcome{}
	}
	a := *p
	a.id = appid
	return &a, outcome{}
}

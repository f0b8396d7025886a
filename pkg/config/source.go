package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// Source yields the raw bytes of one configuration document.
type Source interface {
	Load(ctx context.Context) ([]byte, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) ([]byte, error)

// Load calls f.
func (f SourceFunc) Load(ctx context.Context) ([]byte, error) { return f(ctx) }

// SecretsManagerAPI is the subset of *secretsmanager.Client a
// SecretsManagerSource uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// NewSecret is how a function reads a secret document (APPS_SECRET_ID,
// CALLBACK_SECRET_ID): from Secrets Manager with the SDK configuration cfg,
// cached for MaxCacheTTL, with the cache's logs and metrics.
func NewSecret(cfg aws.Config, secretID string, log *slog.Logger, m *metrics.Emitter) *CachedSource {
	return NewCachedSource(NewSecretsManagerSource(secretsmanager.NewFromConfig(cfg), secretID), MaxCacheTTL, time.Now,
		WithLogger(log), WithMetrics(m))
}

// SecretsManagerSource reads the current version of one secret.
type SecretsManagerSource struct {
	api SecretsManagerAPI
	id  string
}

// NewSecretsManagerSource returns a Source for the secret secretID (a name
// or an ARN).
func NewSecretsManagerSource(api SecretsManagerAPI, secretID string) *SecretsManagerSource {
	return &SecretsManagerSource{api: api, id: secretID}
}

// Load returns the secret's SecretString (or SecretBinary).
func (s *SecretsManagerSource) Load(ctx context.Context) ([]byte, error) {
	if s.id == "" {
		return nil, fmt.Errorf("secrets manager: secret id: missing")
	}
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.id)})
	if err != nil {
		return nil, fmt.Errorf("secrets manager: get secret %s: %w", s.id, err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	if out.SecretBinary != nil {
		return out.SecretBinary, nil
	}
	return nil, fmt.Errorf("secrets manager: secret %s: no value", s.id)
}

// FileSource reads a document from a local file (the local stack, tests).
type FileSource struct {
	Path string
}

// NewFileSource returns a Source reading path on every Load.
func NewFileSource(path string) *FileSource { return &FileSource{Path: path} }

// Load reads the file.
func (f *FileSource) Load(context.Context) ([]byte, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return b, nil
}

// Cache lifetimes for secret documents.
const (
	// MaxCacheTTL is the longest a document is kept (docs/secrets.md: ≤ 5 min).
	MaxCacheTTL = 5 * time.Minute
	// DefaultCacheTTL is used when NewCachedSource gets a ttl <= 0.
	DefaultCacheTTL = MaxCacheTTL
	// DefaultMaxStale bounds how old a document may be when it is served
	// because reloads fail: past it a secret rotated or revoked in the
	// meantime matters more than availability, and Load fails.
	DefaultMaxStale = time.Hour
	// StaleRetry is how long a failed reload is not retried while the
	// last good document is served, so an outage of the source does not
	// add a slow failing call to every invocation.
	StaleRetry = 30 * time.Second
	// StaleReloadTimeout bounds a reload while a servable document is held:
	// a hung Secrets Manager (a black-holing endpoint; the SDK sets no
	// response timeout) must not eat the caller's time before the last good
	// document is served. Secrets Manager answers in well under 1 s.
	StaleReloadTimeout = time.Second
)

// CachedSource loads a document lazily, on the first Load, and keeps it
// for ttl. Concurrent Loads of an expired entry share one underlying load.
// When a reload fails it keeps serving the last document it loaded, up to
// a maximum age (DefaultMaxStale), logging a warning and counting the
// EMF metric ConfigReloadFailures; it retries the source every StaleRetry.
// Failed loads are not cached.
type CachedSource struct {
	src      Source
	ttl      time.Duration
	maxStale time.Duration
	now      func() time.Time
	log      *slog.Logger
	metrics  *metrics.Emitter

	mu        sync.Mutex
	data      []byte
	loadedAt  time.Time
	loaded    bool
	nextRetry time.Time // while stale: no reload before this instant
}

// CacheOption configures a CachedSource.
type CacheOption func(*CachedSource)

// WithLogger sets the logger of reload failures (default slog.Default()).
func WithLogger(l *slog.Logger) CacheOption {
	return func(c *CachedSource) {
		if l != nil {
			c.log = l
		}
	}
}

// WithMetrics counts each failed reload as ConfigReloadFailures (default:
// not counted; a nil emitter discards).
func WithMetrics(m *metrics.Emitter) CacheOption {
	return func(c *CachedSource) { c.metrics = m }
}

// WithMaxStale sets how old the last good document may be and still be
// served while reloads fail (default DefaultMaxStale; 0 or less disables
// stale serving, so a failed reload fails Load).
func WithMaxStale(d time.Duration) CacheOption {
	return func(c *CachedSource) { c.maxStale = d }
}

// NewCachedSource wraps src with a cache of ttl (clamped to MaxCacheTTL;
// DefaultCacheTTL when <= 0) timed by now.
func NewCachedSource(src Source, ttl time.Duration, now func() time.Time, opts ...CacheOption) *CachedSource {
	if ttl <= 0 || ttl > MaxCacheTTL {
		ttl = DefaultCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	c := &CachedSource{src: src, ttl: ttl, now: now, maxStale: DefaultMaxStale, log: slog.Default()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Load returns the cached document, loading it when absent or older than
// the ttl. When that reload fails and the last good document is at most
// maxStale old, Load returns it. The returned slice is shared: do not
// modify it.
func (c *CachedSource) Load(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	clockOK := !now.Before(c.loadedAt) // a clock that went backwards forces a reload
	if c.loaded && clockOK && now.Before(c.loadedAt.Add(c.ttl)) {
		return c.data, nil
	}
	stale := c.loaded && clockOK && c.maxStale > 0 && now.Before(c.loadedAt.Add(c.maxStale))
	if stale && now.Before(c.nextRetry) {
		return c.data, nil
	}
	lctx := ctx
	if stale {
		var cancel context.CancelFunc
		lctx, cancel = context.WithTimeout(ctx, StaleReloadTimeout)
		defer cancel()
	}
	data, err := c.src.Load(lctx)
	if err == nil {
		c.data, c.loadedAt, c.loaded, c.nextRetry = data, now, true, time.Time{}
		return data, nil
	}
	if !stale {
		_ = c.metrics.Emit(metrics.ConfigReloadFailure(metrics.ConfigLoadFailed))
		c.log.LogAttrs(ctx, slog.LevelError, "configuration load failed; no document young enough to serve",
			slog.String("error", err.Error()))
		return nil, err
	}
	c.nextRetry = now.Add(StaleRetry)
	_ = c.metrics.Emit(metrics.ConfigReloadFailure(metrics.ConfigServedStale))
	c.log.LogAttrs(ctx, slog.LevelWarn, "configuration reload failed; serving the last good document",
		slog.Duration("age", now.Sub(c.loadedAt)), slog.Duration("max_stale", c.maxStale), slog.String("error", err.Error()))
	return c.data, nil
}

// Invalidate drops the cached document so the next Load reads the source.
func (c *CachedSource) Invalidate() {
	c.mu.Lock()
	c.loaded = false
	c.data = nil
	c.nextRetry = time.Time{}
	c.mu.Unlock()
}

package config

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	// MaxCacheTTL is the longest a document is kept (DESIGN.md §3: ≤ 5 min).
	MaxCacheTTL = 5 * time.Minute
	// DefaultCacheTTL is used when NewCachedSource gets a ttl <= 0.
	DefaultCacheTTL = MaxCacheTTL
)

// CachedSource loads a document lazily, on the first Load, and keeps it
// for ttl. Concurrent Loads of an expired entry share one underlying load.
// Failed loads are not cached.
type CachedSource struct {
	src Source
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	data     []byte
	loadedAt time.Time
	loaded   bool
}

// NewCachedSource wraps src with a cache of ttl (clamped to MaxCacheTTL;
// DefaultCacheTTL when <= 0) timed by now.
func NewCachedSource(src Source, ttl time.Duration, now func() time.Time) *CachedSource {
	if ttl <= 0 || ttl > MaxCacheTTL {
		ttl = DefaultCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	return &CachedSource{src: src, ttl: ttl, now: now}
}

// Load returns the cached document, loading it when absent or older than
// the ttl. The returned slice is shared: do not modify it.
func (c *CachedSource) Load(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.loaded && now.Before(c.loadedAt.Add(c.ttl)) && !now.Before(c.loadedAt) {
		return c.data, nil
	}
	data, err := c.src.Load(ctx)
	if err != nil {
		return nil, err
	}
	c.data, c.loadedAt, c.loaded = data, now, true
	return data, nil
}

// Invalidate drops the cached document so the next Load reads the source.
func (c *CachedSource) Invalidate() {
	c.mu.Lock()
	c.loaded = false
	c.data = nil
	c.mu.Unlock()
}

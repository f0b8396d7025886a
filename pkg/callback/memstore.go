package callback

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryStore is an in-process DedupeStore for a single server (the local
// stack, tests, a user's own server). Several processes need a shared store
// such as pkg/dynamo's.
type MemoryStore struct {
	mu    sync.Mutex
	items map[string]memItem
	TTL   time.Duration // how long records are kept; zero: DedupeTTL
}

type memItem struct {
	completed bool
	owner     string
	digest    string
	until     time.Time // in progress until
	expires   time.Time
	reply     []byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{items: make(map[string]memItem)} }

func (s *MemoryStore) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DedupeTTL
}

func (s *MemoryStore) state(k string, now time.Time) (memItem, Claim) {
	it, ok := s.items[k]
	switch {
	case !ok || !now.Before(it.expires):
		return it, Claim{State: ClaimAbsent}
	case it.completed:
		return it, Claim{State: ClaimCompleted, Reply: append([]byte(nil), it.reply...), Digest: it.digest}
	case now.Before(it.until):
		return it, Claim{State: ClaimInProgress, Digest: it.digest}
	}
	return it, Claim{State: ClaimAbsent} // an expired claim
}

// Claim implements DedupeStore.
func (s *MemoryStore) Claim(_ context.Context, appid, key string, req ClaimRequest) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "#" + key
	if it, c := s.state(k, req.Now); c.State != ClaimAbsent && !(c.State == ClaimInProgress && it.owner == req.Owner) {
		return c, nil
	}
	s.items[k] = memItem{owner: req.Owner, digest: req.Digest, until: req.Until, expires: req.Now.Add(s.ttl())}
	return Claim{State: ClaimAcquired}, nil
}

// Lookup implements DedupeStore.
func (s *MemoryStore) Lookup(_ context.Context, appid, key string, now time.Time) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c := s.state(appid+"#"+key, now)
	return c, nil
}

// Complete implements DedupeStore.
func (s *MemoryStore) Complete(_ context.Context, appid, key, owner string, reply []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "#" + key
	it, ok := s.items[k]
	if !ok || it.owner != owner {
		return fmt.Errorf("dedupe complete %s: %w", appid, ErrClaimLost)
	}
	it.completed, it.expires, it.reply = true, now.Add(s.ttl()), append([]byte(nil), reply...)
	s.items[k] = it
	return nil
}

// Release implements DedupeStore.
func (s *MemoryStore) Release(_ context.Context, appid, key, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "#" + key
	if it, ok := s.items[k]; ok && !it.completed && it.owner == owner {
		delete(s.items, k)
	}
	return nil
}

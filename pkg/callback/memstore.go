package callback

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is an in-process DedupeStore for a single server (the local
// stack, tests, a user's own server). Several processes need a shared store
// such as pkg/dynamo's.
type MemoryStore struct {
	mu    sync.Mutex
	items map[string]memItem
	TTL   time.Duration // how long completed records are kept; zero: 10 minutes
}

type memItem struct {
	completed bool
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
		return it, Claim{State: ClaimCompleted, Reply: append([]byte(nil), it.reply...)}
	case now.Before(it.until):
		return it, Claim{State: ClaimInProgress}
	}
	return it, Claim{State: ClaimAbsent} // an expired claim
}

// Claim implements DedupeStore.
func (s *MemoryStore) Claim(_ context.Context, appid, key string, now, until time.Time) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appid + "#" + key
	if _, c := s.state(k, now); c.State != ClaimAbsent {
		return c, nil
	}
	s.items[k] = memItem{until: until, expires: now.Add(s.ttl())}
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
func (s *MemoryStore) Complete(_ context.Context, appid, key string, reply []byte, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items[appid+"#"+key] = memItem{completed: true, expires: now.Add(s.ttl()), reply: append([]byte(nil), reply...)}
	return nil
}

// Release implements DedupeStore.
func (s *MemoryStore) Release(_ context.Context, appid, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, appid+"#"+key)
	return nil
}

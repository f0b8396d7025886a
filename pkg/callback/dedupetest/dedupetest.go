// Package dedupetest checks an implementation of callback.DedupeStore
// against the store contract, as testing/fstest checks an fs.FS. It
// imports package testing, so it lives apart from callbacktest, which
// commands link.
package dedupetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// TestStore checks a callback.DedupeStore against its contract:
// claim states and expiry, owner-fenced Release and Complete, digests kept
// with the record, and a retried Claim by the holder. newStore returns an
// empty store; the test uses keys under the appid "wxconformance0000".
func TestStore(t *testing.T, newStore func(t *testing.T) callback.DedupeStore) {
	const app = "wxconformance0000"
	ctx := context.Background()
	t0 := time.Unix(1714112445, 0)
	lease := 6 * time.Second
	req := func(owner, digest string, now time.Time) callback.ClaimRequest {
		return callback.ClaimRequest{Owner: owner, Digest: digest, Now: now, Until: now.Add(lease)}
	}
	state := func(t *testing.T, s callback.DedupeStore, key string, now time.Time, want callback.ClaimState) callback.Claim {
		t.Helper()
		c, err := s.Lookup(ctx, app, key, now)
		if err != nil || c.State != want {
			t.Fatalf("Lookup %s: state %v err %v, want %v", key, c.State, err, want)
		}
		return c
	}
	claim := func(t *testing.T, s callback.DedupeStore, key string, r callback.ClaimRequest, want callback.ClaimState) callback.Claim {
		t.Helper()
		c, err := s.Claim(ctx, app, key, r)
		if err != nil || c.State != want {
			t.Fatalf("Claim %s by %s: state %v err %v, want %v", key, r.Owner, c.State, err, want)
		}
		return c
	}

	t.Run("lifecycle", func(t *testing.T) {
		s := newStore(t)
		state(t, s, "k", t0, callback.ClaimAbsent)
		claim(t, s, "k", req("A", "dA", t0), callback.ClaimAcquired)
		if c := claim(t, s, "k", req("B", "dA", t0), callback.ClaimInProgress); c.Digest != "dA" {
			t.Fatalf("in-progress digest %q", c.Digest)
		}
		// The holder's retried claim (the first one was applied) is its own.
		claim(t, s, "k", req("A", "dA", t0.Add(time.Second)), callback.ClaimAcquired)
		if err := s.Complete(ctx, app, "k", "A", []byte("<xml>r</xml>"), t0); err != nil {
			t.Fatal(err)
		}
		if c := claim(t, s, "k", req("B", "dA", t0.Add(time.Minute)), callback.ClaimCompleted); string(c.Reply) != "<xml>r</xml>" || c.Digest != "dA" {
			t.Fatalf("completed record: reply %q digest %q", c.Reply, c.Digest)
		}
		// A retried Complete by the holder succeeds again.
		if err := s.Complete(ctx, app, "k", "A", []byte("<xml>r</xml>"), t0); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, app, "k", "A"); err != nil {
			t.Fatal(err)
		}
		state(t, s, "k", t0, callback.ClaimCompleted)
		// Past its ttl the record is gone.
		claim(t, s, "k", req("C", "dC", t0.Add(callback.DedupeTTL+time.Second)), callback.ClaimAcquired)
		// An empty reply is `success`.
		claim(t, s, "k2", req("A", "d", t0), callback.ClaimAcquired)
		if err := s.Complete(ctx, app, "k2", "A", nil, t0); err != nil {
			t.Fatal(err)
		}
		if c := state(t, s, "k2", t0, callback.ClaimCompleted); len(c.Reply) != 0 {
			t.Fatalf("reply %q", c.Reply)
		}
	})

	t.Run("release by the holder", func(t *testing.T) {
		s := newStore(t)
		claim(t, s, "k", req("A", "d", t0), callback.ClaimAcquired)
		if err := s.Release(ctx, app, "k", "A"); err != nil {
			t.Fatal(err)
		}
		state(t, s, "k", t0, callback.ClaimAbsent)
		claim(t, s, "k", req("B", "d", t0), callback.ClaimAcquired)
	})

	// A delivery whose lease ran out can neither release nor complete the
	// claim another delivery took over.
	t.Run("fenced by owner", func(t *testing.T) {
		s := newStore(t)
		claim(t, s, "k", req("A", "d", t0), callback.ClaimAcquired)
		later := t0.Add(lease + time.Second)
		claim(t, s, "k", req("B", "d", later), callback.ClaimAcquired)
		if err := s.Release(ctx, app, "k", "A"); err != nil {
			t.Fatal(err)
		}
		state(t, s, "k", later, callback.ClaimInProgress)
		if err := s.Complete(ctx, app, "k", "A", []byte("A's reply"), later); !errors.Is(err, callback.ErrClaimLost) {
			t.Fatalf("Complete by the expired owner: %v, want ErrClaimLost", err)
		}
		state(t, s, "k", later, callback.ClaimInProgress)
		if err := s.Complete(ctx, app, "k", "B", []byte("B's reply"), later); err != nil {
			t.Fatal(err)
		}
		if c := state(t, s, "k", later, callback.ClaimCompleted); string(c.Reply) != "B's reply" {
			t.Fatalf("reply %q", c.Reply)
		}
		if err := s.Complete(ctx, app, "absent", "A", nil, later); !errors.Is(err, callback.ErrClaimLost) {
			t.Fatalf("Complete without a claim: %v, want ErrClaimLost", err)
		}
	})
}

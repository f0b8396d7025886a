package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

const (
	authComp = "wxc0mp0nent0000001"
	authAcct = "wxauth0rizer000001"
)

// Authorize: the newest CreateTime wins, a repeat of the stored write is
// success, an older event is refused; RotateRefreshToken is a CAS on
// version; RemoveAuthorization never removes a newer authorisation.
func TestAuthorizationItem(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0)
	if _, err := s.GetAuthorization(ctx, authComp, authAcct); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("absent item: %v", err)
	}
	a1 := credential.Authorization{ComponentAppID: authComp, AuthorizerAppID: authAcct, RefreshToken: "RT1", AuthorizedAt: t0}
	got, err := s.Authorize(ctx, a1)
	if err != nil || got.Version != 1 {
		t.Fatalf("first authorize: %+v %v", got, err)
	}
	if got, err := s.Authorize(ctx, a1); err != nil || got.Version != 1 {
		t.Fatalf("repeat: %+v %v", got, err)
	}
	older := a1
	older.RefreshToken, older.AuthorizedAt = "RT0", t0.Add(-time.Minute)
	if _, err := s.Authorize(ctx, older); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("older event: %v", err)
	}
	// Rotation CAS: the version read wins once; a stale version is refused.
	rot, err := s.RotateRefreshToken(ctx, authComp, authAcct, 1, "RT1b")
	if err != nil || rot.Version != 2 || rot.RefreshToken != "RT1b" || !rot.AuthorizedAt.Equal(t0) {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	if _, err := s.RotateRefreshToken(ctx, authComp, authAcct, 1, "RT1c"); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("rotate from a stale version: %v", err)
	}
	// A newer authorisation, then a late unauthorized push of an earlier
	// CreateTime: the newer one survives.
	a2 := credential.Authorization{ComponentAppID: authComp, AuthorizerAppID: authAcct, RefreshToken: "RT2", AuthorizedAt: t0.Add(time.Hour)}
	if got, err := s.Authorize(ctx, a2); err != nil || got.Version != 3 {
		t.Fatalf("newer authorize: %+v %v", got, err)
	}
	if err := s.RemoveAuthorization(ctx, authComp, authAcct, t0.Add(30*time.Minute)); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("late unauthorize: %v", err)
	}
	if cur, err := s.GetAuthorization(ctx, authComp, authAcct); err != nil || cur.RefreshToken != "RT2" {
		t.Fatalf("after the late unauthorize: %+v %v", cur, err)
	}
	if err := s.RemoveAuthorization(ctx, authComp, authAcct, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAuthorization(ctx, authComp, authAcct, t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("repeated unauthorize: %v", err)
	}
	if _, err := s.RotateRefreshToken(ctx, authComp, authAcct, 3, "RT2b"); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("rotate after removal: %v", err)
	}
	if _, err := s.GetAuthorization(ctx, authComp, authAcct); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("after unauthorize: %v", err)
	}
}

// CommitAuthorized never replaces a newer value, displaces a sweeper's
// lease result, and is recognised on retry; RemoveAuthorizerCredential
// keeps a value obtained after the withdrawal and another platform's item.
func TestAuthorizerCredential(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	now := time.UnixMilli(1_800_000_000_123)
	kind := credential.AccessToken
	// A sweeper holds the lease over an older value.
	if _, err := s.TakeLease(ctx, authAcct, kind, "sweeper", now, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c := credential.Commit{Value: "AT1", ExpiresAt: now.Add(2 * time.Hour), RefreshedAt: now, DueAt: now.Add(2*time.Hour - 290*time.Second), ComponentAppID: authComp}
	rec, err := s.CommitAuthorized(ctx, authAcct, kind, c)
	if err != nil || rec.Value != "AT1" || rec.Version != 1 || rec.ComponentAppID != authComp || rec.DueAt.Unix() != c.DueAt.Unix() || rec.LeaseOwner != "sweeper" {
		t.Fatalf("commit: %+v %v", rec, err)
	}
	if _, err := s.CommitAuthorized(ctx, authAcct, kind, c); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	// The sweeper's fenced commit is refused: its result is discarded.
	if _, err := s.Commit(ctx, authAcct, kind, credential.Commit{Owner: "sweeper", Value: "ATold", ExpiresAt: now.Add(time.Hour), RefreshedAt: now}); !errors.Is(err, credential.ErrLeaseLost) {
		t.Fatalf("sweeper's commit after the authorization: %v", err)
	}
	older := c
	older.Value, older.RefreshedAt = "AT0", now.Add(-time.Millisecond)
	if _, err := s.CommitAuthorized(ctx, authAcct, kind, older); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("older commit: %v", err)
	}
	// A withdrawal created before the value was obtained, or by another
	// platform, leaves it; a later one removes it.
	if err := s.RemoveAuthorizerCredential(ctx, authAcct, kind, authComp, now.Add(-time.Second)); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("late withdrawal: %v", err)
	}
	if err := s.RemoveAuthorizerCredential(ctx, authAcct, kind, "wxotherplatform001", now.Add(time.Minute)); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("other platform's withdrawal: %v", err)
	}
	for range 2 {
		if err := s.RemoveAuthorizerCredential(ctx, authAcct, kind, authComp, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, authAcct, kind, true); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("after the withdrawal: %v", err)
	}
}

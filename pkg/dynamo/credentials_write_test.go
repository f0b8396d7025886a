package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

const app = "wx0123456789abcdef"

var t0 = time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)

func seed(t *testing.T, store *dynamo.CredentialStore, value string, version int64, expires time.Time) credential.Record {
	t.Helper()
	r := credential.Record{Credential: credential.Credential{AppID: app, Kind: credential.AccessToken, Value: value,
		ExpiresAt: expires, RefreshedAt: expires.Add(-2 * time.Hour), Version: version}}
	if err := store.Put(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTakeLease(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		existing *credential.Record
		at       time.Time
		wantErr  error
	}{
		{"absent item is created with the lease", nil, t0, nil},
		{"item without lease", &credential.Record{Credential: credential.Credential{Value: "A", Version: 1}}, t0, nil},
		{"live lease of another owner", &credential.Record{Credential: credential.Credential{Value: "A", Version: 1},
			LeaseOwner: "other", LeaseUntil: t0.Add(time.Millisecond)}, t0, credential.ErrLeaseHeld},
		{"lease expiring exactly now is free", &credential.Record{Credential: credential.Credential{Value: "A", Version: 1},
			LeaseOwner: "other", LeaseUntil: t0}, t0, nil},
		{"expired lease is taken over", &credential.Record{Credential: credential.Credential{Value: "A", Version: 1},
			LeaseOwner: "other", LeaseUntil: t0.Add(-time.Second)}, t0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, _, _ := newStore(t)
			if tc.existing != nil {
				r := *tc.existing
				r.AppID, r.Kind = app, credential.AccessToken
				if err := store.Put(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			rec, err := store.TakeLease(ctx, app, credential.AccessToken, "me", tc.at, 30*time.Second)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			stored, _ := store.Get(ctx, app, credential.AccessToken, true)
			if tc.wantErr != nil {
				if stored.LeaseOwner != "other" {
					t.Fatalf("lease owner = %q after a refused take-over", stored.LeaseOwner)
				}
				return
			}
			if rec.LeaseOwner != "me" || !rec.LeaseUntil.Equal(tc.at.Add(30*time.Second)) {
				t.Fatalf("returned lease %q until %v", rec.LeaseOwner, rec.LeaseUntil)
			}
			if tc.existing != nil && rec.Value != tc.existing.Value {
				t.Fatalf("returned value %q, want the stored %q", rec.Value, tc.existing.Value)
			}
			if !recordsEqual(rec, stored) {
				t.Fatalf("returned %+v, stored %+v", rec, stored)
			}
		})
	}
}

func TestTakeLeaseConcurrentOneWinner(t *testing.T) {
	store, _, _ := newStore(t)
	seed(t, store, "A", 1, t0.Add(time.Minute))
	var wins, held atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := store.TakeLease(context.Background(), app, credential.AccessToken, fmt.Sprintf("owner-%d", i), t0, 30*time.Second)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, credential.ErrLeaseHeld):
				held.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || held.Load() != 19 {
		t.Fatalf("wins=%d held=%d, want 1 and 19", wins.Load(), held.Load())
	}
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	exp := t0.Add(2 * time.Hour)
	tests := []struct {
		name        string
		seedValue   string
		prev, value string
		wantVersion int64
	}{
		{"first value starts at version 1", "", "", "A", 1},
		{"changed value bumps version", "A", "A", "B", 4},
		{"same value keeps version, updates expiry", "A", "A", "A", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, _, _ := newStore(t)
			if tc.seedValue != "" {
				r := seed(t, store, tc.seedValue, 3, t0.Add(time.Minute))
				r.LastErrorCode, r.LastError, r.LastErrorAt = -1, "transient: errcode -1", t0.Add(-time.Minute)
				if err := store.Put(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me", t0, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			rec, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "me", PrevValue: tc.prev,
				Value: tc.value, ExpiresAt: exp, RefreshedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := store.Get(ctx, app, credential.AccessToken, true)
			if !recordsEqual(rec, stored) {
				t.Fatalf("returned %+v, stored %+v", rec, stored)
			}
			want := credential.Record{Credential: credential.Credential{AppID: app, Kind: credential.AccessToken,
				Value: tc.value, ExpiresAt: exp, RefreshedAt: t0, Version: tc.wantVersion}}
			if !recordsEqual(stored, want) {
				t.Fatalf("stored %+v\nwant   %+v (lease and last_error_* removed)", stored, want)
			}
		})
	}
}

// A refresher whose lease expired and was taken over cannot overwrite the
// newer value, and nothing of its result is written.
func TestCommitAfterLeaseExpiredIsDiscarded(t *testing.T) {
	ctx := context.Background()
	store, _, _ := newStore(t)
	seed(t, store, "OLD", 5, t0.Add(time.Minute))
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "slow", t0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(31 * time.Second)
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "fast", later, 30*time.Second); err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	if _, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "fast", PrevValue: "OLD",
		Value: "NEW", ExpiresAt: later.Add(2 * time.Hour), RefreshedAt: later}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"commit", func() error {
			_, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "slow", PrevValue: "OLD",
				Value: "STALE", ExpiresAt: t0.Add(3 * time.Hour), RefreshedAt: t0})
			return err
		}},
		{"record failure", func() error {
			return store.RecordFailure(ctx, app, credential.AccessToken, "slow", credential.Failure{Code: -1, Message: "x", At: later})
		}},
		{"release", func() error { return store.ReleaseLease(ctx, app, credential.AccessToken, "slow") }},
		{"spend force", func() error {
			_, err := store.SpendForce(ctx, app, credential.AccessToken, "slow", later, 30*time.Second, 10)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, credential.ErrLeaseLost) {
				t.Fatalf("err = %v, want ErrLeaseLost", err)
			}
			got, _ := store.Get(ctx, app, credential.AccessToken, true)
			if got.Value != "NEW" || got.Version != 6 || !got.ExpiresAt.Equal(later.Add(2*time.Hour)) ||
				got.LastErrorCode != 0 || got.ForceCount != 0 {
				t.Fatalf("stale writer changed the item: %+v", got)
			}
		})
	}
}

// Commit is conditional on the value the leaseholder saw too: a lease
// re-taken by the same owner id after someone else's commit still fails.
func TestCommitFencedOnPreviousValue(t *testing.T) {
	ctx := context.Background()
	store, _, _ := newStore(t)
	seed(t, store, "NEWER", 2, t0.Add(time.Hour))
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me", t0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "me", PrevValue: "OLDER",
		Value: "X", ExpiresAt: t0.Add(2 * time.Hour), RefreshedAt: t0})
	if !errors.Is(err, credential.ErrLeaseLost) {
		t.Fatalf("err = %v, want ErrLeaseLost", err)
	}
}

func TestRecordFailureAndRelease(t *testing.T) {
	ctx := context.Background()
	store, _, _ := newStore(t)
	seed(t, store, "A", 1, t0.Add(time.Minute))
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me", t0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordFailure(ctx, app, credential.AccessToken, "me",
		credential.Failure{Code: 40125, Message: "configuration: errcode 40125: invalid appsecret", At: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Get(ctx, app, credential.AccessToken, true)
	if got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
		t.Fatalf("lease not released: %+v", got)
	}
	if got.LastErrorCode != 40125 || got.LastError != "configuration: errcode 40125: invalid appsecret" ||
		!got.LastErrorAt.Equal(t0.Add(time.Second)) || got.Value != "A" || got.Version != 1 {
		t.Fatalf("failure not recorded as expected: %+v", got)
	}
	// The lease is free again, and a plain release works.
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "next", t0.Add(time.Second), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseLease(ctx, app, credential.AccessToken, "next"); err != nil {
		t.Fatal(err)
	}
	got, _ = store.Get(ctx, app, credential.AccessToken, true)
	if got.LeaseOwner != "" || got.LastErrorCode != 40125 {
		t.Fatalf("release changed more than the lease: %+v", got)
	}
	if err := store.ReleaseLease(ctx, app, credential.AccessToken, "next"); !errors.Is(err, credential.ErrLeaseLost) {
		t.Fatalf("second release: %v, want ErrLeaseLost", err)
	}
}

func TestSpendForce(t *testing.T) {
	ctx := context.Background()
	// 10:00 UTC is 18:00 in Shanghai; 16:00 UTC is already the next day there.
	tests := []struct {
		name      string
		day       string
		count     int
		lastForce time.Time
		at        time.Time
		limit     int
		wantErr   error
		wantDay   string
		wantCount int
	}{
		{"first ever", "", 0, time.Time{}, t0, 10, nil, "2027-01-15", 1},
		{"same day increments", "2027-01-15", 3, t0.Add(-time.Minute), t0, 10, nil, "2027-01-15", 4},
		{"exactly 30s later is allowed", "2027-01-15", 3, t0.Add(-30 * time.Second), t0, 10, nil, "2027-01-15", 4},
		{"29s later is too soon", "2027-01-15", 3, t0.Add(-29 * time.Second), t0, 10, credential.ErrForceTooSoon, "2027-01-15", 3},
		{"29.2s later is too soon, to the millisecond", "2027-01-15", 3, t0.Add(-29200 * time.Millisecond), t0, 10, credential.ErrForceTooSoon, "2027-01-15", 3},
		{"limit reached", "2027-01-15", 10, t0.Add(-time.Hour), t0, 10, credential.ErrForceBudgetExhausted, "2027-01-15", 10},
		{"limit reached and too soon reports the limit", "2027-01-15", 10, t0.Add(-time.Second), t0, 10, credential.ErrForceBudgetExhausted, "2027-01-15", 10},
		{"new Shanghai day resets", "2027-01-15", 10, t0.Add(5*time.Hour + 59*time.Minute), t0.Add(6 * time.Hour), 10, nil, "2027-01-16", 1},
		{"new day but too soon", "2027-01-15", 10, t0.Add(6*time.Hour - 10*time.Second), t0.Add(6 * time.Hour), 10, credential.ErrForceTooSoon, "2027-01-15", 10},
		{"limit zero refuses", "", 0, time.Time{}, t0, 0, credential.ErrForceBudgetExhausted, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, _, _ := newStore(t)
			r := seed(t, store, "A", 1, t0.Add(time.Hour))
			r.ForceDay, r.ForceCount, r.LastForceAt = tc.day, tc.count, tc.lastForce
			if err := store.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me", tc.at, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			rec, err := store.SpendForce(ctx, app, credential.AccessToken, "me", tc.at, 30*time.Second, tc.limit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, _ := store.Get(ctx, app, credential.AccessToken, true)
			if got.ForceDay != tc.wantDay || got.ForceCount != tc.wantCount {
				t.Fatalf("budget %s/%d, want %s/%d", got.ForceDay, got.ForceCount, tc.wantDay, tc.wantCount)
			}
			if tc.wantErr == nil {
				if !got.LastForceAt.Equal(tc.at) || !recordsEqual(rec, got) {
					t.Fatalf("last_force_at %v (want %v); returned %+v", got.LastForceAt, tc.at, rec)
				}
			}
			if got.LeaseOwner != "me" {
				t.Fatalf("lease lost by SpendForce: %+v", got)
			}
		})
	}
}

// Readers never see a half-written item: while a writer commits values
// whose every attribute encodes the same sequence number, concurrent
// readers must always find those attributes agreeing.
func TestReadersNeverSeeHalfWrittenItem(t *testing.T) {
	ctx := context.Background()
	store, _, _ := newStore(t)
	const commits = 60
	base := time.Unix(2_000_000_000, 0)
	prev := ""
	done := make(chan struct{})
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, consistent := range []bool{true, false} {
					r, err := store.Get(ctx, app, credential.AccessToken, consistent)
					if errors.Is(err, credential.ErrNotFound) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					reads.Add(1)
					if r.Value == "" { // lease taken before the first commit
						continue
					}
					n, err := strconv.Atoi(strings.TrimPrefix(r.Value, "tok-"))
					if err != nil || r.Version != int64(n) || !r.ExpiresAt.Equal(base.Add(time.Duration(n)*time.Hour)) ||
						!r.RefreshedAt.Equal(base.Add(time.Duration(n)*time.Second)) {
						bad.Add(1)
						t.Errorf("inconsistent item: %+v", r)
					}
				}
			}
		}()
	}
	for i := 1; i <= commits; i++ {
		now := base.Add(time.Duration(i) * time.Minute)
		if _, err := store.TakeLease(ctx, app, credential.AccessToken, "w", now, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("tok-%d", i)
		if _, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "w", PrevValue: prev, Value: v,
			ExpiresAt: base.Add(time.Duration(i) * time.Hour), RefreshedAt: base.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		prev = v
	}
	close(done)
	wg.Wait()
	t.Logf("%d commits, %d concurrent reads, %d inconsistent", commits, reads.Load(), bad.Load())
	if reads.Load() == 0 {
		t.Fatal("readers never read")
	}
}

// SpendForce needs a live lease and extends it to cover the force call.
func TestSpendForceNeedsALiveLeaseAndExtendsIt(t *testing.T) {
	ctx := context.Background()
	store, _, _ := newStore(t)
	seed(t, store, "A", 1, t0.Add(time.Hour))
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me", t0, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	rec, err := store.SpendForce(ctx, app, credential.AccessToken, "me", t0.Add(20*time.Second), 30*time.Second, 10)
	if err != nil || !rec.LeaseUntil.Equal(t0.Add(50*time.Second)) {
		t.Fatalf("spend on a live lease: %+v, %v", rec, err)
	}
	_, err = store.SpendForce(ctx, app, credential.AccessToken, "me", t0.Add(50*time.Second+time.Minute), 30*time.Second, 10)
	if !errors.Is(err, credential.ErrLeaseLost) {
		t.Fatalf("spend on an expired lease: %v, want ErrLeaseLost", err)
	}
	if got, _ := store.Get(ctx, app, credential.AccessToken, true); got.ForceCount != 1 {
		t.Fatalf("force_count %d", got.ForceCount)
	}
}

// CommitUnleased stores a forced token over the value the force revoked or
// anything obtained before it, never over a newer value, and keeps leases.
func TestCommitUnleased(t *testing.T) {
	ctx := context.Background()
	forced := credential.Commit{Owner: "me", PrevValue: "A", Value: "F", ExpiresAt: t0.Add(2 * time.Hour), RefreshedAt: t0}
	tests := []struct {
		name      string
		value     string
		refreshed time.Time
		wantErr   error
		want      string
	}{
		{"previous value", "A", t0.Add(-time.Hour), nil, "F"},
		{"other value obtained before the force", "B", t0.Add(-time.Second), nil, "F"},
		{"newer value", "N", t0.Add(time.Second), credential.ErrSuperseded, "N"},
		{"already stored", "F", t0, nil, "F"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store, _, _ := newStore(t)
			r := credential.Record{Credential: credential.Credential{AppID: app, Kind: credential.AccessToken, Value: tc.value,
				ExpiresAt: tc.refreshed.Add(2 * time.Hour), RefreshedAt: tc.refreshed, Version: 4}, LeaseOwner: "other", LeaseUntil: t0.Add(time.Minute)}
			if tc.value == "F" {
				r.ExpiresAt = forced.ExpiresAt
			}
			if err := store.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
			_, err := store.CommitUnleased(ctx, app, credential.AccessToken, forced)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got, _ := store.Get(ctx, app, credential.AccessToken, true)
			wantVersion := int64(4)
			if tc.want != tc.value {
				wantVersion = 5
			}
			if got.Value != tc.want || got.Version != wantVersion || got.LeaseOwner != "other" {
				t.Fatalf("item %+v, want value %s version %d with the other lease", got, tc.want, wantVersion)
			}
		})
	}
}

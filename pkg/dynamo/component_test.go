package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// PutVerifyTicket: the newest CreateTime wins, a repeat writes nothing, an
// item a sweeper's lease created first is filled in with its lease kept, and
// a refresher's failure record is cleared by the next ticket.
func TestPutVerifyTicket(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	const comp = "wxc0mp0nent0000001"
	t0 := time.Unix(1_800_000_000, 0)
	now := t0.Add(time.Hour)
	if _, err := s.TakeLease(ctx, comp, credential.ComponentVerifyTicket, "sweeper", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFailure(ctx, comp, credential.ComponentVerifyTicket, "sweeper", credential.Failure{Code: 0, Message: "verify_ticket_stale", At: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeLease(ctx, comp, credential.ComponentVerifyTicket, "sweeper", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		ticket     string
		created    time.Time
		wrote      bool
		superseded bool
		want       string
	}{
		{"T2", t0.Add(20 * time.Minute), true, false, "T2"},
		{"T2", t0.Add(20 * time.Minute), false, false, "T2"}, // repeat
		{"T1", t0.Add(10 * time.Minute), false, true, "T2"},  // late
		{"T3", t0.Add(30 * time.Minute), true, false, "T3"},
	}
	for i, st := range steps {
		wrote, err := s.PutVerifyTicket(ctx, comp, st.ticket, st.created)
		if wrote != st.wrote || errors.Is(err, credential.ErrSuperseded) != st.superseded || (err != nil && !st.superseded) {
			t.Fatalf("step %d: wrote %v err %v", i, wrote, err)
		}
		rec, err := s.Get(ctx, comp, credential.ComponentVerifyTicket, true)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Value != st.want || rec.LeaseOwner != "sweeper" || rec.LastErrorAt != (time.Time{}) {
			t.Fatalf("step %d: item %+v", i, rec)
		}
	}
	rec, _ := s.Get(ctx, comp, credential.ComponentVerifyTicket, true)
	if rec.Version != 2 || !rec.RefreshedAt.Equal(t0.Add(30*time.Minute)) || !rec.ExpiresAt.Equal(t0.Add(30*time.Minute+credential.VerifyTicketLifetime)) {
		t.Fatalf("item %+v: want version 2, refreshed_at = CreateTime, expires_at = CreateTime + 12h", rec)
	}
	if _, err := s.PutVerifyTicket(ctx, comp, "", t0); err == nil {
		t.Fatal("an empty ticket was accepted")
	}
}

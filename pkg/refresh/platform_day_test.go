package refresh_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/component"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// TestPlatformDayTwoHundredAuthorizers is the acceptance test
// against the simulators, through the real code path: one platform, 200
// authorizers authorised through sealed `authorized` pushes posted to the
// component Handler (its AuthorizationSink invoking the refresher's
// authorize/unauthorize actions), refresh-token rotation, a sweep every
// simulated minute finding due work through the due index, ticket pushes
// delivered late, out of order, twice or not at all, and a ticket outage
// that the sweep must recover with api_start_push_ticket. Readers read
// random authorizers' tokens every minute: every usable one must be valid.
func TestPlatformDayTwoHundredAuthorizers(t *testing.T) {
	wall := time.Now()
	hours := 24
	if testing.Short() {
		hours = 4
	}
	const nAuth = 200
	ctx := context.Background()
	w := newAuthWorld(t)
	reads, counted := w.counted()
	r := w.refresher(counted)
	discard := slog.New(slog.NewJSONHandler(io.Discard, nil))
	actions := map[string]int{}
	sink := component.AuthorizationSink{Logger: discard, Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.AuthorizationRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		var a tokenapi.Answer
		switch req.Action {
		case tokenapi.ActionAuthorize:
			a = r.Authorize(ctx, req)
		case tokenapi.ActionUnauthorize:
			a = r.Unauthorize(ctx, req)
		default:
			return nil, fmt.Errorf("action %q", req.Action)
		}
		actions[req.Action+"/"+a.Error]++
		return json.Marshal(a)
	}}
	intake, err := component.NewHandler(component.Options{
		Platforms: func(context.Context) ([]component.Platform, error) {
			return []component.Platform{{AppID: compP, Token: compToken, EncodingAESKey: compKey}}, nil
		},
		Tickets: w.store, Events: sink, Clock: w.clock.Now, Logger: discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(p wechattest.ComponentPush) int {
		t.Helper()
		req, err := p.NewRequest("http://wxcentral.test")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		intake.ServeHTTP(rec, req)
		return rec.Code
	}

	w.comp.SetRefreshTokenRotation(0.3)
	if err := w.comp.SetTicketPushFaults(compP, wechattest.TicketPushFaults{Delay: 3 * time.Minute, Reorder: true, DropRate: 0.2}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 13))
	t0 := w.clock.Now()
	ids := make([]string, nAuth)
	for i := range ids {
		ids[i] = fmt.Sprintf("wxauth%012d", i)
	}
	authorised := map[string]bool{}

	// The ticket oracle: the newest CreateTime delivered so far.
	stored, _ := w.store.Get(ctx, compP, credential.ComponentVerifyTicket, true)
	newest := stored.RefreshedAt
	var (
		pushes, late, repeats, pushErrors int
		served, invalid, compServed       int
		compInvalid, missing, stale       int
		maxSweepReads, totalSweepReads    int64
		outcomes                          = map[refresh.Outcome]int{}
		failures                          []refresh.Result
	)
	deliver := func(p wechattest.ComponentPush) {
		t.Helper()
		pushes++
		if code := post(p); code != http.StatusOK {
			pushErrors++
			t.Errorf("ticket push of %v answered %d", p.CreateTime, code)
		}
		if p.CreateTime.After(newest) {
			newest = p.CreateTime
		}
		rec, err := w.store.Get(ctx, compP, credential.ComponentVerifyTicket, true)
		if err != nil {
			t.Fatalf("ticket after a push: %v", err)
		}
		if rec.RefreshedAt.Before(stored.RefreshedAt) {
			t.Errorf("the stored ticket went back from %v to %v", stored.RefreshedAt, rec.RefreshedAt)
		}
		if !rec.RefreshedAt.Equal(newest) {
			t.Errorf("stored ticket of %v, newest delivered %v (push of %v)", rec.RefreshedAt, newest, p.CreateTime)
		}
		stored = rec
	}

	outageAt := t0.Add(time.Duration(hours) * time.Hour / 4)
	var stoppedStarts int
	var ticketAtOutage time.Time
	var restartedAt, ticketsAgainAt, ticketAtRestart time.Time
	outage := false
	unauthAt := map[int]string{90: ids[7], 91: ids[42], 300: ids[133]}
	reauthAt := map[int]string{150: ids[42], 420: ids[133]}

	for m := 1; m <= hours*60; m++ {
		now := t0.Add(time.Duration(m) * time.Minute)
		w.clock.Set(now)
		if now.Equal(outageAt) {
			if err := w.comp.StopTicketPushes(compP); err != nil {
				t.Fatal(err)
			}
			outage, ticketAtOutage = true, newest
			stoppedStarts = w.comp.ComponentCounters(compP).StartPushTicket
		}
		if outage && restartedAt.IsZero() && w.comp.TicketPushesRunning(compP) {
			restartedAt, ticketAtRestart = now, newest
		}
		// Ticket pushes: in odd hours each push is delivered 12 min late,
		// in even hours 2 min late, so a late push arrives with or after a
		// newer one (Reorder: newest first); every fifth is posted twice.
		if m%60 == 0 {
			delay := 2 * time.Minute
			if (m/60)%2 == 1 {
				delay = 12 * time.Minute
			}
			if err := w.comp.SetTicketPushFaults(compP, wechattest.TicketPushFaults{Delay: delay, Reorder: true, DropRate: 0.2}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range w.comp.DueTicketPushes() {
			if outage && !restartedAt.IsZero() && ticketsAgainAt.IsZero() {
				ticketsAgainAt = now
			}
			if p.CreateTime.Before(newest) {
				late++
			}
			if w.comp.ComponentCounters(compP).TicketPushes%5 == 0 {
				deliver(p)
				repeats++
			}
			deliver(p)
		}
		// Authorisations: ten a minute until there are 200.
		for i := 0; i < 10 && len(authorised) < nAuth && m <= 30; i++ {
			id := ids[len(authorised)]
			_, push, err := w.comp.Authorize(compP, id)
			if err != nil {
				t.Fatal(err)
			}
			if code := post(push); code != http.StatusOK {
				t.Fatalf("minute %d: authorized push of %s answered %d", m, id, code)
			}
			authorised[id] = true
		}
		if id, ok := unauthAt[m]; ok {
			push, err := w.comp.Unauthorize(compP, id)
			if err != nil {
				t.Fatal(err)
			}
			if code := post(push); code != http.StatusOK {
				t.Fatalf("minute %d: unauthorized push of %s answered %d", m, id, code)
			}
			delete(authorised, id)
			if _, err := w.store.Get(ctx, id, credential.AccessToken, true); !errors.Is(err, credential.ErrNotFound) {
				t.Errorf("minute %d: cred# of unauthorised %s: %v", m, id, err)
			}
			if _, err := w.auth(id); !errors.Is(err, credential.ErrNotFound) {
				t.Errorf("minute %d: auth# of unauthorised %s: %v", m, id, err)
			}
		}
		if id, ok := reauthAt[m]; ok {
			_, push, err := w.comp.Authorize(compP, id)
			if err != nil {
				t.Fatal(err)
			}
			if code := post(push); code != http.StatusOK {
				t.Fatalf("minute %d: re-authorized push of %s answered %d", m, id, code)
			}
			authorised[id] = true
			if rec := w.get(id, credential.AccessToken); !rec.Usable(now) || !w.comp.AuthorizerTokenValid(id, rec.Value, now) {
				t.Errorf("minute %d: re-authorised %s not served a valid token", m, id)
			}
		}
		// The sweep.
		before := reads.gets.Load()
		sum, err := r.Sweep(ctx)
		if err != nil {
			t.Fatalf("minute %d: sweep: %v", m, err)
		}
		n := reads.gets.Load() - before
		totalSweepReads += n
		maxSweepReads = max(maxSweepReads, n)
		for _, res := range sum.Results {
			outcomes[res.Outcome]++
			if res.Outcome == refresh.OutcomeFailed && res.Kind == credential.ComponentVerifyTicket && strings.HasPrefix(res.Error, "verify_ticket_stale") {
				stale++
				if now.Sub(newest) < credential.VerifyTicketMaxAge {
					t.Errorf("minute %d: verify_ticket_stale with a ticket of %v stored", m, newest)
				}
			} else if res.Outcome == refresh.OutcomeFailed {
				failures = append(failures, res)
			}
		}
		// Readers.
		for range 8 {
			id := ids[rng.IntN(nAuth)]
			rec, err := w.store.Get(ctx, id, credential.AccessToken, false)
			if err != nil {
				if errors.Is(err, credential.ErrNotFound) && !authorised[id] {
					continue
				}
				missing++
				continue
			}
			if rec.Usable(now) {
				served++
				if !w.comp.AuthorizerTokenValid(id, rec.Value, now) {
					invalid++
					if invalid == 1 {
						t.Errorf("minute %d: served token of %s not valid (expires_at %v)", m, id, rec.ExpiresAt)
					}
				}
			}
		}
		if rec, err := w.store.Get(ctx, compP, credential.ComponentAccessToken, false); err == nil && rec.Usable(now) {
			compServed++
			if !w.comp.ComponentTokenValid(compP, rec.Value, now) {
				compInvalid++
			}
		}
	}

	rotations := 0
	w.checkAudit()
	for _, a := range w.comp.RefreshAudits(compP) {
		rotations += a.Rotations
	}
	end := w.clock.Now()
	notUsable := 0
	for id := range authorised {
		rec, err := w.store.Get(ctx, id, credential.AccessToken, true)
		if err != nil || !rec.Usable(end) || !w.comp.AuthorizerTokenValid(id, rec.Value, end) {
			notUsable++
		}
	}
	cnt := w.comp.ComponentCounters(compP)
	sweeps := hours * 60
	t.Logf("simulated %dh, %d authorizers (%d still authorised), wall %v", hours, nAuth, len(authorised), time.Since(wall).Round(time.Millisecond))
	t.Logf("readers: %d served, %d invalid, %d missing; component token %d served, %d invalid", served, invalid, missing, compServed, compInvalid)
	t.Logf("rotations %d, authorizer refreshes %d, audits %d, actions %v", rotations, cnt.AuthorizerToken, len(w.comp.RefreshAudits(compP)), actions)
	t.Logf("ticket pushes: %d posted (%d late/out of order, %d repeated, %d answered non-200), simulator %+v", pushes, late, repeats, pushErrors, cnt)
	t.Logf("outage at %v (newest ticket then %v old): pushes restarted by a sweep at +%v (ticket %v old), first ticket again at +%v, no new ticket for %v; api_start_push_ticket calls: %d all day, %d from the outage on",
		outageAt.Sub(t0), outageAt.Sub(ticketAtOutage), restartedAt.Sub(outageAt), restartedAt.Sub(ticketAtRestart), ticketsAgainAt.Sub(outageAt),
		ticketsAgainAt.Sub(ticketAtOutage), cnt.StartPushTicket, cnt.StartPushTicket-stoppedStarts)
	t.Logf("sweeps %d: outcomes %v, %d failed, %d verify_ticket_stale; item reads per sweep max %d, mean %.2f", sweeps, outcomes, len(failures), stale, maxSweepReads, float64(totalSweepReads)/float64(sweeps))

	if invalid != 0 || served == 0 || compInvalid != 0 || compServed == 0 {
		t.Errorf("served %d (%d invalid), component token served %d (%d invalid)", served, invalid, compServed, compInvalid)
	}
	if missing != 0 {
		t.Errorf("%d reads found no token of an authorised account", missing)
	}
	// A stale ticket asks WeChat to resume the pushes at most once per push
	// interval (10 minutes), not at every sweep that finds it stale (each
	// stale spell of the day starts with a call, so the bound is loose).
	if limit := stale / 3; cnt.StartPushTicket > limit {
		t.Errorf("%d api_start_push_ticket calls for %d stale sweeps, want at most %d", cnt.StartPushTicket, stale, limit)
	}
	if notUsable != 0 {
		t.Errorf("%d authorised accounts without a usable token at the end", notUsable)
	}
	if restartedAt.IsZero() || ticketsAgainAt.IsZero() || cnt.StartPushTicket == stoppedStarts ||
		restartedAt.Sub(ticketAtRestart) > credential.VerifyTicketMaxAge+time.Minute || ticketsAgainAt.Sub(ticketAtOutage) <= credential.VerifyTicketMaxAge {
		t.Errorf("outage not recovered: restarted at %v, tickets again at %v", restartedAt, ticketsAgainAt)
	}
	if rotations == 0 || late == 0 || cnt.TicketPushesDropped == 0 {
		t.Errorf("the day exercised too little: %d rotations, %d late pushes, counters %+v", rotations, late, cnt)
	}
	// A sweep reads the items the due index names, not the 200 accounts.
	if mean := float64(totalSweepReads) / float64(sweeps); maxSweepReads > nAuth/4 || mean > 10 {
		t.Errorf("item reads per sweep: max %d, mean %.2f: sweeps do not read due items only", maxSweepReads, mean)
	}
	for i, f := range failures {
		if i < 5 {
			t.Errorf("failed: %+v", f)
		}
	}
}

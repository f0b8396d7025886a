package refresh_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

func TestSweepLifecycle(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket, credential.WXCardTicket), appWith(appB, secretB)).register()
	r := e.refresher()
	key := func(app string, k credential.Kind) string { return app + "/" + string(k) }

	// First sweep: nothing stored, everything fetched.
	res := e.sweep(r)
	for _, k := range []string{key(appA, credential.AccessToken), key(appA, credential.JSAPITicket), key(appA, credential.WXCardTicket), key(appB, credential.AccessToken)} {
		if res[k].Outcome != refresh.OutcomeRefreshed || res[k].Version != 1 || res[k].Error != "" {
			t.Fatalf("first sweep %s: %+v", k, res[k])
		}
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	at := e.get(appA, credential.AccessToken)
	if !e.sim.Valid(appA, at.Value, e.clock.Now()) || !at.ExpiresAt.Equal(start.Add(7200*time.Second)) || !at.RefreshedAt.Equal(start) {
		t.Fatalf("stored token %+v", at)
	}
	if res[key(appA, credential.AccessToken)].ExpiresAt != at.ExpiresAt.Unix() {
		t.Fatal("result expires_at differs from the item")
	}
	tk := e.get(appA, credential.JSAPITicket)
	if !e.sim.TicketValid(appA, tk.Value, e.clock.Now()) {
		t.Fatal("stored ticket not valid")
	}

	// Until due: fresh, no WeChat call.
	before := e.sim.Counters(appA)
	e.clock.Advance(7200*time.Second - credential.AccessTokenLead - time.Second)
	res = e.sweep(r)
	if res[key(appA, credential.AccessToken)].Outcome != refresh.OutcomeFresh {
		t.Fatalf("before due: %+v", res[key(appA, credential.AccessToken)])
	}
	// Tickets are due 600 s before expiry, so they were refreshed already.
	if res[key(appA, credential.JSAPITicket)].Outcome != refresh.OutcomeUnchanged && res[key(appA, credential.JSAPITicket)].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("ticket inside its lead: %+v", res[key(appA, credential.JSAPITicket)])
	}
	if c := e.sim.Counters(appA); c.StableTokenNormal != before.StableTokenNormal {
		t.Fatalf("stable_token called while fresh: %+v", c)
	}

	// At due (inside WeChat's rotation window): a new token, version 2.
	e.clock.Advance(time.Second)
	res = e.sweep(r)
	got := res[key(appA, credential.AccessToken)]
	if got.Outcome != refresh.OutcomeRefreshed || got.Version != 2 {
		t.Fatalf("at due: %+v", got)
	}
	at2 := e.get(appA, credential.AccessToken)
	if at2.Value == at.Value || !e.sim.Valid(appA, at2.Value, e.clock.Now()) || !e.sim.Valid(appA, at.Value, e.clock.Now()) {
		t.Fatal("rotation: want a new valid token while the old one is still valid")
	}
	if c := e.sim.Counters(appA); c.StableTokenNormal != before.StableTokenNormal+1 || c.StableTokenForce != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// A normal-mode call earlier than WeChat's rotation window returns the same
// token: the sweep reports unchanged and updates expires_at, no version bump.
func TestSweepUnchanged(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	first := e.get(appA, credential.AccessToken)
	// Pretend the stored expiry is earlier than WeChat's, so the sweep is due
	// while WeChat still hands out the same token.
	first.ExpiresAt = start.Add(time.Hour)
	if err := e.store.Put(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(start.Add(time.Hour - credential.AccessTokenLead))
	res := e.sweep(r)[appA+"/access_token"]
	if res.Outcome != refresh.OutcomeUnchanged || res.Version != 1 {
		t.Fatalf("%+v", res)
	}
	got := e.get(appA, credential.AccessToken)
	if got.Value != first.Value || !got.ExpiresAt.Equal(start.Add(7200*time.Second)) || !got.RefreshedAt.Equal(e.clock.Now()) || got.LeaseOwner != "" {
		t.Fatalf("stored %+v", got)
	}
}

// Store contract: sweeps racing on one credential make one WeChat call and
// one version bump; the others report leased (or fresh, if they read after
// the commit).
func TestSweepsRacingOneWeChatCall(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			e := newEnv(t, nil, appWith(appA, secretA)).register()
			const sweepers = 5
			rs := make([]*refresh.Refresher, sweepers)
			for i := range rs {
				rs[i] = e.refresher()
			}
			outcomes := map[refresh.Outcome]int{}
			for _, res := range sweepConcurrently(t, rs) {
				outcomes[res.Outcome]++
			}
			c := e.sim.Counters(appA)
			rec := e.get(appA, credential.AccessToken)
			if c.StableTokenNormal != 1 || rec.Version != 1 || outcomes[refresh.OutcomeRefreshed] != 1 {
				t.Fatalf("stable_token calls %d, version %d, outcomes %v", c.StableTokenNormal, rec.Version, outcomes)
			}
			if outcomes[refresh.OutcomeLeased]+outcomes[refresh.OutcomeFresh] != sweepers-1 {
				t.Fatalf("outcomes %v", outcomes)
			}
		})
	}
}

// A refresher that lost its lease (it expired and another refresher took
// over and committed) cannot overwrite the newer value: its sweep result is
// discarded. Simulated by a lease taken, expired and taken over directly in
// the store while a sweep would commit.
func TestSweepExpiredLeaseTakenOver(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	ctx := context.Background()
	// A crashed refresher left a lease behind.
	if _, err := e.store.TakeLease(ctx, appA, credential.AccessToken, "crashed", start, credential.LeaseDuration); err != nil {
		t.Fatal(err)
	}
	r := e.refresher()
	if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeLeased {
		t.Fatalf("live lease: %+v", res)
	}
	if c := e.sim.Counters(appA); c.StableTokenNormal != 0 {
		t.Fatal("WeChat called despite a live lease")
	}
	e.clock.Advance(credential.LeaseDuration)
	if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeRefreshed || res.Version != 1 {
		t.Fatalf("expired lease not taken over: %+v", res)
	}
	rec := e.get(appA, credential.AccessToken)
	if rec.LeaseOwner != "" {
		t.Fatalf("lease left behind: %+v", rec)
	}
}

func TestSweepConfigError(t *testing.T) {
	e := newEnv(t, nil)
	r := e.refresher(func(o *refresh.Options) {
		o.Apps = func(context.Context) ([]refresh.App, error) {
			return nil, fmt.Errorf("apps document: apps[1].secret: missing")
		}
	})
	_, err := r.Sweep(context.Background())
	if err == nil || err.Error() != "sweep: apps document: apps[1].secret: missing" {
		t.Fatalf("err = %v", err)
	}
}

// A refresher whose WeChat call outlives its lease cannot overwrite the
// value committed by the refresher that took the lease over, even when
// WeChat hands the slow one a different (newer) token.
func TestSweepSlowRefresherCannotOverwrite(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	old := e.get(appA, credential.AccessToken)
	e.clock.Set(old.DueAt)

	slow, fast := e.refresher(), e.refresher()
	e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(2*time.Second))
	done := make(chan refresh.Result)
	go func() {
		sum, err := slow.Sweep(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- sum.Results[0]
	}()
	// Wait until the slow call has reached WeChat (its fault is consumed).
	for e.sim.PendingFaults(wechattest.EndpointStableToken) != 0 {
		time.Sleep(time.Millisecond)
	}
	e.clock.Advance(credential.LeaseDuration + time.Second)
	res := e.sweep(fast)[appA+"/access_token"]
	if res.Outcome != refresh.OutcomeRefreshed || res.Version != old.Version+1 {
		t.Fatalf("take-over sweep: %+v", res)
	}
	committed := e.get(appA, credential.AccessToken)
	if _, err := e.sim.ForceRotate(appA); err != nil { // the slow call will now see a newer token
		t.Fatal(err)
	}
	slowRes := <-done
	if slowRes.Outcome != refresh.OutcomeLeased {
		t.Fatalf("slow sweep: %+v, want leased (result discarded)", slowRes)
	}
	got := e.get(appA, credential.AccessToken)
	if got.Value != committed.Value || got.Version != committed.Version || got.LeaseOwner != "" {
		t.Fatalf("stored %+v, want the take-over's value at version %d", got, committed.Version)
	}
	if cur, _ := e.sim.CurrentToken(appA); cur == got.Value {
		t.Fatal("setup: WeChat's newest token should differ from the stored one")
	}
	if c := e.sim.Counters(appA); c.StableTokenNormal != 3 { // first sweep, slow, fast
		t.Fatalf("counters %+v", c)
	}
}

// A forced refresh whose configuration cannot be loaded answers
// token_unavailable as a payload; like a sweep's function error, the answer
// and the log name the field at fault (docs/secrets.md), never a value.
func TestForceConfigErrorNamesTheField(t *testing.T) {
	tests := []struct {
		name    string
		loadErr string
	}{
		{"missing secret", "apps document: apps[1].secret: missing"},
		{"duplicate appid", "apps document: apps[1].appid: duplicate of apps[0].appid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.refresher(func(o *refresh.Options) {
				o.WeChat = noWeChat{t}
				o.Apps = func(context.Context) ([]refresh.App, error) { return nil, errors.New(tc.loadErr) }
			})
			got := r.Force(context.Background(), tokenapi.ForceRequest{AppID: appA, Kind: "access_token", StaleToken: "T"})
			if got.Error != tokenapi.CodeTokenUnavailable || !strings.Contains(got.Message, tc.loadErr) {
				t.Fatalf("answer %+v, want token_unavailable naming %q", got, tc.loadErr)
			}
			if !strings.Contains(e.logs.String(), tc.loadErr) {
				t.Fatalf("logs do not name the field:\n%s", e.logs.String())
			}
		})
	}
}

// A sweeper whose ticket phase finds the access_token being fetched by
// another sweeper (the first minute of a deployment, with every sweeper
// starting at once) waits for that commit instead of recording
// token_unavailable; if the other never commits, it gives up after the
// wait.
func TestSweepTicketWaitsForTokenInFlight(t *testing.T) {
	ctx := context.Background()
	t.Run("committed while waiting", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket)).register()
		if _, err := e.store.TakeLease(ctx, appA, credential.AccessToken, "other-sweeper", e.clock.Now(), credential.LeaseDuration); err != nil {
			t.Fatal(err)
		}
		done := make(chan map[string]refresh.Result, 1)
		go func() { done <- e.sweep(e.refresher()) }()
		time.Sleep(30 * time.Millisecond) // the ticket phase is waiting by now
		tok, err := wechat.NewClient(wechat.WithBaseURL(e.url), wechat.WithClock(e.clock.Now)).StableToken(ctx, appA, secretA, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Commit(ctx, appA, credential.AccessToken, credential.Commit{Owner: "other-sweeper", Value: tok.AccessToken,
			ExpiresAt: tok.ReceivedAt.Add(tok.ExpiresIn), RefreshedAt: tok.ReceivedAt}); err != nil {
			t.Fatal(err)
		}
		res := <-done
		if at := res[appA+"/access_token"]; at.Outcome != refresh.OutcomeLeased {
			t.Fatalf("access_token %+v", at)
		}
		if tk := res[appA+"/jsapi_ticket"]; tk.Outcome != refresh.OutcomeRefreshed || tk.Error != "" || e.sim.Counters(appA).GetTicket != 1 {
			t.Fatalf("ticket %+v, getticket calls %d", tk, e.sim.Counters(appA).GetTicket)
		}
	})
	t.Run("never committed", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket)).register()
		if _, err := e.store.TakeLease(ctx, appA, credential.AccessToken, "other-sweeper", e.clock.Now(), credential.LeaseDuration); err != nil {
			t.Fatal(err)
		}
		res := e.sweep(e.refresher(func(o *refresh.Options) { o.MaxWait = 50 * time.Millisecond }))
		if tk := res[appA+"/jsapi_ticket"]; tk.Outcome != refresh.OutcomeFailed || !strings.HasPrefix(tk.Error, "token_unavailable") || e.sim.Counters(appA).GetTicket != 0 {
			t.Fatalf("ticket %+v", tk)
		}
	})
}

// A sweep's sibling tickets whose getticket both reject the stored token in
// the same millisecond share one access_token refresh: at most one
// normal-mode probe and one force call (docs/refresh.md), and WeChat's count of
// force calls matches force_count. With one lease owner for the whole sweep
// (and for the nested force), the store's "our own write, retried by the
// SDK" recognition of TakeLease and SpendForce (same owner, same
// millisecond) took a sibling's lease and spend for its own.
func TestSiblingTicketsShareOneForceCall(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket, credential.WXCardTicket)).register()
	r := e.refresher()
	e.sweep(r) // token and both tickets stored, all fresh
	// Tickets are due 600 s before expiry, the token only 290 s before.
	e.clock.Advance(7200*time.Second - 500*time.Second)
	e.sim.ResetCounters()
	// WeChat rejects the stored token on both tickets' getticket.
	e.sim.InjectFaults(wechattest.EndpointGetTicket, wechattest.ErrcodeFault(40001), wechattest.ErrcodeFault(40001))
	res := e.sweep(r)
	c := e.sim.Counters(appA)
	// Once the force overlap has passed, the stored token must still be
	// one WeChat accepts: a second force revokes the first one's token.
	later := e.clock.Now().Add(wechattest.DefaultForceOverlap + time.Second)
	stored := e.get(appA, credential.AccessToken)
	valid := !stored.Usable(later) || e.sim.Valid(appA, stored.Value, later)
	if c.StableTokenForce > 1 || c.StableTokenNormal > 1 || !valid {
		t.Errorf("one rejected token reported by two sibling tickets: %d normal probes and %d force calls, want at most one of each; "+
			"stored access_token (v%d) served as fresh and valid on WeChat after the force overlap: %v (results %+v)",
			c.StableTokenNormal, c.StableTokenForce, stored.Version, valid, res)
	}
	if n := e.sim.ForceCount(appA); n != stored.ForceCount {
		t.Errorf("WeChat counted %d force calls, force_count is %d", n, stored.ForceCount)
	}
}

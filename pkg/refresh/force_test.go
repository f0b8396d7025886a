package refresh_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

func forceReq(stale string) tokenapi.ForceRequest {
	return tokenapi.ForceRequest{Action: "force", AppID: appA, Kind: "access_token", StaleToken: stale}
}

// reportConcurrently sends n forced-refresh reports of stale at once, each
// from its own refresher (as separate Lambda instances would).
func reportConcurrently(e *env, n int, stale string) []tokenapi.Answer {
	out := make([]tokenapi.Answer, n)
	var wg sync.WaitGroup
	for i := range n {
		r := e.refresher()
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.Force(context.Background(), forceReq(stale))
		}()
	}
	wg.Wait()
	return out
}

// 50 concurrent reports of a token that WeChat revoked (someone forced a
// refresh elsewhere): one normal-mode probe picks up the new token; no
// force call, no budget spent; everyone gets the same new credential.
func TestForceConcurrentReportsRotatedToken(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	stale := e.get(appA, credential.AccessToken).Value
	e.clock.Advance(10 * time.Minute)
	rotated, err := e.sim.ForceRotate(appA, wechattest.RevokeNow())
	if err != nil {
		t.Fatal(err)
	}
	if e.sim.Valid(appA, stale, e.clock.Now()) {
		t.Fatal("setup: stale token still valid")
	}
	e.sim.ResetCounters()

	answers := reportConcurrently(e, 50, stale)
	c := e.sim.Counters(appA)
	t.Logf("50 concurrent reports: stable_token normal=%d force=%d", c.StableTokenNormal, c.StableTokenForce)
	if c.Total() > 1 || c.StableTokenForce != 0 {
		t.Fatalf("WeChat calls: %+v, want at most one normal-mode call", c)
	}
	for i, a := range answers {
		if a.Error != "" || a.Token != rotated || a.Version != 2 || a.AppID != appA || a.Kind != credential.AccessToken {
			t.Fatalf("answer %d: %+v", i, a)
		}
	}
	rec := e.get(appA, credential.AccessToken)
	if rec.Value != rotated || rec.ForceCount != 0 || rec.ForceDay != "" || !rec.LastForceAt.IsZero() {
		t.Fatalf("stored %+v: want the rotated token and no budget spent", rec)
	}
}

// 50 concurrent reports of the token WeChat still hands out in normal mode:
// one probe, then one force call, and a new token for everyone.
func TestForceConcurrentReportsCurrentToken(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	stale := e.get(appA, credential.AccessToken).Value
	e.clock.Advance(10 * time.Minute)
	e.sim.ResetCounters()

	answers := reportConcurrently(e, 50, stale)
	c := e.sim.Counters(appA)
	t.Logf("50 concurrent reports: stable_token normal=%d force=%d", c.StableTokenNormal, c.StableTokenForce)
	if c.StableTokenNormal > 1 || c.StableTokenForce != 1 {
		t.Fatalf("WeChat calls: %+v, want at most one probe and exactly one force", c)
	}
	rec := e.get(appA, credential.AccessToken)
	if rec.Value == stale || rec.Version != 2 || rec.ForceCount != 1 || rec.ForceDay != credential.ForceDay(e.clock.Now()) ||
		!rec.LastForceAt.Equal(e.clock.Now()) || !e.sim.Valid(appA, rec.Value, e.clock.Now()) {
		t.Fatalf("stored %+v", rec)
	}
	for i, a := range answers {
		if a.Error != "" || a.Token != rec.Value || a.Version != 2 || a.ExpiresIn != 7200 {
			t.Fatalf("answer %d: %+v", i, a)
		}
	}
}

// The budget: 30 s spacing gives force_too_soon, the daily limit
// force_budget_exhausted; a new Shanghai day restores it. No WeChat force
// call is made for a refused report.
func TestForceBudget(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher(func(o *refresh.Options) { o.ForceDailyLimit = 2 })
	e.sweep(r)
	steps := []struct {
		name      string
		advance   time.Duration
		wantError string
		wantForce int // simulator force calls so far
	}{
		{"first force", time.Minute, "", 1},
		{"10 s later: too soon", 10 * time.Second, tokenapi.CodeForceTooSoon, 1},
		{"29 s after the first: too soon", 19 * time.Second, tokenapi.CodeForceTooSoon, 1},
		{"30 s after the first: allowed", time.Second, "", 2},
		{"limit of 2 reached", time.Minute, tokenapi.CodeForceBudgetExhausted, 2},
		{"still exhausted later that day", time.Hour, tokenapi.CodeForceBudgetExhausted, 2},
		// 10:00 UTC start + ~1h → 11:02 UTC; Shanghai midnight is 16:00 UTC.
		{"next Shanghai day", 5 * time.Hour, "", 3},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		e.sweep(r) // keeps a current token stored, as the schedule would
		stale := e.get(appA, credential.AccessToken).Value
		got := r.Force(context.Background(), forceReq(stale))
		c := e.sim.Counters(appA)
		if got.Error != st.wantError || c.StableTokenForce != st.wantForce {
			t.Fatalf("%s: answer %+v, force calls %d (want error %q, %d force calls)", st.name, got, c.StableTokenForce, st.wantError, st.wantForce)
		}
		if st.wantError == "" && (got.Token == stale || !e.sim.Valid(appA, got.Token, e.clock.Now())) {
			t.Fatalf("%s: no new valid token", st.name)
		}
		if st.wantError != "" && (got.Message == "" || got.Token != "") {
			t.Fatalf("%s: %+v", st.name, got)
		}
		rec := e.get(appA, credential.AccessToken)
		if rec.LeaseOwner != "" {
			t.Fatalf("%s: lease left behind", st.name)
		}
	}
	rec := e.get(appA, credential.AccessToken)
	if rec.ForceCount != 1 || rec.ForceDay != credential.ForceDay(e.clock.Now()) {
		t.Fatalf("budget after a new day: %s/%d", rec.ForceDay, rec.ForceCount)
	}
}

// Concurrent reports refused by the spacing all get force_too_soon and
// make no WeChat call beyond one probe.
func TestForceConcurrentReportsTooSoon(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	e.clock.Advance(time.Minute)
	if a := r.Force(context.Background(), forceReq(e.get(appA, credential.AccessToken).Value)); a.Error != "" {
		t.Fatal(a)
	}
	e.clock.Advance(5 * time.Second)
	stale := e.get(appA, credential.AccessToken).Value
	e.sim.ResetCounters()
	answers := reportConcurrently(e, 20, stale)
	c := e.sim.Counters(appA)
	if c.StableTokenForce != 0 || c.StableTokenNormal > 1 {
		t.Fatalf("WeChat calls %+v", c)
	}
	for i, a := range answers {
		if a.Error != tokenapi.CodeForceTooSoon {
			t.Fatalf("answer %d: %+v", i, a)
		}
	}
}

// A rejected ticket is fetched again (tickets have no force mode).
func TestForceTicket(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket)).register()
	r := e.refresher()
	e.sweep(r)
	stale := e.get(appA, credential.JSAPITicket).Value
	e.clock.Advance(time.Minute)
	e.sim.ResetCounters()
	got := r.Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: appA, Kind: "jsapi_ticket", StaleToken: stale})
	c := e.sim.Counters(appA)
	if got.Error != "" || got.Kind != credential.JSAPITicket || c.GetTicket != 1 || c.StableTokenNormal+c.StableTokenForce != 0 {
		t.Fatalf("answer %+v, counters %+v", got, c)
	}
	if !e.sim.TicketValid(appA, got.Token, e.clock.Now()) {
		t.Fatal("answered ticket not valid")
	}
}

// getticket answering 40001 (the stored access_token was revoked on
// WeChat's side): the sweep refreshes the access_token first, in normal
// mode, then fetches the ticket once more.
func TestSweepTicketWithRevokedAccessToken(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket)).register()
	r := e.refresher()
	e.sweep(r)
	// Make the ticket due while the access_token is fresh, then revoke the
	// token on WeChat's side.
	e.clock.Advance(7200*time.Second - credential.TicketLead)
	rotated, err := e.sim.ForceRotate(appA, wechattest.RevokeNow())
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCounters()
	res := e.sweep(r)
	if res[appA+"/access_token"].Outcome != refresh.OutcomeFresh {
		t.Fatalf("access_token: %+v", res[appA+"/access_token"])
	}
	tk := res[appA+"/jsapi_ticket"]
	if tk.Outcome != refresh.OutcomeRefreshed && tk.Outcome != refresh.OutcomeUnchanged {
		t.Fatalf("ticket: %+v", tk)
	}
	c := e.sim.Counters(appA)
	if c.GetTicket != 2 || c.StableTokenNormal != 1 || c.StableTokenForce != 0 {
		t.Fatalf("counters %+v: want getticket 40001, one normal stable_token, getticket again", c)
	}
	if at := e.get(appA, credential.AccessToken); at.Value != rotated || at.Version != 2 {
		t.Fatalf("access_token not replaced by the rotated one: version %d", at.Version)
	}
	if !e.sim.TicketValid(appA, e.get(appA, credential.JSAPITicket).Value, e.clock.Now()) {
		t.Fatal("stored ticket not valid")
	}
}

// A force call that fails is not retried (each one spends WeChat's budget):
// the report gets token_unavailable, the failure is in last_error_*, and
// the budget shows the spent call.
func TestForceCallFailure(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	e.clock.Advance(time.Minute)
	stale := e.get(appA, credential.AccessToken).Value
	// The probe passes (a zero-latency script entry), the force call fails.
	e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(0), wechattest.ErrcodeFault(-1))
	got := r.Force(context.Background(), forceReq(stale))
	if got.Error != tokenapi.CodeTokenUnavailable || got.Message != "WeChat did not issue a token (transient: errcode -1)" {
		t.Fatalf("answer %+v", got)
	}
	c := e.sim.Counters(appA)
	if c.StableTokenForce != 1 || c.StableTokenNormal != 2 {
		t.Fatalf("counters %+v: want one probe and one force call, no retry", c)
	}
	rec := e.get(appA, credential.AccessToken)
	if rec.Value != stale || rec.LastErrorCode != -1 || !rec.LastErrorAt.Equal(e.clock.Now()) || rec.ForceCount != 1 || rec.LeaseOwner != "" {
		t.Fatalf("item %+v", rec)
	}
}

// A token rotated on WeChat's side within the same second as the sweep
// that stored the old one: the sweep's answer predates the report, so the
// report still makes its normal-mode probe, finds the new token and spends
// no force budget (a force call would revoke the other side's new token).
func TestForceSameSecondAsSweepStillProbes(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	stale := e.get(appA, credential.AccessToken).Value
	e.clock.Advance(400 * time.Millisecond) // same unix second as the sweep
	rotated, err := e.sim.ForceRotate(appA, wechattest.RevokeNow())
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCounters()

	answer := e.refresher().Force(context.Background(), forceReq(stale))
	c := e.sim.Counters(appA)
	if answer.Error != "" || answer.Token != rotated || answer.Version != 2 {
		t.Fatalf("answer %+v, want the rotated token at version 2", answer)
	}
	if c.StableTokenNormal != 1 || c.StableTokenForce != 0 {
		t.Fatalf("WeChat calls %+v, want one normal-mode probe and no force call", c)
	}
	if rec := e.get(appA, credential.AccessToken); rec.ForceUsed(e.clock.Now()) != 0 {
		t.Fatalf("force budget spent: %d", rec.ForceUsed(e.clock.Now()))
	}
}

// Two reports 29.2 s apart whose force calls straddle a second boundary:
// the 30 s spacing is kept to the millisecond, so the second report gets
// force_too_soon and WeChat sees no second force call (which it would
// ignore, handing back the rejected token).
func TestForceSpacingToTheMillisecond(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	e.clock.Advance(time.Minute + 900*time.Millisecond)
	if a := r.Force(context.Background(), forceReq(e.get(appA, credential.AccessToken).Value)); a.Error != "" {
		t.Fatalf("first force: %+v", a)
	}
	e.clock.Advance(29200 * time.Millisecond)
	stale := e.get(appA, credential.AccessToken).Value
	got := r.Force(context.Background(), forceReq(stale))
	c := e.sim.Counters(appA)
	if got.Error != tokenapi.CodeForceTooSoon || got.Token != "" || c.StableTokenForce != 1 {
		t.Fatalf("second report 29.2 s later: %+v, force calls %d (ignored %d); want force_too_soon and no force call",
			got, c.StableTokenForce, c.StableTokenForceIgnored)
	}
}

// A force call WeChat ignores (another environment forced a refresh of the
// same app 10 s earlier) hands back the rejected token: the report gets
// force_too_soon, never the rejected token as if it were new.
func TestForceAnswerEqualToRejectedTokenIsTooSoon(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	e.clock.Advance(time.Minute)
	if a := e.refresher().Force(context.Background(), forceReq(e.get(appA, credential.AccessToken).Value)); a.Error != "" {
		t.Fatalf("other environment's force: %+v", a)
	}
	// This environment has its own table: no record of that force.
	client, table := dynamotest.NewTable(t)
	mine := dynamo.NewCredentialStore(client, table)
	r := e.refresher(func(o *refresh.Options) { o.Store = mine })
	if sum, err := r.Sweep(context.Background()); err != nil || sum.Results[0].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("sweep: %+v, %v", sum, err)
	}
	e.clock.Advance(10 * time.Second)
	held, err := mine.Get(context.Background(), appA, credential.AccessToken, true)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Force(context.Background(), forceReq(held.Value))
	c := e.sim.Counters(appA)
	if got.Error != tokenapi.CodeForceTooSoon || got.Token != "" || c.StableTokenForceIgnored != 1 {
		t.Fatalf("answer %+v (ignored force calls %d), want force_too_soon", got, c.StableTokenForceIgnored)
	}
	if rec, _ := mine.Get(context.Background(), appA, credential.AccessToken, true); rec.LeaseOwner != "" || rec.Value != held.Value {
		t.Fatalf("item %+v: want the same value and no lease left", rec)
	}
}

// A refresh that failed earlier in the same second as a report, before the
// caller even saw its 40001, does not settle the report: last_error_at is
// compared with the report's arrival to the millisecond (last_error_at_ms),
// as last_force_at and refreshed_at are, so the report probes WeChat and
// finds the token another environment rotated.
func TestFailureEarlierInTheSecondDoesNotSettleAReport(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	stale := e.get(appA, credential.AccessToken).Value
	ctx := context.Background()
	// A sweep's call fails at hh:mm:ss.100 and is recorded.
	e.clock.Advance(time.Hour + 100*time.Millisecond)
	if _, err := e.store.TakeLease(ctx, appA, credential.AccessToken, "sweeper", e.clock.Now(), credential.LeaseDuration); err != nil {
		t.Fatal(err)
	}
	if err := e.store.RecordFailure(ctx, appA, credential.AccessToken, "sweeper",
		credential.Failure{Code: -1, Message: "transient: errcode -1", At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// Then another environment rotates the token, a caller sees 40001 and
	// reports it at hh:mm:ss.800.
	if _, err := e.sim.ForceRotate(appA, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(700 * time.Millisecond)
	got := r.Force(ctx, tokenapi.ForceRequest{Action: "force", AppID: appA, Kind: "access_token", StaleToken: stale})
	if got.Error != "" || got.Token == stale || !e.sim.Valid(appA, got.Token, e.clock.Now()) {
		t.Fatalf("report after an earlier failure in the same second: %s %q, want the rotated token from a normal-mode probe", got.Error, got.Message)
	}
}

package refresh_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
)

// TestSimulatedDay runs 24 simulated hours: every simulated minute five
// sweepers sweep two apps at once. After each minute's sweeps the stored
// items are read and every second of that minute is checked against the
// simulator's oracle: the stored access_token (and app A's jsapi_ticket)
// must be accepted by WeChat and usable by readers at each second. WeChat
// must see at most 13 stable_token calls per app and no force call.
func TestSimulatedDay(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket), appWith(appB, secretB)).register()
	const sweepers = 5
	rs := make([]*refresh.Refresher, sweepers)
	for i := range rs {
		rs[i] = e.refresher()
	}
	type check struct {
		appid  string
		kind   credential.Kind
		valid  func(appid, value string, at time.Time) bool
		bad    int
		values map[string]bool
	}
	checks := []*check{
		{appid: appA, kind: credential.AccessToken, valid: e.sim.Valid, values: map[string]bool{}},
		{appid: appB, kind: credential.AccessToken, valid: e.sim.Valid, values: map[string]bool{}},
		{appid: appA, kind: credential.JSAPITicket, valid: e.sim.TicketValid, values: map[string]bool{}},
	}
	outcomes := map[refresh.Outcome]int{}
	const minutes = 24 * 60
	for m := range minutes {
		minute := start.Add(time.Duration(m) * time.Minute)
		e.clock.Set(minute)
		for _, res := range sweepConcurrently(t, rs) {
			outcomes[res.Outcome]++
			if res.Outcome == refresh.OutcomeFailed {
				t.Errorf("minute %d: %+v", m, res)
			}
		}
		for _, c := range checks {
			rec := e.get(c.appid, c.kind)
			c.values[rec.Value] = true
			for s := range 60 {
				at := minute.Add(time.Duration(s) * time.Second)
				if !c.valid(c.appid, rec.Value, at) || !rec.Usable(at) {
					if c.bad == 0 {
						t.Errorf("%s/%s at %v (minute %d + %ds): stored value not accepted (expires_at %v)", c.appid, c.kind, at, m, s, rec.ExpiresAt)
					}
					c.bad++
				}
			}
		}
		if t.Failed() {
			break
		}
	}
	ca, cb := e.sim.Counters(appA), e.sim.Counters(appB)
	summary := fmt.Sprintf("simulated 24h, %d sweepers x %d minutes: stable_token calls app A=%d app B=%d (limit 13), force calls A=%d B=%d, "+
		"getticket A=%d; seconds not accepted: A=%d B=%d ticket=%d; distinct tokens A=%d B=%d; outcomes %v",
		sweepers, minutes, ca.StableTokenNormal+ca.StableTokenForce, cb.StableTokenNormal+cb.StableTokenForce, ca.StableTokenForce, cb.StableTokenForce,
		ca.GetTicket, checks[0].bad, checks[1].bad, checks[2].bad, len(checks[0].values), len(checks[1].values), outcomes)
	t.Log(summary)
	fmt.Println(summary)
	for _, c := range []struct {
		app string
		n   int
	}{{appA, ca.StableTokenNormal + ca.StableTokenForce}, {appB, cb.StableTokenNormal + cb.StableTokenForce}} {
		if c.n > 13 {
			t.Errorf("%s: %d stable_token calls in a day, want <= 13", c.app, c.n)
		}
	}
	if ca.StableTokenForce+cb.StableTokenForce != 0 {
		t.Errorf("force calls: %d", ca.StableTokenForce+cb.StableTokenForce)
	}
	for _, c := range checks {
		if c.bad != 0 {
			t.Errorf("%s/%s: %d seconds not accepted", c.appid, c.kind, c.bad)
		}
	}
}

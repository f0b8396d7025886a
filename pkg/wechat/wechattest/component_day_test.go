package wechattest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// TestComponentSimulatedDayWithACorrectPlatform drives 200 authorizers
// through a day of late, reordered and lost ticket pushes, a ticket outage
// and refresh-token rotation with a minimal correct platform (newest ticket
// wins, every rotated refresh token kept). The simulator must never refuse
// it: no 61023, no lost refresh token, every served token valid.
func TestComponentSimulatedDayWithACorrectPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated day")
	}
	e := newCompEnv(t)
	e.srv.SetRefreshTokenRotation(0.3)
	e.srv.SetTicketPushFaults(compID, wechattest.TicketPushFaults{Delay: 3 * time.Minute, Reorder: true, DropRate: 0.2})

	var ticket string
	var ticketAt time.Time
	lastPush := compStart
	var ctoken wechat.Token
	type auth struct {
		refresh string
		token   wechat.Token
	}
	auths := map[string]*auth{}
	var errs []error
	for step := time.Duration(0); step <= 24*time.Hour; step += time.Minute {
		e.clock.Set(compStart.Add(step))
		now := e.clock.Now()
		if step == 6*time.Hour {
			e.srv.StopTicketPushes(compID)
		}
		for _, p := range e.srv.DueTicketPushes() {
			openPush(t, p)
			lastPush = now
			if p.CreateTime.After(ticketAt) { // never an older ticket over a newer one
				ticket, ticketAt = p.ComponentVerifyTicket, p.CreateTime
			}
		}
		if now.Sub(lastPush) >= 30*time.Minute && !e.srv.TicketPushesRunning(compID) {
			if err := e.c.StartPushTicket(e.ctx, compID, compSecret); err != nil {
				t.Fatal(err)
			}
			lastPush = now
		}
		if ticket == "" {
			continue // the first push is late
		}
		if ctoken.AccessToken == "" || now.After(ctoken.ExpiresAt().Add(-10*time.Minute)) {
			tok, err := e.c.ComponentToken(e.ctx, compID, compSecret, ticket)
			if err != nil {
				t.Fatalf("%v: component token: %v", step, err)
			}
			ctoken = tok
		}
		if len(auths) < 200 { // one new authorizer a minute
			id := fmt.Sprintf("wxauth%012d", len(auths))
			code, push, _ := e.srv.Authorize(compID, id)
			openPush(t, push)
			info, err := e.c.QueryAuth(e.ctx, ctoken.AccessToken, compID, code)
			if err != nil {
				t.Fatal(err)
			}
			auths[id] = &auth{refresh: info.RefreshToken, token: info.AccessToken}
		}
		for id, a := range auths {
			if now.Before(a.token.ExpiresAt().Add(-5 * time.Minute)) {
				if !e.srv.AuthorizerTokenValid(id, a.token.AccessToken, now) {
					t.Fatalf("%v: served token of %s is not valid", step, id)
				}
				continue
			}
			at, err := e.c.AuthorizerToken(e.ctx, ctoken.AccessToken, compID, id, a.refresh)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a.refresh, a.token = at.RefreshToken, at.AccessToken
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%d authorizer refreshes failed, first: %v", len(errs), errs[0])
	}
	rotations := 0
	for _, a := range e.srv.RefreshAudits(compID) {
		if !a.OK() {
			t.Fatalf("audit %+v", a)
		}
		rotations += a.Rotations
	}
	cnt := e.srv.ComponentCounters(compID)
	if rotations == 0 || cnt.TicketPushesDropped == 0 || cnt.StartPushTicket == 0 {
		t.Fatalf("the day exercised nothing: %d rotations, counters %+v", rotations, cnt)
	}
	t.Logf("%d authorizer refreshes, %d rotations, counters %+v", cnt.AuthorizerToken, rotations, cnt)
	// No value the simulator issued appears in an error it caused.
	_, err := e.c.AuthorizerToken(e.ctx, ctoken.AccessToken, compID, "wxauth000000000000", "refreshtoken@@@stale")
	for _, v := range append(e.srv.IssuedValues(), compSecret, compKey) {
		if err == nil || strings.Contains(err.Error(), v) {
			t.Fatalf("error %v carries an issued value", err)
		}
	}
}

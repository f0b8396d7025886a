package refresh_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/component"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	compP      = "wxc0mp0nent0000001"
	compSecret = "component-secret-0123456789abcdef"
	compToken  = "component-event-token"
	compKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

func platformApp() refresh.App {
	return refresh.App{AppID: compP, Type: credential.Component, Secret: compSecret,
		Kinds: []credential.Kind{credential.ComponentAccessToken, credential.ComponentVerifyTicket}}
}

// platformWorld is a third-party platform simulator on the env's clock and
// the real event intake storing its ticket pushes into the env's table.
type platformWorld struct {
	*env
	comp   *wechattest.ComponentServer
	intake http.Handler
}

func newPlatformWorld(t *testing.T) *platformWorld {
	e := newEnv(t, nil, platformApp())
	comp := wechattest.NewComponentServer(wechattest.WithClock(e.clock.Now), wechattest.WithSeed(3))
	t.Cleanup(comp.Close)
	if err := comp.AddPlatform(compP, compSecret, compToken, compKey); err != nil {
		t.Fatal(err)
	}
	h, err := component.NewHandler(component.Options{
		Platforms: func(context.Context) ([]component.Platform, error) {
			return []component.Platform{{AppID: compP, Token: compToken, EncodingAESKey: compKey}}, nil
		},
		Tickets: e.store, Clock: e.clock.Now, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logs := e.logs.String() + e.emf.String()
		for _, v := range append(comp.IssuedValues(), compSecret) {
			if strings.Contains(logs, v) {
				t.Error("logs contain a secret, token or ticket the platform simulator issued")
			}
		}
	})
	return &platformWorld{env: e, comp: comp, intake: h}
}

func (w *platformWorld) refresher() *refresh.Refresher {
	return w.env.refresher(func(o *refresh.Options) {
		o.Component = wechat.NewClient(wechat.WithBaseURL(w.comp.URL), wechat.WithClock(w.clock.Now))
	})
}

// deliverPushes delivers every due ticket push to the intake.
func (w *platformWorld) deliverPushes() int {
	w.t.Helper()
	pushes := w.comp.DueTicketPushes()
	for _, p := range pushes {
		r, err := p.NewRequest("http://wxcentral.test")
		if err != nil {
			w.t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		w.intake.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			w.t.Fatalf("ticket push answered %d %q", rec.Code, rec.Body)
		}
	}
	return len(pushes)
}

// The platform token is fetched with the pushed ticket and stored under
// cred#<component_appid>#component_access_token; the ticket is fresh.
func TestComponentTokenFromThePushedTicket(t *testing.T) {
	w := newPlatformWorld(t)
	if w.deliverPushes() != 1 {
		t.Fatal("the first push is due at once")
	}
	res := w.sweep(w.refresher())
	tokRes := res[compP+"/component_access_token"]
	if tokRes.Outcome != refresh.OutcomeRefreshed || res[compP+"/component_verify_ticket"].Outcome != refresh.OutcomeFresh {
		t.Fatalf("results %+v", res)
	}
	v := w.rawValue("cred#" + compP + "#component_access_token")
	if v == "" || !w.comp.ComponentTokenValid(compP, v, w.clock.Now()) {
		t.Fatalf("stored component token %q is not one WeChat accepts", v)
	}
	rec := w.get(compP, credential.ComponentAccessToken)
	if rec.Version != 1 || !rec.ExpiresAt.Equal(w.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("item %+v", rec)
	}
	// A minute later nothing is due: no WeChat call.
	w.clock.Advance(time.Minute)
	before := w.comp.ComponentCounters(compP).ComponentToken
	if res := w.sweep(w.refresher()); res[compP+"/component_access_token"].Outcome != refresh.OutcomeFresh {
		t.Fatalf("results %+v", res)
	}
	if n := w.comp.ComponentCounters(compP).ComponentToken; n != before {
		t.Fatalf("a fresh token was fetched again (%d calls)", n)
	}
}

// Without any ticket the token cannot be fetched: the sweep asks WeChat to
// resume the pushes and fails with verify_ticket_missing (an alarm class).
func TestComponentTokenWithoutATicket(t *testing.T) {
	w := newPlatformWorld(t)
	w.comp.DueTicketPushes() // lost
	w.comp.StopTicketPushes(compP)
	res := w.sweep(w.refresher())
	got := res[compP+"/component_access_token"]
	if got.Outcome != refresh.OutcomeFailed || !strings.HasPrefix(got.Error, "verify_ticket_missing: ") {
		t.Fatalf("result %+v", got)
	}
	if !w.comp.TicketPushesRunning(compP) || w.comp.ComponentCounters(compP).StartPushTicket == 0 {
		t.Fatal("api_start_push_ticket was not called")
	}
	if !strings.Contains(w.emf.String(), "verify_ticket_missing") {
		t.Fatal("no RefreshFailures metric for verify_ticket_missing")
	}
	// The push WeChat resumes with lets the next sweep fetch the token.
	w.deliverPushes()
	if res := w.sweep(w.refresher()); res[compP+"/component_access_token"].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("after the resumed push: %+v", res)
	}
}

// A ticket outage (WeChat stops pushing) over a simulated day: 30 minutes
// after the last ticket the sweep calls api_start_push_ticket and fails the
// watched ticket with verify_ticket_stale; the resumed pushes bring it back,
// and the stored platform token is one WeChat accepts whenever it is
// usable, the whole day.
func TestTicketOutageRecoveredByStartPushTicket(t *testing.T) {
	if testing.Short() {
		t.Skip("simulated day")
	}
	w := newPlatformWorld(t)
	r := w.refresher()
	stale, stopped := 0, false
	var lastTicket time.Time
	for step := time.Duration(0); step <= 24*time.Hour; step += time.Minute {
		w.clock.Set(start.Add(step))
		now := w.clock.Now()
		if step == 3*time.Hour {
			w.comp.StopTicketPushes(compP)
			stopped = true
		}
		if w.deliverPushes() > 0 {
			lastTicket = now
		}
		res := w.sweep(r)
		tk := res[compP+"/component_verify_ticket"]
		switch {
		case tk.Outcome == refresh.OutcomeFailed:
			if !strings.HasPrefix(tk.Error, "verify_ticket_stale: ") || now.Sub(lastTicket) < credential.VerifyTicketMaxAge {
				t.Fatalf("%v: ticket result %+v, last ticket %v ago", step, tk, now.Sub(lastTicket))
			}
			stale++
		case now.Sub(lastTicket) > credential.VerifyTicketMaxAge:
			t.Fatalf("%v: no ticket for %v but the watch says %+v", step, now.Sub(lastTicket), tk)
		}
		if got := res[compP+"/component_access_token"]; got.Outcome == refresh.OutcomeFailed {
			t.Fatalf("%v: component token %+v", step, got)
		}
		rec := w.get(compP, credential.ComponentAccessToken)
		if rec.Usable(now) && !w.comp.ComponentTokenValid(compP, rec.Value, now) {
			t.Fatalf("%v: the stored component token is usable but WeChat rejects it", step)
		}
		if !rec.Usable(now) {
			t.Fatalf("%v: no usable component token stored", step)
		}
	}
	cnt := w.comp.ComponentCounters(compP)
	if !stopped || stale == 0 || cnt.StartPushTicket == 0 || !w.comp.TicketPushesRunning(compP) {
		t.Fatalf("the outage was not exercised or not recovered: %d stale sweeps, counters %+v", stale, cnt)
	}
	if !strings.Contains(w.emf.String(), "verify_ticket_stale") {
		t.Fatal("no RefreshFailures metric for verify_ticket_stale")
	}
	// While the ticket stays stale, WeChat is asked to resume the pushes at
	// most once per push interval, not at every sweep.
	if limit := stale/10 + 1; cnt.StartPushTicket > limit {
		t.Fatalf("%d api_start_push_ticket calls over %d stale sweeps, want at most %d", cnt.StartPushTicket, stale, limit)
	}
	t.Logf("%d stale sweeps, counters %+v", stale, cnt)
}

// A reader's report of a rejected platform token fetches a new one at once
// without spending a force budget; the ticket cannot be reported.
func TestComponentTokenReport(t *testing.T) {
	w := newPlatformWorld(t)
	w.deliverPushes()
	r := w.refresher()
	w.sweep(r)
	old := w.get(compP, credential.ComponentAccessToken)
	w.clock.Advance(2 * time.Second)
	resp := r.Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: compP, Kind: "component_access_token", StaleToken: old.Value})
	if resp.Error != "" || resp.Token == old.Value || resp.Version != old.Version+1 || !w.comp.ComponentTokenValid(compP, resp.Token, w.clock.Now()) {
		t.Fatalf("report answered %+v", resp)
	}
	if rec := w.get(compP, credential.ComponentAccessToken); rec.ForceCount != 0 {
		t.Fatalf("a force budget was spent: %+v", rec)
	}
	tk := w.get(compP, credential.ComponentVerifyTicket)
	resp = r.Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: compP, Kind: "component_verify_ticket", StaleToken: tk.Value})
	if resp.Error != tokenapi.CodeBadRequest {
		t.Fatalf("a report on the pushed ticket answered %+v", resp)
	}
	if got := w.get(compP, credential.ComponentVerifyTicket); got.Value != tk.Value || got.Version != tk.Version {
		t.Fatal("the report changed the ticket")
	}
}

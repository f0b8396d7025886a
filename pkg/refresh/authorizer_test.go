package refresh_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/logaudit"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	authA = "wxauth0rizer00000a"
	authB = "wxauth0rizer00000b"
)

// authorizerApp is what the due index's discovery makes of an authorizer's
// item (h-due); tests add it to the apps a sweep sees.
func authorizerApp(appid string) refresh.App {
	return refresh.App{AppID: appid, Type: credential.Authorizer, ComponentAppID: compP, Kinds: []credential.Kind{credential.AccessToken}}
}

// authWorld is a platform world whose platform token is stored, with a
// refresher wired for authorizers.
type authWorld struct {
	*platformWorld
	r *refresh.Refresher
}

func newAuthWorld(t *testing.T, mod ...func(*refresh.Options)) *authWorld {
	w := newPlatformWorld(t)
	w.deliverPushes()
	aw := &authWorld{platformWorld: w}
	aw.r = aw.refresher(mod...)
	// Registered first, so it runs after the test's own cleanups: every
	// refresh token, authorization code and token ever issued, in any
	// escaped form, is absent from the logs and metric lines.
	t.Cleanup(func() {
		sc := logaudit.NewScanner()
		if err := sc.Add("issued by the platform simulator", w.comp.IssuedValues()...); err != nil {
			t.Fatal(err)
		}
		for _, src := range []struct{ name, text string }{{"refresh log", w.logs.String()}, {"metrics", w.emf.String()}} {
			for _, f := range sc.Scan(src.name, src.text) {
				t.Errorf("log audit: %s", f)
			}
		}
	})
	if res := w.sweep(aw.r); res[compP+"/component_access_token"].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("platform token: %+v", res)
	}
	return aw
}

func (w *authWorld) refresher(mod ...func(*refresh.Options)) *refresh.Refresher {
	return w.env.refresher(append([]func(*refresh.Options){func(o *refresh.Options) {
		o.Component = wechat.NewClient(wechat.WithBaseURL(w.comp.URL), wechat.WithClock(w.clock.Now))
		o.Authorizations = w.store
		// An authorizer's tickets come from the Official Account API of
		// the same base (one client in production).
		o.WeChat = o.Component.(refresh.WeChat)
	}}, mod...)...)
}

// authorize simulates the admin authorising and hands the push's event to
// the refresh function as the callback does.
func (w *authWorld) authorize(r *refresh.Refresher, appid string) (wechattest.ComponentPush, tokenapi.Answer) {
	w.t.Helper()
	_, push, err := w.comp.Authorize(compP, appid)
	if err != nil {
		w.t.Fatal(err)
	}
	return push, r.Authorize(context.Background(), authRequest(push))
}

func authRequest(p wechattest.ComponentPush) tokenapi.AuthorizationRequest {
	action := tokenapi.ActionAuthorize
	if p.InfoType == "unauthorized" {
		action = tokenapi.ActionUnauthorize
	}
	return tokenapi.AuthorizationRequest{Action: action, ComponentAppID: p.ComponentAppID, AuthorizerAppID: p.AuthorizerAppID,
		AuthorizationCode: p.AuthorizationCode, CreateTime: p.CreateTime.Unix()}
}

func (w *authWorld) auth(appid string) (credential.Authorization, error) {
	return w.store.GetAuthorization(context.Background(), compP, appid)
}

func (w *authWorld) checkServed(what string, appid string, a tokenapi.Answer) {
	w.t.Helper()
	if a.Error != "" || a.AppID != appid || a.Kind != credential.AccessToken || !w.comp.AuthorizerTokenValid(appid, a.Token, w.clock.Now()) {
		w.t.Fatalf("%s: answered %+v (valid %v)", what, a, w.comp.AuthorizerTokenValid(appid, a.Token, w.clock.Now()))
	}
}

func (w *authWorld) checkAudit() {
	w.t.Helper()
	for _, a := range w.comp.RefreshAudits(compP) {
		if !a.OK() {
			w.t.Errorf("refresh-token audit of %s: %+v", a.AuthorizerAppID, a)
		}
	}
}

// authorize stores auth# (the refresh token WeChat issued) and cred# (with
// component_appid and due_at); the same event again, and an older one,
// change nothing and are answered with the stored credential, without
// exchanging a code again.
func TestAuthorizeStoresRefreshTokenThenAccessToken(t *testing.T) {
	w := newAuthWorld(t)
	push, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	a, err := w.auth(authA)
	if err != nil || a.RefreshToken != w.comp.CurrentRefreshToken(compP, authA) || a.Version != 1 || !a.AuthorizedAt.Equal(push.CreateTime) {
		t.Fatalf("auth# %v: version %d, authorized_at %v, current refresh token stored %v", err, a.Version, a.AuthorizedAt, a.RefreshToken == w.comp.CurrentRefreshToken(compP, authA))
	}
	rec := w.get(authA, credential.AccessToken)
	if rec.Value != ans.Token || rec.ComponentAppID != compP || !rec.DueAt.Equal(rec.ExpiresAt.Add(-credential.AccessTokenLead)) || rec.Version != 1 {
		t.Fatalf("cred# %+v", rec)
	}
	queries := w.comp.ComponentCounters(compP).QueryAuth
	// WeChat pushes the same event again.
	w.clock.Advance(3 * time.Second)
	again := w.r.Authorize(context.Background(), authRequest(push))
	if again.Error != "" || again.Token != ans.Token || again.Version != 1 {
		t.Fatalf("repeated event answered %+v", again)
	}
	// A re-authorisation, then the first event arrives late.
	w.clock.Advance(time.Minute)
	push2, ans2 := w.authorize(w.r, authA)
	w.checkServed("re-authorize", authA, ans2)
	late := w.r.Authorize(context.Background(), authRequest(push))
	if late.Error != "" || late.Token != ans2.Token {
		t.Fatalf("late older event answered %+v", late)
	}
	a, _ = w.auth(authA)
	if a.RefreshToken != w.comp.CurrentRefreshToken(compP, authA) || !a.AuthorizedAt.Equal(push2.CreateTime) || a.Version != 2 {
		t.Fatalf("the older event undid the newer one: version %d authorized_at %v", a.Version, a.AuthorizedAt)
	}
	if n := w.comp.ComponentCounters(compP).QueryAuth; n != queries+1 {
		t.Fatalf("api_query_auth called %d times for one new event", n-queries)
	}
	// The sweep keeps the token with the stored refresh token.
	w.apps = append(w.apps, authorizerApp(authA))
	w.clock.Advance(2 * time.Hour)
	res := w.sweep(w.r)
	if got := res[authA+"/access_token"]; got.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("sweep: %+v", got)
	}
	if rec := w.get(authA, credential.AccessToken); !w.comp.AuthorizerTokenValid(authA, rec.Value, w.clock.Now()) || rec.ComponentAppID != compP {
		t.Fatalf("swept item %+v", rec)
	}
	w.checkAudit()
}

// The actions' error answers.
func TestAuthorizeErrors(t *testing.T) {
	w := newAuthWorld(t)
	ctx := context.Background()
	_, push, err := w.comp.Authorize(compP, authA)
	if err != nil {
		t.Fatal(err)
	}
	req := authRequest(push)
	cases := []struct {
		name string
		mod  func(*tokenapi.AuthorizationRequest)
		code string
		msg  string
	}{
		{"no code", func(r *tokenapi.AuthorizationRequest) { r.AuthorizationCode = "" }, tokenapi.CodeBadRequest, "authorization_code: missing"},
		{"no create_time", func(r *tokenapi.AuthorizationRequest) { r.CreateTime = 0 }, tokenapi.CodeBadRequest, "create_time"},
		{"unconfigured platform", func(r *tokenapi.AuthorizationRequest) { r.ComponentAppID = "wxnotaplatform0001" }, tokenapi.CodeUnknownApp, "wxnotaplatform0001"},
		{"refused code", func(r *tokenapi.AuthorizationRequest) { r.AuthorizationCode = "queryauthcode@@@forged" }, tokenapi.CodeBadRequest, "errcode 61009"},
	}
	for _, c := range cases {
		r := req
		c.mod(&r)
		got := w.r.Authorize(ctx, r)
		if got.Error != c.code || !strings.Contains(got.Message, c.msg) {
			t.Errorf("%s: answered %+v", c.name, got)
		}
	}
	// No usable platform token, and none can be fetched (no ticket):
	// token_unavailable, retryable; the code is not spent.
	w.clock.Advance(13 * time.Hour)
	_, push, err = w.comp.Authorize(compP, authA)
	if err != nil {
		t.Fatal(err)
	}
	req = authRequest(push)
	got := w.r.Authorize(ctx, req)
	if got.Error != tokenapi.CodeTokenUnavailable || !strings.Contains(got.Message, "component_access_token") {
		t.Fatalf("without a platform token: %+v", got)
	}
	if _, err := w.auth(authA); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("auth# written without an exchange: %v", err)
	}
	// WeChat's retry after a ticket arrived succeeds with the same code.
	w.deliverPushes()
	w.checkServed("retry", authA, w.r.Authorize(ctx, req))
}

// unauthorize removes auth# and cred#; a re-authorisation survives a late
// unauthorized push of an earlier CreateTime; repeats are harmless.
func TestUnauthorize(t *testing.T) {
	w := newAuthWorld(t)
	ctx := context.Background()
	_, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	w.clock.Advance(time.Minute)
	un, err := w.comp.Unauthorize(compP, authA)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := w.r.Unauthorize(ctx, authRequest(un)); got.Error != "" || got.AppID != authA {
			t.Fatalf("unauthorize answered %+v", got)
		}
	}
	if _, err := w.auth(authA); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("auth# after unauthorize: %v", err)
	}
	if _, err := w.store.Get(ctx, authA, credential.AccessToken, true); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("cred# after unauthorize: %v", err)
	}
	// Re-authorised; the withdrawal's push is delivered again late.
	w.clock.Advance(time.Minute)
	_, ans2 := w.authorize(w.r, authA)
	w.checkServed("re-authorize", authA, ans2)
	if got := w.r.Unauthorize(ctx, authRequest(un)); got.Error != "" {
		t.Fatalf("late unauthorize answered %+v", got)
	}
	if a, err := w.auth(authA); err != nil || a.RefreshToken != w.comp.CurrentRefreshToken(compP, authA) {
		t.Fatalf("the late unauthorize removed the re-authorisation: %v", err)
	}
	if rec := w.get(authA, credential.AccessToken); rec.Value != ans2.Token {
		t.Fatal("the late unauthorize removed the re-authorisation's token")
	}
	bad := authRequest(un)
	bad.ComponentAppID = "wxnotaplatform0001"
	if got := w.r.Unauthorize(ctx, bad); got.Error != tokenapi.CodeUnknownApp {
		t.Fatalf("unconfigured platform: %+v", got)
	}
}

// faultStore fails the fenced commit of an authorizer's access token when
// failCommits > 0: a crash between the auth# CAS and the cred# commit.
type faultStore struct {
	*dynamo.CredentialStore
	failCommits atomic.Int32
}

func (s *faultStore) Commit(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error) {
	if c.ComponentAppID != "" && s.failCommits.Add(-1) >= 0 {
		return credential.Record{}, errors.New("injected: crash before the commit")
	}
	return s.CredentialStore.Commit(ctx, appid, kind, c)
}

// Every refresh rotates the refresh token: over many refreshes, with
// commits that fail after the rotation was stored, no rotated refresh
// token is lost and none is refused (the simulator's audit), and every
// stored token is one WeChat accepts.
func TestAuthorizerRotationNeverLost(t *testing.T) {
	var fs *faultStore
	w := newAuthWorld(t)
	fs = &faultStore{CredentialStore: w.store}
	r := w.refresher(func(o *refresh.Options) { o.Store = fs })
	w.comp.SetRefreshTokenRotation(1)
	for _, id := range []string{authA, authB} {
		_, ans := w.authorize(r, id)
		w.checkServed("authorize", id, ans)
		w.apps = append(w.apps, authorizerApp(id))
	}
	refreshed, failed := 0, 0
	for step := 0; step < 60; step++ {
		w.clock.Advance(2*time.Hour - credential.AccessTokenLead + time.Second)
		w.deliverPushes()
		if step%7 == 3 {
			fs.failCommits.Store(1) // one of the two authorizers' commits fails
		}
		res := w.sweep(r)
		for _, id := range []string{authA, authB} {
			got := res[id+"/access_token"]
			switch got.Outcome {
			case refresh.OutcomeRefreshed:
				refreshed++
			case refresh.OutcomeFailed:
				failed++
				if !strings.HasPrefix(got.Error, "store: ") {
					t.Fatalf("step %d: %s %+v", step, id, got)
				}
				// The next sweep, a minute later, fetches again.
				w.clock.Advance(time.Minute)
				if again := w.sweep(r)[id+"/access_token"]; again.Outcome != refresh.OutcomeRefreshed {
					t.Fatalf("step %d: after the failed commit %s: %+v", step, id, again)
				}
			default:
				t.Fatalf("step %d: %s %+v", step, id, got)
			}
			rec := w.get(id, credential.AccessToken)
			if !w.comp.AuthorizerTokenValid(id, rec.Value, w.clock.Now()) {
				t.Fatalf("step %d: stored token of %s is not valid", step, id)
			}
			if a, err := w.auth(id); err != nil || a.RefreshToken != w.comp.CurrentRefreshToken(compP, id) {
				t.Fatalf("step %d: auth# of %s does not hold WeChat's current refresh token (%v)", step, id, err)
			}
		}
	}
	if failed == 0 || refreshed < 100 {
		t.Fatalf("%d refreshed, %d failed commits: the scenario was not exercised", refreshed, failed)
	}
	w.checkAudit()
	// An authorizer's time to expiry is published per account type, never
	// per AppId: each AppId series would be a billed custom metric.
	emf := w.emf.String()
	if !strings.Contains(emf, `"AccountType":"authorizer"`) || strings.Contains(emf, `"AppId":"`+authA+`"`) || strings.Contains(emf, `"AppId":"`+authB+`"`) {
		t.Errorf("authorizer metrics: want [AccountType Kind] and no AppId dimension, got\n%.2000s", emf)
	}
	for _, a := range w.comp.RefreshAudits(compP) {
		if a.Rotations < 60 {
			t.Errorf("%s rotated only %d times", a.AuthorizerAppID, a.Rotations)
		}
	}
}

// reauthorizeDuringRotation re-authorises the account (and delivers the
// event) just before the sweep's rotation CAS: the CAS loses, the newer
// authorisation wins and the sweep's result is discarded.
type reauthorizeDuringRotation struct {
	refresh.Authorizations
	before func()
}

func (s reauthorizeDuringRotation) RotateRefreshToken(ctx context.Context, comp, appid string, version int64, rt string) (credential.Authorization, error) {
	if s.before != nil {
		s.before()
	}
	return s.Authorizations.RotateRefreshToken(ctx, comp, appid, version, rt)
}

func TestAuthorizerRotationLostToAReauthorization(t *testing.T) {
	w := newAuthWorld(t)
	_, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	w.apps = append(w.apps, authorizerApp(authA))
	w.clock.Advance(2*time.Hour - credential.AccessTokenLead + time.Second)
	var reauth tokenapi.Answer
	hook := reauthorizeDuringRotation{Authorizations: w.store}
	hook.before = func() { _, reauth = w.authorize(w.r, authA) }
	r := w.refresher(func(o *refresh.Options) { o.Authorizations = hook })
	w.comp.RotateRefreshTokenNext(compP, authA)
	got := w.sweep(r)[authA+"/access_token"]
	if got.Outcome != refresh.OutcomeLeased {
		t.Fatalf("sweep: %+v", got)
	}
	w.checkServed("re-authorize", authA, reauth)
	if rec := w.get(authA, credential.AccessToken); rec.Value != reauth.Token || rec.LeaseOwner != "" {
		t.Fatalf("stored %+v, want the re-authorisation's token", rec)
	}
	if a, _ := w.auth(authA); a.RefreshToken != w.comp.CurrentRefreshToken(compP, authA) {
		t.Fatal("auth# does not hold the re-authorisation's refresh token")
	}
	// Later sweeps go on with the re-authorisation's refresh token.
	w.clock.Advance(2 * time.Hour)
	if got := w.sweep(w.r)[authA+"/access_token"]; got.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("next sweep: %+v", got)
	}
	w.checkAudit()
}

// A refresh token WeChat no longer accepts (the account re-authorised and
// the event never reached wxcentral) fails with
// authorizer_refresh_token_invalid: errcode 61023, logged at error level
// and counted for its alarm.
func TestAuthorizerRefreshTokenInvalid(t *testing.T) {
	w := newAuthWorld(t)
	_, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	w.apps = append(w.apps, authorizerApp(authA))
	if _, _, err := w.comp.Authorize(compP, authA); err != nil { // lost event
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Hour)
	got := w.sweep(w.r)[authA+"/access_token"]
	if got.Outcome != refresh.OutcomeFailed || got.Error != "authorizer_refresh_token_invalid: errcode 61023" {
		t.Fatalf("sweep: %+v", got)
	}
	if rec := w.get(authA, credential.AccessToken); rec.LastErrorCode != wechat.CodeRefreshTokenInvalid {
		t.Fatalf("item %+v", rec)
	}
	if !strings.Contains(w.emf.String(), "authorizer_refresh_token_invalid") {
		t.Fatal("no RefreshFailures metric for authorizer_refresh_token_invalid")
	}
	if !strings.Contains(w.logs.String(), `"level":"ERROR","msg":"refresh","appid":"`+authA) {
		t.Fatalf("not logged at error level: %s", w.logs)
	}
}

// A reader's report of a rejected authorizer token: the authorizer is not
// in the apps document, so it is resolved by its item's component_appid;
// a new token is fetched at once, without a force budget.
func TestAuthorizerTokenReport(t *testing.T) {
	w := newAuthWorld(t)
	_, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	w.clock.Advance(2 * time.Second)
	got := w.r.Force(context.Background(), tokenapi.NewForceRequest(authA, credential.AccessToken, ans.Token))
	if got.Token == ans.Token || got.Version != ans.Version+1 {
		t.Fatalf("report answered %+v", got)
	}
	w.checkServed("report", authA, got)
	if rec := w.get(authA, credential.AccessToken); rec.ForceCount != 0 || rec.ComponentAppID != compP {
		t.Fatalf("item %+v", rec)
	}
	if got := w.r.Force(context.Background(), tokenapi.NewForceRequest("wxnotanauthorizer1", credential.AccessToken, "x")); got.Error != tokenapi.CodeUnknownApp {
		t.Fatalf("unknown appid answered %+v", got)
	}
	w.checkAudit()
}

// An authorizer's JS-SDK ticket on request: a report for its jsapi_ticket
// (nothing stored yet) fetches one with getticket and the authorizer's
// token; the item carries due_at and component_appid, so that sweeps keep
// the requested ticket fresh through the due index until the withdrawal.
func TestAuthorizerTicketOnRequest(t *testing.T) {
	w := newAuthWorld(t)
	_, ans := w.authorize(w.r, authA)
	w.checkServed("authorize", authA, ans)
	got := w.r.Force(context.Background(), tokenapi.NewForceRequest(authA, credential.JSAPITicket, "none-stored"))
	if got.Error != "" || got.Kind != credential.JSAPITicket || !w.comp.TicketValid(authA, got.Token, w.clock.Now()) {
		t.Fatalf("ticket request answered %+v", got)
	}
	rec := w.get(authA, credential.JSAPITicket)
	if !rec.DueAt.Equal(rec.ExpiresAt.Add(-credential.TicketLead)) || rec.ComponentAppID != compP || rec.Value != got.Token {
		t.Fatalf("ticket item: due_at %v, value as answered %v", rec.DueAt, rec.Value == got.Token)
	}
	// The withdrawal removes it with the token.
	w.clock.Advance(time.Minute)
	un, err := w.comp.Unauthorize(compP, authA)
	if err != nil {
		t.Fatal(err)
	}
	if a := w.r.Unauthorize(context.Background(), authRequest(un)); a.Error != "" {
		t.Fatalf("unauthorize answered %+v", a)
	}
	if _, err := w.store.Get(context.Background(), authA, credential.JSAPITicket, true); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("ticket after unauthorize: %v", err)
	}
}

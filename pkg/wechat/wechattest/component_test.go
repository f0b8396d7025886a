package wechattest_test

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	compID     = "wxc0mp0nent0000001"
	compSecret = "component-secret-0123456789abcdef"
	compToken  = "platformtoken"
	compKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	authA      = "wxauth0rizer00000a"
	authB      = "wxauth0rizer00000b"
)

var compStart = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// compEnv is a third-party platform simulator on a virtual clock with one
// platform registered, and a client bound to it.
type compEnv struct {
	clock *wechattest.Clock
	srv   *wechattest.ComponentServer
	c     *wechat.Client
	ctx   context.Context
}

func newCompEnv(t *testing.T, opts ...wechattest.Option) *compEnv {
	t.Helper()
	clock := wechattest.NewClock(compStart)
	srv := wechattest.NewComponentServer(append([]wechattest.Option{wechattest.WithClock(clock.Now), wechattest.WithSeed(7)}, opts...)...)
	t.Cleanup(srv.Close)
	if err := srv.AddPlatform(compID, compSecret, compToken, compKey); err != nil {
		t.Fatal(err)
	}
	return &compEnv{clock: clock, srv: srv, c: wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now)), ctx: context.Background()}
}

// openPush checks a push the way wxcentral's intake must: both signatures
// over the query, the envelope's AppId, decryption with receive id = the
// component appid. It returns the decrypted fields.
func openPush(t *testing.T, p wechattest.ComponentPush) *callback.Message {
	t.Helper()
	q, err := url.ParseQuery(p.Query)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if q.Get("signature") != callback.Signature(compToken, ts, nonce) || q.Get("encrypt_type") != "aes" {
		t.Fatalf("push query %q: bad signature or encrypt_type", p.Query)
	}
	env, err := callback.ParseMessage([]byte(p.Body))
	if err != nil {
		t.Fatal(err)
	}
	if env.Get("AppId") != compID {
		t.Fatalf("envelope AppId = %q", env.Get("AppId"))
	}
	if !callback.VerifyMsgSignature(q.Get("msg_signature"), compToken, ts, nonce, env.Get("Encrypt")) {
		t.Fatal("msg_signature does not verify")
	}
	ciph, err := callback.NewCipher(compKey, compID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ciph.Decrypt(env.Get("Encrypt"))
	if err != nil {
		t.Fatalf("decrypt with receive id %s: %v", compID, err)
	}
	if string(plain) != p.Plain {
		t.Fatalf("decrypted %q, want Plain %q", plain, p.Plain)
	}
	m, err := callback.ParseMessage(plain)
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("AppId") != compID || m.Get("InfoType") != p.InfoType || m.Get("CreateTime") != strconv.FormatInt(p.CreateTime.Unix(), 10) {
		t.Fatalf("push fields %q do not match %+v", plain, p)
	}
	return m
}

// verifyTicket returns a ticket from the pushes due now.
func (e *compEnv) verifyTicket(t *testing.T) string {
	t.Helper()
	pushes := e.srv.DueTicketPushes()
	if len(pushes) == 0 {
		t.Fatal("no ticket push due")
	}
	return pushes[len(pushes)-1].ComponentVerifyTicket
}

func TestComponentTicketPushesEveryTenMinutesSignedAndEncrypted(t *testing.T) {
	e := newCompEnv(t)
	first := e.srv.DueTicketPushes()
	if len(first) != 1 || !first[0].CreateTime.Equal(compStart) {
		t.Fatalf("pushes at registration = %+v, want one at %v", first, compStart)
	}
	e.clock.Advance(9 * time.Minute)
	if n := len(e.srv.DueTicketPushes()); n != 0 {
		t.Fatalf("%d pushes 9 min later, want 0", n)
	}
	e.clock.Advance(31 * time.Minute)
	pushes := append(first, e.srv.DueTicketPushes()...)
	if len(pushes) != 5 {
		t.Fatalf("%d pushes in 40 min, want 5", len(pushes))
	}
	seen := map[string]bool{}
	for i, p := range pushes {
		if want := compStart.Add(time.Duration(i) * 10 * time.Minute); !p.CreateTime.Equal(want) {
			t.Errorf("push %d CreateTime %v, want %v", i, p.CreateTime, want)
		}
		m := openPush(t, p)
		if p.InfoType != wechattest.InfoTypeVerifyTicket || m.Get("ComponentVerifyTicket") != p.ComponentVerifyTicket || seen[p.ComponentVerifyTicket] {
			t.Errorf("push %d: %q", i, p.Plain)
		}
		seen[p.ComponentVerifyTicket] = true
		// Valid 12 h from its CreateTime, not before and not after.
		if !e.srv.VerifyTicketValid(compID, p.ComponentVerifyTicket, p.CreateTime) ||
			!e.srv.VerifyTicketValid(compID, p.ComponentVerifyTicket, p.CreateTime.Add(12*time.Hour-time.Second)) ||
			e.srv.VerifyTicketValid(compID, p.ComponentVerifyTicket, p.CreateTime.Add(12*time.Hour)) ||
			e.srv.VerifyTicketValid(compID, p.ComponentVerifyTicket, p.CreateTime.Add(-time.Second)) {
			t.Errorf("push %d: ticket validity window is not [CreateTime, +12h)", i)
		}
	}
	if tk, at := e.srv.LatestVerifyTicket(compID); tk != pushes[4].ComponentVerifyTicket || !at.Equal(pushes[4].CreateTime) {
		t.Errorf("LatestVerifyTicket = %v", at)
	}
	if got := e.srv.ComponentCounters(compID).TicketPushes; got != 5 {
		t.Errorf("TicketPushes = %d", got)
	}
}

func TestComponentTokenNeedsAPushedTicketInsideItsTwelveHours(t *testing.T) {
	e := newCompEnv(t)
	ticket := e.verifyTicket(t)
	for _, tc := range []struct {
		name, appid, secret, ticket string
		code                        int
	}{
		{"unknown ticket", compID, compSecret, "ticket@@@forged", wechat.CodeComponentTicketInvalid},
		{"wrong secret", compID, "wrong", ticket, wechat.CodeInvalidAppSecret},
		{"unknown platform", "wxffffffffffffffff", compSecret, ticket, wechat.CodeInvalidAppID},
	} {
		_, err := e.c.ComponentToken(e.ctx, tc.appid, tc.secret, tc.ticket)
		if wechat.ErrorCode(err) != tc.code || wechat.ErrorClass(err) != wechat.ClassConfiguration {
			t.Errorf("%s: err = %v, want errcode %d (configuration)", tc.name, err, tc.code)
		}
	}
	tok, err := e.c.ComponentToken(e.ctx, compID, compSecret, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 2*time.Hour || !e.srv.ComponentTokenValid(compID, tok.AccessToken, e.clock.Now()) {
		t.Fatalf("token = %v, valid %v", tok.ExpiresIn, e.srv.ComponentTokenValid(compID, tok.AccessToken, e.clock.Now()))
	}
	// A new token leaves the previous one valid for 5 minutes only.
	e.clock.Advance(time.Hour)
	next, err := e.c.ComponentToken(e.ctx, compID, compSecret, ticket)
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Fatalf("second token: %v, same %v", err, next.AccessToken == tok.AccessToken)
	}
	now := e.clock.Now()
	if !e.srv.ComponentTokenValid(compID, tok.AccessToken, now.Add(5*time.Minute-time.Second)) || e.srv.ComponentTokenValid(compID, tok.AccessToken, now.Add(5*time.Minute)) {
		t.Error("replaced component token is not valid for exactly 5 more minutes")
	}
	// The ticket dies 12 h after its push.
	e.clock.Set(compStart.Add(12 * time.Hour))
	if _, err := e.c.ComponentToken(e.ctx, compID, compSecret, ticket); wechat.ErrorCode(err) != wechat.CodeComponentTicketExpired {
		t.Fatalf("12 h old ticket: err = %v, want 61005", err)
	}
	if err := e.srv.SetPlatformIPAllowed(compID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ComponentToken(e.ctx, compID, compSecret, e.verifyTicket(t)); wechat.ErrorCode(err) != 61004 || wechat.ErrorClass(err) != wechat.ClassConfiguration {
		t.Fatalf("IP not whitelisted: err = %v, want 61004", err)
	}
}

func TestComponentTicketPushFaultsDelayReorderAndDrop(t *testing.T) {
	t.Run("delay", func(t *testing.T) {
		e := newCompEnv(t)
		e.srv.SetTicketPushFaults(compID, wechattest.TicketPushFaults{Delay: 25 * time.Minute})
		if n := len(e.srv.DueTicketPushes()); n != 0 {
			t.Fatalf("%d pushes delivered before the delay", n)
		}
		e.clock.Advance(25 * time.Minute)
		got := e.srv.DueTicketPushes()
		if len(got) != 1 || !got[0].CreateTime.Equal(compStart) {
			t.Fatalf("after 25 min got %d pushes (%v), want the first, with its own CreateTime", len(got), got)
		}
		if ts := mustQuery(t, got[0]).Get("timestamp"); ts != strconv.FormatInt(e.clock.Now().Unix(), 10) {
			t.Errorf("delayed push signed at %s, want the delivery time", ts)
		}
		openPush(t, got[0])
	})
	t.Run("reorder", func(t *testing.T) {
		e := newCompEnv(t)
		e.srv.SetTicketPushFaults(compID, wechattest.TicketPushFaults{Reorder: true})
		e.clock.Advance(30 * time.Minute)
		got := e.srv.DueTicketPushes()
		if len(got) != 4 || !slices.IsSortedFunc(got, func(a, b wechattest.ComponentPush) int { return b.CreateTime.Compare(a.CreateTime) }) {
			t.Fatalf("reordered pushes not newest first: %d", len(got))
		}
	})
	t.Run("drop", func(t *testing.T) {
		e := newCompEnv(t)
		e.srv.SetTicketPushFaults(compID, wechattest.TicketPushFaults{DropRate: 1})
		e.clock.Advance(time.Hour)
		if n := len(e.srv.DueTicketPushes()); n != 0 {
			t.Fatalf("%d pushes delivered at drop rate 1", n)
		}
		cnt := e.srv.ComponentCounters(compID)
		if cnt.TicketPushesDropped != 7 || cnt.TicketPushes != 0 {
			t.Fatalf("counters = %+v", cnt)
		}
		// WeChat still issued them: the newest is valid, just never seen.
		if tk, at := e.srv.LatestVerifyTicket(compID); !at.Equal(compStart.Add(time.Hour)) || !e.srv.VerifyTicketValid(compID, tk, e.clock.Now()) {
			t.Fatalf("latest ticket at %v", at)
		}
	})
}

func mustQuery(t *testing.T, p wechattest.ComponentPush) url.Values {
	t.Helper()
	q, err := url.ParseQuery(p.Query)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestStopTicketPushesUntilStartPushTicket(t *testing.T) {
	e := newCompEnv(t)
	e.srv.DueTicketPushes()
	if err := e.srv.StopTicketPushes(compID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Hour)
	if n := len(e.srv.DueTicketPushes()); n != 0 || e.srv.TicketPushesRunning(compID) {
		t.Fatalf("%d pushes during the outage", n)
	}
	if err := e.c.StartPushTicket(e.ctx, compID, "wrong"); wechat.ErrorCode(err) != wechat.CodeInvalidAppSecret || wechat.ErrorClass(err) != wechat.ClassConfiguration {
		t.Fatalf("wrong secret: err = %v", err)
	}
	if err := e.c.StartPushTicket(e.ctx, compID, compSecret); err != nil {
		t.Fatal(err)
	}
	got := e.srv.DueTicketPushes()
	if len(got) != 1 || !got[0].CreateTime.Equal(e.clock.Now()) {
		t.Fatalf("after api_start_push_ticket: %d pushes, want one at once", len(got))
	}
	// Asking again while running is harmless ("in a normal state").
	if err := e.c.StartPushTicket(e.ctx, compID, compSecret); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if n := len(e.srv.DueTicketPushes()); n != 1 {
		t.Fatalf("%d pushes 10 min after restart, want 1", n)
	}
	if cnt := e.srv.ComponentCounters(compID); cnt.StartPushTicket != 3 {
		t.Fatalf("StartPushTicket counter = %d", cnt.StartPushTicket)
	}
}

// authorized returns a component token and authorizes authorizer, exchanging
// the code for its authorization info.
func (e *compEnv) authorized(t *testing.T, authorizer string) (string, wechat.AuthorizationInfo) {
	t.Helper()
	ct, err := e.c.ComponentToken(e.ctx, compID, compSecret, e.verifyTicket(t))
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := e.srv.Authorize(compID, authorizer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.c.QueryAuth(e.ctx, ct.AccessToken, compID, code)
	if err != nil {
		t.Fatal(err)
	}
	return ct.AccessToken, info
}

func TestAuthorizePushesEventAndQueryAuthIssuesTokens(t *testing.T) {
	e := newCompEnv(t)
	ct, err := e.c.ComponentToken(e.ctx, compID, compSecret, e.verifyTicket(t))
	if err != nil {
		t.Fatal(err)
	}
	code, push, err := e.srv.Authorize(compID, authA, 1, 15, 17)
	if err != nil {
		t.Fatal(err)
	}
	m := openPush(t, push)
	if push.InfoType != wechattest.InfoTypeAuthorized || m.Get("AuthorizerAppid") != authA || m.Get("AuthorizationCode") != code ||
		m.Get("AuthorizationCodeExpiredTime") != strconv.FormatInt(compStart.Add(time.Hour).Unix(), 10) || m.Get("PreAuthCode") == "" {
		t.Fatalf("authorized push = %s", push.Plain)
	}
	if _, err := e.c.QueryAuth(e.ctx, "not-a-token", compID, code); wechat.ErrorCode(err) != wechat.CodeInvalidCredential || !wechat.IsTokenRejected(err) {
		t.Fatalf("query_auth with a bad component token: %v", err)
	}
	info, err := e.c.QueryAuth(e.ctx, ct.AccessToken, compID, code)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if info.AuthorizerAppID != authA || !slices.Equal(info.FuncScopes, []int{1, 15, 17}) || info.AccessToken.ExpiresIn != 2*time.Hour ||
		!e.srv.AuthorizerTokenValid(authA, info.AccessToken.AccessToken, now) || info.RefreshToken != e.srv.CurrentRefreshToken(compID, authA) {
		t.Fatalf("info = %+v", info)
	}
	// A code is single-use.
	if _, err := e.c.QueryAuth(e.ctx, ct.AccessToken, compID, code); wechat.ErrorCode(err) != wechattest.CodeAuthCodeInvalid {
		t.Fatalf("second use of the code: %v, want 61009", err)
	}
	// The authorizer token works on the Official Account API of the same base.
	if _, err := e.c.GetTicket(e.ctx, info.AccessToken.AccessToken, "jsapi"); err != nil {
		t.Fatalf("getticket with the authorizer token: %v", err)
	}
	// An expired code is refused.
	code2, _, _ := e.srv.Authorize(compID, authB)
	e.clock.Advance(time.Hour)
	ct2, err := e.c.ComponentToken(e.ctx, compID, compSecret, e.verifyTicket(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.QueryAuth(e.ctx, ct2.AccessToken, compID, code2); wechat.ErrorCode(err) != wechattest.CodeAuthCodeInvalid {
		t.Fatalf("expired code: %v, want 61009", err)
	}
}

func TestAuthorizerTokenIssuesNewTokenAndKeepsRefreshTokenWithoutRotation(t *testing.T) {
	e := newCompEnv(t)
	ct, info := e.authorized(t, authA)
	e.clock.Advance(100 * time.Minute)
	at, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, info.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if at.Rotated || at.RefreshToken != info.RefreshToken || at.AccessToken.AccessToken == info.AccessToken.AccessToken || at.AccessToken.ExpiresIn != 2*time.Hour {
		t.Fatalf("answer = %+v", at)
	}
	old := info.AccessToken.AccessToken
	if !e.srv.AuthorizerTokenValid(authA, old, now.Add(5*time.Minute-time.Second)) || e.srv.AuthorizerTokenValid(authA, old, now.Add(5*time.Minute)) {
		t.Error("replaced authorizer token is not valid for exactly 5 more minutes")
	}
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authB, info.RefreshToken); wechat.ErrorCode(err) != wechattest.CodeComponentNotAuthorized {
		t.Fatalf("authorizer that never authorised: %v, want 61003", err)
	}
	if a := e.srv.RefreshAudits(compID); len(a) != 1 || !a[0].OK() || a[0].Issued != 1 || a[0].Rotations != 0 {
		t.Fatalf("audit = %+v", a)
	}
}

func TestRefreshTokenRotationOverlapAndAudit(t *testing.T) {
	e := newCompEnv(t)
	ct, info := e.authorized(t, authA)
	r1 := info.RefreshToken
	e.srv.RotateRefreshTokenNext(compID, authA)
	at, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, r1)
	if err != nil {
		t.Fatal(err)
	}
	r2 := at.RefreshToken
	if !at.Rotated || r2 == r1 || e.srv.CurrentRefreshToken(compID, authA) != r2 {
		t.Fatalf("forced rotation: %+v", at)
	}
	// A platform that dropped r2 can still use r1 inside the 5-minute
	// overlap; the answer hands back the current r2.
	e.clock.Advance(4 * time.Minute)
	again, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, r1)
	if err != nil || again.RefreshToken != r2 {
		t.Fatalf("r1 inside the overlap: %v, refresh %v", err, again.RefreshToken == r2)
	}
	// Rotating again from r1 loses r2, which was never presented.
	e.srv.RotateRefreshTokenNext(compID, authA)
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, r1); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	_, err = e.c.AuthorizerToken(e.ctx, ct, compID, authA, r1)
	if wechat.ErrorCode(err) != wechat.CodeRefreshTokenInvalid || !wechat.IsReauthorizationRequired(err) || wechat.ErrorClass(err) != wechat.ClassConfiguration {
		t.Fatalf("r1 after the overlap: %v, want 61023", err)
	}
	a := e.srv.RefreshAudits(compID)
	if len(a) != 1 || a[0].Issued != 3 || a[0].Rotations != 2 || a[0].Lost != 1 || a[0].Stale != 1 || a[0].OK() {
		t.Fatalf("audit = %+v, want 3 issued, 2 rotations, 1 lost, 1 stale", a)
	}
	// The current token still works; a well-behaved platform has a clean audit.
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, e.srv.CurrentRefreshToken(compID, authA)); err != nil {
		t.Fatal(err)
	}

	good := newCompEnv(t)
	gct, ginfo := good.authorized(t, authA)
	good.srv.SetRefreshTokenRotation(1)
	refresh := ginfo.RefreshToken
	for i := 0; i < 5; i++ {
		good.clock.Advance(110 * time.Minute)
		res, err := good.c.AuthorizerToken(good.ctx, gct, compID, authA, refresh)
		if err != nil || !res.Rotated {
			t.Fatalf("call %d: %v, rotated %v", i, err, res.Rotated)
		}
		refresh = res.RefreshToken
		if c, err := good.c.ComponentToken(good.ctx, compID, compSecret, good.verifyTicket(t)); err == nil {
			gct = c.AccessToken
		} else {
			t.Fatal(err)
		}
	}
	if a := good.srv.RefreshAudits(compID); len(a) != 1 || !a[0].OK() || a[0].Rotations != 5 {
		t.Fatalf("well-behaved audit = %+v", a)
	}
}

func TestRefreshTokenRotationRateIsSeededAndBounded(t *testing.T) {
	count := func() int {
		e := newCompEnv(t)
		ct, info := e.authorized(t, authA)
		e.srv.SetRefreshTokenRotation(0.5)
		refresh, rotations := info.RefreshToken, 0
		for i := 0; i < 200; i++ {
			at, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, refresh)
			if err != nil {
				t.Fatal(err)
			}
			if at.Rotated {
				rotations++
			}
			refresh = at.RefreshToken
		}
		return rotations
	}
	a, b := count(), count()
	if a != b || a < 60 || a > 140 {
		t.Fatalf("rotations at rate 0.5 over 200 calls: %d and %d, want equal (same seed) and near 100", a, b)
	}
}

func TestReauthorizationAndUnauthorizeKillTheRefreshToken(t *testing.T) {
	e := newCompEnv(t)
	ct, info := e.authorized(t, authA)
	code, push, err := e.srv.Authorize(compID, authA)
	if err != nil {
		t.Fatal(err)
	}
	if openPush(t, push); push.InfoType != wechattest.InfoTypeUpdateAuthorized {
		t.Fatalf("second authorisation pushed %s", push.InfoType)
	}
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, info.RefreshToken); !wechat.IsReauthorizationRequired(err) {
		t.Fatalf("refresh token of the previous authorisation: %v, want 61023", err)
	}
	info2, err := e.c.QueryAuth(e.ctx, ct, compID, code)
	if err != nil || info2.RefreshToken == info.RefreshToken {
		t.Fatalf("query_auth after re-authorisation: %v", err)
	}
	push, err = e.srv.Unauthorize(compID, authA)
	if err != nil {
		t.Fatal(err)
	}
	if m := openPush(t, push); push.InfoType != wechattest.InfoTypeUnauthorized || m.Get("AuthorizerAppid") != authA || m.Get("AuthorizationCode") != "" {
		t.Fatalf("unauthorized push = %s", push.Plain)
	}
	now := e.clock.Now()
	if e.srv.AuthorizerTokenValid(authA, info2.AccessToken.AccessToken, now) || e.srv.CurrentRefreshToken(compID, authA) != "" {
		t.Fatal("unauthorisation left a live token")
	}
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, info2.RefreshToken); wechat.ErrorCode(err) != wechattest.CodeComponentNotAuthorized {
		t.Fatalf("after unauthorisation: %v, want 61003", err)
	}
	if _, err := e.c.GetTicket(e.ctx, info2.AccessToken.AccessToken, "jsapi"); !wechat.IsTokenRejected(err) {
		t.Fatalf("getticket with a revoked authorizer token: %v", err)
	}
}

func TestComponentEndpointsShareFaultsAndCounters(t *testing.T) {
	e := newCompEnv(t)
	ct, info := e.authorized(t, authA)
	e.srv.InjectFaultsFor(authB, wechattest.EndpointAuthorizerToken, wechattest.ErrcodeFault(45009))
	e.srv.InjectFaults(wechattest.EndpointAuthorizerToken, wechattest.ErrcodeFault(-1))
	_, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, info.RefreshToken)
	if wechat.ErrorCode(err) != -1 || wechat.ErrorClass(err) != wechat.ClassTransient || !strings.Contains(err.Error(), "rid:") {
		t.Fatalf("scripted -1: %v", err)
	}
	if _, err := e.c.AuthorizerToken(e.ctx, ct, compID, authA, info.RefreshToken); err != nil {
		t.Fatalf("after the script: %v", err)
	}
	if n := e.srv.PendingFaults(wechattest.EndpointAuthorizerToken); n != 1 {
		t.Fatalf("authB's fault taken by authA: %d pending", n)
	}
	e.srv.InjectFaults(wechattest.EndpointComponentToken, wechattest.HTTPFault(502))
	latest, _ := e.srv.LatestVerifyTicket(compID)
	if _, err := e.c.ComponentToken(e.ctx, compID, compSecret, latest); wechat.ErrorClass(err) != wechat.ClassTransient {
		t.Fatalf("502: %v", err)
	}
	e.srv.SetOutage(true)
	if err := e.c.StartPushTicket(e.ctx, compID, compSecret); wechat.ErrorClass(err) != wechat.ClassTransient {
		t.Fatalf("outage: %v", err)
	}
	e.srv.SetOutage(false)
	cnt := e.srv.ComponentCounters(compID)
	if cnt.ComponentToken != 2 || cnt.QueryAuth != 1 || cnt.AuthorizerToken != 2 || cnt.StartPushTicket != 0 {
		t.Fatalf("counters = %+v", cnt)
	}
	issued := e.srv.IssuedValues()
	for _, v := range []string{ct, info.RefreshToken, info.AccessToken.AccessToken} {
		if _, ok := slices.BinarySearch(issued, v); !ok {
			t.Errorf("IssuedValues misses an issued value")
		}
	}
}

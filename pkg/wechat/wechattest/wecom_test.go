package wechattest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	corpA      = "ww0123456789abcdef"
	agentA     = "1000002"
	wecomSecA  = "wecom-secretA-0123456789abcdef012345"
	agentB     = "contacts"
	wecomSecB  = "wecom-secretB-0123456789abcdef012345"
	corpOther  = "wwffffffffffffffff"
	wecomSecOt = "wecom-secret-other-corp-0123456789ab"
)

var credA = wechattest.WeComCredentialID(corpA, agentA)

// wecomEnv is a WeCom simulator on a virtual clock with two apps of one
// corp and one of another, and a real client.
type wecomEnv struct {
	t     *testing.T
	clock *wechattest.Clock
	srv   *wechattest.WeComServer
	c     *wechat.WeComClient
}

func newWeComEnv(t *testing.T, opts ...wechattest.Option) *wecomEnv {
	t.Helper()
	clock := wechattest.NewClock(start)
	srv := wechattest.NewWeComServer(append([]wechattest.Option{wechattest.WithClock(clock.Now), wechattest.WithSeed(1)}, opts...)...)
	t.Cleanup(srv.Close)
	for _, a := range [][3]string{{corpA, agentA, wecomSecA}, {corpA, agentB, wecomSecB}, {corpOther, agentA, wecomSecOt}} {
		if err := srv.AddApp(a[0], a[1], a[2]); err != nil {
			t.Fatal(err)
		}
	}
	return &wecomEnv{t: t, clock: clock, srv: srv, c: wechat.NewWeComClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))}
}

func (e *wecomEnv) token() wechat.Token {
	e.t.Helper()
	tok, err := e.c.GetToken(context.Background(), corpA, wecomSecA)
	if err != nil {
		e.t.Fatalf("gettoken at %v: %v", e.clock.Now(), err)
	}
	return tok
}

func wantWeComCode(t *testing.T, err error, code int, class wechat.Class) {
	t.Helper()
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("err = %v, want errcode %d", err, code)
	}
	if !strings.Contains(we.Msg, ", hint: [") {
		t.Errorf("errmsg %q has no hint suffix", we.Msg)
	}
	if got := wechat.ErrorClass(err); got != class {
		t.Errorf("errcode %d: class %v, want %v", code, got, class)
	}
}

func TestWeComGetTokenReturnsSameTokenUntilExpiry(t *testing.T) {
	e := newWeComEnv(t)
	first := e.token()
	if first.ExpiresIn != 7200*time.Second {
		t.Fatalf("first expires_in = %v, want 7200s", first.ExpiresIn)
	}
	// Unlike stable_token there is no rotation window: the same token up to
	// its last second.
	for _, d := range []time.Duration{time.Second, time.Hour, 7199*time.Second - time.Hour - time.Second} {
		e.clock.Advance(d)
		got := e.token()
		if got.AccessToken != first.AccessToken {
			t.Fatalf("at +%v: a new token before expiry", e.clock.Now().Sub(start))
		}
		if want := time.Duration(first.ExpiresAt().Sub(e.clock.Now())/time.Second) * time.Second; got.ExpiresIn != want {
			t.Fatalf("at +%v: expires_in %v, want %v (what is left)", e.clock.Now().Sub(start), got.ExpiresIn, want)
		}
	}
	e.clock.Set(first.ExpiresAt())
	next := e.token()
	if next.AccessToken == first.AccessToken || next.ExpiresIn != 7200*time.Second {
		t.Fatalf("after expiry: %+v, want a new token with a full lifetime", next)
	}
	if e.srv.Valid(credA, first.AccessToken, e.clock.Now()) || !e.srv.Valid(credA, first.AccessToken, first.ExpiresAt().Add(-time.Second)) {
		t.Fatal("oracle: the first token must be valid to its last second and not after")
	}
	// Each app of the corp has its own token, found by its secret.
	other, err := e.c.GetToken(context.Background(), corpA, wecomSecB)
	if err != nil || other.AccessToken == next.AccessToken {
		t.Fatalf("second app: %v, %v", other, err)
	}
	if !e.srv.Valid(wechattest.WeComCredentialID(corpA, agentB), other.AccessToken, e.clock.Now()) || e.srv.Valid(credA, other.AccessToken, e.clock.Now()) {
		t.Fatal("oracle: a token belongs to the app whose secret fetched it")
	}
}

func TestWeComRevokeTokenEndsItAndNextGetTokenIssuesAnother(t *testing.T) {
	e := newWeComEnv(t)
	tok := e.token()
	js, err := e.c.JSAPITicket(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	revoked, err := e.srv.RevokeToken(corpA, agentA)
	if err != nil || revoked != tok.AccessToken {
		t.Fatalf("RevokeToken = %q, %v", revoked, err)
	}
	_, err = e.c.AgentConfigTicket(context.Background(), tok.AccessToken)
	wantWeComCode(t, err, 40014, wechat.ClassTokenRejected)
	if e.srv.Valid(credA, tok.AccessToken, e.clock.Now()) || !e.srv.Valid(credA, tok.AccessToken, e.clock.Now().Add(-time.Second)) {
		t.Fatal("oracle: revoked at the instant of RevokeToken, valid before it")
	}
	next := e.token()
	if next.AccessToken == tok.AccessToken || next.ExpiresIn != 7200*time.Second {
		t.Fatalf("after revocation: %+v", next)
	}
	if cur, _ := e.srv.CurrentToken(corpA, agentA); cur != next.AccessToken {
		t.Fatal("CurrentToken is not the new token")
	}
	// Tickets are not tied to the token that fetched them.
	if !e.srv.TicketValid(credA, js.Ticket, e.clock.Now()) {
		t.Fatal("revoking the token killed the ticket")
	}
	if again, _ := e.srv.RevokeToken(corpA, agentA); again != next.AccessToken {
		t.Fatal("second revocation")
	}
	if none, err := e.srv.RevokeToken(corpA, agentA); none != "" || err != nil {
		t.Fatalf("revoking with no valid token = %q, %v", none, err)
	}
	if _, err := e.srv.RevokeToken(corpA, "nope"); !errors.Is(err, wechattest.ErrUnknownWeComApp) {
		t.Fatalf("unknown app: %v", err)
	}
}

func TestWeComGetTokenErrcodes(t *testing.T) {
	e := newWeComEnv(t)
	ctx := context.Background()
	_, err := e.c.GetToken(ctx, "wwunknown", wecomSecA)
	wantWeComCode(t, err, 40013, wechat.ClassConfiguration)
	_, err = e.c.GetToken(ctx, corpA, "wrong-secret")
	wantWeComCode(t, err, 40001, wechat.ClassConfiguration)
	// Another corp's secret is a wrong secret for this corp.
	_, err = e.c.GetToken(ctx, corpA, wecomSecOt)
	wantWeComCode(t, err, 40001, wechat.ClassConfiguration)

	if err := e.srv.SetIPAllowed(corpA, agentA, false); err != nil {
		t.Fatal(err)
	}
	_, err = e.c.GetToken(ctx, corpA, wecomSecA)
	wantWeComCode(t, err, 60020, wechat.ClassConfiguration)
	if _, err := e.c.GetToken(ctx, corpA, wecomSecB); err != nil {
		t.Fatalf("the other app is not blocked: %v", err)
	}
	e.srv.SetIPAllowed(corpA, agentA, true)
	tok := e.token()

	e.srv.SetQuotaExhausted(corpA, agentA, true)
	_, err = e.c.GetToken(ctx, corpA, wecomSecA)
	wantWeComCode(t, err, 45009, wechat.ClassDailyQuota)
	_, err = e.c.JSAPITicket(ctx, tok.AccessToken)
	wantWeComCode(t, err, 45009, wechat.ClassDailyQuota)
	e.srv.SetQuotaExhausted(corpA, agentA, false)
	if got := e.token(); got.AccessToken != tok.AccessToken {
		t.Fatal("quota switch changed the token")
	}
	if err := e.srv.SetIPAllowed("ww", agentA, false); !errors.Is(err, wechattest.ErrUnknownWeComApp) {
		t.Fatalf("SetIPAllowed unknown app: %v", err)
	}
}

func TestWeComRequestValidation(t *testing.T) {
	e := newWeComEnv(t)
	for _, tc := range []struct {
		name   string
		method string
		path   string
		query  url.Values
		code   int
	}{
		{"no corpid", "GET", "/cgi-bin/gettoken", url.Values{"corpsecret": {wecomSecA}}, 41002},
		{"no secret", "GET", "/cgi-bin/gettoken", url.Values{"corpid": {corpA}}, 41004},
		{"POST gettoken", "POST", "/cgi-bin/gettoken", url.Values{"corpid": {corpA}, "corpsecret": {wecomSecA}}, 43001},
		{"no token", "GET", "/cgi-bin/get_jsapi_ticket", nil, 41001},
		{"bad ticket type", "GET", "/cgi-bin/ticket/get", url.Values{"access_token": {"x"}, "type": {"jsapi"}}, 40058},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path+"?"+tc.query.Encode(), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := errcode(t, b); got != tc.code {
				t.Fatalf("errcode %d, want %d (%s)", got, tc.code, b)
			}
		})
	}
	resp, err := http.Get(e.srv.URL + "/cgi-bin/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("WeChat's path on the WeCom server: %d, want 404", resp.StatusCode)
	}
}

func TestWeComTicketsSameUntilExpiryAndRequireValidToken(t *testing.T) {
	e := newWeComEnv(t, wechattest.WithTicketLifetime(time.Hour))
	ctx := context.Background()
	tok := e.token()
	js, err := e.c.JSAPITicket(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := e.c.AgentConfigTicket(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if js.Ticket == ac.Ticket || js.ExpiresIn != time.Hour || ac.ExpiresIn != time.Hour {
		t.Fatalf("jsapi %+v, agent_config %+v", js, ac)
	}
	e.clock.Advance(30 * time.Minute)
	js2, err := e.c.JSAPITicket(ctx, tok.AccessToken)
	if err != nil || js2.Ticket != js.Ticket || js2.ExpiresIn != 30*time.Minute {
		t.Fatalf("within its life: %+v, %v; want the same ticket with 30m left", js2, err)
	}
	e.clock.Set(js.ExpiresAt())
	js3, err := e.c.JSAPITicket(ctx, tok.AccessToken)
	if err != nil || js3.Ticket == js.Ticket || js3.ExpiresIn != time.Hour {
		t.Fatalf("after expiry: %+v, %v; want a new ticket", js3, err)
	}
	if e.srv.TicketValid(credA, js.Ticket, e.clock.Now()) || !e.srv.TicketValid(credA, js3.Ticket, e.clock.Now()) ||
		!e.srv.TicketValid(credA, ac.Ticket, start.Add(59*time.Minute)) {
		t.Fatal("ticket oracle")
	}
	if e.srv.TicketValid(wechattest.WeComCredentialID(corpA, agentB), js3.Ticket, e.clock.Now()) {
		t.Fatal("ticket oracle accepts another app's ticket")
	}

	_, err = e.c.JSAPITicket(ctx, "unknown-token")
	wantWeComCode(t, err, 40014, wechat.ClassTokenRejected)
	e.clock.Set(tok.ExpiresAt())
	_, err = e.c.AgentConfigTicket(ctx, tok.AccessToken)
	wantWeComCode(t, err, 42001, wechat.ClassTokenRejected)
}

func TestWeComFaultsCountersAndOutage(t *testing.T) {
	e := newWeComEnv(t)
	ctx := context.Background()
	e.srv.InjectFaults(wechattest.EndpointWeComGetToken,
		wechattest.ErrcodeFault(-1), wechattest.HTTPFault(502), wechattest.ErrcodeFault(60020), wechattest.TruncateFault())
	_, err := e.c.GetToken(ctx, corpA, wecomSecA)
	wantWeComCode(t, err, -1, wechat.ClassTransient)
	_, err = e.c.GetToken(ctx, corpA, wecomSecA)
	if wechat.ErrorClass(err) != wechat.ClassTransient {
		t.Fatalf("502: %v", err)
	}
	_, err = e.c.GetToken(ctx, corpA, wecomSecA)
	wantWeComCode(t, err, 60020, wechat.ClassConfiguration)
	_, err = e.c.GetToken(ctx, corpA, wecomSecA)
	var ne *wechat.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("truncate: %v, want a network error", err)
	}
	if e.srv.PendingFaults(wechattest.EndpointWeComGetToken) != 0 {
		t.Fatal("faults left")
	}
	tok := e.token()

	// App-scoped: only the named app's calls fail.
	e.srv.InjectFaultsFor(credA, wechattest.EndpointWeComJSAPITicket, wechattest.ErrcodeFault(45009))
	other, _ := e.c.GetToken(ctx, corpA, wecomSecB)
	if _, err := e.c.JSAPITicket(ctx, other.AccessToken); err != nil {
		t.Fatalf("other app hit the fault: %v", err)
	}
	_, err = e.c.JSAPITicket(ctx, tok.AccessToken)
	wantWeComCode(t, err, 45009, wechat.ClassDailyQuota)

	// After processing: the ticket was issued, the answer lost.
	e.srv.InjectFaults(wechattest.EndpointWeComAgentConfigTicket, wechattest.Fault{Errcode: -1, AfterProcessing: true})
	_, err = e.c.AgentConfigTicket(ctx, tok.AccessToken)
	wantWeComCode(t, err, -1, wechat.ClassTransient)
	ac, err := e.c.AgentConfigTicket(ctx, tok.AccessToken)
	if err != nil || ac.ExpiresIn != 7200*time.Second {
		t.Fatalf("the lost ticket is served again with its full life: %+v, %v", ac, err)
	}

	if got := e.srv.Counters(credA); got != (wechattest.WeComCounters{GetToken: 5, JSAPITicket: 1, AgentConfigTicket: 2}) {
		t.Fatalf("counters %+v", got)
	}
	e.c.GetToken(ctx, "wwunknown", "x")
	if e.srv.Counters("").GetToken != 1 {
		t.Fatalf("anonymous counters %+v", e.srv.Counters(""))
	}
	e.srv.ResetCounters()
	if e.srv.Counters(credA).Total() != 0 {
		t.Fatal("ResetCounters")
	}

	e.srv.SetOutage(true)
	if _, err := e.c.GetToken(ctx, corpA, wecomSecA); !errors.As(err, &ne) {
		t.Fatalf("outage: %v", err)
	}
	e.srv.ClearFaults()
	if got := e.token(); got.AccessToken != tok.AccessToken {
		t.Fatal("token changed across faults")
	}
	if e.srv.Counters(credA).GetToken != 1 {
		t.Fatalf("calls during an outage are not counted: %+v", e.srv.Counters(credA))
	}
}

func TestWeComConcurrentCallsShareOneToken(t *testing.T) {
	e := newWeComEnv(t)
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := e.c.GetToken(context.Background(), corpA, wecomSecA)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] {
			t.Fatal("concurrent gettoken calls got different tokens")
		}
	}
	if n := len(e.srv.IssuedValues()); n != 1 {
		t.Fatalf("issued %d values, want 1", n)
	}
}

func TestWeComAddAppValidation(t *testing.T) {
	sim := wechattest.NewWeComSimulator()
	if err := sim.AddApp(corpA, agentA, ""); err == nil {
		t.Fatal("empty secret accepted")
	}
	if err := sim.AddApp(corpA, agentA, wecomSecA); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddApp(corpA, agentB, wecomSecA); err == nil {
		t.Fatal("two apps of one corp with one secret: gettoken could not tell them apart")
	}
	if len(wechattest.WeComEndpoints) != 3 {
		t.Fatalf("WeComEndpoints = %v", wechattest.WeComEndpoints)
	}
}

func TestMiniProgramTokenLikeOfficialAccountButNoTickets(t *testing.T) {
	e := newEnv(t)
	const mini, miniSecret = "wx1111111111111111", "mini-secret-0123456789abcdef012345"
	e.srv.AddMiniProgram(mini, miniSecret)
	ctx := context.Background()
	tok, err := e.c.StableToken(ctx, mini, miniSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	same, err := e.c.StableToken(ctx, mini, miniSecret, false)
	if err != nil || same.AccessToken != tok.AccessToken || !e.srv.Valid(mini, tok.AccessToken, e.clock.Now()) {
		t.Fatalf("stable_token for a mini-program: %+v, %v", same, err)
	}
	_, err = e.c.StableToken(ctx, mini, "wrong", false)
	wantCode(t, err, wechat.CodeInvalidAppSecret)
	for _, typ := range []string{"jsapi", "wx_card"} {
		_, err = e.c.GetTicket(ctx, tok.AccessToken, typ)
		wantCode(t, err, wechattest.CodeAPIUnauthorized)
	}
	// An Official Account next to it keeps its tickets.
	oa := e.stable(false)
	if _, err := e.c.GetTicket(ctx, oa.AccessToken, "jsapi"); err != nil {
		t.Fatalf("official account getticket: %v", err)
	}
}

package wechattest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appA    = "wx0123456789abcdef"
	secretA = "secretA-0123456789abcdef0123456789"
	appB    = "wxfedcba9876543210"
	secretB = "secretB-0123456789abcdef0123456789"
)

// start is 10:00 in Shanghai.
var start = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)

// env is a simulator on a virtual clock with two apps and a client.
type env struct {
	t     *testing.T
	clock *wechattest.Clock
	srv   *wechattest.Server
	c     *wechat.Client
}

func newEnv(t *testing.T, opts ...wechattest.Option) *env {
	t.Helper()
	clock := wechattest.NewClock(start)
	srv := wechattest.NewServer(append([]wechattest.Option{wechattest.WithClock(clock.Now), wechattest.WithSeed(1)}, opts...)...)
	t.Cleanup(srv.Close)
	srv.AddApp(appA, secretA)
	srv.AddApp(appB, secretB)
	return &env{t: t, clock: clock, srv: srv, c: wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))}
}

func (e *env) stable(force bool) wechat.Token {
	e.t.Helper()
	tok, err := e.c.StableToken(context.Background(), appA, secretA, force)
	if err != nil {
		e.t.Fatalf("stable_token(force=%v) at %v: %v", force, e.clock.Now(), err)
	}
	return tok
}

func (e *env) valid(token string, at time.Time) bool { return e.srv.Valid(appA, token, at) }

// legacy fetches a token from GET /cgi-bin/token.
func (e *env) legacy() string {
	e.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	code, body := e.raw(http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}}, "")
	if code != 200 {
		e.t.Fatalf("legacy token: status %d", code)
	}
	if err := json.Unmarshal(body, &out); err != nil || out.AccessToken == "" || out.ExpiresIn != 7200 {
		e.t.Fatalf("legacy token: %s (%v)", body, err)
	}
	return out.AccessToken
}

// raw makes an HTTP call without the client, for wire-level checks.
func (e *env) raw(method, path string, q url.Values, body string) (int, []byte) {
	e.t.Helper()
	u := e.srv.URL + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// errcode decodes a raw answer's errcode.
func errcode(t *testing.T, b []byte) int {
	t.Helper()
	var v struct {
		ErrCode int `json:"errcode"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return v.ErrCode
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("err = %v, want errcode %d", err, code)
	}
	if !strings.Contains(we.Msg, " rid: ") {
		t.Errorf("errmsg %q has no rid suffix", we.Msg)
	}
}

func TestUnknownAppIDReturns40013(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.StableToken(context.Background(), "wx_not_registered", secretA, false)
	wantCode(t, err, wechat.CodeInvalidAppID)
	if got := e.srv.Counters("").StableTokenNormal; got != 1 {
		t.Errorf("anonymous counter = %d, want 1", got)
	}
}

func TestWrongSecretReturns40125(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.StableToken(context.Background(), appA, secretB, false)
	wantCode(t, err, wechat.CodeInvalidAppSecret)
	code, body := e.raw(http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {"nope"}}, "")
	if code != 200 || errcode(t, body) != wechat.CodeInvalidAppSecret {
		t.Fatalf("legacy: %d %s", code, body)
	}
	// AddApp again resets the secret and keeps the app's tokens.
	tok := e.stable(false)
	e.srv.AddApp(appA, "rotated-secret")
	if _, err := e.c.StableToken(context.Background(), appA, secretA, false); wechat.ErrorCode(err) != wechat.CodeInvalidAppSecret {
		t.Fatalf("old secret after reset: %v", err)
	}
	got, err := e.c.StableToken(context.Background(), appA, "rotated-secret", false)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("new secret: %v; same token %v", err, got.AccessToken == tok.AccessToken)
	}
}

func TestIPNotWhitelistedReturns40164(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.SetIPAllowed(appA, false); err != nil {
		t.Fatal(err)
	}
	_, err := e.c.StableToken(context.Background(), appA, secretA, false)
	wantCode(t, err, wechat.CodeIPNotWhitelisted)
	if !strings.HasPrefix(err.(*wechat.Error).Msg, "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: ") {
		t.Errorf("errmsg = %q", err.(*wechat.Error).Msg)
	}
	if wechat.ErrorClass(err) != wechat.ClassConfiguration {
		t.Errorf("class = %v", wechat.ErrorClass(err))
	}
	// Other apps are unaffected; switching back restores service.
	if _, err := e.c.StableToken(context.Background(), appB, secretB, false); err != nil {
		t.Fatalf("app B: %v", err)
	}
	if err := e.srv.SetIPAllowed(appA, true); err != nil {
		t.Fatal(err)
	}
	e.stable(false)
	if err := e.srv.SetIPAllowed("wx_unknown", true); !errors.Is(err, wechattest.ErrUnknownApp) {
		t.Errorf("unknown app: %v", err)
	}
}

func TestStableTokenRequestValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, method, body string
		want               int
	}{
		{"GET is refused", http.MethodGet, "", 43002},
		{"not JSON", http.MethodPost, "grant_type=client_credential", 47001},
		{"wrong grant_type", http.MethodPost, `{"grant_type":"password","appid":"` + appA + `","secret":"` + secretA + `"}`, 40002},
		{"missing appid", http.MethodPost, `{"grant_type":"client_credential","secret":"x"}`, 41002},
		{"missing secret", http.MethodPost, `{"grant_type":"client_credential","appid":"` + appA + `"}`, 41004},
		{"force_refresh not a bool", http.MethodPost, `{"grant_type":"client_credential","appid":"` + appA + `","secret":"` + secretA + `","force_refresh":"yes"}`, 47001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.raw(tc.method, "/cgi-bin/stable_token", nil, tc.body)
			if code != 200 || errcode(t, body) != tc.want {
				t.Fatalf("got %d %s, want errcode %d", code, body, tc.want)
			}
		})
	}
	if code, _ := e.raw(http.MethodGet, "/cgi-bin/nonexistent", nil, ""); code != http.StatusNotFound {
		t.Errorf("unknown path: status %d", code)
	}
}

func TestErrmsgHasRealisticRid(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.StableToken(context.Background(), "wx_nope", "x", false)
	re := regexp.MustCompile(`^invalid appid rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)
	if we, ok := err.(*wechat.Error); !ok || !re.MatchString(we.Msg) {
		t.Fatalf("err = %v", err)
	}
}

func TestStableTokenNormalModeReturnsSameToken(t *testing.T) {
	e := newEnv(t)
	first := e.stable(false)
	if first.ExpiresIn != 7200*time.Second {
		t.Fatalf("first expires_in = %v", first.ExpiresIn)
	}
	for _, step := range []time.Duration{0, time.Second, 10 * time.Minute, time.Hour, 6899*time.Second - (time.Second + 10*time.Minute + time.Hour)} {
		e.clock.Advance(step)
		got := e.stable(false)
		if got.AccessToken != first.AccessToken {
			t.Fatalf("at +%v: token changed outside the rotation window", e.clock.Now().Sub(start))
		}
		if want := first.ExpiresAt().Sub(e.clock.Now()); got.ExpiresIn != want.Truncate(time.Second) {
			t.Fatalf("at +%v: expires_in %v, want remaining %v", e.clock.Now().Sub(start), got.ExpiresIn, want)
		}
	}
	if c := e.srv.Counters(appA); c.StableTokenNormal != 6 || c.StableTokenForce != 0 {
		t.Errorf("counters = %+v", c)
	}
}

func TestStableTokenRotatesInLast300s(t *testing.T) {
	e := newEnv(t)
	old := e.stable(false)
	e.clock.Set(old.ExpiresAt().Add(-301 * time.Second))
	if got := e.stable(false); got.AccessToken != old.AccessToken || got.ExpiresIn != 301*time.Second {
		t.Fatalf("301 s before expiry: rotated=%v expires_in=%v", got.AccessToken != old.AccessToken, got.ExpiresIn)
	}
	e.clock.Set(old.ExpiresAt().Add(-300 * time.Second))
	rotated := e.stable(false)
	if rotated.AccessToken == old.AccessToken {
		t.Fatal("300 s before expiry the token must rotate")
	}
	if rotated.ExpiresIn != 7200*time.Second {
		t.Fatalf("rotated token expires_in = %v, want full lifetime", rotated.ExpiresIn)
	}
	// Both are accepted during the overlap; the old one dies at its expiry.
	for _, at := range []time.Time{e.clock.Now(), old.ExpiresAt().Add(-time.Second)} {
		if !e.valid(old.AccessToken, at) || !e.valid(rotated.AccessToken, at) {
			t.Fatalf("at %v both tokens must be valid", at)
		}
	}
	if e.valid(old.AccessToken, old.ExpiresAt()) {
		t.Fatal("old token valid at its expiry")
	}
	// Later calls keep returning the new token.
	e.clock.Advance(2 * time.Minute)
	if got := e.stable(false); got.AccessToken != rotated.AccessToken {
		t.Fatal("token changed again right after rotation")
	}
	// WeChat rejects the old one with 42001 once it has expired.
	e.clock.Set(old.ExpiresAt())
	_, err := e.c.GetTicket(context.Background(), old.AccessToken, "jsapi")
	wantCode(t, err, wechat.CodeAccessTokenExpired)
}

func TestStableTokenExpiresInNeverBelowRotationWindow(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	// A call every 37 s for 24 simulated hours: 2335 calls.
	for end := start.Add(24 * time.Hour); e.clock.Now().Before(end); e.clock.Advance(37 * time.Second) {
		tok := e.stable(false)
		if tok.ExpiresIn < 300*time.Second || tok.ExpiresIn > 7200*time.Second {
			t.Fatalf("at +%v expires_in = %v", e.clock.Now().Sub(start), tok.ExpiresIn)
		}
		if !e.valid(tok.AccessToken, e.clock.Now()) || !e.valid(tok.AccessToken, tok.ExpiresAt().Add(-time.Second)) {
			t.Fatalf("at +%v served token not valid through its expires_in", e.clock.Now().Sub(start))
		}
		seen[tok.AccessToken] = true
	}
	// 24 h / (7200 s - 300 s) ≈ 12.5 rotations.
	if n := len(seen); n < 12 || n > 14 {
		t.Errorf("%d distinct tokens in 24 h, want about 13", n)
	}
}

func TestStableTokenAfterExpiryIssuesNewToken(t *testing.T) {
	e := newEnv(t)
	old := e.stable(false)
	e.clock.Set(old.ExpiresAt().Add(time.Hour))
	got := e.stable(false)
	if got.AccessToken == old.AccessToken || got.ExpiresIn != 7200*time.Second {
		t.Fatalf("after expiry: same=%v expires_in=%v", got.AccessToken == old.AccessToken, got.ExpiresIn)
	}
}

func TestWithTokenLifetimeShortensTokens(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []wechattest.Option
		life, rotA time.Duration // lifetime, and remaining life at which rotation starts
	}{
		{"10 minutes, default window", []wechattest.Option{wechattest.WithTokenLifetime(10 * time.Minute)}, 10 * time.Minute, 300 * time.Second},
		{"2 minutes, window halves", []wechattest.Option{wechattest.WithTokenLifetime(2 * time.Minute)}, 2 * time.Minute, time.Minute},
		{"explicit window", []wechattest.Option{wechattest.WithTokenLifetime(10 * time.Minute), wechattest.WithRotationWindow(30 * time.Second)}, 10 * time.Minute, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			tok := e.stable(false)
			if tok.ExpiresIn != tc.life {
				t.Fatalf("expires_in = %v, want %v", tok.ExpiresIn, tc.life)
			}
			e.clock.Set(tok.ExpiresAt().Add(-tc.rotA - time.Second))
			if e.stable(false).AccessToken != tok.AccessToken {
				t.Fatal("rotated before the window")
			}
			e.clock.Set(tok.ExpiresAt().Add(-tc.rotA))
			if e.stable(false).AccessToken == tok.AccessToken {
				t.Fatal("did not rotate inside the window")
			}
		})
	}
}

func TestStableTokenForceIssuesNewTokenAndKeepsPreviousForOverlap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []wechattest.Option
		overlap time.Duration
	}{
		{"default 5 minutes", nil, 5 * time.Minute},
		{"1 minute", []wechattest.Option{wechattest.WithForceOverlap(time.Minute)}, time.Minute},
		{"none", []wechattest.Option{wechattest.WithForceOverlap(0)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			old := e.stable(false)
			e.clock.Advance(10 * time.Minute)
			at := e.clock.Now()
			forced := e.stable(true)
			if forced.AccessToken == old.AccessToken || forced.ExpiresIn != 7200*time.Second {
				t.Fatalf("force: same=%v expires_in=%v", forced.AccessToken == old.AccessToken, forced.ExpiresIn)
			}
			if tc.overlap > 0 && !e.valid(old.AccessToken, at.Add(tc.overlap-time.Second)) {
				t.Error("previous token must stay valid during the overlap")
			}
			if e.valid(old.AccessToken, at.Add(tc.overlap)) {
				t.Error("previous token valid after the overlap")
			}
			if !e.valid(forced.AccessToken, at.Add(tc.overlap)) {
				t.Error("new token not valid")
			}
			// Normal mode now returns the forced token.
			if got := e.stable(false); got.AccessToken != forced.AccessToken {
				t.Error("normal mode after force must return the new token")
			}
			// After the overlap WeChat answers 40001 for the old token.
			e.clock.Set(at.Add(tc.overlap))
			_, err := e.c.GetTicket(context.Background(), old.AccessToken, "jsapi")
			wantCode(t, err, wechat.CodeInvalidCredential)
		})
	}
}

func TestStableTokenForceOverlapNeverBeyondOriginalExpiry(t *testing.T) {
	e := newEnv(t)
	old := e.stable(false)
	e.clock.Set(old.ExpiresAt().Add(-2 * time.Minute))
	e.stable(true)
	if !e.valid(old.AccessToken, old.ExpiresAt().Add(-time.Second)) || e.valid(old.AccessToken, old.ExpiresAt()) {
		t.Fatal("old token must end exactly at its own expiry, inside the 5-minute overlap")
	}
}

func TestStableTokenForceDailyLimit45009(t *testing.T) {
	e := newEnv(t)
	// 10:00 Shanghai: 20 force calls 31 s apart all rotate.
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		seen[e.stable(true).AccessToken] = true
		e.clock.Advance(31 * time.Second)
	}
	if len(seen) != 20 || e.srv.ForceCount(appA) != 20 {
		t.Fatalf("%d distinct tokens, ForceCount %d", len(seen), e.srv.ForceCount(appA))
	}
	_, err := e.c.StableToken(context.Background(), appA, secretA, true)
	wantCode(t, err, wechat.CodeDailyQuota)
	// Normal mode and other apps are unaffected.
	e.stable(false)
	if _, err := e.c.StableToken(context.Background(), appB, secretB, true); err != nil {
		t.Fatalf("app B: %v", err)
	}
	// 23:59:59 Shanghai is still the same day; midnight Shanghai (16:00 UTC) is a new one.
	e.clock.Set(time.Date(2026, 11, 21, 15, 59, 59, 0, time.UTC))
	_, err = e.c.StableToken(context.Background(), appA, secretA, true)
	wantCode(t, err, wechat.CodeDailyQuota)
	e.clock.Set(time.Date(2026, 11, 21, 16, 0, 0, 0, time.UTC))
	e.stable(true)
	if e.srv.ForceCount(appA) != 1 {
		t.Fatalf("ForceCount on the new day = %d", e.srv.ForceCount(appA))
	}
	if c := e.srv.Counters(appA); c.StableTokenForce != 23 {
		t.Errorf("StableTokenForce = %d, want 23 (refused calls are counted)", c.StableTokenForce)
	}
}

func TestStableTokenForceWithin30sDoesNotRotate(t *testing.T) {
	e := newEnv(t)
	first := e.stable(true)
	e.clock.Advance(10 * time.Second)
	again := e.stable(true)
	if again.AccessToken != first.AccessToken {
		t.Fatal("a force call 10 s after the last must not rotate")
	}
	if again.ExpiresIn != 7190*time.Second {
		t.Errorf("expires_in = %v, want the remaining 7190 s", again.ExpiresIn)
	}
	e.clock.Advance(19 * time.Second) // 29 s after the rotating call
	if e.stable(true).AccessToken != first.AccessToken {
		t.Fatal("29 s: must not rotate")
	}
	e.clock.Advance(time.Second) // 30 s
	third := e.stable(true)
	if third.AccessToken == first.AccessToken {
		t.Fatal("30 s after the last rotating force call, force must rotate")
	}
	c := e.srv.Counters(appA)
	if c.StableTokenForce != 4 || c.StableTokenForceIgnored != 2 {
		t.Errorf("counters = %+v, want 4 force calls of which 2 ignored", c)
	}
	if e.srv.ForceCount(appA) != 4 {
		t.Errorf("ForceCount = %d: ignored calls count against the budget", e.srv.ForceCount(appA))
	}
}

func TestLegacyTokenIsIndependentOfStableToken(t *testing.T) {
	e := newEnv(t)
	st := e.stable(false)
	lg := e.legacy()
	if lg == st.AccessToken {
		t.Fatal("legacy and stable tokens must differ")
	}
	e.clock.Advance(time.Hour)
	lg2 := e.legacy()
	now := e.clock.Now()
	if !e.valid(lg, now) {
		t.Fatal("the first legacy token must stay valid during the overlap")
	}
	if !e.valid(st.AccessToken, st.ExpiresAt().Add(-time.Second)) || !e.valid(st.AccessToken, now) {
		t.Fatal("a legacy fetch must not shorten the stable token")
	}
	if got := e.stable(false); got.AccessToken != st.AccessToken {
		t.Fatal("a legacy fetch must not rotate the stable token")
	}
	e.clock.Advance(time.Minute)
	e.stable(true)
	if !e.valid(lg2, e.clock.Now().Add(time.Hour)) {
		t.Fatal("a forced stable_token must not shorten the legacy token")
	}
	if c := e.srv.Counters(appA); c.LegacyToken != 2 {
		t.Errorf("LegacyToken counter = %d", c.LegacyToken)
	}
}

func TestLegacyTokenInvalidatesPreviousAfter5Minutes(t *testing.T) {
	e := newEnv(t)
	first := e.legacy()
	e.clock.Advance(time.Minute)
	at := e.clock.Now()
	second := e.legacy()
	if first == second {
		t.Fatal("each legacy fetch must issue a new token")
	}
	if !e.valid(first, at.Add(5*time.Minute-time.Second)) || e.valid(first, at.Add(5*time.Minute)) {
		t.Fatal("previous legacy token must die 5 minutes after the next fetch")
	}
	e.clock.Set(at.Add(5 * time.Minute))
	_, err := e.c.UserInfo(context.Background(), first, "o1", "")
	wantCode(t, err, wechat.CodeInvalidCredential)
	if code, body := e.raw(http.MethodGet, "/cgi-bin/token", url.Values{"grant_type": {"authorization_code"}, "appid": {appA}, "secret": {secretA}}, ""); code != 200 || errcode(t, body) != 40002 {
		t.Fatalf("bad grant_type: %s", body)
	}
}

// tokenCases returns, for a fresh env, access tokens in each invalid state
// and the errcode WeChat answers for them.
func tokenCases(e *env) []struct {
	name, token string
	want        int
} {
	expired := e.stable(false)
	e.clock.Set(expired.ExpiresAt().Add(time.Minute)) // expired
	replaced := e.stable(false)
	e.clock.Advance(time.Minute)
	if _, err := e.srv.ForceRotate(appA, wechattest.RevokeNow()); err != nil {
		e.t.Fatal(err)
	}
	return []struct {
		name, token string
		want        int
	}{
		{"missing", "", wechat.CodeAccessTokenMissing},
		{"never issued", "89_" + strings.Repeat("x", 130), wechat.CodeInvalidCredential},
		{"expired", expired.AccessToken, wechat.CodeAccessTokenExpired},
		{"revoked", replaced.AccessToken, wechat.CodeInvalidCredential},
	}
}

func TestGetTicketRequiresValidToken(t *testing.T) {
	e := newEnv(t)
	for _, tc := range tokenCases(e) {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.raw(http.MethodGet, "/cgi-bin/ticket/getticket", url.Values{"access_token": {tc.token}, "type": {"jsapi"}}, "")
			if code != 200 || errcode(t, body) != tc.want {
				t.Fatalf("got %d %s, want %d", code, body, tc.want)
			}
		})
	}
	tok := e.stable(false)
	code, body := e.raw(http.MethodGet, "/cgi-bin/ticket/getticket", url.Values{"access_token": {tok.AccessToken}, "type": {"jsapi"}}, "")
	var ok struct {
		ErrCode   *int   `json:"errcode"`
		ErrMsg    string `json:"errmsg"`
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || code != 200 || ok.ErrCode == nil || *ok.ErrCode != 0 || ok.ErrMsg != "ok" || len(ok.Ticket) < 100 || ok.ExpiresIn != 7200 {
		t.Fatalf("success answer = %d %s", code, body)
	}
	if code, body := e.raw(http.MethodGet, "/cgi-bin/ticket/getticket", url.Values{"access_token": {tok.AccessToken}, "type": {"card"}}, ""); code != 200 || errcode(t, body) != 40097 {
		t.Fatalf("bad type: %s", body)
	}
}

func TestTicketValidOracle(t *testing.T) {
	e := newEnv(t)
	tok := e.stable(false)
	ctx := context.Background()
	js1, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	js2, _ := e.c.GetTicket(ctx, tok.AccessToken, "jsapi")
	card, _ := e.c.GetTicket(ctx, tok.AccessToken, "wx_card")
	now := e.clock.Now()
	if js1.Ticket == js2.Ticket || js2.Ticket == card.Ticket {
		t.Fatal("tickets must be distinct per call and type")
	}
	for _, tc := range []struct {
		name   string
		appid  string
		ticket string
		at     time.Time
		want   bool
	}{
		{"earlier jsapi still valid (not invalidated by a new fetch)", appA, js1.Ticket, now, true},
		{"earlier jsapi until its expiry", appA, js1.Ticket, js1.ExpiresAt().Add(-time.Second), true},
		{"earlier jsapi at its expiry", appA, js1.Ticket, js1.ExpiresAt(), false},
		{"new jsapi", appA, js2.Ticket, now, true},
		{"wx_card", appA, card.Ticket, now.Add(7199 * time.Second), true},
		{"before issue", appA, js2.Ticket, now.Add(-time.Second), false},
		{"other app", appB, card.Ticket, now, false},
		{"unknown", appA, "nope", now, false},
		{"token is not a ticket", appA, tok.AccessToken, now, false},
	} {
		if got := e.srv.TicketValid(tc.appid, tc.ticket, tc.at); got != tc.want {
			t.Errorf("%s: TicketValid = %v, want %v", tc.name, got, tc.want)
		}
	}
	if c := e.srv.Counters(appA); c.GetTicket != 3 {
		t.Errorf("GetTicket counter = %d", c.GetTicket)
	}
}

func TestAuthenticatedAPIsRejectInvalidTokens(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.AddUser(appA, wechat.UserInfo{Subscribe: 1, OpenID: "o1"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range tokenCases(e) {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.raw(http.MethodPost, "/cgi-bin/message/custom/send", url.Values{"access_token": {tc.token}}, `{"touser":"o1","msgtype":"text","text":{"content":"hi"}}`)
			if code != 200 || errcode(t, body) != tc.want {
				t.Errorf("custom send: %s, want %d", body, tc.want)
			}
			code, body = e.raw(http.MethodGet, "/cgi-bin/user/info", url.Values{"access_token": {tc.token}, "openid": {"o1"}}, "")
			if code != 200 || errcode(t, body) != tc.want {
				t.Errorf("user info: %s, want %d", body, tc.want)
			}
			if tc.token != "" {
				err := e.c.SendCustomMessage(ctx, tc.token, wechat.TextMessage("o1", "hi"))
				if wechat.ErrorCode(err) != tc.want {
					t.Errorf("client: %v", err)
				}
			}
		})
	}
	if n := len(e.srv.SentMessages("")); n != 0 {
		t.Errorf("%d messages recorded for rejected calls", n)
	}
}

func TestCustomSendRecordsMessages(t *testing.T) {
	e := newEnv(t)
	tok := e.stable(false)
	ctx := context.Background()
	msgs := []wechat.CustomMessage{
		wechat.TextMessage("o1", "你好 & welcome"),
		wechat.ImageMessage("o2", "MEDIA_ID"),
		wechat.NewsMessage("o1", wechat.Article{Title: "T", URL: "https://example.com"}),
	}
	for _, m := range msgs {
		if err := e.c.SendCustomMessage(ctx, tok.AccessToken, m); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	got := e.srv.SentMessages(appA)
	if len(got) != 3 {
		t.Fatalf("%d messages", len(got))
	}
	if got[0].Message.Text.Content != "你好 & welcome" || got[1].Message.Image.MediaID != "MEDIA_ID" || got[2].Message.News.Articles[0].Title != "T" {
		t.Errorf("recorded %+v", got)
	}
	if !got[0].At.Equal(start) || !got[2].At.Equal(start.Add(2*time.Second)) || got[0].AppID != appA {
		t.Errorf("metadata %+v", got[0])
	}
	if !strings.Contains(string(got[0].Raw), `"msgtype":"text"`) {
		t.Errorf("raw = %s", got[0].Raw)
	}
	if len(e.srv.SentMessages(appB)) != 0 {
		t.Error("messages leaked to app B")
	}
	for _, tc := range []struct{ body string }{{`{"touser":"o1","msgtype":"hologram"}`}, {`{"touser":"","msgtype":"text","text":{"content":"x"}}`}, {`{"touser":"o1","msgtype":"text","text":{"content":""}}`}, {`not json`}} {
		_, body := e.raw(http.MethodPost, "/cgi-bin/message/custom/send", url.Values{"access_token": {tok.AccessToken}}, tc.body)
		if errcode(t, body) == 0 {
			t.Errorf("body %s accepted", tc.body)
		}
	}
	if c := e.srv.Counters(appA); c.CustomSend != 7 {
		t.Errorf("CustomSend = %d", c.CustomSend)
	}
}

func TestUserInfoReturnsRegisteredFollowers(t *testing.T) {
	e := newEnv(t)
	want := wechat.UserInfo{Subscribe: 1, OpenID: "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", Language: "zh_CN", SubscribeTime: 1382694957, TagIDList: []int{128, 2}, SubscribeScene: "ADD_SCENE_QR_CODE"}
	if err := e.srv.AddUser(appA, want); err != nil {
		t.Fatal(err)
	}
	tok := e.stable(false)
	got, err := e.c.UserInfo(context.Background(), tok.AccessToken, want.OpenID, "zh_CN")
	if err != nil || got.OpenID != want.OpenID || got.SubscribeTime != want.SubscribeTime || len(got.TagIDList) != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = e.c.UserInfo(context.Background(), tok.AccessToken, "o_unknown", "")
	wantCode(t, err, 40003)
	if err := e.srv.AddUser("wx_nope", want); !errors.Is(err, wechattest.ErrUnknownApp) {
		t.Errorf("AddUser unknown app: %v", err)
	}
}

func TestScriptedFaultsApplyInOrder(t *testing.T) {
	e := newEnv(t)
	e.srv.InjectFaults(wechattest.EndpointStableToken,
		wechattest.ErrcodeFault(-1),
		wechattest.HTTPFault(502),
		wechattest.DropFault(),
		wechattest.ErrcodeFault(45011),
		wechattest.ErrcodeFault(45009),
	)
	if n := e.srv.PendingFaults(wechattest.EndpointStableToken); n != 5 {
		t.Fatalf("pending = %d", n)
	}
	ctx := context.Background()
	check := func(name string, ok func(error) bool) {
		t.Helper()
		_, err := e.c.StableToken(ctx, appA, secretA, false)
		if !ok(err) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
	check("-1", func(err error) bool {
		return wechat.ErrorCode(err) == -1 && wechat.ErrorClass(err) == wechat.ClassTransient
	})
	check("502", func(err error) bool { var we *wechat.Error; return errors.As(err, &we) && we.HTTPStatus == 502 })
	check("drop", func(err error) bool { var ne *wechat.NetworkError; return errors.As(err, &ne) })
	check("45011", func(err error) bool { return wechat.ErrorClass(err) == wechat.ClassMinuteQuota })
	check("45009", func(err error) bool { return wechat.ErrorClass(err) == wechat.ClassDailyQuota })
	check("normal again", func(err error) bool { return err == nil })
	// Faults are per endpoint: getticket was never affected.
	if n := e.srv.PendingFaults(wechattest.EndpointStableToken); n != 0 {
		t.Errorf("pending = %d", n)
	}
	if c := e.srv.Counters(appA); c.StableTokenNormal != 6 {
		t.Errorf("faulted calls must be counted: %+v", c)
	}
	// A fault that replaces the answer leaves no trace in the state.
	tok, _ := e.c.StableToken(ctx, appA, secretA, false)
	e.srv.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1))
	e.c.StableToken(ctx, appA, secretA, true)
	if e.srv.ForceCount(appA) != 0 || !e.valid(tok.AccessToken, e.clock.Now().Add(time.Hour)) {
		t.Error("a faulted force call must not take effect")
	}
	// Authenticated endpoints take scripted faults too.
	e.srv.InjectFaults(wechattest.EndpointCustomSend, wechattest.ErrcodeFault(45047))
	if err := e.c.SendCustomMessage(ctx, tok.AccessToken, wechat.TextMessage("o1", "x")); wechat.ErrorCode(err) != 45047 {
		t.Errorf("custom send fault: %v", err)
	}
}

func TestFaultAfterProcessingTakesEffect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.stable(false)
	e.clock.Advance(time.Minute)
	e.srv.InjectFaults(wechattest.EndpointStableToken, wechattest.Fault{Drop: true, AfterProcessing: true})
	_, err := e.c.StableToken(ctx, appA, secretA, true)
	var ne *wechat.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v, want a dropped connection", err)
	}
	cur, _ := e.srv.CurrentToken(appA)
	if cur == old.AccessToken || e.srv.ForceCount(appA) != 1 {
		t.Fatal("the force call must have rotated the token although its answer was lost")
	}
	e.srv.InjectFaults(wechattest.EndpointCustomSend, wechattest.Fault{HTTPStatus: 504, AfterProcessing: true})
	e.c.SendCustomMessage(ctx, cur, wechat.TextMessage("o1", "maybe"))
	if len(e.srv.SentMessages(appA)) != 1 {
		t.Fatal("message must be recorded although the answer was a 504")
	}
}

func TestLatencyFaultDelaysAnswer(t *testing.T) {
	e := newEnv(t)
	// A delay far beyond the client's timeout: the client gives up.
	e.srv.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(time.Minute))
	c := wechat.NewClient(wechat.WithBaseURL(e.srv.URL), wechat.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := c.StableToken(context.Background(), appA, secretA, false)
	var ne *wechat.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	// A short delay still yields the normal answer.
	e.srv.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(time.Millisecond))
	e.stable(false)
}

func TestProbabilisticFaultsAreSeededAndReproducible(t *testing.T) {
	run := func(seed uint64) (pattern string, failures int) {
		e := newEnv(t, wechattest.WithSeed(seed))
		e.srv.SetFaultRate(wechattest.EndpointStableToken, 0.3, wechattest.ErrcodeFault(-1), wechattest.HTTPFault(503))
		var b strings.Builder
		for i := 0; i < 200; i++ {
			_, err := e.c.StableToken(context.Background(), appA, secretA, false)
			switch {
			case err == nil:
				b.WriteByte('.')
			case wechat.ErrorCode(err) == -1:
				b.WriteByte('E')
				failures++
			default:
				var we *wechat.Error
				if !errors.As(err, &we) || we.HTTPStatus != 503 {
					t.Fatalf("unexpected %v", err)
				}
				b.WriteByte('5')
				failures++
			}
		}
		return b.String(), failures
	}
	p1, n1 := run(42)
	p2, _ := run(42)
	p3, _ := run(43)
	if p1 != p2 {
		t.Fatal("same seed must give the same fault sequence")
	}
	if p1 == p3 {
		t.Fatal("different seeds gave identical sequences")
	}
	if n1 < 30 || n1 > 90 || !strings.Contains(p1, "E") || !strings.Contains(p1, "5") {
		t.Fatalf("rate 0.3 over 200 calls gave %d failures: %s", n1, p1)
	}
	// Rate 0 turns the mode off.
	e := newEnv(t)
	e.srv.SetFaultRate(wechattest.EndpointStableToken, 1, wechattest.ErrcodeFault(-1))
	if _, err := e.c.StableToken(context.Background(), appA, secretA, false); wechat.ErrorCode(err) != -1 {
		t.Fatalf("rate 1: %v", err)
	}
	e.srv.SetFaultRate(wechattest.EndpointStableToken, 0)
	e.stable(false)
}

func TestOutageDropsEveryConnection(t *testing.T) {
	e := newEnv(t)
	tok := e.stable(false)
	e.srv.SetOutage(true)
	ctx := context.Background()
	var ne *wechat.NetworkError
	if _, err := e.c.StableToken(ctx, appA, secretA, false); !errors.As(err, &ne) {
		t.Fatalf("stable_token during outage: %v", err)
	}
	if _, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi"); !errors.As(err, &ne) {
		t.Fatalf("getticket during outage: %v", err)
	}
	if c := e.srv.Counters(appA); c.StableTokenNormal != 1 || c.GetTicket != 0 {
		t.Errorf("calls during an outage must not be counted: %+v", c)
	}
	e.srv.SetOutage(false)
	e.stable(false)
	e.srv.InjectFaults(wechattest.EndpointGetTicket, wechattest.DropFault())
	e.srv.SetOutage(true)
	e.srv.ClearFaults()
	if _, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi"); err != nil {
		t.Fatalf("ClearFaults must end the outage and drop scripts: %v", err)
	}
}

func TestCountersPerEndpointAndModeAndReset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.srv.AddUser(appA, wechat.UserInfo{Subscribe: 1, OpenID: "o1"})
	tok := e.stable(false)
	e.stable(false)
	e.clock.Advance(time.Minute)
	e.stable(true)
	e.stable(true) // ignored: within 30 s
	e.legacy()
	cur, _ := e.srv.CurrentToken(appA)
	e.c.GetTicket(ctx, cur, "jsapi")
	e.c.GetTicket(ctx, cur, "wx_card")
	e.c.SendCustomMessage(ctx, cur, wechat.TextMessage("o1", "x"))
	e.c.UserInfo(ctx, cur, "o1", "")
	e.c.StableToken(ctx, appB, secretB, false)
	e.c.GetTicket(ctx, "unknown-token", "jsapi")
	e.c.StableToken(ctx, "wx_unknown", "x", true)

	want := wechattest.Counters{StableTokenNormal: 2, StableTokenForce: 2, StableTokenForceIgnored: 1, LegacyToken: 1, GetTicket: 2, CustomSend: 1, UserInfo: 1}
	if got := e.srv.Counters(appA); got != want {
		t.Errorf("app A counters = %+v, want %+v", got, want)
	}
	if got := e.srv.Counters(appA).Total(); got != 9 {
		t.Errorf("Total = %d", got)
	}
	if got := e.srv.Counters(appB); got != (wechattest.Counters{StableTokenNormal: 1}) {
		t.Errorf("app B counters = %+v", got)
	}
	if got := e.srv.Counters(""); got != (wechattest.Counters{GetTicket: 1, StableTokenForce: 1}) {
		t.Errorf("anonymous counters = %+v", got)
	}
	if got := e.srv.Counters("wx_never"); got != (wechattest.Counters{}) {
		t.Errorf("unknown app counters = %+v", got)
	}
	e.srv.ResetCounters()
	if e.srv.Counters(appA) != (wechattest.Counters{}) || e.srv.Counters("") != (wechattest.Counters{}) {
		t.Error("ResetCounters left counts")
	}
	// Reset touches counters only, not state.
	if got := e.stable(false); got.AccessToken == tok.AccessToken || got.AccessToken != cur {
		t.Error("ResetCounters must not change tokens")
	}
}

func TestForceRotateKeepsOldTokenForOverlap(t *testing.T) {
	e := newEnv(t)
	old := e.stable(false)
	e.clock.Advance(time.Hour)
	at := e.clock.Now()
	newTok, err := e.srv.ForceRotate(appA)
	if err != nil {
		t.Fatal(err)
	}
	if newTok == old.AccessToken {
		t.Fatal("ForceRotate must issue a new token")
	}
	if got := e.stable(false); got.AccessToken != newTok || got.ExpiresIn != 7200*time.Second {
		t.Fatalf("normal mode after ForceRotate: new=%v expires_in=%v", got.AccessToken == newTok, got.ExpiresIn)
	}
	if !e.valid(old.AccessToken, at.Add(5*time.Minute-time.Second)) || e.valid(old.AccessToken, at.Add(5*time.Minute)) {
		t.Fatal("old token must live for the 5-minute overlap")
	}
	if c := e.srv.Counters(appA); c.StableTokenForce != 0 || e.srv.ForceCount(appA) != 0 {
		t.Errorf("ForceRotate must not count as a call: %+v", c)
	}
	if _, err := e.srv.ForceRotate("wx_nope"); !errors.Is(err, wechattest.ErrUnknownApp) {
		t.Errorf("unknown app: %v", err)
	}
}

func TestForceRotateRevokeNowKillsOldToken(t *testing.T) {
	e := newEnv(t)
	old := e.stable(false)
	e.clock.Advance(time.Hour)
	at := e.clock.Now()
	if _, err := e.srv.ForceRotate(appA, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	if e.valid(old.AccessToken, at) || !e.valid(old.AccessToken, at.Add(-time.Second)) {
		t.Fatal("RevokeNow must end the old token exactly now, keeping its history")
	}
	_, err := e.c.GetTicket(context.Background(), old.AccessToken, "jsapi")
	wantCode(t, err, wechat.CodeInvalidCredential)
}

func TestValidOracleKeepsHistory(t *testing.T) {
	e := newEnv(t)
	t1 := e.stable(false)
	e.clock.Set(t1.ExpiresAt().Add(-100 * time.Second))
	t2 := e.stable(false)
	e.clock.Advance(10 * time.Hour)
	for _, tc := range []struct {
		name  string
		appid string
		token string
		at    time.Time
		want  bool
	}{
		{"first at issue", appA, t1.AccessToken, start, true},
		{"first before issue", appA, t1.AccessToken, start.Add(-time.Second), false},
		{"first in overlap", appA, t1.AccessToken, t2.ReceivedAt.Add(99 * time.Second), true},
		{"first at expiry", appA, t1.AccessToken, t1.ExpiresAt(), false},
		{"second long ago", appA, t2.AccessToken, t2.ReceivedAt, true},
		{"second now (expired)", appA, t2.AccessToken, e.clock.Now(), false},
		{"wrong app", appB, t1.AccessToken, start, false},
		{"unknown token", appA, "x", start, false},
	} {
		if got := e.srv.Valid(tc.appid, tc.token, tc.at); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	if v, _ := e.srv.CurrentToken(appA); v != "" {
		t.Error("CurrentToken must be empty once the token expired")
	}
}

func TestTokensAreRealisticAndUnique(t *testing.T) {
	e := newEnv(t, wechattest.WithForceMinInterval(0), wechattest.WithForceDailyLimit(10000))
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	seen := map[string]bool{}
	for i := 0; i < 500; i++ {
		tok := e.stable(true).AccessToken
		if len(tok) < 100 || len(tok) > 512 || !urlSafe.MatchString(tok) {
			t.Fatalf("token %q is not a realistic access_token", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token after %d", i)
		}
		seen[tok] = true
	}
	// Two simulators with the same seed issue the same tokens, different
	// seeds different ones.
	a, b := wechattest.NewSimulator(wechattest.WithSeed(7)), wechattest.NewSimulator(wechattest.WithSeed(7))
	c := wechattest.NewSimulator(wechattest.WithSeed(8))
	for _, s := range []*wechattest.Simulator{a, b, c} {
		s.AddApp(appA, secretA)
		s.ForceRotate(appA)
	}
	ta, _ := a.CurrentToken(appA)
	tb, _ := b.CurrentToken(appA)
	tc, _ := c.CurrentToken(appA)
	if ta != tb || ta == tc {
		t.Error("token generation must follow the seed")
	}
}

func TestHandlerMountsInAnotherServer(t *testing.T) {
	sim := wechattest.NewSimulator()
	sim.AddApp(appA, secretA)
	mux := http.NewServeMux()
	mux.Handle("/cgi-bin/", sim.Handler())
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "mine") })
	srv := &http.Server{Handler: mux}
	ln := listen(t)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c := wechat.NewClient(wechat.WithBaseURL("http://" + ln.Addr().String()))
	tok, err := c.StableToken(context.Background(), appA, secretA, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sim.Valid(appA, tok.AccessToken, time.Now()) {
		t.Fatal("token not valid now under the default clock")
	}
	// Drops work through the mux too.
	sim.InjectFaults(wechattest.EndpointStableToken, wechattest.DropFault())
	_, err = c.StableToken(context.Background(), appA, secretA, false)
	var ne *wechat.NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("drop through mux: %v", err)
	}
}

func TestClockIsVirtualAndGoroutineSafe(t *testing.T) {
	c := wechattest.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatal("NewClock must start at t")
	}
	if got := c.Advance(90 * time.Second); !got.Equal(start.Add(90*time.Second)) || !c.Now().Equal(got) {
		t.Fatal("Advance")
	}
	c.Set(start)
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 1000; j++ {
				c.Advance(time.Millisecond)
				c.Now()
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	if got := c.Now().Sub(start); got != 8*time.Second {
		t.Fatalf("after 8000 × 1 ms: %v", got)
	}
}

func TestConcurrentNormalCallsShareOneToken(t *testing.T) {
	t.Run("virtual clock", func(t *testing.T) { concurrentNormalCalls(t, newEnv(t)) })
	t.Run("real clock", func(t *testing.T) {
		// With time.Now each request reads the clock under the lock, so a
		// later request never sees a token issued "in its future".
		srv := wechattest.NewServer()
		t.Cleanup(srv.Close)
		srv.AddApp(appA, secretA)
		concurrentNormalCalls(t, &env{t: t, srv: srv, c: wechat.NewClient(wechat.WithBaseURL(srv.URL))})
	})
}

func concurrentNormalCalls(t *testing.T, e *env) {
	const n = 64
	results := make(chan string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			tok, err := e.c.StableToken(context.Background(), appA, secretA, false)
			if err != nil {
				errs <- err
				return
			}
			results <- tok.AccessToken
		}()
	}
	distinct := map[string]bool{}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case tok := <-results:
			distinct[tok] = true
		}
	}
	if len(distinct) != 1 {
		t.Fatalf("%d distinct tokens from concurrent normal-mode calls", len(distinct))
	}
	if c := e.srv.Counters(appA); c.StableTokenNormal != n {
		t.Fatalf("counter = %d", c.StableTokenNormal)
	}
}

func TestEndpointsAndFaultStrings(t *testing.T) {
	if len(wechattest.Endpoints) != 5 {
		t.Fatalf("Endpoints = %v", wechattest.Endpoints)
	}
	for _, tc := range []struct {
		f    wechattest.Fault
		want string
	}{
		{wechattest.ErrcodeFault(-1), "errcode -1"},
		{wechattest.HTTPFault(502), "http 502"},
		{wechattest.DropFault(), "drop"},
		{wechattest.TruncateFault(), "truncate"},
		{wechattest.LatencyFault(time.Second), "latency 1s"},
	} {
		if got := fmt.Sprint(tc.f); got != tc.want {
			t.Errorf("%+v prints %q, want %q", tc.f, got, tc.want)
		}
	}
}

// listen opens a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestDropOnGETMayBeReplayedByTransportButTruncateFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok := e.stable(false)
	if _, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi"); err != nil { // warms a keep-alive connection
		t.Fatal(err)
	}
	// One Drop on a GET over a reused connection: net/http replays the
	// request on a new connection, which is answered normally.
	e.srv.InjectFaults(wechattest.EndpointGetTicket, wechattest.DropFault())
	if _, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi"); err != nil {
		t.Fatalf("replayed GET: %v", err)
	}
	if n := e.srv.Counters(appA).GetTicket; n != 3 {
		t.Fatalf("GetTicket counter = %d, want 3 (the replay is a second call)", n)
	}
	// Two Drops defeat the single replay.
	e.srv.InjectFaults(wechattest.EndpointGetTicket, wechattest.DropFault(), wechattest.DropFault())
	var ne *wechat.NetworkError
	if _, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi"); !errors.As(err, &ne) {
		t.Fatalf("two drops: %v", err)
	}
	// Truncate fails the call once, GET or not.
	e.srv.ResetCounters()
	e.c.GetTicket(ctx, tok.AccessToken, "jsapi")
	e.srv.InjectFaults(wechattest.EndpointGetTicket, wechattest.TruncateFault())
	_, err := e.c.GetTicket(ctx, tok.AccessToken, "jsapi")
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("truncate: %v", err)
	}
	if n := e.srv.Counters(appA).GetTicket; n != 2 {
		t.Fatalf("GetTicket counter = %d, want 2", n)
	}
}

func TestInjectFaultsForOneApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tokA := e.stable(false)
	tokB, err := e.c.StableToken(ctx, appB, secretB, false)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.InjectFaultsFor(appB, wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1), wechattest.ErrcodeFault(40243))
	e.srv.InjectFaultsFor(appB, wechattest.EndpointGetTicket, wechattest.HTTPFault(503))
	e.srv.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(45011))
	if n := e.srv.PendingFaults(wechattest.EndpointStableToken); n != 3 {
		t.Fatalf("pending = %d", n)
	}
	// App A only sees the endpoint-wide fault.
	if _, err := e.c.StableToken(ctx, appA, secretA, false); wechat.ErrorCode(err) != 45011 {
		t.Fatalf("A first: %v", err)
	}
	e.stable(false)
	if _, err := e.c.GetTicket(ctx, tokA.AccessToken, "jsapi"); err != nil {
		t.Fatalf("A getticket: %v", err)
	}
	// App B gets its own script in order, then normal answers.
	for _, want := range []int{-1, 40243, 0} {
		_, err := e.c.StableToken(ctx, appB, secretB, false)
		if wechat.ErrorCode(err) != want || (want == 0 && err != nil) {
			t.Fatalf("B: err = %v, want errcode %d", err, want)
		}
	}
	// getticket is scoped by the token's app.
	var we *wechat.Error
	if _, err := e.c.GetTicket(ctx, tokB.AccessToken, "jsapi"); !errors.As(err, &we) || we.HTTPStatus != 503 {
		t.Fatalf("B getticket: %v", err)
	}
	if n := e.srv.PendingFaults(wechattest.EndpointStableToken) + e.srv.PendingFaults(wechattest.EndpointGetTicket); n != 0 {
		t.Fatalf("pending = %d", n)
	}
}

func TestWithLegacyOverlap(t *testing.T) {
	e := newEnv(t, wechattest.WithLegacyOverlap(time.Minute))
	first := e.legacy()
	at := e.clock.Now()
	e.legacy()
	if !e.valid(first, at.Add(59*time.Second)) || e.valid(first, at.Add(time.Minute)) {
		t.Fatal("previous legacy token must die after the configured overlap")
	}
}

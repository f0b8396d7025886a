package wechat_test

import (
	"context"
	"errors"
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
	simApp    = "wx0123456789abcdef"
	simSecret = "sim-secret-0123456789abcdef012345"
)

func newSim(t *testing.T, clock *wechattest.Clock) *wechattest.Server {
	t.Helper()
	srv := wechattest.NewServer(wechattest.WithClock(clock.Now))
	t.Cleanup(srv.Close)
	srv.AddApp(simApp, simSecret)
	return srv
}

func TestClientAgainstSimulator(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
	srv := newSim(t, clock)
	if err := srv.AddUser(simApp, wechat.UserInfo{Subscribe: 1, OpenID: "o-follower", Language: "en"}); err != nil {
		t.Fatal(err)
	}
	c := wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))
	ctx := context.Background()

	tok, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Valid(simApp, tok.AccessToken, tok.ReceivedAt) || !srv.Valid(simApp, tok.AccessToken, tok.ExpiresAt().Add(-time.Second)) {
		t.Fatal("the simulator must accept the token for its whole expires_in")
	}
	for _, typ := range []string{"jsapi", "wx_card"} {
		tk, err := c.GetTicket(ctx, tok.AccessToken, typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !srv.TicketValid(simApp, tk.Ticket, tk.ExpiresAt().Add(-time.Second)) || tk.ExpiresIn != 7200*time.Second {
			t.Fatalf("%s ticket %+v not valid", typ, tk)
		}
	}
	if err := c.SendCustomMessage(ctx, tok.AccessToken, wechat.TextMessage("o-follower", "hello")); err != nil {
		t.Fatal(err)
	}
	if sent := srv.SentMessages(simApp); len(sent) != 1 || sent[0].Message.Text.Content != "hello" {
		t.Fatalf("sent = %+v", sent)
	}
	u, err := c.UserInfo(ctx, tok.AccessToken, "o-follower", "en")
	if err != nil || u.Language != "en" || u.Subscribe != 1 {
		t.Fatalf("user = %+v, %v", u, err)
	}
	var raw map[string]any
	if err := c.Call(ctx, http.MethodGet, "/cgi-bin/user/info", tok.AccessToken, url.Values{"openid": {"o-follower"}}, nil, &raw); err != nil || raw["openid"] != "o-follower" {
		t.Fatalf("generic call: %v %v", raw, err)
	}

	// Rotated on WeChat's side with the old token revoked: every call
	// reports a rejected token, and a normal-mode call picks up the new one.
	clock.Advance(time.Minute)
	if _, err := srv.ForceRotate(simApp, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	err = c.SendCustomMessage(ctx, tok.AccessToken, wechat.TextMessage("o-follower", "again"))
	if !wechat.IsTokenRejected(err) || wechat.ErrorCode(err) != wechat.CodeInvalidCredential {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := c.GetTicket(ctx, tok.AccessToken, "jsapi"); !wechat.IsTokenRejected(err) {
		t.Fatalf("revoked token on getticket: %v", err)
	}
	fresh, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("after rotation: %v", err)
	}
	if strings.Contains(err2str(c.SendCustomMessage(ctx, "bogus", wechat.TextMessage("o", "x"))), "bogus") {
		t.Error("error echoes the token")
	}
}

func err2str(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestClientWithBaseURLClosedPortFailsWithNetworkError(t *testing.T) {
	srv := wechattest.NewServer()
	srv.AddApp(simApp, simSecret)
	base := srv.URL
	srv.Close()
	c := wechat.NewClient(wechat.WithBaseURL(base))
	_, err := c.StableToken(context.Background(), simApp, simSecret, false)
	var ne *wechat.NetworkError
	if !errors.As(err, &ne) || wechat.ErrorClass(err) != wechat.ClassTransient {
		t.Fatalf("err = %v (%T), want a transient *NetworkError", err, err)
	}
	if strings.Contains(err.Error(), simSecret) {
		t.Fatal("secret in error")
	}
}

// rewriter routes WeChat's two API hosts to local simulators.
type rewriter struct {
	to   map[string]string
	mu   sync.Mutex
	seen []string
}

func (rw *rewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	rw.mu.Lock()
	rw.seen = append(rw.seen, r.URL.Host)
	rw.mu.Unlock()
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = "http", rw.to[r.URL.Host]
	r2.Host = r2.URL.Host
	return http.DefaultTransport.RoundTrip(r2)
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestClientDefaultBasesFailOverToBackupSimulator(t *testing.T) {
	clock := wechattest.NewClock(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
	primary, backup := newSim(t, clock), newSim(t, clock)
	rw := &rewriter{to: map[string]string{
		"api.weixin.qq.com":  hostOf(t, primary.URL),
		"api2.weixin.qq.com": hostOf(t, backup.URL),
	}}
	c := wechat.NewClient(wechat.WithHTTPClient(&http.Client{Transport: rw, Timeout: 5 * time.Second}), wechat.WithClock(clock.Now))
	ctx := context.Background()

	// Primary drops connections: normal-mode calls are answered by the backup.
	primary.SetOutage(true)
	tok, err := c.StableToken(ctx, simApp, simSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	if !backup.Valid(simApp, tok.AccessToken, clock.Now()) || backup.Counters(simApp).StableTokenNormal != 1 {
		t.Fatal("token must come from the backup")
	}
	// A force call may have taken effect on the primary before the drop:
	// the client does not repeat it on the backup.
	primary.SetOutage(false)
	primary.InjectFaults(wechattest.EndpointStableToken, wechattest.DropFault())
	if _, err := c.StableToken(ctx, simApp, simSecret, true); wechat.ErrorClass(err) != wechat.ClassTransient {
		t.Fatalf("force with primary dropping: %v", err)
	}
	if n := backup.Counters(simApp).StableTokenForce; n != 0 {
		t.Fatalf("backup saw %d force calls", n)
	}
	// An errcode from the primary is WeChat's answer: no failover.
	primary.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1))
	if _, err := c.StableToken(ctx, simApp, simSecret, false); wechat.ErrorCode(err) != -1 {
		t.Fatalf("errcode: %v", err)
	}
	if n := backup.Counters(simApp).StableTokenNormal; n != 1 {
		t.Fatalf("backup saw %d normal calls, want still 1", n)
	}
	// Primary healthy again: it answers.
	if _, err := c.StableToken(ctx, simApp, simSecret, false); err != nil {
		t.Fatal(err)
	}
	want := "api.weixin.qq.com api2.weixin.qq.com api.weixin.qq.com api.weixin.qq.com api.weixin.qq.com"
	rw.mu.Lock()
	got := strings.Join(rw.seen, " ")
	rw.mu.Unlock()
	if got != want {
		t.Fatalf("hosts:\n got %s\nwant %s", got, want)
	}
}

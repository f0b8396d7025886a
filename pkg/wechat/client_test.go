package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "s3cr3t-0123456789abcdef0123456789"
	testToken  = "TOKEN-abcdefghijklmnopqrstuvwxyz-0123456789"
)

var fixedNow = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return fixedNow }

// newServer starts an httptest server running h and a client bound to it.
func newServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, NewClient(WithBaseURL(srv.URL), WithClock(fixedClock))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func TestStableTokenSendsJSONBodyAndUsesReturnedExpiresIn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		force     bool
		expiresIn int
	}{
		{"normal full lifetime", false, 7200},
		{"normal near rotation", false, 301},
		{"force", true, 7200},
		{"unusual lifetime", false, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/stable_token" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				if r.URL.RawQuery != "" {
					t.Errorf("stable_token must not carry a query, got %q", r.URL.RawQuery)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				var body map[string]any
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Fatalf("decode body: %v", err)
				}
				want := map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": tc.force}
				for k, v := range want {
					if body[k] != v {
						t.Errorf("body[%s] = %v, want %v", k, body[k], v)
					}
				}
				writeJSON(w, map[string]any{"access_token": testToken, "expires_in": tc.expiresIn})
			})
			tok, err := c.StableToken(context.Background(), testAppID, testSecret, tc.force)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != testToken {
				t.Errorf("token = %q", tok.AccessToken)
			}
			if tok.ExpiresIn != time.Duration(tc.expiresIn)*time.Second {
				t.Errorf("ExpiresIn = %v, want %ds", tok.ExpiresIn, tc.expiresIn)
			}
			if !tok.ReceivedAt.Equal(fixedNow) {
				t.Errorf("ReceivedAt = %v, want the injected clock %v", tok.ReceivedAt, fixedNow)
			}
			if want := fixedNow.Add(time.Duration(tc.expiresIn) * time.Second); !tok.ExpiresAt().Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", tok.ExpiresAt(), want)
			}
		})
	}
}

func TestStableTokenRejectsIncompleteResponses(t *testing.T) {
	for _, tc := range []struct{ name, body, wantSub string }{
		{"no token", `{"expires_in":7200}`, "no access_token"},
		{"zero expires_in", `{"access_token":"x","expires_in":0}`, "invalid expires_in"},
		{"negative expires_in", `{"access_token":"x","expires_in":-5}`, "invalid expires_in"},
		{"not json", `<html>gateway</html>`, "decode response"},
		{"truncated json", `{"access_token":"x",`, "decode response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
			_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
			if err == nil || !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantSub)
			}
		})
	}
}

// An expires_in outside 1..86400 from any upstream (a broken or hostile
// proxy) is a protocol error: no Token or Ticket comes back to be stored,
// and a huge value can no longer overflow time.Duration into the past.
func TestExpiresInOutsideOneDayIsProtocolError(t *testing.T) {
	for _, tc := range []struct {
		name, expiresIn string
		ok              bool
	}{
		{"one second", "1", true},
		{"one day", "86400", true},
		{"zero", "0", false},
		{"negative", "-5", false},
		{"one day and a second", "86401", false},
		{"overflows a Duration", "9223372036854775807", false},
		{"multiplies into the past", "9223372036854776", false},
		{"beyond int64", "1e30", false},
	} {
		for _, api := range []string{"stable_token", "getticket"} {
			t.Run(tc.name+"/"+api, func(t *testing.T) {
				_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					io.WriteString(w, `{"errcode":0,"errmsg":"ok","access_token":"T","ticket":"K","expires_in":`+tc.expiresIn+`}`)
				})
				var got time.Duration
				var err error
				if api == "stable_token" {
					var tok Token
					tok, err = c.StableToken(context.Background(), testAppID, testSecret, false)
					got = tok.ExpiresIn
				} else {
					var tk Ticket
					tk, err = c.GetTicket(context.Background(), testToken, "jsapi")
					got = tk.ExpiresIn
				}
				if tc.ok {
					secs, _ := strconv.Atoi(tc.expiresIn)
					if err != nil || got != time.Duration(secs)*time.Second {
						t.Fatalf("ExpiresIn = %v, err = %v; want %ss accepted", got, err, tc.expiresIn)
					}
					return
				}
				if err == nil {
					t.Fatalf("expires_in %s accepted as %v, want an error", tc.expiresIn, got)
				}
				if c := ErrorClass(err).String(); c != "protocol" {
					t.Errorf("class %q, want protocol", c)
				}
				if !strings.Contains(err.Error(), api) || !strings.Contains(err.Error(), "expires_in") {
					t.Errorf("err %q should name the call and the field", err)
				}
			})
		}
	}
}

// Every malformed answer is a protocol error, which moves to no other base.
func TestMalformedAnswersAreProtocolErrors(t *testing.T) {
	for _, body := range []string{`{"expires_in":7200}`, `<html>gateway</html>`, `{"access_token":"x",`} {
		_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
		_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.API != "stable_token" || ErrorClass(err) != ClassProtocol {
			t.Errorf("body %s: err = %v (%T), want a stable_token *ProtocolError", body, err, err)
		}
	}
}

func TestInputValidationNamesTheField(t *testing.T) {
	c := NewClient(WithBaseURL("http://127.0.0.1:1"))
	ctx := context.Background()
	cases := []struct {
		name, want string
		call       func() error
	}{
		{"appid", "appid is empty", func() error { _, err := c.StableToken(ctx, "", testSecret, false); return err }},
		{"secret", "secret for appid " + testAppID + " is empty", func() error { _, err := c.StableToken(ctx, testAppID, "", false); return err }},
		{"ticket token", "access_token is empty", func() error { _, err := c.GetTicket(ctx, "", "jsapi"); return err }},
		{"ticket type", "type is empty", func() error { _, err := c.GetTicket(ctx, testToken, ""); return err }},
		{"call token", "access_token is empty", func() error { return c.Call(ctx, "GET", "/cgi-bin/x", "", nil, nil, nil) }},
		{"call path", "must start with /", func() error { return c.Call(ctx, "GET", "cgi-bin/x?a=b", testToken, nil, nil, nil) }},
		{"openid", "openid is empty", func() error { _, err := c.UserInfo(ctx, testToken, "", ""); return err }},
		{"touser", "touser is empty", func() error { return c.SendCustomMessage(ctx, testToken, TextMessage("", "hi")) }},
		{"content", "text.content is empty", func() error { return c.SendCustomMessage(ctx, testToken, TextMessage("o1", "")) }},
		{"msgtype", `msgtype "video" is not supported`, func() error {
			return c.SendCustomMessage(ctx, testToken, CustomMessage{ToUser: "o1", MsgType: "video"})
		}},
		{"news", "news.articles[0]: title and url are required", func() error {
			return c.SendCustomMessage(ctx, testToken, NewsMessage("o1", Article{Title: "t"}))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			var ne *NetworkError
			if errors.As(err, &ne) {
				t.Fatalf("validation must fail before any request, got %v", err)
			}
		})
	}
}

func TestErrcodeBecomesErrorMatchedOnCode(t *testing.T) {
	for _, tc := range []struct {
		code  int
		msg   string
		class Class
	}{
		{-1, "system error rid: 6561e0f1-1b2c3d4e-5f6a7b8c", ClassTransient},
		// stable_token sends no access_token: its 40001 means a wrong AppSecret.
		{40001, "invalid credential, access_token is invalid or not latest rid: 6561e0f1-0a1b2c3d-4e5f6a7b", ClassConfiguration},
		{42001, "access_token expired rid: 6561e0f1-11111111-22222222", ClassTokenRejected},
		{40013, "invalid appid rid: 6561e0f1-33333333-44444444", ClassConfiguration},
		{40125, "invalid appsecret rid: 6561e0f1-55555555-66666666", ClassConfiguration},
		{40164, "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist rid: 6561e0f1-7", ClassConfiguration},
		{45009, "reach max api daily quota limit rid: 6561e0f1-8", ClassDailyQuota},
		{45011, "api minute-quota reach limit must slower retry next minute rid: 6561e0f1-9", ClassMinuteQuota},
		{41001, "access_token missing rid: 6561e0f1-a", ClassCallerBug},
		{99999, "something new rid: 6561e0f1-b", ClassUnknown},
	} {
		t.Run(tc.msg[:10], func(t *testing.T) {
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"errcode": tc.code, "errmsg": tc.msg})
			})
			_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
			var we *Error
			if !errors.As(err, &we) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if we.Code != tc.code || we.Msg != tc.msg || we.HTTPStatus != 0 {
				t.Errorf("got %+v", *we)
			}
			if ErrorCode(err) != tc.code || ErrorClass(err) != tc.class {
				t.Errorf("ErrorCode=%d ErrorClass=%v, want %d %v", ErrorCode(err), ErrorClass(err), tc.code, tc.class)
			}
		})
	}
}

// The meaning of 40001 depends on the call: from stable_token (made with the
// AppSecret) it is a wrong secret, configuration, never a stale token to
// compare-and-refresh; from a call made with an access_token it is that
// token being rejected. 40125 is configuration everywhere.
func TestErrcodeClassDependsOnTheAPI(t *testing.T) {
	answer := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": code, "errmsg": "rid: 6561e0f1-c"})
		}
	}
	ctx := context.Background()
	calls := map[string]func(c *Client) error{
		"stable_token": func(c *Client) error { _, err := c.StableToken(ctx, testAppID, testSecret, false); return err },
		"stable_token force": func(c *Client) error {
			_, err := c.StableToken(ctx, testAppID, testSecret, true)
			return err
		},
		"getticket": func(c *Client) error { _, err := c.GetTicket(ctx, testToken, "jsapi"); return err },
		"call": func(c *Client) error {
			return c.Call(ctx, http.MethodGet, "/cgi-bin/menu/get", testToken, nil, nil, nil)
		},
		"user info":  func(c *Client) error { _, err := c.UserInfo(ctx, testToken, "o1", ""); return err },
		"custom msg": func(c *Client) error { return c.SendCustomMessage(ctx, testToken, TextMessage("o1", "hi")) },
	}
	for _, tc := range []struct {
		call     string
		code     int
		class    Class
		rejected bool
	}{
		{"stable_token", 40001, ClassConfiguration, false},
		{"stable_token force", 40001, ClassConfiguration, false},
		{"stable_token", 40125, ClassConfiguration, false},
		{"stable_token", 42001, ClassTokenRejected, true},
		{"getticket", 40001, ClassTokenRejected, true},
		{"getticket", 40125, ClassConfiguration, false},
		{"call", 40001, ClassTokenRejected, true},
		{"user info", 40001, ClassTokenRejected, true},
		{"custom msg", 40001, ClassTokenRejected, true},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.call, tc.code), func(t *testing.T) {
			_, c := newServer(t, answer(tc.code))
			err := calls[tc.call](c)
			if got := ErrorClass(err); got != tc.class {
				t.Errorf("class %v, want %v (err %v)", got, tc.class, err)
			}
			if got := IsTokenRejected(err); got != tc.rejected {
				t.Errorf("IsTokenRejected = %v, want %v", got, tc.rejected)
			}
			if ErrorCode(err) != tc.code {
				t.Errorf("ErrorCode = %d", ErrorCode(err))
			}
		})
	}
}

func TestErrcodeZeroWithErrmsgOKIsSuccess(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cgi-bin/ticket/getticket" || r.Method != http.MethodGet {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if got := r.URL.Query(); got.Get("access_token") != testToken || got.Get("type") != "wx_card" {
			t.Errorf("query = %v", got)
		}
		io.WriteString(w, `{"errcode":0,"errmsg":"ok","ticket":"TICKET-1","expires_in":7000}`)
	})
	tk, err := c.GetTicket(context.Background(), testToken, "wx_card")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Ticket != "TICKET-1" || tk.ExpiresIn != 7000*time.Second || !tk.ReceivedAt.Equal(fixedNow) {
		t.Fatalf("ticket = %+v", tk)
	}
}

func TestHTTP5xxIsErrorWithStatus(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, "<html>bad gateway</html>")
		})
		_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
		var we *Error
		if !errors.As(err, &we) || we.HTTPStatus != status || we.Code != 0 {
			t.Fatalf("status %d: err = %#v", status, err)
		}
		if ErrorClass(err) != ClassTransient {
			t.Errorf("status %d: class %v, want transient", status, ErrorClass(err))
		}
	}
}

func TestOversizeResponseIsError(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"`)
		chunk := strings.Repeat("A", 64<<10)
		for i := 0; i < 17; i++ { // 17 × 64 KiB > 1 MiB
			io.WriteString(w, chunk)
		}
		io.WriteString(w, `","expires_in":7200}`)
	})
	_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
	if err == nil || !strings.Contains(err.Error(), "response larger than") {
		t.Fatalf("err = %v, want an oversize error", err)
	}
	// A response of exactly the limit is still read.
	_, c = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		pre, post := `{"access_token":"`, `","expires_in":7200}`
		io.WriteString(w, pre+strings.Repeat("B", MaxResponseBytes-len(pre)-len(post))+post)
	})
	tok, err := c.StableToken(context.Background(), testAppID, testSecret, false)
	if err != nil || len(tok.AccessToken) != MaxResponseBytes-len(`{"access_token":"`)-len(`","expires_in":7200}`) {
		t.Fatalf("limit-sized body: err = %v, len = %d", err, len(tok.AccessToken))
	}
}

func TestTimeoutIsTransientNetworkError(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := NewClient(WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err := c.GetTicket(context.Background(), testToken, "jsapi")
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v (%T), want *NetworkError", err, err)
	}
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("the timeout must stay visible through errors.As(net.Error): %v", err)
	}
	if ErrorClass(err) != ClassTransient {
		t.Errorf("class = %v", ErrorClass(err))
	}
	if strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), srv.URL+"/") {
		t.Errorf("error leaks the request URL: %v", err)
	}

	// A cancelled context surfaces as context.Canceled.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.GetTicket(ctx, testToken, "jsapi")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled in chain", err)
	}
}

// hostRewriter sends api.weixin.qq.com and api2.weixin.qq.com to local
// servers and records which logical host each request targeted.
type hostRewriter struct {
	to   map[string]string // logical host -> 127.0.0.1:port
	mu   sync.Mutex
	seen []string
}

func (h *hostRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.seen = append(h.seen, r.URL.Host)
	h.mu.Unlock()
	target, ok := h.to[r.URL.Host]
	if !ok {
		return nil, errors.New("unexpected host " + r.URL.Host)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host = "http", target
	r2.Host = target
	return http.DefaultTransport.RoundTrip(r2)
}

func (h *hostRewriter) hosts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// dropper reads the request, then hijacks the connection and closes it
// without answering: WeChat's front end dying mid-request.
func dropper(hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func newFailoverPair(t *testing.T, primary, backup http.Handler) (*Client, *hostRewriter) {
	t.Helper()
	p := httptest.NewServer(primary)
	b := httptest.NewServer(backup)
	t.Cleanup(p.Close)
	t.Cleanup(b.Close)
	host := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Host }
	rw := &hostRewriter{to: map[string]string{"api.weixin.qq.com": host(p), "api2.weixin.qq.com": host(b)}}
	return NewClient(WithHTTPClient(&http.Client{Transport: rw, Timeout: 5 * time.Second})), rw
}

func TestFailoverToBackupOnNetworkError(t *testing.T) {
	var dropped atomic.Int32
	backup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cgi-bin/stable_token":
			writeJSON(w, map[string]any{"access_token": "from-backup", "expires_in": 7200})
		case "/cgi-bin/user/info":
			writeJSON(w, map[string]any{"subscribe": 1, "openid": r.URL.Query().Get("openid")})
		}
	})
	c, rw := newFailoverPair(t, dropper(&dropped), backup)
	tok, err := c.StableToken(context.Background(), testAppID, testSecret, false)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "from-backup" {
		t.Fatalf("token %q", tok.AccessToken)
	}
	u, err := c.UserInfo(context.Background(), testToken, "o-user", "zh_CN")
	if err != nil || u.OpenID != "o-user" || u.Subscribe != 1 {
		t.Fatalf("user info via backup: %+v, %v", u, err)
	}
	got := rw.hosts()
	want := []string{"api.weixin.qq.com", "api2.weixin.qq.com", "api.weixin.qq.com", "api2.weixin.qq.com"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("hosts = %v, want %v", got, want)
	}
	if dropped.Load() != 2 {
		t.Fatalf("primary saw %d requests, want 2", dropped.Load())
	}
}

func TestNoFailoverOnErrcodeOr5xx(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary http.HandlerFunc
	}{
		{"errcode -1", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": -1, "errmsg": "system error rid: x"})
		}},
		{"errcode 40125", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret rid: x"})
		}},
		{"http 503", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("backup must not be called after WeChat answered")
			})
			c, rw := newFailoverPair(t, tc.primary, backup)
			if _, err := c.StableToken(context.Background(), testAppID, testSecret, false); err == nil {
				t.Fatal("want an error")
			}
			if got := rw.hosts(); len(got) != 1 || got[0] != "api.weixin.qq.com" {
				t.Fatalf("hosts = %v", got)
			}
		})
	}
}

func TestNoFailoverForNonIdempotentCallOnceSent(t *testing.T) {
	var dropped atomic.Int32
	backup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("backup must not receive %s: the primary may have acted on it", r.URL.Path)
	})
	c, rw := newFailoverPair(t, dropper(&dropped), backup)
	err := c.SendCustomMessage(context.Background(), testToken, TextMessage("o-user", "hello"))
	var ne *NetworkError
	if !errors.As(err, &ne) {
		t.Fatalf("custom send: err = %v, want *NetworkError", err)
	}
	if _, err := c.StableToken(context.Background(), testAppID, testSecret, true); !errors.As(err, &ne) {
		t.Fatalf("force stable_token: err = %v, want *NetworkError", err)
	}
	if got := rw.hosts(); len(got) != 2 || got[0] != "api.weixin.qq.com" || got[1] != "api.weixin.qq.com" {
		t.Fatalf("hosts = %v", got)
	}
}

func TestFailoverForNonIdempotentCallNeverSent(t *testing.T) {
	// The primary refuses connections: the request never left, so even a
	// customer-service message may go to the backup.
	var got CustomMessage
	backup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok"})
	})
	b := httptest.NewServer(backup)
	t.Cleanup(b.Close)
	bu, _ := url.Parse(b.URL)
	rw := &hostRewriter{to: map[string]string{"api.weixin.qq.com": closedAddr(t), "api2.weixin.qq.com": bu.Host}}
	c := NewClient(WithHTTPClient(&http.Client{Transport: rw}))
	if err := c.SendCustomMessage(context.Background(), testToken, TextMessage("o-user", "hi")); err != nil {
		t.Fatal(err)
	}
	if got.ToUser != "o-user" || got.Text == nil || got.Text.Content != "hi" {
		t.Fatalf("backup got %+v", got)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWithBaseURLIsTheOnlyBase(t *testing.T) {
	rw := &hostRewriter{to: map[string]string{}}
	base := "http://" + closedAddr(t)
	c := NewClient(WithBaseURL(base), WithHTTPClient(&http.Client{Transport: countingTransport{rw, http.DefaultTransport}}))
	_, err := c.StableToken(context.Background(), testAppID, testSecret, false)
	var ne *NetworkError
	if !errors.As(err, &ne) || ne.Op != "stable_token" {
		t.Fatalf("err = %v (%T), want *NetworkError for stable_token", err, err)
	}
	if ErrorClass(err) != ClassTransient {
		t.Errorf("class = %v", ErrorClass(err))
	}
	if got := rw.hosts(); len(got) != 1 || "http://"+got[0] != base {
		t.Fatalf("hosts = %v, want only %s", got, base)
	}
	// "" keeps the defaults; a trailing slash is tolerated.
	if c := NewClient(WithBaseURL("")); len(c.bases) != 2 || c.bases[0] != DefaultBaseURL || c.bases[1] != BackupBaseURL {
		t.Errorf("bases = %v", c.bases)
	}
	if c := NewClient(WithBaseURL("http://x:1/")); len(c.bases) != 1 || c.bases[0] != "http://x:1" {
		t.Errorf("bases = %v", c.bases)
	}
}

// countingTransport records hosts in rw and forwards unchanged.
type countingTransport struct {
	rw   *hostRewriter
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.rw.mu.Lock()
	c.rw.seen = append(c.rw.seen, r.URL.Host)
	c.rw.mu.Unlock()
	return c.next.RoundTrip(r)
}

func TestCallAddsAccessTokenAndSendsBody(t *testing.T) {
	var gotQuery url.Values
	var gotBody map[string]any
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.Query()
		if r.Method == http.MethodPost {
			json.NewDecoder(r.Body).Decode(&gotBody)
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "menu": map[string]any{"button": []any{}}})
	})
	query := url.Values{"x": {"1"}}
	var out struct {
		Menu map[string]any `json:"menu"`
	}
	if err := c.Call(context.Background(), http.MethodPost, "/cgi-bin/menu/create", testToken, query, map[string]string{"name": "a&b<c>"}, &out); err != nil {
		t.Fatal(err)
	}
	if gotQuery.Get("access_token") != testToken || gotQuery.Get("x") != "1" {
		t.Errorf("query = %v", gotQuery)
	}
	if query.Get("access_token") != "" {
		t.Error("Call must not modify the caller's query")
	}
	if gotBody["name"] != "a&b<c>" || out.Menu == nil {
		t.Errorf("body = %v, out = %v", gotBody, out)
	}
	// Raw JSON bodies are passed through.
	if err := c.Call(context.Background(), http.MethodPost, "/cgi-bin/x", testToken, nil, []byte(`{"raw":true}`), nil); err != nil {
		t.Fatal(err)
	}
	if gotBody["raw"] != true {
		t.Errorf("raw body = %v", gotBody)
	}
}

func TestSendCustomMessageWireFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  CustomMessage
		want string
	}{
		{"text", TextMessage("o1", "你好 & <b>"), `{"touser":"o1","msgtype":"text","text":{"content":"你好 & <b>"}}`},
		{"image", ImageMessage("o1", "MEDIA"), `{"touser":"o1","msgtype":"image","image":{"media_id":"MEDIA"}}`},
		{"news", NewsMessage("o1", Article{Title: "T", Description: "D", URL: "https://e.com/a?b=1&c=2", PicURL: "https://e.com/p.png"}),
			`{"touser":"o1","msgtype":"news","news":{"articles":[{"title":"T","description":"D","url":"https://e.com/a?b=1&c=2","picurl":"https://e.com/p.png"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw []byte
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/cgi-bin/message/custom/send" || r.Method != http.MethodPost || r.URL.Query().Get("access_token") != testToken {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				raw, _ = io.ReadAll(r.Body)
				io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
			})
			if err := c.SendCustomMessage(context.Background(), testToken, tc.msg); err != nil {
				t.Fatal(err)
			}
			if string(raw) != tc.want {
				t.Errorf("body\n got %s\nwant %s", raw, tc.want)
			}
		})
	}
}

func TestUserInfoDecodes(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("openid") != "o6_bmjrPTlm6_2sgVt7hMZOPfL2M" || q.Get("lang") != "zh_CN" {
			t.Errorf("query = %v", q)
		}
		io.WriteString(w, `{"subscribe":1,"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","language":"zh_CN","subscribe_time":1382694957,"unionid":"o6_bmasdasdsad6_2sgVt7hMZOPfL","remark":"","groupid":0,"tagid_list":[128,2],"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":98765,"qr_scene_str":""}`)
	})
	u, err := c.UserInfo(context.Background(), testToken, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "zh_CN")
	if err != nil {
		t.Fatal(err)
	}
	if u.Subscribe != 1 || u.SubscribeTime != 1382694957 || len(u.TagIDList) != 2 || u.QRScene != 98765 || u.SubscribeScene != "ADD_SCENE_QR_CODE" {
		t.Fatalf("user = %+v", u)
	}
}

// TestErrorsNeverContainSecretOrToken drives every failure path and checks
// that neither the AppSecret, the access_token nor the request URL leaks.
func TestErrorsNeverContainSecretOrToken(t *testing.T) {
	handlers := map[string]http.HandlerFunc{
		"errcode": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential rid: 1"}`)
		},
		"5xx":      func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) },
		"4xx":      func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) },
		"bad json": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"access_token":`) },
		"drop": func(w http.ResponseWriter, r *http.Request) {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
		},
		"short body": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"errcode":0`)
		},
		"redirect loop": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		},
	}
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		s := err.Error()
		for _, bad := range []string{testSecret, testToken, "access_token=", "secret="} {
			if strings.Contains(s, bad) {
				t.Errorf("error %q contains %q", s, bad)
			}
		}
	}
	ctx := context.Background()
	run := func(t *testing.T, c *Client) {
		_, err := c.StableToken(ctx, testAppID, testSecret, false)
		check(t, err)
		_, err = c.GetTicket(ctx, testToken, "jsapi")
		check(t, err)
		_, err = c.UserInfo(ctx, testToken, "o1", "")
		check(t, err)
		check(t, c.SendCustomMessage(ctx, testToken, TextMessage("o1", "hi")))
		check(t, c.Call(ctx, "GET", "/cgi-bin/menu/get", testToken, url.Values{"secret": {testSecret}}, nil, nil))
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			run(t, NewClient(WithBaseURL(srv.URL)))
		})
	}
	t.Run("connection refused", func(t *testing.T) { run(t, NewClient(WithBaseURL("http://"+closedAddr(t)))) })
	t.Run("unparseable base", func(t *testing.T) { run(t, NewClient(WithBaseURL("http://bad host\x7f:1"))) })
	t.Run("unsupported scheme", func(t *testing.T) { run(t, NewClient(WithBaseURL("ftp://127.0.0.1:1"))) })
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		run(t, NewClient(WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Timeout: 20 * time.Millisecond})))
	})
	t.Run("transport echoing the URL", func(t *testing.T) {
		// A transport whose own error repeats the URL and the secret, as a
		// careless proxy might; the client must scrub both.
		echo := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			var b []byte
			if r.Body != nil {
				b, _ = io.ReadAll(r.Body)
			}
			return nil, errors.New("proxy refused " + r.URL.String() + " body " + string(b))
		})
		c := NewClient(WithBaseURL("http://127.0.0.1:9"), WithHTTPClient(&http.Client{Transport: echo}))
		_, err := c.StableToken(ctx, testAppID, testSecret, false)
		check(t, err)
		_, err = c.GetTicket(ctx, testToken, "jsapi")
		check(t, err)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	})
	_, err := c.GetTicket(context.Background(), testToken, "jsapi")
	var we *Error
	if !errors.As(err, &we) || we.HTTPStatus != http.StatusFound {
		t.Fatalf("err = %v, want *Error with HTTPStatus 302", err)
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the redirect was followed, carrying the access_token")
	}
}

package wechat

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	testCorpID = "ww0123456789abcdef"
	// A secret with characters that change under query escaping, so a
	// scrubber matching only the raw or only the escaped form is caught.
	testCorpSecret = "corp s3cr3t+/=&0123456789abcdef"
)

// newWeComServer starts an httptest server running h and a WeCom client
// bound to it.
func newWeComServer(t *testing.T, h http.HandlerFunc) *WeComClient {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return NewWeComClient(WithBaseURL(srv.URL), WithClock(fixedClock))
}

func TestWeComGetTokenSendsCorpIDAndSecretAndUsesReturnedExpiresIn(t *testing.T) {
	c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/cgi-bin/gettoken" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		q := r.URL.Query()
		if q.Get("corpid") != testCorpID || q.Get("corpsecret") != testCorpSecret || len(q) != 2 {
			t.Errorf("query = %v", q)
		}
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": testToken, "expires_in": 6543})
	})
	tok, err := c.GetToken(context.Background(), testCorpID, testCorpSecret)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != testToken || tok.ExpiresIn != 6543*time.Second || !tok.ReceivedAt.Equal(fixedNow) {
		t.Fatalf("token = %+v", tok)
	}
}

func TestWeComTicketsCallTheirPaths(t *testing.T) {
	for _, tc := range []struct {
		name     string
		call     func(*WeComClient) (Ticket, error)
		path     string
		wantType string
	}{
		{"jsapi", func(c *WeComClient) (Ticket, error) { return c.JSAPITicket(context.Background(), testToken) },
			"/cgi-bin/get_jsapi_ticket", ""},
		{"agent_config", func(c *WeComClient) (Ticket, error) { return c.AgentConfigTicket(context.Background(), testToken) },
			"/cgi-bin/ticket/get", "agent_config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != tc.path {
					t.Errorf("got %s %s, want GET %s", r.Method, r.URL.Path, tc.path)
				}
				q := r.URL.Query()
				if q.Get("access_token") != testToken || q.Get("type") != tc.wantType {
					t.Errorf("query = %v", q)
				}
				writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "ticket": "TICKET-" + tc.name, "expires_in": 7200})
			})
			tk, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Ticket != "TICKET-"+tc.name || tk.ExpiresIn != 7200*time.Second || !tk.ReceivedAt.Equal(fixedNow) {
				t.Fatalf("ticket = %+v", tk)
			}
		})
	}
}

func TestNewWeComClientCallsQyapiByDefault(t *testing.T) {
	var host string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		host = r.URL.Scheme + "://" + r.URL.Host
		return nil, errors.New("not sent")
	})
	c := NewWeComClient(WithHTTPClient(&http.Client{Transport: rt}))
	if _, err := c.GetToken(context.Background(), testCorpID, testCorpSecret); err == nil {
		t.Fatal("want the transport's error")
	}
	if host != DefaultWeComBaseURL {
		t.Fatalf("called %q, want %q", host, DefaultWeComBaseURL)
	}
}

func TestWeComExpiresInOutsideOneDayIsError(t *testing.T) {
	for _, tc := range []struct {
		expiresIn int64
		ok        bool
	}{{-1, false}, {0, false}, {1, true}, {7200, true}, {86400, true}, {86401, false}, {1 << 40, false}} {
		c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"access_token": testToken, "ticket": "T", "expires_in": tc.expiresIn})
		})
		ctx := context.Background()
		_, errTok := c.GetToken(ctx, testCorpID, testCorpSecret)
		_, errJS := c.JSAPITicket(ctx, testToken)
		_, errAgent := c.AgentConfigTicket(ctx, testToken)
		for name, err := range map[string]error{"gettoken": errTok, "jsapi": errJS, "agent_config": errAgent} {
			if tc.ok != (err == nil) {
				t.Errorf("%s with expires_in %d: err = %v, want ok=%v", name, tc.expiresIn, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "expires_in") {
				t.Errorf("%s: error %q does not name expires_in", name, err)
			}
			// The same check as WeChat's answers: a protocol failure (alarm,
			// store nothing), not an unknown one.
			if err != nil && ErrorClass(err) != ClassProtocol {
				t.Errorf("%s with expires_in %d: class %s, want protocol", name, tc.expiresIn, ErrorClass(err))
			}
		}
	}
}

func TestWeComRejectsIncompleteResponsesAndInput(t *testing.T) {
	c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "expires_in": 7200})
	})
	ctx := context.Background()
	if _, err := c.GetToken(ctx, testCorpID, testCorpSecret); err == nil || !strings.Contains(err.Error(), "access_token") {
		t.Errorf("no access_token: err = %v", err)
	}
	if _, err := c.JSAPITicket(ctx, testToken); err == nil || !strings.Contains(err.Error(), "ticket") {
		t.Errorf("no ticket: err = %v", err)
	}
	if _, err := c.GetToken(ctx, "", testCorpSecret); err == nil || !strings.Contains(err.Error(), "corpid") {
		t.Errorf("empty corpid: err = %v", err)
	}
	if _, err := c.GetToken(ctx, testCorpID, ""); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("empty secret: err = %v", err)
	}
	if _, err := c.AgentConfigTicket(ctx, ""); err == nil || !strings.Contains(err.Error(), "access_token") {
		t.Errorf("empty token: err = %v", err)
	}
}

func TestWeComErrcodesAreClassifiedByWeComTable(t *testing.T) {
	for _, tc := range []struct {
		code int
		want Class
	}{
		{40013, ClassConfiguration}, // invalid corpid
		{40001, ClassConfiguration}, // invalid secret: on WeChat this is a rejected token
		{40091, ClassConfiguration}, // secret not valid
		{60020, ClassConfiguration}, // IP not allowed
		{45009, ClassDailyQuota},
		{-1, ClassTransient},
		{40014, ClassTokenRejected},
		{42001, ClassTokenRejected},
		{41001, ClassCallerBug},
		{40125, ClassUnknown}, // a WeChat-only code means nothing here
		{40164, ClassUnknown},
	} {
		c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": tc.code, "errmsg": "simulated, hint: [x]"})
		})
		_, err := c.GetToken(context.Background(), testCorpID, testCorpSecret)
		var we *Error
		if !errors.As(err, &we) || we.Code != tc.code || we.Family != FamilyWeCom {
			t.Fatalf("errcode %d: err = %#v, want *Error with that code and FamilyWeCom", tc.code, err)
		}
		if got := ErrorClass(err); got != tc.want {
			t.Errorf("errcode %d: class %v, want %v", tc.code, got, tc.want)
		}
		if IsTokenRejected(err) != (tc.want == ClassTokenRejected) {
			t.Errorf("errcode %d: IsTokenRejected = %v", tc.code, IsTokenRejected(err))
		}
	}
	// An HTTP 5xx from WeCom is transient like WeChat's.
	c := newWeComServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	if _, err := c.JSAPITicket(context.Background(), testToken); ErrorClass(err) != ClassTransient {
		t.Errorf("502: class %v, want transient", ErrorClass(err))
	}
}

// The WeCom table must not leak into WeChat's: an *Error of the zero
// family classes exactly as ClassOf, code by code.
func TestWeChatErrorsKeepWeChatClasses(t *testing.T) {
	for _, code := range []int{-1, 40001, 40002, 40013, 40014, 40091, 40125, 40164, 40243, 41001, 41002, 41004,
		42001, 45009, 45011, 60020, 61004, 89501} {
		if got, want := (&Error{Code: code}).Class(), ClassOf(code); got != want {
			t.Errorf("WeChat errcode %d: class %v, want %v", code, got, want)
		}
	}
	if (&Error{Code: 40001}).Class() != ClassTokenRejected || (&Error{Code: 40001, Family: FamilyWeCom}).Class() != ClassConfiguration {
		t.Error("40001 must be a rejected token on WeChat and a configuration error on WeCom")
	}
}

// net/http's *url.Error carries the full request URL, which for gettoken
// holds corpsecret; every failure path must come back without it.
func TestWeComErrorsNeverContainSecretOrToken(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		s := err.Error()
		for _, bad := range []string{testCorpSecret, "corp+s3cr3t", "corp%20s3cr3t", "s3cr3t", testToken, "corpsecret=", "access_token="} {
			if strings.Contains(s, bad) {
				t.Errorf("error %q contains %q", s, bad)
			}
		}
	}
	ctx := context.Background()
	run := func(t *testing.T, c *WeComClient) {
		_, err := c.GetToken(ctx, testCorpID, testCorpSecret)
		check(t, err)
		_, err = c.JSAPITicket(ctx, testToken)
		check(t, err)
		_, err = c.AgentConfigTicket(ctx, testToken)
		check(t, err)
	}
	handlers := map[string]http.HandlerFunc{
		"errcode": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
		},
		"5xx":      func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) },
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
		"redirect": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.String(), http.StatusFound) },
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			run(t, NewWeComClient(WithBaseURL(srv.URL)))
		})
	}
	t.Run("connection refused", func(t *testing.T) { run(t, NewWeComClient(WithBaseURL("http://"+closedAddr(t)))) })
	t.Run("unparseable base", func(t *testing.T) { run(t, NewWeComClient(WithBaseURL("http://bad host\x7f:1"))) })
	t.Run("unsupported scheme", func(t *testing.T) { run(t, NewWeComClient(WithBaseURL("ftp://127.0.0.1:1"))) })
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		run(t, NewWeComClient(WithBaseURL(srv.URL), WithHTTPClient(&http.Client{Timeout: 20 * time.Millisecond})))
	})
	t.Run("transport echoing the URL", func(t *testing.T) {
		echo := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			// The raw secret too, as a transport might log a decoded query.
			return nil, errors.New("proxy refused " + r.URL.String() + " secret " + r.URL.Query().Get("corpsecret"))
		})
		run(t, NewWeComClient(WithBaseURL("http://127.0.0.1:9"), WithHTTPClient(&http.Client{Transport: echo})))
	})
}

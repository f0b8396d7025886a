package callback_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
)

// Handler-level tests of a third-party platform's authorizers
// (docs/callback.md, authorizers' messages): an appid without an entry is
// looked up, served with its platform's token and key, and the answer is
// cached.

const (
	platformID  = "wxc0mp0nent0000001"
	authorizer  = "wxauth0rizer000001"
	platformTok = "platform-token"
)

// lookups is an AuthorizerLookup over a map, counting calls.
type lookups struct {
	mu    sync.Mutex
	of    map[string]string // authorizer → component appid
	err   error
	calls map[string]int
}

func (l *lookups) lookup(_ context.Context, appid string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[appid]++
	if l.err != nil {
		return "", l.err
	}
	if c, ok := l.of[appid]; ok {
		return c, nil
	}
	return "", callback.ErrUnknownAuthorizer
}

func (l *lookups) count(appid string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[appid]
}

func platformHandler(t *testing.T, l *lookups, at *time.Time) *callback.Handler {
	t.Helper()
	cfg := &callback.Config{Apps: []callback.AppConfig{
		{AppID: appSafe, Token: token, EncodingAESKey: keyNow},
		{Type: callback.TypeComponent, AppID: platformID, Token: platformTok, EncodingAESKey: keyNow, PreviousEncodingAESKey: keyPrev},
	}}
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		return callback.TextReply{Content: "to " + m.AppID}, nil
	})
	h, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), Routes: mux, Authorizers: l.lookup,
		Store: callback.NewMemoryStore(), MaxSkew: -1,
		Clock:  func() time.Time { return *at }, // requests are sequential
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func pushAs(t *testing.T, h http.Handler, appid, key string, msgID int64) (*httptest.ResponseRecorder, callbacktest.Request, callback.AppConfig) {
	t.Helper()
	platform := callback.AppConfig{Type: callback.TypeComponent, AppID: platformID, Token: platformTok, EncodingAESKey: key}
	req, err := callbacktest.Seal(callbacktest.Text("gh_authorizer", "oUser", "hi", now.Unix(), msgID), platform, now.Unix(), "42", [16]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat/"+appid+"?"+req.Query.Encode(), strings.NewReader(string(req.Body))))
	return w, req, platform
}

func TestAuthorizerServedWithItsPlatform(t *testing.T) {
	at := now
	l := &lookups{of: map[string]string{authorizer: platformID, "wxelsewhere00000001": "wxc0mp0nent9999999"}, calls: map[string]int{}}
	h := platformHandler(t, l, &at)

	// Current and previous key: the reply is sealed with the key that worked.
	for i, key := range []string{keyNow, keyPrev} {
		w, req, platform := pushAs(t, h, authorizer, key, int64(100+i))
		reply, err := callbacktest.Open(w.Body.Bytes(), platform, req)
		if w.Code != 200 || err != nil || !reply.Encrypted || reply.Message.Get("Content") != "to "+authorizer {
			t.Fatalf("key %d: %d %v %+v", i, w.Code, err, reply)
		}
	}
	if n := l.count(authorizer); n != 1 {
		t.Fatalf("%d lookups for two pushes, want 1 (cached)", n)
	}
	// A platform's entry is no /wechat route; an authorizer of a platform
	// not in the document, or of none, is unknown; so is a path that is
	// not an appid, without a lookup.
	for _, appid := range []string{platformID, "wxelsewhere00000001", "wxnobody0000000001", "wx.."} {
		if w, _, _ := pushAs(t, h, appid, keyNow, 200); w.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", appid, w.Code)
		}
	}
	if l.count("wx..") != 0 {
		t.Error("an implausible appid was looked up")
	}
	// "Not an authorizer" is kept briefly: a new authorisation is served
	// once it expires.
	pushAs(t, h, "wxnobody0000000001", keyNow, 201)
	if n := l.count("wxnobody0000000001"); n != 1 {
		t.Fatalf("%d lookups of an unknown appid, want 1 (cached)", n)
	}
	l.mu.Lock()
	l.of["wxnobody0000000001"] = platformID
	l.mu.Unlock()
	at = at.Add(callback.DefaultUnknownTTL + time.Second)
	if w, _, _ := pushAs(t, h, "wxnobody0000000001", keyNow, 202); w.Code != 200 {
		t.Fatalf("a new authorizer after the negative entry expired: %d", w.Code)
	}
	// The platform found is kept for DefaultAuthorizerTTL, then read again.
	at = at.Add(callback.DefaultAuthorizerTTL + time.Second)
	pushAs(t, h, authorizer, keyNow, 203)
	if n := l.count(authorizer); n != 2 {
		t.Fatalf("%d lookups after the entry expired, want 2", n)
	}
}

// A table that cannot be read answers 503 (WeChat retries), and the
// failure is not cached.
func TestAuthorizerLookupFailure(t *testing.T) {
	at := now
	l := &lookups{of: map[string]string{authorizer: platformID}, err: errors.New("dynamodb: throttled"), calls: map[string]int{}}
	h := platformHandler(t, l, &at)
	if w, _, _ := pushAs(t, h, authorizer, keyNow, 1); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("lookup failure: %d, want 503", w.Code)
	}
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	if w, _, _ := pushAs(t, h, authorizer, keyNow, 1); w.Code != 200 {
		t.Fatalf("after the table recovered: %d, want 200", w.Code)
	}
}

// Without Options.Authorizers (or without a platform in the document) an
// appid that is not in the document is 404 without any lookup.
func TestNoAuthorizerLookupWithoutPlatform(t *testing.T) {
	l := &lookups{of: map[string]string{authorizer: platformID}, calls: map[string]int{}}
	h, _ := newHandler(t, nil, func(o *callback.Options) { o.Authorizers = l.lookup })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/wechat/"+authorizer, strings.NewReader("<xml/>")))
	if w.Code != http.StatusNotFound || l.count(authorizer) != 0 {
		t.Fatalf("%d after %d lookups, want 404 and none", w.Code, l.count(authorizer))
	}
}

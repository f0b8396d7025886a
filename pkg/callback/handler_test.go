package callback_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/callback/dedupetest"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

const (
	appSafe   = "wx0123456789abcdef"
	appCompat = "wx00000000000compat"
	appPlain  = "wx000000000000plain"
	token     = "t0ken"
	keyNow    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	keyPrev   = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
	account   = "gh_0123456789ab"
)

var now = time.Unix(1714112445, 0)

func clock() time.Time { return now }

func testConfig() *callback.Config {
	return &callback.Config{Apps: []callback.AppConfig{
		{AppID: appSafe, Token: token, EncodingAESKey: keyNow, PreviousEncodingAESKey: keyPrev, Mode: callback.ModeSafe,
			Welcome: "welcome!", AutoReplies: []callback.AutoReply{{Match: "hi", Reply: "hello"}, {Prefix: "help", Reply: "how can I help?"}}},
		{AppID: appCompat, Token: token, EncodingAESKey: keyNow, Mode: callback.ModeCompat},
		{AppID: appPlain, Token: token, Mode: callback.ModePlain, AutoReplies: []callback.AutoReply{{Match: "hi", Reply: "hello"}}},
	}}
}

// recorder counts what the handler did besides answering.
type recorder struct {
	handled   atomic.Int32
	store     *countingStore
	published []callback.Push
	mu        sync.Mutex
	failPub   error
}

func (r *recorder) Publish(_ context.Context, p callback.Push) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failPub != nil {
		return r.failPub
	}
	r.published = append(r.published, p)
	return nil
}

type countingStore struct {
	*callback.MemoryStore
	writes atomic.Int32
}

func (s *countingStore) Claim(ctx context.Context, appid, key string, req callback.ClaimRequest) (callback.Claim, error) {
	s.writes.Add(1)
	return s.MemoryStore.Claim(ctx, appid, key, req)
}

func (s *countingStore) Complete(ctx context.Context, appid, key, owner string, reply []byte, now time.Time) error {
	s.writes.Add(1)
	return s.MemoryStore.Complete(ctx, appid, key, owner, reply, now)
}

func digestOf(t *testing.T, msg string) string {
	m, err := callback.ParseMessage([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return m.Digest()
}

func TestMemoryStoreContract(t *testing.T) {
	dedupetest.TestStore(t, func(*testing.T) callback.DedupeStore { return callback.NewMemoryStore() })
}

func newHandler(t *testing.T, routes callback.MessageHandler, mod func(*callback.Options)) (*callback.Handler, *recorder) {
	t.Helper()
	rec := &recorder{store: &countingStore{MemoryStore: callback.NewMemoryStore()}}
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText, ContentPrefix: "echo "}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		rec.handled.Add(1)
		return callback.TextReply{Content: strings.TrimPrefix(m.Content, "echo ")}, nil
	})
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeEvent, Event: callback.EventClick}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		rec.handled.Add(1)
		return nil, nil
	})
	opt := callback.Options{Config: callback.StaticConfig(testConfig()), Store: rec.store, Publisher: rec, Clock: clock,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	if routes != nil {
		opt.Routes = routes
	} else {
		opt.Routes = mux
	}
	if mod != nil {
		mod(&opt)
	}
	h, err := callback.NewHandler(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func sender(appid string, mode callback.Mode) *callbacktest.Sender {
	return &callbacktest.Sender{AppID: appid, Token: token, EncodingAESKey: keyNow, Mode: mode, Account: account, Now: clock}
}

// signedQuery builds a query with valid signature/timestamp/nonce and, when
// encrypt is set, encrypt_type=aes and a valid msg_signature over it.
func signedQuery(ts time.Time, encrypt string, aes bool) url.Values {
	t, nonce := strconv.FormatInt(ts.Unix(), 10), "123456"
	v := url.Values{"signature": {callback.Signature(token, t, nonce)}, "timestamp": {t}, "nonce": {nonce}, "openid": {"oUser"}}
	if aes {
		v.Set("encrypt_type", "aes")
		v.Set("msg_signature", callback.MsgSignature(token, t, nonce, encrypt))
	}
	return v
}

func envelope(to, encrypt string) string {
	return "<xml><ToUserName><![CDATA[" + to + "]]></ToUserName><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>"
}

func post(appid string, q url.Values, body string) *http.Request {
	return httptest.NewRequest(http.MethodPost, "/wechat/"+appid+"?"+q.Encode(), strings.NewReader(body))
}

func TestBadInputTable(t *testing.T) {
	s := sender(appSafe, callback.ModeSafe)
	text := s.Text("oUser", now.Unix(), 1, "echo x")
	cNow, _ := callback.NewCipher(keyNow, appSafe)
	cOther, _ := callback.NewCipher(keyNow, "wxffffffffffffffff")
	good := cNow.Encrypt([16]byte{}, []byte(text))
	valid := callback.PlaintextForTest(text, appSafe, uint32(len(text)))
	malformed := func(padByte byte, length uint32) string {
		p := callback.PlaintextForTest(text, appSafe, length)
		return callback.SealRawForTest(cNow, callback.PadForTest(p, padByte))
	}
	_ = valid
	encReq := func(appid, encrypt string, mod func(url.Values)) *http.Request {
		q := signedQuery(now, encrypt, true)
		if mod != nil {
			mod(q)
		}
		return post(appid, q, envelope(account, encrypt))
	}
	big := strings.Repeat("a", callback.MaxBodyBytes+1)
	tests := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"missing query params", httptest.NewRequest(http.MethodPost, "/wechat/"+appSafe, strings.NewReader(envelope(account, good))), 403},
		{"missing timestamp", encReq(appSafe, good, func(q url.Values) { q.Del("timestamp") }), 403},
		{"missing nonce", encReq(appSafe, good, func(q url.Values) { q.Del("nonce") }), 403},
		{"wrong signature", encReq(appSafe, good, func(q url.Values) { q.Set("signature", strings.Repeat("0", 40)) }), 403},
		{"missing msg_signature", encReq(appSafe, good, func(q url.Values) { q.Del("msg_signature") }), 403},
		{"wrong msg_signature", encReq(appSafe, good, func(q url.Values) { q.Set("msg_signature", callback.Signature(token, "1", "2")) }), 403},
		{"timestamp too old", post(appSafe, signedQuery(now.Add(-6*time.Minute), good, true), envelope(account, good)), 403},
		{"timestamp in the future", post(appSafe, signedQuery(now.Add(6*time.Minute), good, true), envelope(account, good)), 403},
		{"safe mode plaintext body", post(appSafe, signedQuery(now, "", true), text), 403},
		{"safe mode without encrypt_type", post(appSafe, signedQuery(now, good, false), envelope(account, good)), 403},
		{"safe mode encrypt_type=raw", encReq(appSafe, good, func(q url.Values) { q.Set("encrypt_type", "raw") }), 403},
		{"compat encrypt_type=aes plaintext body", post(appCompat, signedQuery(now, "", true), text), 403},
		{"compat encrypt_type=aes any msg_signature plaintext body", post(appCompat, func() url.Values {
			q := signedQuery(now, "", true)
			q.Set("msg_signature", "x")
			return q
		}(), text), 403},
		{"appid mismatch in ciphertext", encReq(appSafe, cOther.Encrypt([16]byte{}, []byte(text)), nil), 403},
		{"ToUserName mismatch", post(appSafe, signedQuery(now, good, true), envelope("gh_someoneelse", good)), 403},
		{"ToUserName missing", post(appSafe, signedQuery(now, good, true), "<xml><Encrypt><![CDATA["+good+"]]></Encrypt></xml>"), 403},
		{"bad base64", encReq(appSafe, "%%%not-base64%%%", nil), 400},
		{"ciphertext not whole blocks", encReq(appSafe, "AAAAAAAAAAAAAAAAAAAA", nil), 400},
		{"pad byte 0", encReq(appSafe, malformed(0, uint32(len(text))), nil), 400},
		{"pad byte 33", encReq(appSafe, malformed(33, uint32(len(text))), nil), 400},
		{"length field past the data", encReq(appSafe, malformed(0xff, uint32(len(text)+len(appSafe)+1)), nil), 400},
		{"decrypted content not XML", encReq(appSafe, cNow.Encrypt([16]byte{}, []byte(`{"MsgType":"text"}`)), nil), 400},
		{"body over 64 KiB", post(appSafe, signedQuery(now, good, true), big), 413},
		{"body over 64 KiB, chunked", func() *http.Request {
			r := post(appSafe, signedQuery(now, good, true), big)
			r.ContentLength = -1
			return r
		}(), 413},
		{"non-XML body (safe)", post(appSafe, signedQuery(now, good, true), "hello"), 400},
		{"non-XML body (plain)", post(appPlain, signedQuery(now, "", false), "hello"), 400},
		{"non-XML body (compat)", post(appCompat, signedQuery(now, "", false), `{"ToUserName":"x"}`), 400},
		{"DOCTYPE envelope", post(appSafe, signedQuery(now, good, true), `<!DOCTYPE xml [<!ENTITY e "x">]>`+envelope(account, good)), 400},
		{"entity in plaintext", post(appPlain, signedQuery(now, "", false), `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><MsgType>text</MsgType><Content>&e;</Content></xml>`), 400},
		{"DOCTYPE inside ciphertext", encReq(appSafe, cNow.Encrypt([16]byte{}, []byte(`<!DOCTYPE x><xml><ToUserName>`+account+`</ToUserName><MsgType>text</MsgType></xml>`)), nil), 400},
		{"unknown appid", post("wxunknown", signedQuery(now, good, true), envelope(account, good)), 404},
		{"unknown appid, oversized", post("wxunknown", signedQuery(now, good, true), big), 404},
		{"GET bad signature", httptest.NewRequest(http.MethodGet, "/wechat/"+appSafe+"?signature=bad&timestamp="+strconv.FormatInt(now.Unix(), 10)+"&nonce=1&echostr=abc", nil), 403},
		{"GET missing params", httptest.NewRequest(http.MethodGet, "/wechat/"+appSafe+"?echostr=abc", nil), 403},
		{"GET stale timestamp", func() *http.Request {
			q := signedQuery(now.Add(-time.Hour), "", false)
			q.Set("echostr", "abc")
			return httptest.NewRequest(http.MethodGet, "/wechat/"+appSafe+"?"+q.Encode(), nil)
		}(), 403},
		{"PUT", httptest.NewRequest(http.MethodPut, "/wechat/"+appSafe, nil), 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newHandler(t, nil, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tt.status, w.Body.String())
			}
			if n := rec.handled.Load(); n != 0 {
				t.Errorf("handler ran %d times", n)
			}
			if n := rec.store.writes.Load(); n != 0 {
				t.Errorf("%d dedupe writes", n)
			}
			if len(rec.published) != 0 {
				t.Errorf("%d pushes published", len(rec.published))
			}
		})
	}
	// The same good message is accepted, so the rows above fail for their
	// own reason.
	h, rec := newHandler(t, nil, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, encReq(appSafe, good, nil))
	if w.Code != 200 || rec.handled.Load() != 1 {
		t.Fatalf("control request: status %d, handled %d", w.Code, rec.handled.Load())
	}
}

func TestHandshake(t *testing.T) {
	h, _ := newHandler(t, nil, nil)
	for _, appid := range []string{appSafe, appCompat, appPlain} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, sender(appid, "").Handshake("echo-1234 5678"))
		if w.Code != 200 || w.Body.String() != "echo-1234 5678" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") ||
			w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %q %q", appid, w.Code, w.Body.String(), w.Header().Get("Content-Type"))
		}
	}
}

// V1 through the handler.
func TestHandshakeVector(t *testing.T) {
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: appPlain, Token: "AAAAA", Mode: callback.ModePlain}}}
	h, _ := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), MaxSkew: -1, Logger: slog.New(slog.DiscardHandler)})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/wechat/"+appPlain+"?signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656&echostr=hello", nil))
	if w.Code != 200 || w.Body.String() != "hello" {
		t.Fatalf("%d %q", w.Code, w.Body.String())
	}
}

// V4 (compatible mode) through the handler, encrypted and plaintext.
func TestCompatVector(t *testing.T) {
	const encrypt = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
	body := `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[` + encrypt + `]]></Encrypt></xml>`
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: "wx2c2769f8efd9abc2", Token: "spamtest", EncodingAESKey: keyNow, Mode: callback.ModeCompat}}}
	const sig = "signature=16120ec1b8dbb870f510d87ce6bc2463eae6ca1a&timestamp=1409735669&nonce=1320562132"
	const msgSig = "&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa"
	plainBody := strings.Replace(body, "<Encrypt><![CDATA["+encrypt+"]]></Encrypt>", "", 1)
	tests := []struct {
		name, query, body string
		status            int
		encrypted         bool
	}{
		{"aes", sig + "&encrypt_type=aes" + msgSig, body, 200, true},
		// A body carrying <Encrypt> is encrypted whatever encrypt_type says.
		{"Encrypt without encrypt_type", sig + msgSig, body, 200, true},
		{"Encrypt without msg_signature", sig, body, 403, false},
		{"plaintext", sig, plainBody, 200, false},
	}
	for _, tt := range tests {
		var got *callback.Message
		mux := callback.NewMux()
		mux.HandleFunc(callback.Match{Content: "abcdteT"}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
			got = m
			return callback.TextReply{Content: "ok"}, nil
		})
		h, _ := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), Routes: mux, MaxSkew: -1, Logger: slog.New(slog.DiscardHandler)})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/wechat/wx2c2769f8efd9abc2?"+tt.query, strings.NewReader(tt.body)))
		if w.Code != tt.status {
			t.Fatalf("%s: %d %q", tt.name, w.Code, w.Body.String())
		}
		if tt.status != 200 {
			if got != nil {
				t.Fatalf("%s: handler ran", tt.name)
			}
			continue
		}
		if got == nil || got.MsgID != "6054768590064713728" || got.FromUserName != "oyORnuP8q7ou2gfYjqLzSIWZf0rs" {
			t.Fatalf("%s: %+v", tt.name, got)
		}
		if tt.encrypted != strings.Contains(w.Body.String(), "<Encrypt>") {
			t.Fatalf("%s: reply encryption does not follow the request: %s", tt.name, w.Body.String())
		}
		if tt.encrypted && !strings.Contains(got.Raw, "\n") {
			t.Fatal("V4 plaintext newlines were not kept")
		}
	}
}

func TestSafeModeRepliesEncrypted(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{"route", "echo 你好", "你好"},
		{"auto reply exact", "hi", "hello"},
		{"auto reply prefix", "help me", "how can I help?"},
	}
	h, rec := newHandler(t, nil, nil)
	s := sender(appSafe, callback.ModeSafe)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, nonce := s.Push(s.Text("oUser", now.Unix(), int64(100+i), tt.msg))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			plain, err := s.OpenReply(w.Body.Bytes(), nonce)
			if w.Code != 200 || err != nil {
				t.Fatalf("%d %v %q", w.Code, err, w.Body.String())
			}
			m, err := callback.ParseMessage([]byte(plain))
			if err != nil || m.Content != tt.want || m.ToUserName != "oUser" || m.FromUserName != account || m.CreateTime != now.Unix() {
				t.Fatalf("reply %q: %v", plain, err)
			}
		})
	}
	_ = rec
}

func TestWelcomeOnSubscribe(t *testing.T) {
	h, _ := newHandler(t, callback.NewMux(), nil)
	s := sender(appSafe, callback.ModeSafe)
	req, nonce := s.Push(s.Event("oNew", now.Unix(), callback.EventSubscribe, ""))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	plain, err := s.OpenReply(w.Body.Bytes(), nonce)
	if err != nil || !strings.Contains(plain, "<Content><![CDATA[welcome!]]></Content>") {
		t.Fatalf("%d %q %v", w.Code, plain, err)
	}
}

func TestKeyRotation(t *testing.T) {
	h, rec := newHandler(t, nil, nil)
	old := sender(appSafe, callback.ModeSafe)
	old.EncodingAESKey = keyPrev
	req, nonce := old.Push(old.Text("oUser", now.Unix(), 7, "echo rotated"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	plain, err := old.OpenReply(w.Body.Bytes(), nonce)
	if w.Code != 200 || err != nil || !strings.Contains(plain, "rotated") || rec.handled.Load() != 1 {
		t.Fatalf("%d %v %q", w.Code, err, plain)
	}
	// The reply is encrypted with the previous key, not the current one.
	cur := sender(appSafe, callback.ModeSafe)
	if _, err := cur.OpenReply(w.Body.Bytes(), nonce); err == nil {
		t.Fatal("reply decrypts with the current key; want the key that decrypted the request")
	}
	// A key that is neither current nor previous is rejected.
	stranger := sender(appSafe, callback.ModeSafe)
	stranger.EncodingAESKey = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	req, _ = stranger.Push(stranger.Text("oUser", now.Unix(), 8, "echo x"))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 400 && w.Code != 403 {
		t.Fatalf("unknown key: status %d", w.Code)
	}
}

func TestPlainAndCompatModes(t *testing.T) {
	h, _ := newHandler(t, nil, nil)
	for _, tc := range []struct {
		appid string
		mode  callback.Mode
	}{{appPlain, callback.ModePlain}, {appCompat, callback.ModeCompat}, {appCompat, callback.ModePlain}} {
		s := sender(tc.appid, tc.mode)
		req, nonce := s.Push(s.Text("oUser", now.Unix(), 9, "echo plain"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		plain, err := s.OpenReply(w.Body.Bytes(), nonce)
		if w.Code != 200 || err != nil || !strings.Contains(plain, "<Content><![CDATA[plain]]></Content>") {
			t.Fatalf("%s/%s: %d %v %q", tc.appid, tc.mode, w.Code, err, w.Body.String())
		}
		if encrypted := strings.Contains(w.Body.String(), "<Encrypt>"); encrypted != (tc.mode == callback.ModeCompat) {
			t.Fatalf("%s/%s: encrypted=%v", tc.appid, tc.mode, encrypted)
		}
	}
	// A plain-mode app ignores encrypt_type: the body must be the plaintext message.
	s := sender(appPlain, callback.ModeSafe)
	req, _ := s.Push(s.Text("oUser", now.Unix(), 10, "echo x"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 400 {
		t.Fatalf("plain app with an encrypted envelope: %d", w.Code)
	}
}

func TestHandlerDeadlineAnswersSuccess(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		select {
		case <-release:
		case <-ctx.Done():
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("no deadline")
			}
		}
		return callback.TextReply{Content: "too late"}, nil
	})
	h, rec := newHandler(t, mux, func(o *callback.Options) { o.HandlerTimeout = 20 * time.Millisecond })
	s := sender(appSafe, callback.ModeSafe)
	msg := s.Text("oUser", now.Unix(), 11, "slow")
	for i := 0; i < 2; i++ { // the retry gets the stored `success`
		req, _ := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != "success" {
			t.Fatalf("delivery %d: %d %q", i, w.Code, w.Body.String())
		}
	}
	if len(rec.published) != 1 {
		t.Fatalf("published %d times", len(rec.published))
	}
}

func TestHandlerFailureReleasesClaim(t *testing.T) {
	var calls atomic.Int32
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("downstream unavailable")
		}
		return callback.TextReply{Content: "second try"}, nil
	})
	h, _ := newHandler(t, mux, nil)
	s := sender(appSafe, callback.ModeSafe)
	msg := s.Text("oUser", now.Unix(), 12, "x")
	for i, want := range []int{503, 200, 200} {
		req, nonce := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("delivery %d: %d, want %d", i, w.Code, want)
		}
		if want == 200 {
			if plain, err := s.OpenReply(w.Body.Bytes(), nonce); err != nil || !strings.Contains(plain, "second try") {
				t.Fatalf("delivery %d: %q %v", i, plain, err)
			}
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2", calls.Load())
	}
}

func TestHandlerPanicIsAFailure(t *testing.T) {
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) { panic("boom") })
	h, _ := newHandler(t, mux, nil)
	s := sender(appSafe, callback.ModeSafe)
	req, _ := s.Push(s.Text("oUser", now.Unix(), 13, "x"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
}

func TestPublishDetailAndFailure(t *testing.T) {
	h, rec := newHandler(t, nil, nil)
	s := sender(appSafe, callback.ModeSafe)
	msg := `<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_weixin]]></Event><EventKey><![CDATA[k<1>]]></EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo></xml>`
	req, _ := s.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || len(rec.published) != 1 {
		t.Fatalf("%d, %d published", w.Code, len(rec.published))
	}
	p := rec.published[0]
	if p.DetailType != "WeChat Event" || p.AppID != appSafe {
		t.Fatalf("%+v", p)
	}
	var got, want any
	json.Unmarshal(p.Detail, &got)
	sum := sha256.Sum256([]byte(msg)) // no MsgId: the key ends in the plaintext's digest
	json.Unmarshal([]byte(`{"appid":"wx0123456789abcdef","msg_type":"event","event":"pic_weixin","event_key":"k<1>","from":"oUser","to":"gh_0123456789ab","create_time":1714112445,
		"dedupe_key":"oUser|1714112445|`+hex.EncodeToString(sum[:8])+`","fields":{"ToUserName":"gh_0123456789ab","FromUserName":"oUser","CreateTime":"1714112445","MsgType":"event","Event":"pic_weixin","EventKey":"k<1>",
		"SendPicsInfo":{"Count":"2","PicList":{"item":[{"PicMd5Sum":"a"},{"PicMd5Sum":"b"}]}}},"raw_xml":`+strconv.Quote(msg)+`}`), &want)
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("detail\n got %s\nwant %s", gj, wj)
	}

	// A failing publish answers 503, runs no handler and releases the claim.
	h, rec = newHandler(t, nil, nil)
	rec.failPub = errors.New("PutEvents: 1 failed entry")
	text := s.Text("oUser", now.Unix(), 14, "echo y")
	req, _ = s.Push(text)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 503 || rec.handled.Load() != 0 {
		t.Fatalf("failed publish: %d, handled %d", w.Code, rec.handled.Load())
	}
	rec.failPub = nil
	req, _ = s.Push(text)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || rec.handled.Load() != 1 || len(rec.published) != 1 {
		t.Fatalf("retry after failed publish: %d, handled %d, published %d", w.Code, rec.handled.Load(), len(rec.published))
	}
}

func TestLogLineHasNoContent(t *testing.T) {
	var buf bytes.Buffer
	h, _ := newHandler(t, nil, func(o *callback.Options) { o.Logger = slog.New(slog.NewJSONHandler(&buf, nil)) })
	s := sender(appSafe, callback.ModeSafe)
	req, _ := s.Push(s.Text("oUser", now.Unix(), 15, "echo secret-content"))
	h.ServeHTTP(httptest.NewRecorder(), req)
	line := buf.String()
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["appid"] != appSafe || rec["outcome"] != "replied" {
		t.Fatalf("log line %q: %v", line, err)
	}
	for _, secret := range []string{"secret-content", token, keyNow, "oUser"} {
		if strings.Contains(line, secret) {
			t.Fatalf("log line contains %q: %s", secret, line)
		}
	}
}

// A claim left by a crashed instance blocks deliveries only until its
// lease ends; then the next delivery runs the handler.
func TestStaleClaimIsTakenOver(t *testing.T) {
	var mu sync.Mutex
	cur := now
	clk := func() time.Time { mu.Lock(); defer mu.Unlock(); return cur }
	store := callback.NewMemoryStore()
	h, rec := newHandler(t, nil, func(o *callback.Options) {
		o.Clock, o.Store, o.InProgressWait, o.PollInterval = clk, store, 50*time.Millisecond, 5*time.Millisecond
	})
	s := sender(appSafe, callback.ModeSafe)
	s.Now = clk
	msg := s.Text("oUser", now.Unix(), 77, "echo once")
	// The crashed instance's claim.
	crashed := callback.ClaimRequest{Owner: "crashed", Digest: digestOf(t, msg), Now: now, Until: now.Add(callback.DefaultClaimLease)}
	if c, _ := store.Claim(context.Background(), appSafe, "77", crashed); c.State != callback.ClaimAcquired {
		t.Fatal(c.State)
	}
	req, _ := s.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Body.String() != "success" || rec.handled.Load() != 0 {
		t.Fatalf("during the lease: %q, handled %d", w.Body.String(), rec.handled.Load())
	}
	mu.Lock()
	cur = now.Add(callback.DefaultClaimLease + time.Second)
	mu.Unlock()
	req, nonce := s.Push(msg)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	plain, err := s.OpenReply(w.Body.Bytes(), nonce)
	if err != nil || !strings.Contains(plain, "once") || rec.handled.Load() != 1 {
		t.Fatalf("after the lease: %q %v, handled %d", plain, err, rec.handled.Load())
	}
}

// A push WeChat delivers again is answered from the stored reply and
// counted once as CallbackDuplicates for its app; the first delivery is not.
func TestDuplicateDeliveriesCounted(t *testing.T) {
	var out bytes.Buffer
	h, rec := newHandler(t, nil, func(o *callback.Options) { o.Metrics = metrics.New(&out) })
	s := sender(appSafe, callback.ModeSafe)
	msg := s.Text("oUser", now.Unix(), 4242, "echo once")
	var replies []string
	for range 3 {
		req, nonce := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		plain, err := s.OpenReply(w.Body.Bytes(), nonce)
		if w.Code != 200 || err != nil {
			t.Fatalf("%d %v", w.Code, err)
		}
		replies = append(replies, plain)
	}
	if rec.handled.Load() != 1 || replies[1] != replies[0] || replies[2] != replies[0] {
		t.Fatalf("handler runs %d, replies %q", rec.handled.Load(), replies)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("metric lines %q, want 2", lines)
	}
	for _, l := range lines {
		var m struct {
			AppId              string
			CallbackDuplicates float64
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.AppId != appSafe || m.CallbackDuplicates != 1 {
			t.Fatalf("metric line %q: %v", l, err)
		}
	}
}

// docs/callback.md: compat mode is "encrypted when encrypt_type=aes, plaintext
// otherwise": any other encrypt_type value is a plaintext push.
func TestCompatModePlaintextUnlessAES(t *testing.T) {
	s := sender(appCompat, callback.ModePlain)
	for i, et := range []string{"", "raw", "AES", "none"} {
		h, rec := newHandler(t, nil, nil)
		q, body, _ := s.PushParts(s.Text("oUser", now.Unix(), int64(100+i), "echo compat"))
		v, _ := url.ParseQuery(q)
		if et != "" {
			v.Set("encrypt_type", et)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post(appCompat, v, body))
		if w.Code != 200 || !strings.Contains(w.Body.String(), "<Content><![CDATA[compat]]></Content>") || strings.Contains(w.Body.String(), "<Encrypt>") {
			t.Fatalf("encrypt_type=%q: %d %q", et, w.Code, w.Body.String())
		}
		if rec.handled.Load() != 1 || len(rec.published) != 1 {
			t.Fatalf("encrypt_type=%q: handled %d, published %d", et, rec.handled.Load(), len(rec.published))
		}
	}
}

// docs/callback.md orders "body over 64 KiB → 413" before the signature for every
// request, the GET handshake included.
func TestOversizedGETIs413(t *testing.T) {
	h, _ := newHandler(t, nil, nil)
	s := sender(appSafe, callback.ModeSafe)
	for _, valid := range []bool{true, false} {
		q := s.HandshakeQuery("e")
		if !valid {
			q = "signature=x&timestamp=1&nonce=1&echostr=e"
		}
		r := httptest.NewRequest(http.MethodGet, "/wechat/"+appSafe+"?"+q, strings.NewReader(strings.Repeat("a", callback.MaxBodyBytes+1)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 413 {
			t.Fatalf("valid signature %v: %d %q", valid, w.Code, w.Body.String())
		}
	}
}

// slowPublisher blocks until its context ends, like an EventBridge call
// that never answers.
type slowPublisher struct{ calls atomic.Int32 }

func (p *slowPublisher) Publish(ctx context.Context, _ callback.Push) error {
	p.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// A publish that does not finish within PublishTimeout fails the delivery
// (503, no handler run, claim released), so publishing plus the handler
// deadline stays inside the claim lease and WeChat's retry runs it again.
func TestSlowPublishTimesOut(t *testing.T) {
	pub := &slowPublisher{}
	h, rec := newHandler(t, nil, func(o *callback.Options) {
		o.Publisher = pub
		o.PublishTimeout = 50 * time.Millisecond
	})
	s := sender(appSafe, callback.ModeSafe)
	text := s.Text("oUser", now.Unix(), 77, "echo slow")
	req, _ := s.Push(text)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 503 || rec.handled.Load() != 0 || pub.calls.Load() != 1 {
		t.Fatalf("slow publish: status %d, handled %d, publish calls %d", w.Code, rec.handled.Load(), pub.calls.Load())
	}
	if claim, err := rec.store.Lookup(context.Background(), appSafe, "77", now); err != nil || claim.State == callback.ClaimInProgress || claim.State == callback.ClaimCompleted {
		t.Fatalf("claim still held after a failed publish: %+v", claim)
	}
}

// Two template-send results for one user in one second are two pushes:
// each is handled and published once, and the detail carries msg_id (from
// MsgID) and dedupe_key so consumers can de-duplicate (issue 11, item 1).
func TestTemplateResultsOfOneSecondAreBothHandled(t *testing.T) {
	var runs atomic.Int32
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeEvent, Event: callback.EventTemplateSendJobFinish},
		func(context.Context, *callback.Message) (callback.Reply, error) { runs.Add(1); return nil, nil })
	h, rec := newHandler(t, mux, nil)
	s := sender(appSafe, callback.ModeSafe)
	result := func(id string) string {
		return "<xml><ToUserName><![CDATA[" + account + "]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>" +
			strconv.FormatInt(now.Unix(), 10) + "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>" +
			id + "</MsgID><Status><![CDATA[success]]></Status></xml>"
	}
	for _, id := range []string{"200163836", "200163837", "200163836"} { // the third is WeChat's retry of the first
		req, _ := s.Push(result(id))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("MsgID %s: %d", id, w.Code)
		}
	}
	if runs.Load() != 2 || len(rec.published) != 2 {
		t.Fatalf("handled %d, published %d; want 2 and 2", runs.Load(), len(rec.published))
	}
	for i, id := range []string{"200163836", "200163837"} {
		var d map[string]any
		if err := json.Unmarshal(rec.published[i].Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d["msg_id"] != id || d["dedupe_key"] != id {
			t.Fatalf("detail %d: msg_id %v, dedupe_key %v, want %s", i, d["msg_id"], d["dedupe_key"], id)
		}
	}
}

// A Handler built from code validates its configuration like a loaded
// document: an empty token, an unknown mode or a bad key is refused when
// the Handler is built, and a source that produces one later fails closed
// (503, nothing handled) instead of accepting plaintext or forged pushes
// (issue 11, item 5).
func TestHandlerRejectsInvalidConfiguration(t *testing.T) {
	bad := []struct {
		name, field string
		mod         func(*callback.AppConfig)
	}{
		{"empty token", "token", func(a *callback.AppConfig) { a.Token = "" }},
		{"unknown mode", "mode", func(a *callback.AppConfig) { a.Mode = "Safe" }},
		{"bad key", "encoding_aes_key", func(a *callback.AppConfig) { a.EncodingAESKey = "short" }},
		{"bad previous key", "previous_encoding_aes_key", func(a *callback.AppConfig) { a.PreviousEncodingAESKey = "short" }},
		{"no key in safe mode", "encoding_aes_key", func(a *callback.AppConfig) { a.EncodingAESKey = "" }},
		{"empty appid", "appid", func(a *callback.AppConfig) { a.AppID = "" }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.mod(&cfg.Apps[0])
			_, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg)})
			if err == nil || !strings.Contains(err.Error(), "apps[0]."+tt.field) {
				t.Fatalf("NewHandler: err %v, want one naming apps[0].%s", err, tt.field)
			}
			if strings.Contains(err.Error(), keyNow) || strings.Contains(err.Error(), token) {
				t.Fatalf("error shows a secret: %v", err)
			}

			// A source that turns bad after the Handler was built.
			var current atomic.Pointer[callback.Config]
			current.Store(testConfig())
			h, rec := newHandler(t, nil, func(o *callback.Options) {
				o.Config = func(context.Context) (*callback.Config, error) { return current.Load(), nil }
			})
			current.Store(cfg)
			s := sender(appSafe, callback.ModePlain) // plaintext: accepted today when the mode is not recognised
			s.Token = cfg.Apps[0].Token
			req, _ := s.Push(s.Text("oUser", now.Unix(), 5, "echo forged"))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusServiceUnavailable || rec.handled.Load() != 0 || len(rec.published) != 0 {
				t.Fatalf("invalid configuration served: %d, handled %d, published %d", w.Code, rec.handled.Load(), len(rec.published))
			}
		})
	}
	// The replay window must fit inside the dedupe record's life.
	if _, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(testConfig()), MaxSkew: callback.DedupeTTL + time.Second}); err == nil || !strings.Contains(err.Error(), "MaxSkew") {
		t.Fatalf("MaxSkew past the dedupe TTL: %v", err)
	}
}

// A stored reply goes only to the push it answered: another body under the
// same key (a forged plaintext push reusing a MsgId) is a new push, handled
// on its own, and never reads the first push's reply (issue 11, item 4).
func TestStoredReplyOnlyForTheSameDigest(t *testing.T) {
	h, rec := newHandler(t, nil, nil)
	s := sender(appPlain, callback.ModePlain)
	deliver := func(msg string) string {
		req, _ := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		return w.Body.String()
	}
	victim := s.Text("oVictim", now.Unix(), 9001, "echo private")
	if r := deliver(victim); !strings.Contains(r, "private") {
		t.Fatalf("first delivery: %q", r)
	}
	forged := s.Text("oAttacker", now.Unix(), 9001, "echo mine")
	for i := 0; i < 2; i++ { // the forged push and its retry
		if r := deliver(forged); strings.Contains(r, "private") || !strings.Contains(r, "mine") {
			t.Fatalf("forged delivery %d: %q", i, r)
		}
	}
	if r := deliver(victim); !strings.Contains(r, "private") {
		t.Fatalf("the victim's retry: %q", r)
	}
	if rec.handled.Load() != 2 || len(rec.published) != 2 {
		t.Fatalf("handled %d, published %d; want 2 and 2", rec.handled.Load(), len(rec.published))
	}
}

// In compat mode a body carrying <Encrypt> is encrypted whatever the query
// says: replaying a captured (timestamp, nonce, signature) without
// encrypt_type must not read the reply in clear (issue 11, item 4).
func TestCompatBodyWithEncryptIsEncrypted(t *testing.T) {
	h, _ := newHandler(t, nil, nil)
	s := sender(appCompat, callback.ModeCompat)
	q, body, nonce := s.PushParts(s.Text("oVictim", now.Unix(), 9101, "echo private"))
	v, _ := url.ParseQuery(q)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, post(appCompat, v, body))
	if plain, err := s.OpenReply(w.Body.Bytes(), nonce); w.Code != 200 || err != nil || !strings.Contains(plain, "private") {
		t.Fatalf("genuine delivery: %d %q %v", w.Code, plain, err)
	}
	if strings.Contains(w.Body.String(), "private") {
		t.Fatal("genuine compat reply in clear")
	}
	for _, drop := range [][]string{{"encrypt_type"}, {"encrypt_type", "msg_signature"}} {
		r := url.Values{}
		for k, vs := range v {
			r[k] = vs
		}
		for _, k := range drop {
			r.Del(k)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post(appCompat, r, body))
		if strings.Contains(w.Body.String(), "private") {
			t.Fatalf("replay without %v: %d %q", drop, w.Code, w.Body.String())
		}
	}
}

// timedPublisher takes d to publish, or fails when its context ends
// first; it records the context's deadline.
type timedPublisher struct {
	d         time.Duration
	mu        sync.Mutex
	deadlines []time.Time
	published int
}

func (p *timedPublisher) Publish(ctx context.Context, _ callback.Push) error {
	dl, _ := ctx.Deadline()
	p.mu.Lock()
	p.deadlines = append(p.deadlines, dl)
	p.mu.Unlock()
	select {
	case <-time.After(p.d):
		p.mu.Lock()
		p.published++
		p.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deadlineStore fails every call whose context has no deadline or one
// further than limit away: each store call has its own short timeout.
type deadlineStore struct {
	*callback.MemoryStore
	limit time.Duration
}

func (s *deadlineStore) check(ctx context.Context, op string) error {
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > s.limit {
		return fmt.Errorf("%s: deadline %v (set %v), want one within %v", op, dl, ok, s.limit)
	}
	return nil
}

func (s *deadlineStore) Claim(ctx context.Context, appid, key string, req callback.ClaimRequest) (callback.Claim, error) {
	if err := s.check(ctx, "Claim"); err != nil {
		return callback.Claim{}, err
	}
	return s.MemoryStore.Claim(ctx, appid, key, req)
}

func (s *deadlineStore) Lookup(ctx context.Context, appid, key string, now time.Time) (callback.Claim, error) {
	if err := s.check(ctx, "Lookup"); err != nil {
		return callback.Claim{}, err
	}
	return s.MemoryStore.Lookup(ctx, appid, key, now)
}

func (s *deadlineStore) Complete(ctx context.Context, appid, key, owner string, reply []byte, now time.Time) error {
	if err := s.check(ctx, "Complete"); err != nil {
		return err
	}
	return s.MemoryStore.Complete(ctx, appid, key, owner, reply, now)
}

func (s *deadlineStore) Release(ctx context.Context, appid, key, owner string) error {
	if err := s.check(ctx, "Release"); err != nil {
		return err
	}
	return s.MemoryStore.Release(ctx, appid, key, owner)
}

// One budget from arrival (issue 11, item 2), with the default options.
func TestTimeBudgetFromArrival(t *testing.T) {
	// A publish that succeeds slowly but inside the budget is a success.
	t.Run("slow publish, fast handler", func(t *testing.T) {
		t.Parallel()
		pub := &timedPublisher{d: 2500 * time.Millisecond}
		h, rec := newHandler(t, nil, func(o *callback.Options) { o.Publisher = pub })
		s := sender(appSafe, callback.ModeSafe)
		msg := s.Text("oUser", now.Unix(), 8801, "echo slow bus")
		req, nonce := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if plain, err := s.OpenReply(w.Body.Bytes(), nonce); w.Code != 200 || err != nil || !strings.Contains(plain, "slow bus") {
			t.Fatalf("status %d, reply %q %v", w.Code, plain, err)
		}
		if pub.published != 1 || rec.handled.Load() != 1 {
			t.Fatalf("published %d, handled %d", pub.published, rec.handled.Load())
		}
		// WeChat's retry is answered from the record, not published again.
		req, _ = s.Push(msg)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if pub.published != 1 || rec.handled.Load() != 1 {
			t.Fatalf("after the retry: published %d, handled %d", pub.published, rec.handled.Load())
		}
	})
	// A slow publish and a slow handler share one budget: the handler's
	// deadline falls inside it, so WeChat has its answer within 5 s.
	t.Run("slow publish, slow handler", func(t *testing.T) {
		t.Parallel()
		pub := &timedPublisher{d: 1400 * time.Millisecond}
		deadlines := make(chan time.Time, 1) // the handler may still run when ServeHTTP returns
		mux := callback.NewMux()
		mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			dl, _ := ctx.Deadline()
			deadlines <- dl
			select {
			case <-time.After(3900 * time.Millisecond):
			case <-ctx.Done():
			}
			return callback.TextReply{Content: "late"}, nil
		})
		store := &deadlineStore{MemoryStore: callback.NewMemoryStore(), limit: callback.DefaultBudget}
		h, _ := newHandler(t, mux, func(o *callback.Options) { o.Publisher, o.Store = pub, store })
		s := sender(appSafe, callback.ModeSafe)
		req, _ := s.Push(s.Text("oUser", now.Unix(), 8802, "slow"))
		arrival := time.Now()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || w.Body.String() != "success" {
			t.Fatalf("status %d %q, want 200 success (the handler's deadline passed)", w.Code, w.Body.String())
		}
		due := arrival.Add(callback.DefaultBudget)
		if len(pub.deadlines) != 1 || pub.deadlines[0].After(due) {
			t.Fatalf("publish deadline %v, want by %v", pub.deadlines, due)
		}
		if handlerDeadline := <-deadlines; handlerDeadline.IsZero() || handlerDeadline.After(due) {
			t.Fatalf("handler deadline %v after arrival, want at most %v", handlerDeadline.Sub(arrival), callback.DefaultBudget)
		}
	})
	// The configuration load (a Secrets Manager read on a cold start and
	// when the cache is stale) is a step of the budget: a hung service
	// cannot hold WeChat's answer past 5 s.
	t.Run("config load", func(t *testing.T) {
		t.Parallel()
		deadlines := make(chan time.Time, 1)
		src := func(ctx context.Context) (*callback.Config, error) {
			if callback.LoadDeferred(ctx) {
				return nil, callback.ErrNotLoaded // a lazily loaded document, as callbacklambda builds
			}
			dl, ok := ctx.Deadline()
			if !ok {
				return nil, errors.New("secrets manager: no deadline on the load (it would hang as long as the service does)")
			}
			select {
			case deadlines <- dl:
			default:
			}
			return testConfig(), nil
		}
		h, rec := newHandler(t, nil, func(o *callback.Options) { o.Config = src })
		s := sender(appSafe, callback.ModeSafe)
		req, _ := s.Push(s.Text("oUser", now.Unix(), 8804, "echo cfg"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		served := time.Now() // the request arrived before this
		if w.Code != 200 || rec.handled.Load() != 1 {
			t.Fatalf("status %d %q, handled %d: want the push handled with a bounded config load", w.Code, w.Body.String(), rec.handled.Load())
		}
		if dl := <-deadlines; dl.After(served.Add(callback.DefaultBudget)) {
			t.Fatalf("config load deadline %v after the answer, want at most %v", dl.Sub(served), callback.DefaultBudget)
		}
	})
	// An arrival time carried by the request (API Gateway's, so that a
	// cold start counts) starts the budget; a skewed one is bounded.
	t.Run("arrival from the request", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			lag  time.Duration // how long before ServeHTTP the request arrived
			want func(start time.Time) (lo, hi time.Time)
		}{
			{"cold start", 2 * time.Second, func(st time.Time) (time.Time, time.Time) {
				return st, st.Add(callback.DefaultBudget - 2*time.Second)
			}},
			{"clock ahead", -time.Hour, func(st time.Time) (time.Time, time.Time) {
				return st, time.Now().Add(callback.DefaultBudget)
			}},
			{"clock behind", time.Hour, func(st time.Time) (time.Time, time.Time) {
				return st.Add(callback.MinArrivalBudget - callback.DefaultStoreTimeout), time.Now().Add(callback.DefaultBudget)
			}},
		} {
			pub := &timedPublisher{}
			h, rec := newHandler(t, nil, func(o *callback.Options) { o.Publisher = pub })
			s := sender(appSafe, callback.ModeSafe)
			req, _ := s.Push(s.Text("oUser", now.Unix(), 8805, "echo "+tc.name))
			start := time.Now()
			req = req.WithContext(callback.WithArrival(req.Context(), start.Add(-tc.lag)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			lo, hi := tc.want(start)
			if w.Code != 200 || rec.handled.Load() != 1 || len(pub.deadlines) != 1 {
				t.Fatalf("%s: status %d, handled %d, published %d", tc.name, w.Code, rec.handled.Load(), len(pub.deadlines))
			}
			if dl := pub.deadlines[0]; dl.Before(lo) || dl.After(hi) {
				t.Fatalf("%s: publish deadline %v after the start, want between %v and %v", tc.name, dl.Sub(start), lo.Sub(start), hi.Sub(start))
			}
		}
	})
	// Every store call has its own short timeout, inside the budget.
	t.Run("store calls", func(t *testing.T) {
		t.Parallel()
		store := &deadlineStore{MemoryStore: callback.NewMemoryStore(), limit: callback.DefaultStoreTimeout}
		h, rec := newHandler(t, nil, func(o *callback.Options) { o.Store = store })
		s := sender(appSafe, callback.ModeSafe)
		req, _ := s.Push(s.Text("oUser", now.Unix(), 8803, "echo bounded"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || rec.handled.Load() != 1 {
			t.Fatalf("status %d, handled %d", w.Code, rec.handled.Load())
		}
	})
}

// A delivery whose claim expired and was taken over cannot release the new
// holder's claim when its handler then fails: a third delivery still finds
// the push in progress instead of running it a third time (issue 11, item 3).
func TestExpiredDeliveryCannotReleaseTakenOverClaim(t *testing.T) {
	var mu sync.Mutex
	cur := now
	clk := func() time.Time { mu.Lock(); defer mu.Unlock(); return cur }
	var calls atomic.Int32
	started := make(chan int32, 3)
	releaseA, releaseB := make(chan struct{}), make(chan struct{})
	defer close(releaseB)
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		n := calls.Add(1)
		started <- n
		switch n {
		case 1:
			<-releaseA
			return nil, errors.New("A fails after its lease ran out")
		case 2:
			<-releaseB
		}
		return callback.TextReply{Content: "done"}, nil
	})
	h, _ := newHandler(t, mux, func(o *callback.Options) {
		o.Clock, o.Store, o.InProgressWait, o.PollInterval = clk, callback.NewMemoryStore(), 50*time.Millisecond, 5*time.Millisecond
	})
	s := sender(appSafe, callback.ModeSafe)
	s.Now = clk
	msg := s.Text("oUser", now.Unix(), 9301, "x")
	deliver := func() int {
		req, _ := s.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	a := make(chan int, 1)
	go func() { a <- deliver() }()
	<-started // A holds the claim and runs
	mu.Lock()
	cur = now.Add(callback.DefaultClaimLease + time.Second) // A's lease ran out
	mu.Unlock()
	go deliver() // B takes the claim over and runs
	<-started
	close(releaseA)
	if code := <-a; code != http.StatusServiceUnavailable {
		t.Fatalf("A: %d, want 503", code)
	}
	req, _ := s.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Body.String() != "success" || calls.Load() != 2 {
		t.Fatalf("C while B runs: %d %q, handler runs %d (want success and 2)", w.Code, w.Body.String(), calls.Load())
	}
}

// lostClaimStore reports every Complete as ErrClaimLost: the delivery's
// lease ran out and another delivery holds the claim.
type lostClaimStore struct{ *callback.MemoryStore }

func (lostClaimStore) Complete(context.Context, string, string, string, []byte, time.Time) error {
	return fmt.Errorf("dedupe complete: %w", callback.ErrClaimLost)
}

// A delivery that published and handled its push but lost its claim
// answers with its reply: answering 503 would only run the push again.
func TestLostClaimStillAnswers(t *testing.T) {
	h, rec := newHandler(t, nil, func(o *callback.Options) { o.Store = lostClaimStore{callback.NewMemoryStore()} })
	s := sender(appSafe, callback.ModeSafe)
	req, nonce := s.Push(s.Text("oUser", now.Unix(), 9401, "echo kept"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if plain, err := s.OpenReply(w.Body.Bytes(), nonce); w.Code != 200 || err != nil || !strings.Contains(plain, "kept") {
		t.Fatalf("%d %q %v", w.Code, plain, err)
	}
	if rec.handled.Load() != 1 || len(rec.published) != 1 {
		t.Fatalf("handled %d, published %d", rec.handled.Load(), len(rec.published))
	}
}

// A handler may keep the Message past its request (a goroutine, a queue):
// the plaintext of a plain-mode push must not alias the pooled body buffer
// the next request reads into.
func TestPlaintextMessageOutlivesRequest(t *testing.T) {
	var kept []*callback.Message
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		kept = append(kept, m)
		return nil, nil
	})
	h, _ := newHandler(t, mux, nil)
	s := sender(appPlain, callback.ModePlain)
	for i, content := range []string{"first push", "other text"} {
		req, _ := s.Push(s.Text("oUser", now.Unix(), int64(9500+i), content))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if len(kept) != 2 || kept[0].Content != "first push" || !strings.Contains(kept[0].Raw, "first push") {
		t.Fatalf("the first push's Message changed after later requests: %+v", kept[0])
	}
}

// writtenTimeoutStore applies the first Claim and then reports it timed
// out, as a DynamoDB call whose answer is lost after the write.
type writtenTimeoutStore struct {
	*callback.MemoryStore
	once sync.Once
}

func (s *writtenTimeoutStore) Claim(ctx context.Context, appid, key string, req callback.ClaimRequest) (callback.Claim, error) {
	c, err := s.MemoryStore.Claim(ctx, appid, key, req)
	failed := false
	s.once.Do(func() { failed = true })
	if failed {
		return callback.Claim{}, fmt.Errorf("dedupe claim: %w", context.DeadlineExceeded)
	}
	return c, err
}

// A claim call that times out after its write releases the claim before
// answering 503: WeChat's retry runs the push instead of finding it in
// progress until the lease runs out.
func TestTimedOutClaimIsReleased(t *testing.T) {
	store := &writtenTimeoutStore{MemoryStore: callback.NewMemoryStore()}
	h, rec := newHandler(t, nil, func(o *callback.Options) {
		o.Store, o.InProgressWait, o.PollInterval = store, 50*time.Millisecond, 5*time.Millisecond
	})
	s := sender(appSafe, callback.ModeSafe)
	msg := s.Text("oUser", now.Unix(), 9401, "echo retried")
	req, _ := s.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("first delivery: %d, want 503", w.Code)
	}
	req, nonce := s.Push(msg)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if plain, err := s.OpenReply(w.Body.Bytes(), nonce); w.Code != 200 || err != nil || !strings.Contains(plain, "retried") || rec.handled.Load() != 1 {
		t.Fatalf("retry: %d %q %q %v, handled %d: want the push run and answered", w.Code, w.Body.String(), plain, err, rec.handled.Load())
	}
}

package callbacktest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

const (
	testAppID = "wx0123456789abcdef"
	testKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testToken = "spamtest"
)

func TestXMLRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		p    Push
	}{
		{"text", Text("gh_1", "o_user", "ping", 1700000000, 42)},
		{"text with CDATA end", Text("gh_1", "o_user", "a]]>b<c>&", 1700000000, 7)},
		{"empty text", Text("gh_1", "o_user", "", 1700000000, 1)},
		{"subscribe", Event("gh_1", "o_user", "subscribe", "", 1700000001)},
		{"click", Event("gh_1", "o_user", "CLICK", "MENU_1", 1700000002)},
		{"unicode", Text("gh_1", "o_user", "你好 ping", 1700000003, 9)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := callback.ParseMessage(tc.p.XML())
			if err != nil {
				t.Fatalf("ParseMessage(%s): %v", tc.p.XML(), err)
			}
			if m.ToUserName != tc.p.ToUserName || m.FromUserName != tc.p.FromUserName ||
				m.CreateTime != tc.p.CreateTime || m.MsgType != tc.p.MsgType ||
				m.Content != tc.p.Content || m.Event != tc.p.Event || m.EventKey != tc.p.EventKey {
				t.Errorf("parsed %+v from %s, want fields of %+v", m, tc.p.XML(), tc.p)
			}
			wantID := ""
			if tc.p.MsgID != 0 {
				wantID = strconv.FormatInt(tc.p.MsgID, 10)
			}
			if m.MsgID != wantID {
				t.Errorf("MsgId = %q, want %q", m.MsgID, wantID)
			}
		})
	}
}

func TestPushValidate(t *testing.T) {
	cases := []struct {
		p     Push
		field string
	}{
		{Push{FromUserName: "o", MsgType: "text"}, "ToUserName"},
		{Push{ToUserName: "gh", MsgType: "text"}, "FromUserName"},
		{Push{ToUserName: "gh", FromUserName: "o"}, "MsgType"},
		{Push{ToUserName: "gh", FromUserName: "o", MsgType: "event"}, "Event"},
		{Text("gh", "o", "hi", 1, 1), ""},
	}
	for _, tc := range cases {
		err := tc.p.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.p, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.p, err, tc.field)
		}
	}
}

// The signature of the official compatible-mode sample (vector V4).
func TestSealSignatureVector(t *testing.T) {
	acct := callback.AppConfig{AppID: "wx2c2769f8efd9abc2", Token: "spamtest", EncodingAESKey: testKey, Mode: callback.ModeCompat}
	req, err := Seal(Text("gh_10f6c3c3ac5a", "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "abcdteT", 1409735668, 1), acct, 1409735669, "1320562132", [16]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Query.Get("signature"); got != "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a" {
		t.Errorf("signature = %s", got)
	}
}

func TestSealModes(t *testing.T) {
	p := Text("gh_1", "o_user", "ping", 1700000000, 42)
	random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, mode := range []callback.Mode{"", callback.ModeSafe, callback.ModeCompat, callback.ModePlain} {
		t.Run(string(mode), func(t *testing.T) {
			acct := callback.AppConfig{AppID: testAppID, Token: testToken, EncodingAESKey: testKey, Mode: mode}
			req, err := Seal(p, acct, 1700000005, "12345", random)
			if err != nil {
				t.Fatal(err)
			}
			q := req.Query
			if !callback.VerifySignature(q.Get("signature"), testToken, "1700000005", "12345") {
				t.Error("signature does not verify")
			}
			if q.Get("openid") != "o_user" || q.Get("timestamp") != "1700000005" || q.Get("nonce") != "12345" {
				t.Errorf("query = %v", q)
			}
			env, err := callback.ParseMessage(req.Body)
			if err != nil {
				t.Fatalf("body %s: %v", req.Body, err)
			}
			if mode == callback.ModePlain {
				if q.Has("encrypt_type") || q.Has("msg_signature") || env.Get("Encrypt") != "" {
					t.Fatalf("plain mode sent encryption: %v %s", q, req.Body)
				}
				if !bytes.Equal(req.Body, p.XML()) {
					t.Errorf("plain body = %s", req.Body)
				}
				return
			}
			enc := env.Get("Encrypt")
			if q.Get("encrypt_type") != "aes" || !callback.VerifyMsgSignature(q.Get("msg_signature"), testToken, "1700000005", "12345", enc) {
				t.Fatalf("encrypt_type/msg_signature wrong: %v", q)
			}
			c, _ := callback.NewCipher(testKey, testAppID)
			plain, err := c.Decrypt(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, p.XML()) {
				t.Errorf("decrypted %s, want %s", plain, p.XML())
			}
			if env.ToUserName != "gh_1" {
				t.Errorf("envelope ToUserName = %q", env.ToUserName)
			}
			hasPlainFields := env.Content != ""
			if wantPlain := mode == callback.ModeCompat; hasPlainFields != wantPlain {
				t.Errorf("mode %q: plaintext fields in body = %v: %s", mode, hasPlainFields, req.Body)
			}
		})
	}
}

func TestSealErrors(t *testing.T) {
	p := Text("gh_1", "o_user", "ping", 1, 1)
	cases := []struct {
		name string
		acct callback.AppConfig
		want string
	}{
		{"no token", callback.AppConfig{AppID: testAppID, EncodingAESKey: testKey}, "token"},
		{"short key", callback.AppConfig{AppID: testAppID, Token: "t", EncodingAESKey: "short"}, "encoding_aes_key"},
		{"no key in safe mode", callback.AppConfig{AppID: testAppID, Token: "t"}, "encoding_aes_key"},
	}
	for _, tc := range cases {
		_, err := Seal(p, tc.acct, 1, "n", [16]byte{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	acct := callback.AppConfig{AppID: testAppID, Token: testToken, EncodingAESKey: testKey}
	req := Request{Nonce: "777", Timestamp: "1700000000"}
	reqMsg, _ := callback.ParseMessage(Text("gh_1", "o_user", "ping", 1700000000, 1).XML())
	plainReply := callback.AppendReply(nil, callback.TextReply{Content: "pong"}, reqMsg, 1700000001)
	c, _ := callback.NewCipher(testKey, testAppID)
	other, _ := callback.NewCipher(testKey, "wxffffffffffffffff")
	random := [16]byte{9}
	encrypted := callback.AppendEncryptedReply(nil, nil, c, testToken, "1700000001", "777", &random, plainReply)
	wrongApp := callback.AppendEncryptedReply(nil, nil, other, testToken, "1700000001", "777", &random, plainReply)
	wrongNonce := callback.AppendEncryptedReply(nil, nil, c, testToken, "1700000001", "778", &random, plainReply)
	badSig := bytes.Replace(encrypted, []byte("<TimeStamp>1700000001"), []byte("<TimeStamp>1700000002"), 1)

	cases := []struct {
		name     string
		acct     callback.AppConfig
		body     []byte
		wantText string
		wantErr  string
	}{
		{"encrypted text", acct, encrypted, "pong", ""},
		{"success", acct, []byte("success"), "(no reply)", ""},
		{"empty", acct, nil, "(no reply)", ""},
		{"plaintext in safe mode", acct, plainReply, "", "without Encrypt"},
		{"plaintext in compat mode", callback.AppConfig{AppID: testAppID, Token: testToken, EncodingAESKey: testKey, Mode: callback.ModeCompat}, plainReply, "pong", ""},
		{"wrong appid inside", acct, wrongApp, "", "decrypt"},
		{"nonce not echoed", acct, wrongNonce, "", "Nonce"},
		{"bad MsgSignature", acct, badSig, "", "MsgSignature"},
		{"not XML", acct, []byte("{\"errcode\":1}"), "", "reply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(tc.body, tc.acct, req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Text() != tc.wantText {
				t.Errorf("Text() = %q, want %q", r.Text(), tc.wantText)
			}
		})
	}
}

// Sender's requests look to a handler as httptest.NewRequest's would, so
// tests see what a server hands them.
func TestSenderRequestIsServerSide(t *testing.T) {
	s := &Sender{AppID: testAppID, Token: testToken, EncodingAESKey: testKey}
	r, nonce := s.Push(s.Text("oUser", 1700000000, 1, "ping"))
	body, _ := io.ReadAll(r.Body)
	want := httptest.NewRequest(http.MethodPost, r.RequestURI, bytes.NewReader(body))
	if r.Method != want.Method || r.RequestURI != want.RequestURI || r.URL.String() != want.URL.String() ||
		r.Host != want.Host || r.RemoteAddr != want.RemoteAddr || r.Proto != want.Proto ||
		r.ContentLength != int64(len(body)) || r.Header.Get("Content-Type") != "text/xml" {
		t.Errorf("request %+v, want like %+v", r, want)
	}
	q := r.URL.Query()
	if q.Get("nonce") != nonce || !callback.VerifySignature(q.Get("signature"), testToken, q.Get("timestamp"), nonce) {
		t.Errorf("query %v does not carry nonce %s and a valid signature", q, nonce)
	}
	env, err := callback.ParseMessage(body)
	if err != nil || env.ToUserName != s.AccountID() || env.Get("Encrypt") == "" {
		t.Fatalf("safe-mode body %s: %v", body, err)
	}
	h := s.Handshake("echo")
	if h.Method != http.MethodGet || h.URL.Path != "/wechat/"+testAppID || h.URL.Query().Get("echostr") != "echo" || h.Body != http.NoBody {
		t.Errorf("handshake %+v", h)
	}
}

// Tests push what a misconfigured WeChat account would send: Sender signs
// with an empty token instead of refusing, as the old sender did.
func TestSenderPushesWithEmptyToken(t *testing.T) {
	s := &Sender{AppID: testAppID, EncodingAESKey: testKey}
	r, nonce := s.Push(s.Text("oUser", 1700000000, 1, "ping"))
	q := r.URL.Query()
	if !callback.VerifySignature(q.Get("signature"), "", q.Get("timestamp"), nonce) {
		t.Errorf("signature over the empty token does not verify: %v", q)
	}
}

// Seal, Send and Open for the account types beside Official Accounts,
// against the real handler: a WeCom app (receive id corpid, msg_signature
// only, encrypted reply) and a mini-program with JSON pushes in each mode
// (answered success).
func TestSealSendOpenAccountTypes(t *testing.T) {
	wecom := callback.AppConfig{Type: callback.TypeWeCom, CorpID: "ww0123456789abcdef", Agent: "1000002", Token: testToken, EncodingAESKey: testKey,
		AutoReplies: []callback.AutoReply{{Match: "ping", Reply: "pong"}}}
	apps := []callback.AppConfig{wecom}
	for _, mode := range []callback.Mode{callback.ModeSafe, callback.ModeCompat, callback.ModePlain} {
		apps = append(apps, callback.AppConfig{Type: callback.TypeMiniProgram, AppID: "wxmini" + string(mode), Token: testToken, EncodingAESKey: testKey,
			Mode: mode, DataFormat: callback.FormatJSON})
	}
	cfg := &callback.Config{Apps: apps}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	now := time.Now()

	p := Text(wecom.CorpID, "zhangsan", "ping", now.Unix(), 1)
	p.AgentID = wecom.Agent
	req, err := Seal(p, wecom, now.Unix(), Nonce(), Random())
	if err != nil {
		t.Fatal(err)
	}
	if req.Query.Has("signature") || req.Query.Has("encrypt_type") || !req.Query.Has("msg_signature") {
		t.Errorf("WeCom query %v: want msg_signature only", req.Query)
	}
	reply, err := Send(context.Background(), srv.Client(), srv.URL+"/wechat/"+wecom.ID(), wecom, req)
	if err != nil || !reply.Encrypted || reply.Text() != "pong" || reply.Message.ToUserName != "zhangsan" {
		t.Fatalf("WeCom push: %+v %v", reply, err)
	}
	// The reply is sealed for the corpid: opening it as another corp fails.
	other := wecom
	other.CorpID = "ww0000000000000000"
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/wechat/"+wecom.ID()+"?"+req.Query.Encode(), bytes.NewReader(req.Body))
	h.ServeHTTP(rec, r)
	if _, err := Open(rec.Body.Bytes(), other, req); err == nil {
		t.Error("a WeCom reply opened for another corpid")
	}

	for _, mini := range apps[1:] {
		req, err := Seal(Event("gh_0123456789ab", "oUser", "debug_demo", "", now.Unix()), mini, now.Unix(), Nonce(), Random())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(req.Body, []byte(`{"ToUserName":"gh_0123456789ab"`)) {
			t.Errorf("%s: body %s is not JSON", mini.Mode, req.Body)
		}
		if _, enc := req.Query["encrypt_type"]; enc != (mini.Mode != callback.ModePlain) {
			t.Errorf("%s: query %v", mini.Mode, req.Query)
		}
		reply, err := Send(context.Background(), srv.Client(), srv.URL+"/wechat/"+mini.AppID, mini, req)
		if err != nil || !reply.None {
			t.Errorf("%s: mini-program JSON push: %+v %v", mini.Mode, reply, err)
		}
		if ct := seen[len(seen)-1].Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", mini.Mode, ct)
		}
	}
	// A mini-program answering anything but success is an error.
	if _, err := Open([]byte("<xml><Content>x</Content></xml>"), apps[1], Request{}); err == nil {
		t.Error("a mini-program's passive reply was accepted")
	}
}

package callback_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// Handler-level tests of the account types beside Official Accounts
// (docs/callback.md, account types): WeCom apps and mini-programs.

const wecomID = wecomCorpID + ":218" // the credential id, the route's {appid}

// wecomHandler serves the WeCom app of the published vectors (agent 218)
// with an echo route, a memory store and a recording publisher; the
// vectors are from 2014, so the replay window is off.
func wecomHandler(t *testing.T, agent string) (*callback.Handler, *recorder) {
	t.Helper()
	cfg := &callback.Config{Apps: []callback.AppConfig{{Type: callback.TypeWeCom, CorpID: wecomCorpID, Agent: agent, Token: wecomToken, EncodingAESKey: wecomKey}}}
	return newHandler(t, nil, func(o *callback.Options) { o.Config, o.MaxSkew = callback.StaticConfig(cfg), -1 })
}

// wecomEnvelope is the body WeCom posts: ToUserName (the corpid), AgentID
// and Encrypt.
func wecomEnvelope(encrypt string) string {
	return "<xml><ToUserName><![CDATA[" + wecomCorpID + "]]></ToUserName><Encrypt><![CDATA[" + encrypt + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
}

func wecomQuery(sig, ts, nonce string) url.Values {
	return url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {nonce}}
}

// WeCom's URL check with its published vector: msg_signature over the
// encrypted echostr, answered with the plaintext.
func TestWeComURLCheck(t *testing.T) {
	h, _ := wecomHandler(t, "218")
	get := func(q url.Values) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/wechat/"+wecomID+"?"+q.Encode(), nil))
		return w
	}
	q := wecomQuery(wecomEchoSig, wecomEchoTimestamp, wecomEchoNonce)
	q.Set("echostr", wecomEchoStr)
	w := get(q)
	if w.Code != 200 || w.Body.String() != wecomEchoPlain || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("URL check: %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
	bad := url.Values{}
	for k, v := range q {
		bad[k] = v
	}
	bad.Set("msg_signature", strings.Repeat("0", 40))
	if w := get(bad); w.Code != 403 {
		t.Fatalf("bad msg_signature: %d", w.Code)
	}
	bad.Set("msg_signature", wecomEchoSig)
	bad.Del("echostr")
	if w := get(bad); w.Code != 400 {
		t.Fatalf("no echostr: %d", w.Code)
	}
	// Another corp with the same key and token: the receive id differs.
	cfg := &callback.Config{Apps: []callback.AppConfig{{Type: callback.TypeWeCom, CorpID: "ww0000000000000000", Agent: "218", Token: wecomToken, EncodingAESKey: wecomKey}}}
	other, _ := newHandler(t, nil, func(o *callback.Options) { o.Config, o.MaxSkew = callback.StaticConfig(cfg), -1 })
	w = httptest.NewRecorder()
	other.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/wechat/ww0000000000000000:218?"+q.Encode(), nil))
	if w.Code != 403 || strings.Contains(w.Body.String(), wecomEchoPlain) {
		t.Fatalf("another corp: %d %q", w.Code, w.Body.String())
	}
}

// WeCom's published push: verified by msg_signature over Encrypt,
// decrypted with the corpid, routed, published under the credential id
// and answered with a reply encrypted the same way; the retry gets the
// stored reply.
func TestWeComPush(t *testing.T) {
	h, rec := wecomHandler(t, "218")
	c, _ := callback.NewCipher(wecomKey, wecomCorpID)
	push := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		q := wecomQuery(wecomPushSig, wecomPushTimestamp, wecomPushNonce)
		h.ServeHTTP(w, post(wecomID, q, wecomEnvelope(wecomPushEncrypt)))
		return w
	}
	// "hello" matches no route: the push is handled (published) and
	// answered success; an echo route answers the next one.
	w := push()
	if w.Code != 200 || w.Body.String() != "success" || len(rec.published) != 1 {
		t.Fatalf("push: %d %q, published %d", w.Code, w.Body.String(), len(rec.published))
	}
	var d map[string]any
	if err := json.Unmarshal(rec.published[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d["appid"] != wecomID || d["msg_id"] != "4561255354251345929" || d["from"] != "mycreate" || d["raw_xml"] != wecomPushPlain {
		t.Fatalf("detail %s", rec.published[0].Detail)
	}
	if rec.published[0].AppID != wecomID {
		t.Fatalf("push AppID %q", rec.published[0].AppID)
	}

	// A push that gets a reply: WeCom's envelope, sealed with the corpid.
	plain := strings.Replace(wecomPushPlain, "<Content><![CDATA[hello]]></Content>", "<Content><![CDATA[echo 你好]]></Content>", 1)
	plain = strings.Replace(plain, "4561255354251345929", "4561255354251345930", 1)
	enc := c.Encrypt([16]byte{1}, []byte(plain))
	const ts, nonce = "1409659900", "1372623150"
	for i := 0; i < 2; i++ { // the second is WeChat's retry: the stored reply
		w = httptest.NewRecorder()
		h.ServeHTTP(w, post(wecomID, wecomQuery(callback.MsgSignature(wecomToken, ts, nonce, enc), ts, nonce), wecomEnvelope(enc)))
		env, err := callback.ParseMessage(w.Body.Bytes())
		if w.Code != 200 || err != nil {
			t.Fatalf("delivery %d: %d %q %v", i, w.Code, w.Body.String(), err)
		}
		if env.Get("Nonce") != nonce || !callback.VerifyMsgSignature(env.Get("MsgSignature"), wecomToken, env.Get("TimeStamp"), nonce, env.Get("Encrypt")) {
			t.Fatalf("delivery %d: reply envelope %q", i, w.Body.String())
		}
		reply, err := c.Decrypt(env.Get("Encrypt"))
		if err != nil || !strings.Contains(string(reply), "<Content><![CDATA[你好]]></Content>") || !strings.Contains(string(reply), "<ToUserName><![CDATA[mycreate]]></ToUserName>") {
			t.Fatalf("delivery %d: reply %q %v", i, reply, err)
		}
	}
	if rec.handled.Load() != 1 || len(rec.published) != 2 {
		t.Fatalf("handled %d, published %d; want 1 and 2", rec.handled.Load(), len(rec.published))
	}
}

// A push naming another agent of the corp is not this app's (403), and
// nothing runs.
func TestWeComPushForAnotherAgent(t *testing.T) {
	h, rec := wecomHandler(t, "219")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, post(wecomCorpID+":219", wecomQuery(wecomPushSig, wecomPushTimestamp, wecomPushNonce), wecomEnvelope(wecomPushEncrypt)))
	if w.Code != 403 || len(rec.published) != 0 || rec.store.writes.Load() != 0 {
		t.Fatalf("%d, published %d, store writes %d", w.Code, len(rec.published), rec.store.writes.Load())
	}
}

// Vector V2 of the protocol notes is a JSON-format push: a mini-program
// with data_format json in safe mode.
const (
	v2Token   = "AAAAA"
	v2Key     = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	v2AppID   = "wxba5fad812f8e6fb9"
	v2Query   = "signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
	v2Encrypt = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	v2Msg     = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`
	miniApp   = "wx00000000000000mini"
)

func miniConfig(mode callback.Mode) *callback.Config {
	return &callback.Config{Apps: []callback.AppConfig{
		{Type: callback.TypeMiniProgram, AppID: v2AppID, Token: v2Token, EncodingAESKey: v2Key, DataFormat: callback.FormatJSON},
		{Type: callback.TypeMiniProgram, AppID: miniApp, Token: token, EncodingAESKey: keyNow, Mode: mode, DataFormat: callback.FormatJSON},
	}}
}

// A mini-program's JSON push in safe mode (V2) is verified, decrypted,
// de-duplicated, published once with the same detail as an XML push (the
// JSON plaintext in raw_xml) and answered `success`, even when a route
// replies: mini-programs take no passive reply.
func TestMiniProgramJSONPush(t *testing.T) {
	var ran atomic.Int32
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeEvent, Event: "debug_demo"}, func(context.Context, *callback.Message) (callback.Reply, error) {
		ran.Add(1)
		return callback.TextReply{Content: "dropped"}, nil
	})
	h, rec := newHandler(t, mux, func(o *callback.Options) {
		o.Config, o.MaxSkew = callback.StaticConfig(miniConfig(callback.ModeSafe)), -1
	})
	body := `{"ToUserName":"gh_97417a04a28d","Encrypt":"` + v2Encrypt + `"}`
	for i := 0; i < 2; i++ { // and WeChat's retry
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/wechat/"+v2AppID+"?"+v2Query, strings.NewReader(body))
		h.ServeHTTP(w, r)
		if w.Code != 200 || w.Body.String() != "success" {
			t.Fatalf("delivery %d: %d %q", i, w.Code, w.Body.String())
		}
	}
	if ran.Load() != 1 || len(rec.published) != 1 {
		t.Fatalf("handled %d, published %d; want 1 and 1", ran.Load(), len(rec.published))
	}
	var d map[string]any
	if err := json.Unmarshal(rec.published[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	fields, _ := d["fields"].(map[string]any)
	if d["appid"] != v2AppID || d["msg_type"] != "event" || d["event"] != "debug_demo" || d["from"] != "o9AgO5Kd5ggOC-bXrbNODIiE3bGY" ||
		d["to"] != "gh_97417a04a28d" || d["create_time"] != float64(1714112445) || d["raw_xml"] != v2Msg ||
		fields["debug_str"] != "hello world" || fields["CreateTime"] != "1714112445" || rec.published[0].DetailType != "WeChat Event" {
		t.Fatalf("detail %s", rec.published[0].Detail)
	}
}

// JSON pushes in plain and compat mode: a 64-bit MsgId keeps its digits,
// it is the dedupe key, and nested objects and arrays read like XML.
func TestMiniProgramJSONPlainAndCompat(t *testing.T) {
	const plain = `{"ToUserName":"gh_0123456789ab","FromUserName":"oUser","CreateTime":1714112445,"MsgType":"text","Content":"hi","MsgId":23456789012345678,` +
		`"Extra":{"List":[{"N":1},{"N":2}],"Ok":true,"None":null}}`
	for _, mode := range []callback.Mode{callback.ModePlain, callback.ModeCompat} {
		h, rec := newHandler(t, callback.NewMux(), func(o *callback.Options) { o.Config = callback.StaticConfig(miniConfig(mode)) })
		q := signedQuery(now, "", false)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, post(miniApp, q, plain))
		if w.Code != 200 || w.Body.String() != "success" || len(rec.published) != 1 {
			t.Fatalf("%s: %d %q, published %d", mode, w.Code, w.Body.String(), len(rec.published))
		}
		var d struct {
			MsgID     string         `json:"msg_id"`
			DedupeKey string         `json:"dedupe_key"`
			Fields    map[string]any `json:"fields"`
		}
		json.Unmarshal(rec.published[0].Detail, &d)
		extra, _ := json.Marshal(d.Fields["Extra"])
		if d.MsgID != "23456789012345678" || d.DedupeKey != d.MsgID || string(extra) != `{"List":[{"N":"1"},{"N":"2"}],"None":"","Ok":"true"}` {
			t.Fatalf("%s: detail %s", mode, rec.published[0].Detail)
		}
	}
	// Compat: an envelope carrying Encrypt is encrypted.
	h, rec := newHandler(t, callback.NewMux(), func(o *callback.Options) { o.Config = callback.StaticConfig(miniConfig(callback.ModeCompat)) })
	c, _ := callback.NewCipher(keyNow, miniApp)
	enc := c.Encrypt([16]byte{}, []byte(plain))
	body := strings.TrimSuffix(plain, "}") + `,"Encrypt":"` + enc + `"}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, post(miniApp, signedQuery(now, enc, true), body))
	if w.Code != 200 || w.Body.String() != "success" || len(rec.published) != 1 {
		t.Fatalf("compat encrypted: %d %q, published %d", w.Code, w.Body.String(), len(rec.published))
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, post(miniApp, signedQuery(now, "", false), body)) // Encrypt present, no msg_signature
	if w.Code != 403 {
		t.Fatalf("compat Encrypt without msg_signature: %d", w.Code)
	}
}

// The bad-input rows of the new envelopes: each is a 4xx, and nothing is
// handled, written or published.
func TestBadInputTableAccountTypes(t *testing.T) {
	cfg := miniConfig(callback.ModePlain)
	cfg.Apps = append(cfg.Apps, callback.AppConfig{Type: callback.TypeWeCom, CorpID: wecomCorpID, Agent: "218", Token: wecomToken, EncodingAESKey: wecomKey})
	c, _ := callback.NewCipher(v2Key, v2AppID)
	wc, _ := callback.NewCipher(wecomKey, wecomCorpID)
	otherCorp, _ := callback.NewCipher(wecomKey, "wwother")
	ts := strconv.FormatInt(now.Unix(), 10)
	const nonce = "777"
	miniSafe := func(body, encrypt string) *http.Request {
		q := url.Values{"signature": {callback.Signature(v2Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"},
			"msg_signature": {callback.MsgSignature(v2Token, ts, nonce, encrypt)}}
		return post(v2AppID, q, body)
	}
	miniEnv := func(encrypt string) string { return `{"ToUserName":"gh_97417a04a28d","Encrypt":"` + encrypt + `"}` }
	sealed := func(c *callback.Cipher, msg string) string { return c.Encrypt([16]byte{}, []byte(msg)) }
	wecom := func(body, encrypt string, mod func(url.Values)) *http.Request {
		q := wecomQuery(callback.MsgSignature(wecomToken, ts, nonce, encrypt), ts, nonce)
		if mod != nil {
			mod(q)
		}
		return post(wecomID, q, body)
	}
	wecomGet := func(echostr string, sig string) *http.Request {
		q := wecomQuery(sig, ts, nonce)
		q.Set("echostr", echostr)
		return httptest.NewRequest(http.MethodGet, "/wechat/"+wecomID+"?"+q.Encode(), nil)
	}
	goodWeCom := sealed(wc, wecomPushPlain)
	tests := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"mini JSON envelope not JSON", miniSafe("<xml/>", "x"), 400},
		{"mini JSON envelope truncated", miniSafe(`{"ToUserName":"gh_97417a04a28d","Encrypt":"`, "x"), 400},
		{"mini JSON envelope an array", miniSafe(`[{"Encrypt":"x"}]`, "x"), 400},
		{"mini JSON envelope with trailing data", miniSafe(miniEnv(v2Encrypt)+`{}`, v2Encrypt), 400},
		{"mini JSON envelope without Encrypt", miniSafe(`{"ToUserName":"gh_97417a04a28d"}`, ""), 403},
		{"mini JSON wrong msg_signature", post(v2AppID, func() url.Values {
			q := url.Values{"signature": {callback.Signature(v2Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {"0"}}
			return q
		}(), miniEnv(v2Encrypt)), 403},
		{"mini JSON plaintext not JSON", miniSafe(miniEnv(sealed(c, "<xml><MsgType>text</MsgType></xml>")), sealed(c, "<xml><MsgType>text</MsgType></xml>")), 400},
		{"mini JSON plaintext bad CreateTime", miniSafe(miniEnv(sealed(c, `{"ToUserName":"gh_97417a04a28d","MsgType":"text","CreateTime":"soon"}`)),
			sealed(c, `{"ToUserName":"gh_97417a04a28d","MsgType":"text","CreateTime":"soon"}`)), 400},
		{"mini JSON ToUserName mismatch", miniSafe(`{"ToUserName":"gh_other","Encrypt":"`+v2Encrypt+`"}`, v2Encrypt), 403},
		{"mini JSON nested too deep", post(miniApp, signedQuery(now, "", false), strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40)), 400},
		{"mini JSON plain body not JSON", post(miniApp, signedQuery(now, "", false), "<xml><MsgType>text</MsgType></xml>"), 400},
		{"wecom no msg_signature", wecom(wecomEnvelope(goodWeCom), goodWeCom, func(q url.Values) { q.Del("msg_signature") }), 403},
		{"wecom wrong msg_signature", wecom(wecomEnvelope(goodWeCom), goodWeCom, func(q url.Values) { q.Set("msg_signature", strings.Repeat("0", 40)) }), 403},
		{"wecom stale timestamp", wecom(wecomEnvelope(goodWeCom), goodWeCom, func(q url.Values) {
			old := strconv.FormatInt(now.Unix()-3600, 10)
			q.Set("timestamp", old)
			q.Set("msg_signature", callback.MsgSignature(wecomToken, old, nonce, goodWeCom))
		}), 403},
		{"wecom plaintext body", wecom(wecomPushPlain, "", nil), 403},
		{"wecom envelope not XML", wecom("hello", "", nil), 400},
		{"wecom bad base64", wecom(wecomEnvelope("%%%"), "%%%", nil), 400},
		{"wecom sealed for another corp", wecom(wecomEnvelope(sealed(otherCorp, wecomPushPlain)), sealed(otherCorp, wecomPushPlain), nil), 403},
		{"wecom ToUserName mismatch", wecom(strings.Replace(wecomEnvelope(goodWeCom), wecomCorpID, "wwother", 1), goodWeCom, nil), 403},
		{"wecom URL check bad base64 echostr", wecomGet("%%%", callback.MsgSignature(wecomToken, ts, nonce, "%%%")), 400},
		{"wecom URL check echostr for another corp", wecomGet(sealed(otherCorp, "123"), callback.MsgSignature(wecomToken, ts, nonce, sealed(otherCorp, "123"))), 403},
		{"wecom URL check with only an OA signature", httptest.NewRequest(http.MethodGet, "/wechat/"+wecomID+"?signature="+callback.Signature(wecomToken, ts, nonce)+
			"&timestamp="+ts+"&nonce="+nonce+"&echostr=abc", nil), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := newHandler(t, nil, func(o *callback.Options) {
				o.Config = callback.StaticConfig(cfg)
				o.Logger = slog.New(slog.DiscardHandler)
			})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tt.status, w.Body.String())
			}
			if rec.handled.Load() != 0 || rec.store.writes.Load() != 0 || len(rec.published) != 0 {
				t.Fatalf("handled %d, store writes %d, published %d", rec.handled.Load(), rec.store.writes.Load(), len(rec.published))
			}
		})
	}
	// The same shapes, well formed, are accepted: the rows fail for their
	// own reason.
	h, rec := newHandler(t, nil, func(o *callback.Options) { o.Config = callback.StaticConfig(cfg) })
	for _, r := range []*http.Request{
		wecom(wecomEnvelope(goodWeCom), goodWeCom, nil),
		miniSafe(miniEnv(sealed(c, v2Msg)), sealed(c, v2Msg)),
		wecomGet(sealed(wc, "123"), callback.MsgSignature(wecomToken, ts, nonce, sealed(wc, "123"))),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("control %s: %d %q", r.URL, w.Code, w.Body.String())
		}
	}
	if len(rec.published) != 2 {
		t.Fatalf("controls published %d, want 2", len(rec.published))
	}
}

package chaos

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
)

// badCase is one malformed or forged request.
type badCase struct {
	name string
	req  func() *http.Request
}

// callbackBadInput builds forged and malformed pushes for app a (every
// one must be a 4xx: never a 5xx, never accepted).
func (w *world) callbackBadInput(a, other app) []badCase {
	now := w.clock.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := callbacktest.Nonce()
	path := "/wechat/" + a.ID
	signed := func(enc string, extra url.Values) string {
		v := url.Values{"signature": {callback.Signature(a.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
			"encrypt_type": {"aes"}, "msg_signature": {callback.MsgSignature(a.Token, ts, nonce, enc)}}
		for k, x := range extra {
			v[k] = x
		}
		return v.Encode()
	}
	envelope := func(enc string) string {
		return "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	}
	post := func(target, body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
			r.Header.Set("Content-Type", "text/xml")
			return r
		}
	}
	seal := func(key, appid, plain string) string {
		c, err := callback.NewCipher(key, appid)
		if err != nil { // runs in a step's goroutine: no Fatal
			w.t.Errorf("chaos: %v", err)
			return ""
		}
		var r [16]byte
		return c.Encrypt(r, []byte(plain))
	}
	s := &callbacktest.Sender{AppID: a.ID, Token: a.Token, EncodingAESKey: a.AESKey, Now: w.clock.Now}
	good := s.Text("oChaosForger", now.Unix(), 1, "forged")
	q, body, _ := s.PushParts(good)
	forged, _ := url.ParseQuery(q)
	forged.Set("signature", strings.Repeat("0", 40))
	badSig := forged.Encode()
	stale := &callbacktest.Sender{AppID: a.ID, Token: a.Token, EncodingAESKey: a.AESKey, Now: func() time.Time { return now.Add(-time.Hour) }}
	staleQ, staleBody, _ := stale.PushParts(good)
	notBlocks := base64.StdEncoding.EncodeToString(make([]byte, 20))
	wrongKey := seal(other.AESKey, a.ID, good)
	wrongApp := seal(a.AESKey, other.ID, good)
	notXML := seal(a.AESKey, a.ID, "this is not xml")
	handshake := url.Values{"signature": {callback.Signature(a.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}.Encode()
	return []badCase{
		{"bad signature", post(path+"?"+badSig, body)},
		{"signature of another query", post(path+"?"+strings.Replace(q, "nonce=", "nonce=1", 1), body)},
		{"stale timestamp", post(path+"?"+staleQ, staleBody)},
		{"plaintext in safe mode", post(path+"?"+url.Values{"signature": {callback.Signature(a.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}}.Encode(), good)},
		{"not XML", post(path+"?"+signed("x", nil), "hello")},
		{"DOCTYPE", post(path+"?"+signed("x", nil), `<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>`)},
		{"no Encrypt", post(path+"?"+signed("", nil), "<xml><ToUserName>gh</ToUserName></xml>")},
		{"bad msg_signature", post(path+"?"+signed("forged", nil), body)},
		{"Encrypt not base64", post(path+"?"+signed("!!not*base64!!", nil), envelope("!!not*base64!!"))},
		{"Encrypt not whole AES blocks", post(path+"?"+signed(notBlocks, nil), envelope(notBlocks))},
		{"another app's key", post(path+"?"+signed(wrongKey, nil), envelope(wrongKey))},
		{"another app's id inside", post(path+"?"+signed(wrongApp, nil), envelope(wrongApp))},
		{"decrypts to non-XML", post(path+"?"+signed(notXML, nil), envelope(notXML))},
		{"body over 64 KiB", post(path+"?"+q, strings.Repeat("x", 70<<10))},
		{"unknown appid", post("/wechat/wxnobody?"+q, body)},
		{"handshake without echostr", func() *http.Request { return httptest.NewRequest(http.MethodGet, path+"?"+handshake, nil) }},
		{"PUT", func() *http.Request { return httptest.NewRequest(http.MethodPut, path+"?"+q, strings.NewReader(body)) }},
	}
}

// tokenBadInput is malformed requests to the token function.
func tokenBadInput() []badCase {
	get := func(target string) func() *http.Request {
		return func() *http.Request { return httptest.NewRequest(http.MethodGet, target, nil) }
	}
	post := func(target, body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
	}
	return []badCase{
		{"GET /token without appid", get("/token")},
		{"GET /token bad kind", get("/token?appid=wxc4a05000000000&kind=session_key")},
		{"GET /token bad escape", get("/token?appid=%zz")},
		{"POST /token/invalidate bad JSON", post("/token/invalidate", `{"appid":`)},
		{"POST /token/invalidate no token", post("/token/invalidate", `{"appid":"wxc4a05000000000"}`)},
		{"POST /token/invalidate bad kind", post("/token/invalidate", `{"appid":"wxc4a05000000000","kind":"x","token":"t"}`)},
		{"POST /token/invalidate huge body", post("/token/invalidate", `{"appid":"`+strings.Repeat("a", 100<<10)+`"}`)},
		{"PUT /token", func() *http.Request { return httptest.NewRequest(http.MethodPut, "/token?appid=wx", nil) }},
		{"GET /elsewhere", get("/elsewhere")},
	}
}

// badInput sends every bad case once and records the statuses.
func (w *world) badInput(step int) {
	a, other := w.apps[step%len(w.apps)], w.apps[(step+1)%len(w.apps)]
	h := w.callbacks[step%len(w.callbacks)]
	for _, c := range w.callbackBadInput(a, other) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, c.req())
		w.acct.badStatus("callback: "+c.name, rec.Code)
	}
	srv := w.callers[step%len(w.callers)].srv
	for _, c := range tokenBadInput() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, c.req())
		w.acct.badStatus("token: "+c.name, rec.Code)
	}
}

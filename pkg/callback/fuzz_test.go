package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecrypt: decryption never panics, fails only with the documented
// errors, and encrypt→decrypt is the identity.
func FuzzDecrypt(f *testing.F) {
	f.Add([]byte("<xml/>"), v4Encrypt)
	f.Add([]byte{}, v3Encrypt)
	f.Add([]byte("我是中文abcd123"), "AAAA")
	c, _ := NewCipher(v3Key, v4AppID)
	f.Fuzz(func(t *testing.T, msg []byte, encrypt string) {
		var r [16]byte
		copy(r[:], msg)
		enc := c.Encrypt(r, msg)
		got, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip of %q: %v", msg, err)
		}
		if _, err := c.Decrypt(encrypt); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAppIDMismatch) {
			t.Fatalf("undocumented error %v", err)
		}
	})
}

// FuzzParseMessage: parsing, the typed view and the EventBridge detail
// never panic, and the detail is JSON carrying the raw XML.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(v4Body))
	f.Add([]byte("<xml><MsgType>event</MsgType><Event>pic_weixin</Event><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item></PicList></SendPicsInfo></xml>"))
	f.Add([]byte("<xml><MsgType>location</MsgType><Location_X>1e400</Location_X></xml>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		_ = m.Typed()
		_ = m.DedupeKey()
		p, err := NewPush(m)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			RawXML string `json:"raw_xml"`
		}
		if err := json.Unmarshal(p.Detail, &d); err != nil || d.RawXML != string(data) && strings.ToValidUTF8(string(data), "\uFFFD") != d.RawXML {
			t.Fatalf("detail %s: %v", p.Detail, err)
		}
	})
}

// FuzzHandler drives the whole http.Handler. kind selects how the input is
// delivered: 0 raw query and body; 1 the body as a plaintext message,
// encrypted and signed as WeChat would (safe mode); 2 the body as the
// Encrypt text, correctly signed; 3 the body signed for a plain-mode app;
// 4 the body as a mini-program's JSON plaintext in a JSON envelope; 5 the
// body as a WeCom app's plaintext, sealed for the corp.
// Invariants: no panic, no 5xx, status in the documented set, and the
// handler runs only for requests that end in 200.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "signature=x&timestamp=1&nonce=2", []byte("<xml/>"))
	f.Add(uint8(1), "", []byte("<xml><ToUserName>gh_1</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>echo hi</Content><MsgId>1</MsgId></xml>"))
	f.Add(uint8(1), "", []byte("<xml><ToUserName>gh_1</ToUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>"))
	f.Add(uint8(2), "", []byte(v4Encrypt))
	f.Add(uint8(3), "encrypt_type=aes", []byte("<xml><MsgType>text</MsgType><Content>hi</Content></xml>"))
	f.Add(uint8(4), "", []byte(`{"ToUserName":"gh_1","FromUserName":"u","CreateTime":1,"MsgType":"text","Content":"echo hi","MsgId":1}`))
	f.Add(uint8(5), "", []byte("<xml><ToUserName>ww1</ToUserName><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>echo hi</Content><AgentID>1</AgentID></xml>"))
	const (
		appSafe  = "wx0123456789abcdef"
		appPlain = "wxplain"
		appMini  = "wxmini"
		token    = "fuzztoken"
	)
	now := time.Unix(1714112445, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	cfg := &Config{Apps: []AppConfig{
		{AppID: appSafe, Token: token, EncodingAESKey: v3Key, Mode: ModeSafe, Welcome: "w", AutoReplies: []AutoReply{{Prefix: "h", Reply: "r"}}},
		{AppID: appPlain, Token: token, Mode: ModePlain},
		{Type: TypeMiniProgram, AppID: appMini, Token: token, EncodingAESKey: v3Key, DataFormat: FormatJSON},
		{Type: TypeWeCom, CorpID: "ww1", Agent: "1", Token: token, EncodingAESKey: v3Key},
	}}
	c, _ := NewCipher(v3Key, appSafe)
	cMini, _ := NewCipher(v3Key, appMini)
	cWeCom, _ := NewCipher(v3Key, "ww1")
	f.Fuzz(func(t *testing.T, kind uint8, rawQuery string, body []byte) {
		ran := false
		mux := NewMux()
		mux.HandleFunc(Match{MsgType: MsgTypeText, ContentPrefix: "echo "}, func(_ context.Context, m *Message) (Reply, error) {
			ran = true
			return TextReply{Content: m.Content}, nil
		})
		h, _ := NewHandler(Options{Config: StaticConfig(cfg), Routes: mux, Clock: func() time.Time { return now },
			Store: NewMemoryStore(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
		appid := appSafe
		q, _ := url.ParseQuery(rawQuery)
		if q == nil {
			q = url.Values{}
		}
		nonce := "n"
		switch kind % 6 {
		case 1, 2:
			enc := string(body)
			if kind%6 == 1 {
				enc = c.Encrypt([16]byte{}, body)
				body = []byte("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
			} else {
				body = []byte("<xml><ToUserName>gh_1</ToUserName><Encrypt>" + enc + "</Encrypt></xml>")
			}
			q.Set("signature", Signature(token, ts, nonce))
			q.Set("timestamp", ts)
			q.Set("nonce", nonce)
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", MsgSignature(token, ts, nonce, enc))
		case 3:
			appid = appPlain
			q.Set("signature", Signature(token, ts, nonce))
			q.Set("timestamp", ts)
			q.Set("nonce", nonce)
		case 4:
			appid = appMini
			enc := cMini.Encrypt([16]byte{}, body)
			body = []byte(`{"ToUserName":"gh_1","Encrypt":"` + enc + `"}`)
			q.Set("signature", Signature(token, ts, nonce))
			q.Set("timestamp", ts)
			q.Set("nonce", nonce)
			q.Set("encrypt_type", "aes")
			q.Set("msg_signature", MsgSignature(token, ts, nonce, enc))
		case 5:
			appid = "ww1:1"
			enc := cWeCom.Encrypt([16]byte{}, body)
			body = []byte("<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>")
			q.Set("timestamp", ts)
			q.Set("nonce", nonce)
			q.Set("msg_signature", MsgSignature(token, ts, nonce, enc))
		}
		req := httptest.NewRequest(http.MethodPost, "/wechat/"+appid, bytes.NewReader(body))
		req.URL.RawQuery = q.Encode()
		if kind%6 == 0 {
			req.URL.RawQuery = rawQuery
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200:
		case 400, 403, 404, 413:
			if ran {
				t.Fatalf("handler ran for a %d", w.Code)
			}
		default:
			t.Fatalf("status %d for kind %d", w.Code, kind%6)
		}
	})
}

// FuzzParseJSON: a JSON push is accepted exactly when encoding/json finds
// one valid object (not nested deeper than the XML limit), never panics,
// and an accepted one has a publishable detail carrying the raw text.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"ToUserName":"gh_1","FromUserName":"u","CreateTime":1714112445,"MsgType":"text","Content":"hi","MsgId":23456789012345678}`))
	f.Add([]byte(`{"a":[1,{"b":null},[true,"x"]],"c":{}}`))
	f.Add([]byte(`{"a":1} {}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseJSON(string(data), nil)
		var v any
		valid := json.Unmarshal(data, &v) == nil
		_, object := v.(map[string]any)
		deep := strings.Count(string(data), "{")+strings.Count(string(data), "[") > 32
		if err == nil && (!valid || !object) {
			t.Fatalf("%q accepted; encoding/json: valid %v, object %v", data, valid, object)
		}
		if err != nil && valid && object && !deep {
			t.Fatalf("%q rejected (%v), a valid object", data, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		m, err := parseJSONMessage(string(data))
		if err != nil {
			return
		}
		p, err := NewPush(m)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			RawXML string `json:"raw_xml"`
		}
		if err := json.Unmarshal(p.Detail, &d); err != nil || d.RawXML != string(data) && strings.ToValidUTF8(string(data), "\uFFFD") != d.RawXML {
			t.Fatalf("detail %s: %v", p.Detail, err)
		}
	})
}

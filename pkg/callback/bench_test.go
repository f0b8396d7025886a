package callback_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
)

// benchWriter is a reusable ResponseWriter that keeps the last body.
type benchWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(s int)           { w.status = s }
func (w *benchWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

// benchRequest is a safe-mode text push as WeChat sends it.
func benchRequest(b *testing.B, content string) (*http.Request, *bytes.Reader, []byte, *callbacktest.Sender, string) {
	s := &callbacktest.Sender{AppID: appSafe, Token: token, EncodingAESKey: keyNow, Account: account, Now: clock}
	msg := s.Text("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", now.Unix(), 6054768590064713728, content)
	q, body, nonce := s.PushParts(msg)
	rd := bytes.NewReader([]byte(body))
	req := httptest.NewRequest(http.MethodPost, "/wechat/"+appSafe+"?"+q, rd)
	return req, rd, []byte(body), s, nonce
}

// BenchmarkSafeModePipeline is one push through Handler.ServeHTTP: verify
// signature, timestamp and msg_signature, decrypt, parse, route, build a
// text reply, encrypt it. No DynamoDB, no publisher; logging disabled.
//
//   - auto_reply: the route is a configured auto_replies entry (built-in,
//     runs inline), as in the deployed callback function.
//   - app_handler: the route is an application handler on a Mux (library
//     use), which runs on its own goroutine under the 4 s deadline; the
//     extra cost is that hand-off (BenchmarkRoute).
//
// Compare with BenchmarkSafeModePipelineReference run in the same
// conditions: on a shared machine wall time varies a lot, so take several.
func BenchmarkSafeModePipeline(b *testing.B) {
	h := benchHandler(b)
	for _, bc := range benchRoutes {
		b.Run(bc.name, func(b *testing.B) {
			req, rd, body, s, nonce := benchRequest(b, bc.content)
			w := &benchWriter{h: http.Header{}}
			h.ServeHTTP(w, req)
			if plain, err := s.OpenReply(w.body.Bytes(), nonce); w.status != 200 || !strings.Contains(plain, "you said: hello, 你好") {
				b.Fatalf("%d %q %v", w.status, w.body.String(), err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rd.Reset(body)
				w.body.Reset()
				h.ServeHTTP(w, req)
			}
		})
	}
}

// benchHandler is the Handler of the pipeline benchmarks: the test app
// with an auto reply, and an application handler for "app …" texts.
func benchHandler(b *testing.B) *callback.Handler {
	cfg := testConfig()
	cfg.Apps[0].AutoReplies = append(cfg.Apps[0].AutoReplies, callback.AutoReply{Match: "hello, 你好", Reply: "you said: hello, 你好"})
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText, ContentPrefix: "app "}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		return callback.TextReply{Content: "you said: " + strings.TrimPrefix(m.Content, "app ")}, nil
	})
	h, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), Routes: mux, Clock: clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchRoutes are the two routes of the pipeline benchmarks, with the
// pushed text and the reference's way of doing the same.
var benchRoutes = []struct {
	name, content string
	reference     refRoute
}{{"auto_reply", "hello, 你好", refAutoReply}, {"app_handler", "app hello, 你好", refAppHandler}}

// --- the straightforward way, for a ratio ------------------------------

type refEnvelope struct {
	ToUserName string `xml:"ToUserName"`
	Encrypt    string `xml:"Encrypt"`
}

type refMessage struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	CreateTime   int64  `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	Content      string `xml:"Content"`
	MsgID        int64  `xml:"MsgId"`
	Event        string `xml:"Event"`
	EventKey     string `xml:"EventKey"`
}

type cdata struct {
	Value string `xml:",cdata"`
}

type refReply struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata    `xml:"ToUserName"`
	FromUserName cdata    `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      cdata    `xml:"MsgType"`
	Content      cdata    `xml:"Content"`
}

type refEncrypted struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      cdata    `xml:"Encrypt"`
	MsgSignature cdata    `xml:"MsgSignature"`
	TimeStamp    string   `xml:"TimeStamp"`
	Nonce        cdata    `xml:"Nonce"`
}

func refSign(parts ...string) string {
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// refRoute answers a parsed message with the reply's Content ("" for
// `success`), as the route of a reference pipeline.
type refRoute func(ctx context.Context, msg *refMessage) (string, error)

// refAutoReply is the built-in route: a configured reply, computed inline.
func refAutoReply(ctx context.Context, msg *refMessage) (string, error) {
	if msg.MsgType != "text" {
		return "", nil
	}
	return "you said: " + msg.Content, nil
}

// refAppHandler is an application handler under docs/callback.md's deadline, run
// the straightforward way: on its own goroutine with context.WithTimeout,
// and `success` if it has not answered by then.
func refAppHandler(ctx context.Context, msg *refMessage) (string, error) {
	handler := func(ctx context.Context, msg *refMessage) (string, error) {
		return "you said: " + strings.TrimPrefix(msg.Content, "app "), nil
	}
	type result struct {
		content string
		err     error
	}
	ctx, cancel := context.WithTimeout(ctx, callback.DefaultHandlerTimeout)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		content, err := handler(ctx, msg)
		done <- result{content, err}
	}()
	select {
	case r := <-done:
		return r.content, r.err
	case <-ctx.Done():
		return "", nil
	}
}

// referencePipeline does the same work as the Handler the way common SDKs
// do: url.ParseQuery, sort+join+sha1, encoding/xml, a fresh AES cipher per
// message, PKCS#7 by hand; route answers the message.
func referencePipeline(w http.ResponseWriter, r *http.Request, route refRoute) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if refSign(token, ts, nonce) != q.Get("signature") {
		return errors.New("signature")
	}
	t, _ := strconv.ParseInt(ts, 10, 64)
	if d := clock().Unix() - t; d > 300 || d < -300 {
		return errors.New("timestamp")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return err
	}
	var env refEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return err
	}
	if refSign(token, ts, nonce, env.Encrypt) != q.Get("msg_signature") {
		return errors.New("msg_signature")
	}
	key, _ := base64.StdEncoding.DecodeString(keyNow + "=")
	block, _ := aes.NewCipher(key)
	ct, err := base64.StdEncoding.DecodeString(env.Encrypt)
	if err != nil {
		return err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	pt = pt[:len(pt)-pad]
	n := binary.BigEndian.Uint32(pt[16:20])
	if string(pt[20+n:]) != appSafe {
		return errors.New("appid")
	}
	var msg refMessage
	if err := xml.Unmarshal(pt[20:20+n], &msg); err != nil {
		return err
	}
	if msg.ToUserName != env.ToUserName {
		return errors.New("to")
	}
	content, err := route(r.Context(), &msg)
	if err != nil {
		return err
	}
	if content == "" {
		w.WriteHeader(200)
		_, err = io.WriteString(w, "success")
		return err
	}
	reply, err := xml.Marshal(refReply{ToUserName: cdata{msg.FromUserName}, FromUserName: cdata{msg.ToUserName},
		CreateTime: clock().Unix(), MsgType: cdata{"text"}, Content: cdata{content}})
	if err != nil {
		return err
	}
	random := make([]byte, 16)
	rand.Read(random)
	var plain bytes.Buffer
	plain.Write(random)
	binary.Write(&plain, binary.BigEndian, uint32(len(reply)))
	plain.Write(reply)
	plain.WriteString(appSafe)
	p := 32 - plain.Len()%32
	plain.Write(bytes.Repeat([]byte{byte(p)}, p))
	out := make([]byte, plain.Len())
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain.Bytes())
	enc := base64.StdEncoding.EncodeToString(out)
	now := strconv.FormatInt(clock().Unix(), 10)
	resp, err := xml.Marshal(refEncrypted{Encrypt: cdata{enc}, MsgSignature: cdata{refSign(token, now, nonce, enc)}, TimeStamp: now, Nonce: cdata{nonce}})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(200)
	_, err = w.Write(resp)
	return err
}

// BenchmarkSafeModePipelineReference is the same work as each route of
// BenchmarkSafeModePipeline done the straightforward way: auto_reply
// answers inline; app_handler runs the handler on a goroutine under a
// context.WithTimeout of 4 s, as docs/callback.md requires of handlers.
func BenchmarkSafeModePipelineReference(b *testing.B) {
	for _, bc := range benchRoutes {
		b.Run(bc.name, func(b *testing.B) {
			req, rd, body, s, nonce := benchRequest(b, bc.content)
			w := &benchWriter{h: http.Header{}}
			if err := referencePipeline(w, req, bc.reference); err != nil {
				b.Fatal(err)
			}
			if plain, err := s.OpenReply(w.body.Bytes(), nonce); err != nil || !strings.Contains(plain, "you said: hello, 你好") {
				b.Fatalf("reference pipeline reply %q: %v", plain, err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				rd.Reset(body)
				w.body.Reset()
				if err := referencePipeline(w, req, bc.reference); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseMessage compares ParseMessage with encoding/xml.Unmarshal
// into a struct on the V4 text message.
func BenchmarkParseMessage(b *testing.B) {
	msg := []byte("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>")
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := callback.ParseMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m refMessage
			if err := xml.Unmarshal(msg, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

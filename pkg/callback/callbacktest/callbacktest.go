// Package callbacktest plays WeChat's side of the callback protocol: it
// builds a message or event push, signs it (signature, and msg_signature
// over the Encrypt field), encrypts it with the account's EncodingAESKey,
// and opens the reply the endpoint sends back (checking its MsgSignature,
// decrypting it and checking the embedded AppID).
//
// Seal, Send and Open talk to a callback URL exactly as WeChat's servers
// would; `wxcentral send` uses them. Sender builds the same pushes as
// *http.Request values to hand to a handler's ServeHTTP in tests. It does
// not import package testing, so a command may link it.
package callbacktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// Push is one message or event as WeChat pushes it. Empty optional fields
// are left out of the XML.
type Push struct {
	ToUserName   string // the account's original id (gh_…)
	FromUserName string // the sender's openid
	CreateTime   int64  // unix seconds
	MsgType      string // "text", "event", …
	Content      string // text messages
	Event        string // events: "subscribe", "CLICK", …
	EventKey     string
	MsgID        int64  // ordinary messages carry one; 0 leaves it out
	AgentID      string // WeCom pushes name their agent; empty leaves it out
}

// Text is a text message push.
func Text(to, from, content string, createTime, msgID int64) Push {
	return Push{ToUserName: to, FromUserName: from, CreateTime: createTime,
		MsgType: callback.MsgTypeText, Content: content, MsgID: msgID}
}

// Event is an event push (MsgType "event").
func Event(to, from, event, eventKey string, createTime int64) Push {
	return Push{ToUserName: to, FromUserName: from, CreateTime: createTime,
		MsgType: callback.MsgTypeEvent, Event: event, EventKey: eventKey}
}

// Validate checks the fields WeChat always sends.
func (p Push) Validate() error {
	switch {
	case p.ToUserName == "":
		return errors.New("push: ToUserName: missing")
	case p.FromUserName == "":
		return errors.New("push: FromUserName: missing")
	case p.MsgType == "":
		return errors.New("push: MsgType: missing")
	case p.MsgType == callback.MsgTypeEvent && p.Event == "":
		return errors.New("push: Event: missing for an event push")
	}
	return nil
}

// XML is the plaintext push document in WeChat's layout (text in CDATA,
// numbers bare).
func (p Push) XML() []byte {
	b := []byte("<xml>")
	b = appendCDATA(b, "ToUserName", p.ToUserName)
	b = appendCDATA(b, "FromUserName", p.FromUserName)
	b = appendNumber(b, "CreateTime", p.CreateTime)
	b = appendCDATA(b, "MsgType", p.MsgType)
	if p.Content != "" || p.MsgType == callback.MsgTypeText {
		b = appendCDATA(b, "Content", p.Content)
	}
	if p.Event != "" {
		b = appendCDATA(b, "Event", p.Event)
	}
	if p.EventKey != "" {
		b = appendCDATA(b, "EventKey", p.EventKey)
	}
	if p.MsgID != 0 {
		b = appendNumber(b, "MsgId", p.MsgID)
	}
	if p.AgentID != "" {
		b = appendCDATA(b, "AgentID", p.AgentID)
	}
	return append(b, "</xml>"...)
}

// JSON is the plaintext push document as a mini-program with data_format
// json receives it: the XML's fields as one JSON object, numbers bare.
func (p Push) JSON() []byte {
	var content *string
	if p.Content != "" || p.MsgType == callback.MsgTypeText {
		content = &p.Content
	}
	b, err := json.Marshal(struct {
		ToUserName   string  `json:"ToUserName"`
		FromUserName string  `json:"FromUserName"`
		CreateTime   int64   `json:"CreateTime"`
		MsgType      string  `json:"MsgType"`
		Content      *string `json:"Content,omitempty"`
		Event        string  `json:"Event,omitempty"`
		EventKey     string  `json:"EventKey,omitempty"`
		MsgID        int64   `json:"MsgId,omitempty"`
		AgentID      string  `json:"AgentID,omitempty"`
	}{p.ToUserName, p.FromUserName, p.CreateTime, p.MsgType, content, p.Event, p.EventKey, p.MsgID, p.AgentID})
	if err != nil { // strings and integers always marshal
		panic(fmt.Sprintf("callbacktest: %v", err))
	}
	return b
}

// Document is p's plaintext in app's data format: JSON for a mini-program
// with data_format json, XML otherwise.
func (p Push) Document(app callback.AppConfig) []byte {
	if app.DataFormat == callback.FormatJSON {
		return p.JSON()
	}
	return p.XML()
}

func appendCDATA(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, "><![CDATA["...)
	// "]]>" cannot appear inside one CDATA section: split it across two.
	b = append(b, strings.ReplaceAll(value, "]]>", "]]]]><![CDATA[>")...)
	b = append(b, "]]></"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendNumber(b []byte, name string, v int64) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendInt(b, v, 10)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// modeOf is app's mode with the default spelled out.
func modeOf(app callback.AppConfig) callback.Mode {
	if app.Mode == "" {
		return callback.ModeSafe
	}
	return app.Mode
}

// Request is a sealed push: the query string and body to POST.
type Request struct {
	Query     url.Values
	Body      []byte
	Timestamp string
	Nonce     string
}

// Seal signs (and, unless app is in plain mode, encrypts) p as WeChat
// would for the account app (its type, AppID or CorpID, Token,
// EncodingAESKey, Mode and DataFormat) at timestamp (unix seconds) with
// nonce and the 16 random bytes of the encryption. Safe mode sends only
// ToUserName and Encrypt; compat mode sends the plaintext fields and
// Encrypt. A mini-program with data_format json gets the same in JSON. A
// WeCom app's push is always encrypted with the corpid as receive id,
// signed by msg_signature alone, in WeCom's envelope (ToUserName, Encrypt,
// AgentID).
func Seal(p Push, app callback.AppConfig, timestamp int64, nonce string, random [16]byte) (Request, error) {
	if err := p.Validate(); err != nil {
		return Request{}, err
	}
	if app.Token == "" {
		return Request{}, errors.New("push: callback token: missing")
	}
	return seal(p.Document(app), p.ToUserName, p.FromUserName, p.AgentID, app, timestamp, nonce, random)
}

// seal is Seal for any plaintext document and account, well-formed or not,
// so tests can push what a misconfigured or hostile sender would.
func seal(plain []byte, toUser, openid, agentID string, app callback.AppConfig, timestamp int64, nonce string, random [16]byte) (Request, error) {
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{}
	wecom := app.Type == callback.TypeWeCom
	if !wecom { // WeCom authenticates by msg_signature only
		q.Set("signature", callback.Signature(app.Token, ts, nonce))
	}
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	if !wecom {
		q.Set("openid", openid)
	}
	mode := modeOf(app)
	if mode == callback.ModePlain && !wecom {
		return Request{Query: q, Body: plain, Timestamp: ts, Nonce: nonce}, nil
	}
	c, err := callback.NewCipher(app.EncodingAESKey, app.ReceiveID())
	if err != nil {
		return Request{}, fmt.Errorf("push: encoding_aes_key of %s: %w", app.ID(), err)
	}
	enc := c.Encrypt(random, plain)
	if !wecom { // WeCom sends no encrypt_type
		q.Set("encrypt_type", "aes")
	}
	q.Set("msg_signature", callback.MsgSignature(app.Token, ts, nonce, enc))
	body, err := envelope(plain, toUser, agentID, enc, app)
	if err != nil {
		return Request{}, err
	}
	return Request{Query: q, Body: body, Timestamp: ts, Nonce: nonce}, nil
}

// envelope is the body carrying Encrypt in app's data format and mode.
func envelope(plain []byte, toUser, agentID, enc string, app callback.AppConfig) ([]byte, error) {
	compat := modeOf(app) == callback.ModeCompat
	if app.DataFormat == callback.FormatJSON {
		if !compat {
			return json.Marshal(struct {
				ToUserName string `json:"ToUserName"`
				Encrypt    string `json:"Encrypt"`
			}{toUser, enc})
		}
		// The plaintext object with Encrypt added.
		e, _ := json.Marshal(enc)
		body := bytes.TrimSuffix(bytes.TrimSpace(bytes.Clone(plain)), []byte("}"))
		body = append(body, `,"Encrypt":`...)
		body = append(body, e...)
		return append(body, '}'), nil
	}
	var body []byte
	if compat {
		body = bytes.TrimSuffix(bytes.Clone(plain), []byte("</xml>"))
	} else {
		body = appendCDATA([]byte("<xml>"), "ToUserName", toUser)
	}
	body = appendCDATA(body, "Encrypt", enc)
	if app.Type == callback.TypeWeCom && agentID != "" {
		body = appendCDATA(body, "AgentID", agentID)
	}
	return append(body, "</xml>"...), nil
}

// Nonce returns a random decimal nonce like WeChat's.
func Nonce() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return strconv.FormatUint(uint64(n), 10)
}

// Random returns the 16 random bytes WeChat puts before each encrypted
// message.
func Random() [16]byte {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return r
}

// Reply is what the endpoint answered.
type Reply struct {
	// None is true for "success" or an empty body: no passive reply.
	None bool
	// Encrypted is true when the reply came in an Encrypt envelope.
	Encrypted bool
	// Message is the plaintext reply, parsed; nil when None.
	Message *callback.Message
}

// Text is the reply's Content for a text reply, else a one-line summary.
func (r Reply) Text() string {
	switch {
	case r.None:
		return "(no reply)"
	case r.Message.MsgType == callback.MsgTypeText:
		return r.Message.Content
	}
	return fmt.Sprintf("(%s reply) %s", r.Message.MsgType, r.Message.Raw)
}

// Open reads the endpoint's answer to req. An encrypted reply must carry a
// valid MsgSignature, echo the request's nonce and decrypt to a message for
// app's receive id (the corpid of a WeCom app); a safe-mode account must
// not answer in plaintext, and a mini-program answers only `success`.
func Open(body []byte, app callback.AppConfig, req Request) (Reply, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "success" {
		return Reply{None: true}, nil
	}
	if app.Type == callback.TypeMiniProgram {
		return Reply{}, errors.New("reply: a mini-program takes no passive reply, but the endpoint answered other than success")
	}
	env, err := callback.ParseMessage(trimmed)
	if err != nil {
		return Reply{}, fmt.Errorf("reply: %w", err)
	}
	enc := env.Get("Encrypt")
	mode := modeOf(app)
	if enc == "" {
		if mode == callback.ModeSafe {
			return Reply{}, errors.New("reply: safe mode account answered without Encrypt")
		}
		return Reply{Message: env}, nil
	}
	if mode == callback.ModePlain && app.Type != callback.TypeWeCom {
		return Reply{}, errors.New("reply: plain mode account answered with Encrypt")
	}
	ts, nonce := env.Get("TimeStamp"), env.Get("Nonce")
	if nonce != req.Nonce {
		return Reply{}, fmt.Errorf("reply: Nonce %q does not echo the request's nonce %q", nonce, req.Nonce)
	}
	if !callback.VerifyMsgSignature(env.Get("MsgSignature"), app.Token, ts, nonce, enc) {
		return Reply{}, errors.New("reply: MsgSignature does not verify")
	}
	c, err := callback.NewCipher(app.EncodingAESKey, app.ReceiveID())
	if err != nil {
		return Reply{}, fmt.Errorf("reply: encoding_aes_key of %s: %w", app.ID(), err)
	}
	plain, err := c.Decrypt(enc)
	if err != nil {
		return Reply{}, fmt.Errorf("reply: decrypt: %w", err)
	}
	msg, err := callback.ParseMessage(plain)
	if err != nil {
		return Reply{}, fmt.Errorf("reply: decrypted: %w", err)
	}
	return Reply{Encrypted: true, Message: msg}, nil
}

// MaxReplyBytes bounds the reply body Send reads.
const MaxReplyBytes = 1 << 20

// Send POSTs req to the callback URL endpoint (its own query is kept and
// req's parameters added) and opens the reply. A status other than 200 is
// an error carrying the status and the start of the body.
func Send(ctx context.Context, hc *http.Client, endpoint string, app callback.AppConfig, req Request) (Reply, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Reply{}, fmt.Errorf("url: must be an http or https URL")
	}
	q := u.Query()
	for k, vs := range req.Query {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(req.Body))
	if err != nil {
		return Reply{}, fmt.Errorf("post %s: %w", endpoint, err)
	}
	ctype := "text/xml"
	if app.DataFormat == callback.FormatJSON {
		ctype = "application/json"
	}
	hr.Header.Set("Content-Type", ctype)
	resp, err := hc.Do(hr)
	if err != nil {
		return Reply{}, fmt.Errorf("post %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxReplyBytes))
	if err != nil {
		return Reply{}, fmt.Errorf("post %s: read reply: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		snippet := strings.TrimSpace(string(body))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		return Reply{}, fmt.Errorf("post %s: HTTP %d: %s", endpoint, resp.StatusCode, snippet)
	}
	return Open(body, app, req)
}

// Sender pushes to one account as WeChat would, as server-side
// *http.Request values for a handler's ServeHTTP.
type Sender struct {
	AppID          string
	Token          string
	EncodingAESKey string        // the key WeChat encrypts with (current or previous)
	Mode           callback.Mode // safe (default), compat or plain
	Account        string        // the account's gh_ id, ToUserName of pushes; default gh_0123456789ab
	Now            func() time.Time
	Path           string // default /wechat/<AppID>
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) path() string {
	if s.Path != "" {
		return s.Path
	}
	return "/wechat/" + s.AppID
}

func (s *Sender) app() callback.AppConfig {
	return callback.AppConfig{AppID: s.AppID, Token: s.Token, EncodingAESKey: s.EncodingAESKey, Mode: s.Mode}
}

// AccountID is the ToUserName of pushes.
func (s *Sender) AccountID() string {
	if s.Account != "" {
		return s.Account
	}
	return "gh_0123456789ab"
}

// HandshakeQuery is the query of the GET handshake.
func (s *Sender) HandshakeQuery(echostr string) string {
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), Nonce()
	v := url.Values{"signature": {callback.Signature(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echostr}}
	return v.Encode()
}

// Handshake returns the GET handshake request.
func (s *Sender) Handshake(echostr string) *http.Request {
	return incoming(http.MethodGet, s.path()+"?"+s.HandshakeQuery(echostr), "")
}

// PushParts returns the query string and body WeChat sends for the
// plaintext message msg (any text, so tests can push malformed documents),
// in the Sender's mode, and the nonce it used. It panics on an unusable
// EncodingAESKey, a mistake in the test itself.
func (s *Sender) PushParts(msg string) (query, body, nonce string) {
	req, err := seal([]byte(msg), s.AccountID(), "oUser", "", s.app(), s.now().Unix(), Nonce(), Random())
	if err != nil {
		panic(fmt.Sprintf("callbacktest: %v", err))
	}
	return req.Query.Encode(), string(req.Body), req.Nonce
}

// Push returns the POST request for the plaintext message msg.
func (s *Sender) Push(msg string) (*http.Request, string) {
	q, body, nonce := s.PushParts(msg)
	r := incoming(http.MethodPost, s.path()+"?"+q, body)
	r.Header.Set("Content-Type", "text/xml")
	return r, nonce
}

// Text is a text message from user to the Sender's account.
func (s *Sender) Text(user string, createTime, msgID int64, content string) string {
	return string(Text(s.AccountID(), user, content, createTime, msgID).XML())
}

// Event is an event push from user to the Sender's account.
func (s *Sender) Event(user string, createTime int64, event, eventKey string) string {
	return string(Event(s.AccountID(), user, event, eventKey, createTime).XML())
}

// OpenReply returns the plaintext of a reply body: `success` and empty
// bodies as "", plaintext XML as is (not in safe mode), and an encrypted
// envelope after checking its MsgSignature, its Nonce (must be nonce) and
// decrypting it with the Sender's key.
func (s *Sender) OpenReply(body []byte, nonce string) (string, error) {
	r, err := Open(body, s.app(), Request{Nonce: nonce})
	if err != nil || r.None {
		return "", err
	}
	return r.Message.Raw, nil
}

// incoming builds a request as a server hands it to a handler (what
// net/http/httptest.NewRequest builds, without linking httptest into a
// command): request URI, Host example.com, a remote address.
func incoming(method, target, body string) *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n\r\n")))
	if err != nil {
		panic(fmt.Sprintf("callbacktest: request %s %s: %v", method, target, err))
	}
	r.RemoteAddr = "192.0.2.1:1234"
	if body != "" {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return r
}

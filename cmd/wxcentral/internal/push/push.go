// Package push plays WeChat's side of the callback protocol: it builds a
// message or event push, signs it (signature, and msg_signature over the
// Encrypt field), encrypts it with the account's EncodingAESKey, and opens
// the reply the endpoint sends back (checking its MsgSignature, decrypting
// it and checking the embedded AppID). `wxcentral send` uses it to talk to
// a callback URL exactly as WeChat's servers would.
package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	MsgID        int64 // ordinary messages carry one; 0 leaves it out
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
	return append(b, "</xml>"...)
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

// Account is the callback configuration WeChat and the endpoint share.
type Account struct {
	AppID          string
	Token          string
	EncodingAESKey string        // required unless Mode is plain
	Mode           callback.Mode // "" means safe
}

// AccountFrom returns the Account of one app of a callback document.
func AccountFrom(a *callback.AppConfig) Account {
	return Account{AppID: a.AppID, Token: a.Token, EncodingAESKey: a.EncodingAESKey, Mode: a.Mode}
}

func (a Account) mode() callback.Mode {
	if a.Mode == "" {
		return callback.ModeSafe
	}
	return a.Mode
}

// Request is a sealed push: the query string and body to POST.
type Request struct {
	Query     url.Values
	Body      []byte
	Timestamp string
	Nonce     string
}

// Seal signs (and, unless the account is in plain mode, encrypts) p as
// WeChat would at timestamp (unix seconds) with nonce and the 16 random
// bytes of the encryption. Safe mode sends only ToUserName and Encrypt;
// compat mode sends the plaintext fields and Encrypt.
func Seal(p Push, acct Account, timestamp int64, nonce string, random [16]byte) (Request, error) {
	if err := p.Validate(); err != nil {
		return Request{}, err
	}
	if acct.Token == "" {
		return Request{}, errors.New("push: callback token: missing")
	}
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{}
	q.Set("signature", callback.Signature(acct.Token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	q.Set("openid", p.FromUserName)
	plain := p.XML()
	mode := acct.mode()
	if mode == callback.ModePlain {
		return Request{Query: q, Body: plain, Timestamp: ts, Nonce: nonce}, nil
	}
	c, err := callback.NewCipher(acct.EncodingAESKey, acct.AppID)
	if err != nil {
		return Request{}, fmt.Errorf("push: encoding_aes_key of %s: %w", acct.AppID, err)
	}
	enc := c.Encrypt(random, plain)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", callback.MsgSignature(acct.Token, ts, nonce, enc))
	var body []byte
	if mode == callback.ModeCompat {
		body = bytes.TrimSuffix(plain, []byte("</xml>"))
	} else {
		body = appendCDATA([]byte("<xml>"), "ToUserName", p.ToUserName)
	}
	body = appendCDATA(body, "Encrypt", enc)
	body = append(body, "</xml>"...)
	return Request{Query: q, Body: body, Timestamp: ts, Nonce: nonce}, nil
}

// NewNonce returns a random decimal nonce like WeChat's, and 16 random
// bytes for the encryption.
func NewNonce() (string, [16]byte, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [16]byte{}, fmt.Errorf("push: random: %w", err)
	}
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	var random [16]byte
	copy(random[:], b[8:])
	return strconv.FormatUint(uint64(n), 10), random, nil
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
// acct.AppID; a safe-mode account must not answer in plaintext.
func Open(body []byte, acct Account, req Request) (Reply, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "success" {
		return Reply{None: true}, nil
	}
	env, err := callback.ParseMessage(trimmed)
	if err != nil {
		return Reply{}, fmt.Errorf("reply: %w", err)
	}
	enc := env.Get("Encrypt")
	if enc == "" {
		if acct.mode() == callback.ModeSafe {
			return Reply{}, errors.New("reply: safe mode account answered without Encrypt")
		}
		return Reply{Message: env}, nil
	}
	if acct.mode() == callback.ModePlain {
		return Reply{}, errors.New("reply: plain mode account answered with Encrypt")
	}
	ts, nonce := env.Get("TimeStamp"), env.Get("Nonce")
	if nonce != req.Nonce {
		return Reply{}, errors.New("reply: Nonce does not echo the request's nonce")
	}
	if !callback.VerifyMsgSignature(env.Get("MsgSignature"), acct.Token, ts, nonce, enc) {
		return Reply{}, errors.New("reply: MsgSignature does not verify")
	}
	c, err := callback.NewCipher(acct.EncodingAESKey, acct.AppID)
	if err != nil {
		return Reply{}, fmt.Errorf("reply: encoding_aes_key of %s: %w", acct.AppID, err)
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
func Send(ctx context.Context, hc *http.Client, endpoint string, acct Account, req Request) (Reply, error) {
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
	hr.Header.Set("Content-Type", "text/xml")
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
	return Open(body, acct, req)
}

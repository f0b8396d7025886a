// Package callbacktest plays WeChat's side of the callback protocol for
// tests: it builds signed (and, in safe mode, encrypted) push requests the
// way WeChat's servers send them and opens the encrypted replies.
package callbacktest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// Sender pushes to one account as WeChat would.
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

// AccountID is the ToUserName of pushes.
func (s *Sender) AccountID() string {
	if s.Account != "" {
		return s.Account
	}
	return "gh_0123456789ab"
}

// Nonce returns a random numeric nonce like WeChat's.
func Nonce() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(b[0])<<24|uint64(b[1])<<16|uint64(b[2])<<8|uint64(b[3]), 10)
}

// HandshakeQuery is the query of the GET handshake.
func (s *Sender) HandshakeQuery(echostr string) string {
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), Nonce()
	v := url.Values{"signature": {callback.Signature(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echostr}}
	return v.Encode()
}

// Handshake returns the GET handshake request.
func (s *Sender) Handshake(echostr string) *http.Request {
	return httptest.NewRequest(http.MethodGet, s.path()+"?"+s.HandshakeQuery(echostr), nil)
}

// PushParts returns the query string and body WeChat sends for the
// plaintext message msg, in the Sender's mode, and the nonce it used.
func (s *Sender) PushParts(msg string) (query, body, nonce string) {
	ts, nonce := strconv.FormatInt(s.now().Unix(), 10), Nonce()
	v := url.Values{"signature": {callback.Signature(s.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "openid": {"oUser"}}
	if s.Mode == callback.ModePlain {
		return v.Encode(), msg, nonce
	}
	c, err := callback.NewCipher(s.EncodingAESKey, s.AppID)
	if err != nil {
		panic(fmt.Sprintf("callbacktest: %v", err))
	}
	var r [16]byte
	rand.Read(r[:])
	enc := c.Encrypt(r, []byte(msg))
	v.Set("encrypt_type", "aes")
	v.Set("msg_signature", callback.MsgSignature(s.Token, ts, nonce, enc))
	if s.Mode == callback.ModeCompat {
		body = strings.TrimSuffix(msg, "</xml>") + "<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	} else {
		body = "<xml><ToUserName><![CDATA[" + s.AccountID() + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	}
	return v.Encode(), body, nonce
}

// Push returns the POST request for the plaintext message msg.
func (s *Sender) Push(msg string) (*http.Request, string) {
	q, body, nonce := s.PushParts(msg)
	r := httptest.NewRequest(http.MethodPost, s.path()+"?"+q, strings.NewReader(body))
	r.Header.Set("Content-Type", "text/xml")
	return r, nonce
}

// Text is a text message from user to the Sender's account.
func (s *Sender) Text(user string, createTime, msgID int64, content string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>",
		s.AccountID(), user, createTime, content, msgID)
}

// Event is an event push from user to the Sender's account.
func (s *Sender) Event(user string, createTime int64, event, eventKey string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event><EventKey><![CDATA[%s]]></EventKey></xml>",
		s.AccountID(), user, createTime, event, eventKey)
}

// OpenReply returns the plaintext of a reply body: `success` and empty
// bodies as "", plaintext XML as is, and an encrypted envelope after
// checking its MsgSignature, its Nonce (must be nonce) and decrypting it
// with the Sender's key.
func (s *Sender) OpenReply(body []byte, nonce string) (string, error) {
	b := string(body)
	if b == "" || b == "success" {
		return "", nil
	}
	env, err := callback.ParseMessage(body)
	if err != nil {
		return "", err
	}
	enc := env.Get("Encrypt")
	if enc == "" {
		if s.Mode == callback.ModeSafe || s.Mode == "" {
			return "", errors.New("callbacktest: safe-mode reply is not encrypted")
		}
		return b, nil
	}
	if env.Get("Nonce") != nonce {
		return "", fmt.Errorf("callbacktest: reply Nonce %q, want %q", env.Get("Nonce"), nonce)
	}
	if !callback.VerifyMsgSignature(env.Get("MsgSignature"), s.Token, env.Get("TimeStamp"), env.Get("Nonce"), enc) {
		return "", errors.New("callbacktest: reply MsgSignature does not verify")
	}
	c, err := callback.NewCipher(s.EncodingAESKey, s.AppID)
	if err != nil {
		return "", err
	}
	plain, err := c.Decrypt(enc)
	return string(plain), err
}

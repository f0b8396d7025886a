package callback

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"
	"unsafe"

	"github.com/wxcentral/wxcentral/pkg/callback/internal/xmlscan"
)

// This file is verification: the request's signature and timestamp, then,
// for a push, the mode's rules (encryption required or not), msg_signature
// over Encrypt, decryption and the AppID and ToUserName checks. What passes
// is an authentic, parsed Message; everything else is a 403 or a 400.

// authenticate checks `signature` and the replay window of `timestamp`.
// WeCom sends no `signature`: its requests are authenticated by
// msg_signature alone, over the encrypted echostr or Encrypt.
func (h *Handler) authenticate(a *app, q *params) outcome {
	if a.kind != TypeWeCom && !VerifySignature(q.signature, a.token, q.timestamp, q.nonce) {
		return reject(http.StatusForbidden, "bad_signature")
	}
	if !h.fresh(q.timestamp) {
		return reject(http.StatusForbidden, "stale_timestamp")
	}
	return outcome{}
}

// fresh reports whether timestamp is within the replay window.
func (h *Handler) fresh(timestamp string) bool {
	ts, ok := parseUnix(timestamp)
	if !ok {
		return false
	}
	if h.opt.MaxSkew < 0 {
		return true
	}
	d := h.opt.Clock().Unix() - ts
	if d < 0 {
		d = -d
	}
	return d <= int64(h.opt.MaxSkew/time.Second)
}

// parseUnix parses a decimal unix time of 1 to 18 digits (no sign).
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	return n, true
}

// handshake answers the GET that checks the callback URL: `echostr` as it
// came, or for WeCom the plaintext of the encrypted echostr, after its
// msg_signature.
func (h *Handler) handshake(a *app, s *scratch, q *params) outcome {
	if !q.hasEchostr {
		return reject(http.StatusBadRequest, "missing_echostr")
	}
	if a.kind != TypeWeCom {
		return outcome{status: 200, name: "handshake", body: []byte(q.echostr), ctype: ctypeText}
	}
	if !VerifyMsgSignature(q.msgSignature, a.token, q.timestamp, q.nonce, q.echostr) {
		return reject(http.StatusForbidden, "bad_msg_signature")
	}
	plain, _, err := a.decrypt(s, q.echostr)
	if err != nil {
		return undecryptable(err)
	}
	return outcome{status: 200, name: "handshake", body: plain, ctype: ctypeText}
}

// undecryptable is the answer to an Encrypt or echostr that does not open:
// 403 when it is for another receive id, 400 when it is not decodable.
func undecryptable(err error) outcome {
	if errors.Is(err, ErrAppIDMismatch) {
		return reject(http.StatusForbidden, "appid_mismatch")
	}
	return reject(http.StatusBadRequest, "malformed")
}

// open turns an authenticated POST body into a Message, following the
// app's mode. c is the cipher that decrypted it (nil for a plaintext push),
// with which the reply is encrypted.
func (h *Handler) open(a *app, s *scratch, q *params, body []byte) (msg *Message, c *Cipher, o outcome) {
	// The envelope is only read during this request, so it is parsed from
	// a view of the pooled buffer rather than a copy.
	text := unsafe.String(unsafe.SliceData(body), len(body))
	var env []Field
	var err error
	encrypted := false
	switch {
	case a.kind == TypeWeCom: // always encrypted, and WeCom sends no encrypt_type
		encrypted = true
	case a.mode == ModeSafe:
		if q.encryptType != "aes" {
			return nil, nil, reject(http.StatusForbidden, "not_encrypted")
		}
		encrypted = true
	case a.mode == ModeCompat:
		// Encrypted when encrypt_type=aes, and whenever the body carries
		// <Encrypt>: a captured (timestamp, nonce, signature) replayed
		// without encrypt_type must not be answered in clear.
		encrypted = q.encryptType == "aes"
		if !encrypted {
			if env, err = s.envelope(text, a.json); err != nil {
				return nil, nil, reject(http.StatusBadRequest, "malformed")
			}
			_, encrypted = xmlscan.Top(env, "Encrypt")
		}
	}
	if !encrypted {
		// A copy: the Message outlives the request (handlers may keep it).
		if msg, err = a.parse(string(body)); err != nil || msg.MsgType == "" {
			return nil, nil, reject(http.StatusBadRequest, "malformed")
		}
		return msg, nil, outcome{}
	}
	if env == nil {
		if env, err = s.envelope(text, a.json); err != nil {
			return nil, nil, reject(http.StatusBadRequest, "malformed")
		}
	}
	encrypt, ok := xmlscan.Top(env, "Encrypt")
	if !ok {
		return nil, nil, reject(http.StatusForbidden, "not_encrypted")
	}
	if !VerifyMsgSignature(q.msgSignature, a.token, q.timestamp, q.nonce, encrypt) {
		return nil, nil, reject(http.StatusForbidden, "bad_msg_signature")
	}
	plain, c, err := a.decrypt(s, encrypt)
	if err != nil {
		return nil, nil, undecryptable(err)
	}
	if msg, err = a.parse(string(plain)); err != nil || msg.MsgType == "" {
		return nil, nil, reject(http.StatusBadRequest, "malformed")
	}
	if to, ok := xmlscan.Top(env, "ToUserName"); !ok || to != msg.ToUserName {
		return nil, nil, reject(http.StatusForbidden, "to_mismatch")
	}
	// A WeCom push names its agent: one of another agent of the corp, sent
	// to this agent's URL, is not this app's.
	if id := msg.Get("AgentID"); a.kind == TypeWeCom && id != "" && numeric(a.agent) && id != a.agent {
		return nil, nil, reject(http.StatusForbidden, "agent_mismatch")
	}
	return msg, c, outcome{}
}

// parse parses a plaintext push in the app's data format.
func (a *app) parse(text string) (*Message, error) {
	if a.json {
		return parseJSONMessage(text)
	}
	return parseMessage(text)
}

func numeric(s string) bool {
	_, ok := parseUnix(s)
	return ok
}

// envelope parses the outer XML (or JSON) of an encrypted push into s.env.
// The result aliases body and s: it must not outlive the request.
func (s *scratch) envelope(body string, json bool) ([]Field, error) {
	parse := xmlscan.Parse
	if json {
		parse = parseJSON
	}
	env, err := parse(body, s.env)
	if err == nil {
		s.env = env
	}
	return env, err
}

// decrypt tries the current key, then the previous one, into s.dec.
func (a *app) decrypt(s *scratch, encrypt string) ([]byte, *Cipher, error) {
	n := base64.StdEncoding.DecodedLen(len(encrypt))
	if cap(s.dec) < n {
		s.dec = make([]byte, n)
	}
	// Decode only reads its source, so a byte view of the string is safe.
	src := unsafe.Slice(unsafe.StringData(encrypt), len(encrypt))
	var firstErr error
	for _, c := range a.ciphers {
		_, msg, err := c.open(s.dec[:n], src)
		if err == nil {
			return msg, c, nil
		}
		if firstErr == nil || errors.Is(err, ErrAppIDMismatch) {
			firstErr = err
		}
	}
	return nil, nil, firstErr
}

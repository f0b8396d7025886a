// Package jssdk signs page URLs for the WeChat JS-SDK's wx.config call.
//
// A page that uses the JS-SDK calls wx.config with the app's appId, a
// timestamp, a nonce and a signature: the sha1 of
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…" (keys in that order, url
// without its #fragment). The jsapi_ticket comes from wxcentral's store
// (pkg/tokenclient); the ticket itself never leaves the server.
package jssdk

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// Sign returns the lowercase hex signature wx.config expects for pageURL.
// Any #fragment of pageURL is dropped; the rest is signed exactly as given
// (WeChat compares it with the page's location.href.split('#')[0]).
func Sign(ticket, nonceStr string, timestamp int64, pageURL string) string {
	if i := strings.IndexByte(pageURL, '#'); i >= 0 {
		pageURL = pageURL[:i]
	}
	h := sha1.New()
	h.Write([]byte("jsapi_ticket="))
	h.Write([]byte(ticket))
	h.Write([]byte("&noncestr="))
	h.Write([]byte(nonceStr))
	h.Write([]byte("&timestamp="))
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte("&url="))
	h.Write([]byte(pageURL))
	return hex.EncodeToString(h.Sum(nil))
}

// Config holds the signature fields of wx.config; the JSON names are the
// ones wx.config takes, so it can be handed to the page as it is.
type Config struct {
	AppID     string `json:"appId"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
}

// TicketSource gives the current jsapi_ticket of an app; a
// *tokenclient.Client is one.
type TicketSource interface {
	Get(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error)
}

// Signer builds wx.config parameters from tickets served by a TicketSource.
type Signer struct {
	tickets TicketSource
	now     func() time.Time
	nonce   func() (string, error)
}

// Option configures a Signer.
type Option func(*Signer)

// WithClock sets the clock that stamps Config.Timestamp (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Signer) {
		if now != nil {
			s.now = now
		}
	}
}

// WithNonce sets the nonce generator (default: 16 random alphanumerics).
func WithNonce(nonce func() (string, error)) Option {
	return func(s *Signer) {
		if nonce != nil {
			s.nonce = nonce
		}
	}
}

// NewSigner returns a Signer reading jsapi_tickets from tickets.
func NewSigner(tickets TicketSource, opts ...Option) *Signer {
	s := &Signer{tickets: tickets, now: time.Now, nonce: RandomNonce}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Config signs pageURL for appid with the app's current jsapi_ticket. The
// URL must be absolute http(s); its fragment is dropped.
func (s *Signer) Config(ctx context.Context, appid, pageURL string) (Config, error) {
	if appid == "" {
		return Config{}, errors.New("jssdk: appid is empty")
	}
	u, err := url.Parse(pageURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Config{}, fmt.Errorf("jssdk: url: must be an absolute http or https URL")
	}
	t, err := s.tickets.Get(ctx, appid, credential.JSAPITicket)
	if err != nil {
		return Config{}, fmt.Errorf("jssdk: jsapi_ticket for %s: %w", appid, err)
	}
	nonce, err := s.nonce()
	if err != nil {
		return Config{}, fmt.Errorf("jssdk: nonce: %w", err)
	}
	ts := s.now().Unix()
	return Config{AppID: appid, Timestamp: ts, NonceStr: nonce, Signature: Sign(t.Value, nonce, ts, pageURL)}, nil
}

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomNonce returns 16 characters from [A-Za-z0-9] drawn from crypto/rand
// (WeChat limits noncestr to 32 characters).
func RandomNonce() (string, error) {
	var b [16]byte
	// 62 does not divide 256: reject bytes ≥ 248 to keep the draw uniform.
	out := make([]byte, 0, len(b))
	for len(out) < len(b) {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		for _, c := range b {
			if c < 248 && len(out) < len(b) {
				out = append(out, nonceAlphabet[c%62])
			}
		}
	}
	return string(out), nil
}

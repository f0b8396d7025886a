package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// MaxResponseBytes bounds the size of a response body the client reads. A
// larger body is an error: WeChat's JSON answers are a few hundred bytes.
const MaxResponseBytes = 1 << 20

// DefaultTimeout is the timeout of the http.Client NewClient builds when
// none is given with WithHTTPClient.
const DefaultTimeout = 10 * time.Second

// Client calls the WeChat Official Account API. It is safe for concurrent
// use. Build it with NewClient.
type Client struct {
	bases []string
	hc    *http.Client
	now   func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// NewClient returns a client that calls DefaultBaseURL and, after a network
// failure, BackupBaseURL, with a 10 s timeout, no redirects followed (a
// redirect is an *Error with its HTTPStatus) and time.Now as its clock.
func NewClient(opts ...Option) *Client {
	c := &Client{
		bases: []string{DefaultBaseURL, BackupBaseURL},
		hc: &http.Client{
			Timeout: DefaultTimeout,
			// WeChat never redirects; following one would carry the
			// access_token in the query to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// WithBaseURL makes base (e.g. "http://127.0.0.1:8081") the only API base,
// with no fallback: the semantics of WECHAT_API_BASE. An empty base keeps
// the defaults. A trailing slash is ignored.
func WithBaseURL(base string) Option {
	return func(c *Client) {
		if base == "" {
			return
		}
		c.bases = []string{strings.TrimRight(base, "/")}
	}
}

// WithHTTPClient sets the http.Client used for every request; its Timeout
// (or the request context) bounds each attempt. nil keeps the default.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithClock sets the clock that stamps Token.ReceivedAt and
// Ticket.ReceivedAt. nil keeps time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// request describes one API call; the access token and secret live only in
// query and body, which never reach an error string.
type request struct {
	op     string // names the call in errors, e.g. "stable_token"
	method string
	path   string
	query  url.Values
	body   []byte // JSON, nil for none
	// idempotent calls are retried on the backup base after any network
	// failure; others only when the request never left this process.
	idempotent bool
	secret     string // the AppSecret or access_token, scrubbed from errors
}

// StableToken calls POST /cgi-bin/stable_token. With forceRefresh false
// WeChat returns the current token (rotating it only inside its last five
// minutes); with forceRefresh true it issues a new one, which is limited to
// 20 calls a day. ExpiresIn is the value WeChat returned.
func (c *Client) StableToken(ctx context.Context, appid, secret string, forceRefresh bool) (Token, error) {
	if appid == "" {
		return Token{}, errors.New("wechat: stable_token: appid is empty")
	}
	if secret == "" {
		return Token{}, fmt.Errorf("wechat: stable_token: secret for appid %s is empty", appid)
	}
	body, err := marshalJSON(struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}{"client_credential", appid, secret, forceRefresh})
	if err != nil {
		return Token{}, fmt.Errorf("wechat: stable_token: encode request: %w", err)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	err = c.do(ctx, request{
		op: "stable_token", method: http.MethodPost, path: "/cgi-bin/stable_token",
		body: body, idempotent: !forceRefresh, secret: secret,
	}, &resp)
	if err != nil {
		return Token{}, err
	}
	if resp.AccessToken == "" {
		return Token{}, &ProtocolError{API: "stable_token", Reason: "response has no access_token"}
	}
	expiresIn, err := checkExpiresIn("stable_token", resp.ExpiresIn)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: resp.AccessToken, ExpiresIn: expiresIn, ReceivedAt: c.now()}, nil
}

// GetTicket calls GET /cgi-bin/ticket/getticket for ticketType ("jsapi" or
// "wx_card") with accessToken. ExpiresIn is the value WeChat returned.
func (c *Client) GetTicket(ctx context.Context, accessToken, ticketType string) (Ticket, error) {
	if accessToken == "" {
		return Ticket{}, errors.New("wechat: getticket: access_token is empty")
	}
	if ticketType == "" {
		return Ticket{}, errors.New("wechat: getticket: type is empty")
	}
	var resp struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}
	err := c.do(ctx, request{
		op: "getticket", method: http.MethodGet, path: "/cgi-bin/ticket/getticket",
		query:      url.Values{"access_token": {accessToken}, "type": {ticketType}},
		idempotent: true, secret: accessToken,
	}, &resp)
	if err != nil {
		return Ticket{}, err
	}
	if resp.Ticket == "" {
		return Ticket{}, &ProtocolError{API: "getticket", Reason: "response for type " + ticketType + " has no ticket"}
	}
	expiresIn, err := checkExpiresIn("getticket", resp.ExpiresIn)
	if err != nil {
		return Ticket{}, err
	}
	return Ticket{Ticket: resp.Ticket, ExpiresIn: expiresIn, ReceivedAt: c.now()}, nil
}

// MaxExpiresIn bounds the expires_in the client accepts from any upstream.
// WeChat answers at most 7200; a day leaves room for other token services
// while keeping an absurd value (which would overflow a time.Duration, or
// pin a dead token in the store for years) out.
const MaxExpiresIn = 86400 * time.Second

// checkExpiresIn turns an answer's expires_in (seconds) into a duration,
// rejecting anything outside 1..MaxExpiresIn as a *ProtocolError.
func checkExpiresIn(api string, secs int64) (time.Duration, error) {
	if secs < 1 || secs > int64(MaxExpiresIn/time.Second) {
		return 0, &ProtocolError{API: api, Reason: fmt.Sprintf("response has invalid expires_in %d (want 1..%d)", secs, int64(MaxExpiresIn/time.Second))}
	}
	return time.Duration(secs) * time.Second, nil
}

// Call makes an authenticated JSON call: method to path (e.g.
// "/cgi-bin/menu/get") with access_token added to query. body, when not
// nil, is sent as JSON ([]byte and json.RawMessage are sent as they are).
// The response is decoded into out when out is not nil. A non-zero errcode
// is returned as *Error. GET calls are retried on the backup base after a
// network failure; other methods only when the request was never sent.
func (c *Client) Call(ctx context.Context, method, path, accessToken string, query url.Values, body, out any) error {
	if accessToken == "" {
		return fmt.Errorf("wechat: %s: access_token is empty", path)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
		return fmt.Errorf("wechat: call: path %q must start with / and hold no query", path)
	}
	q := url.Values{}
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	q.Set("access_token", accessToken)
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	case json.RawMessage:
		raw = b
	default:
		var err error
		if raw, err = marshalJSON(body); err != nil {
			return fmt.Errorf("wechat: %s: encode request: %w", path, err)
		}
	}
	if method == "" {
		method = http.MethodGet
	}
	return c.do(ctx, request{
		op: path, method: method, path: path, query: q, body: raw,
		idempotent: method == http.MethodGet || method == http.MethodHead,
		secret:     accessToken,
	}, out)
}

// SendCustomMessage sends a customer-service message with POST
// /cgi-bin/message/custom/send after checking it with Validate (text,
// image, voice and news; send other types with Call). The call is not
// retried on the backup base once the request may have reached WeChat, so
// the user never gets it twice.
func (c *Client) SendCustomMessage(ctx context.Context, accessToken string, msg CustomMessage) error {
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("wechat: custom send: %w", err)
	}
	return c.Call(ctx, http.MethodPost, "/cgi-bin/message/custom/send", accessToken, nil, msg, nil)
}

// UserInfo reads a follower's profile with GET /cgi-bin/user/info. lang is
// "zh_CN", "zh_TW" or "en"; empty leaves WeChat's default.
func (c *Client) UserInfo(ctx context.Context, accessToken, openid, lang string) (UserInfo, error) {
	if openid == "" {
		return UserInfo{}, errors.New("wechat: user info: openid is empty")
	}
	q := url.Values{"openid": {openid}}
	if lang != "" {
		q.Set("lang", lang)
	}
	var u UserInfo
	if err := c.Call(ctx, http.MethodGet, "/cgi-bin/user/info", accessToken, q, nil, &u); err != nil {
		return UserInfo{}, err
	}
	return u, nil
}

// do sends req to each base in turn, moving on only after a network
// failure, and decodes the answer into out.
func (c *Client) do(ctx context.Context, req request, out any) error {
	var lastErr error
	for i, base := range c.bases {
		if i > 0 && ctx.Err() != nil {
			break
		}
		body, sent, err := c.attempt(ctx, base, req)
		var we *Error
		var pe *ProtocolError
		if errors.As(err, &we) || errors.As(err, &pe) {
			return err // WeChat answered: no failover
		}
		if err != nil {
			lastErr = &NetworkError{Op: req.op, Err: err}
			if !req.idempotent && sent {
				break
			}
			continue
		}
		return decode(req.op, body, out)
	}
	return lastErr
}

// attempt performs one HTTP exchange. It returns the body of a 200
// response, or an *Error for another status; a transport error comes back
// sanitized, with whether the request was written.
func (c *Client) attempt(ctx context.Context, base string, req request) ([]byte, bool, error) {
	u := base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var rd io.Reader
	if req.body != nil {
		rd = bytes.NewReader(req.body)
	}
	var wrote atomic.Bool // set on the transport's goroutine
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), req.method, u, rd)
	if err != nil {
		return nil, false, sanitize(err, u, req.secret)
	}
	hreq.Header.Set("Accept", "application/json")
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, wrote.Load(), sanitize(err, u, req.secret)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, true, fmt.Errorf("read response: %w", sanitize(err, u, req.secret))
	}
	if len(body) > MaxResponseBytes {
		// Not a network error: the far end answered, with something absurd.
		return nil, true, &ProtocolError{API: req.op, Reason: fmt.Sprintf("response larger than %d bytes", MaxResponseBytes)}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, true, &Error{HTTPStatus: resp.StatusCode, API: req.op}
	}
	return body, true, nil
}

// decode turns a 200 body into out, or into *Error when errcode is set.
func decode(op string, body []byte, out any) error {
	var head struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return &ProtocolError{API: op, Reason: "decode response", Err: err}
	}
	if head.ErrCode != 0 {
		return &Error{Code: head.ErrCode, Msg: head.ErrMsg, API: op}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return &ProtocolError{API: op, Reason: "decode response", Err: err}
	}
	return nil
}

// marshalJSON encodes v without HTML escaping: WeChat shows "\u0026" to
// users verbatim instead of "&".
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// sanitize strips the request URL (which carries the access_token) from a
// transport error and scrubs the URL and secret from whatever text remains,
// keeping the cause reachable through errors.Is/As (timeouts, cancellation).
func sanitize(err error, rawURL, secret string) error {
	inner := err
	prefix := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		inner = ue.Err
		prefix = strings.ToLower(ue.Op) + ": "
	}
	msg := inner.Error()
	for _, s := range []string{rawURL, secret, url.QueryEscape(secret)} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return &scrubbedError{msg: prefix + msg, err: inner}
}

// scrubbedError is a transport error whose text was cleaned of secrets.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

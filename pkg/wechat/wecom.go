package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// DefaultWeComBaseURL is WeCom's (企业微信) API base. WeCom publishes no
// backup domain, so a WeComClient has exactly one base.
const DefaultWeComBaseURL = "https://qyapi.weixin.qq.com"

// Family names the API family that produced an *Error, because each family
// gives its own meaning to some errcodes.
type Family int

// API families.
const (
	FamilyWeChat Family = iota // Official Accounts and mini-programs (api.weixin.qq.com)
	FamilyWeCom                // WeCom, 企业微信 (qyapi.weixin.qq.com)
)

// String returns "wechat" or "wecom".
func (f Family) String() string {
	switch f {
	case FamilyWeChat:
		return "wechat"
	case FamilyWeCom:
		return "wecom"
	}
	return fmt.Sprintf("family(%d)", int(f))
}

// WeCom errcodes that matter to a token manager (WeCom's global error code
// list). 40014, 42001, 41001, 45009 and -1 mean what they mean on WeChat.
const (
	WeComCodeInvalidSecret = 40001 // gettoken: wrong corpsecret (not a rejected token, as on WeChat)
	WeComCodeInvalidCorpID = 40013
	WeComCodeSecretInvalid = 40091 // secret not valid for this app (e.g. reset)
	WeComCodeCorpIDMissing = 41002
	WeComCodeSecretMissing = 41004
	WeComCodeIPNotAllowed  = 60020
)

// WeComClassOf classifies a WeCom errcode. It differs from ClassOf where
// WeCom reuses a code: 40001 is a wrong secret (configuration), and only
// 40014/42001 reject a token.
func WeComClassOf(code int) Class {
	switch code {
	case CodeSystemBusy:
		return ClassTransient
	case CodeInvalidAccessToken, CodeAccessTokenExpired:
		return ClassTokenRejected
	case WeComCodeInvalidCorpID, WeComCodeInvalidSecret, WeComCodeSecretInvalid, WeComCodeIPNotAllowed:
		return ClassConfiguration
	case CodeDailyQuota:
		return ClassDailyQuota
	case CodeAccessTokenMissing, WeComCodeCorpIDMissing, WeComCodeSecretMissing:
		return ClassCallerBug
	}
	return ClassUnknown
}

// WeCom ticket types of GET /cgi-bin/ticket/get.
const WeComTicketAgentConfig = "agent_config"

// WeComClient calls WeCom's credential APIs: gettoken, the corp jsapi_ticket
// and the agent_config ticket. It shares Client's transport rules: one
// bounded response, no redirects, errors scrubbed of the URL and secret.
// It is safe for concurrent use. Build it with NewWeComClient.
type WeComClient struct {
	c *Client
}

// NewWeComClient returns a client for DefaultWeComBaseURL with the same
// options as NewClient: WithBaseURL replaces the base (the semantics of
// WECOM_API_BASE, no fallback), WithHTTPClient and WithClock as documented.
func NewWeComClient(opts ...Option) *WeComClient {
	return &WeComClient{c: NewClient(append([]Option{WithBaseURL(DefaultWeComBaseURL)}, opts...)...)}
}

// GetToken calls GET /cgi-bin/gettoken?corpid=&corpsecret=. WeCom returns
// the same token while it is valid, so ExpiresIn is what is left of it. The
// token belongs to the app whose secret was sent (one per corpid and agent).
func (w *WeComClient) GetToken(ctx context.Context, corpid, secret string) (Token, error) {
	if corpid == "" {
		return Token{}, errors.New("wecom: gettoken: corpid is empty")
	}
	if secret == "" {
		return Token{}, fmt.Errorf("wecom: gettoken: secret for corpid %s is empty", corpid)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	err := w.do(ctx, request{
		op: "gettoken", method: http.MethodGet, path: "/cgi-bin/gettoken",
		query:      url.Values{"corpid": {corpid}, "corpsecret": {secret}},
		idempotent: true, secret: secret,
	}, &resp)
	if err != nil {
		return Token{}, err
	}
	if resp.AccessToken == "" {
		return Token{}, &ProtocolError{API: "wecom gettoken", Reason: "response for corpid " + corpid + " has no access_token"}
	}
	life, err := checkExpiresIn("wecom gettoken", resp.ExpiresIn)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: resp.AccessToken, ExpiresIn: life, ReceivedAt: w.c.now()}, nil
}

// JSAPITicket calls GET /cgi-bin/get_jsapi_ticket: the corp's JS-SDK
// ticket (wx.config), stored as kind jsapi_ticket.
func (w *WeComClient) JSAPITicket(ctx context.Context, accessToken string) (Ticket, error) {
	return w.ticket(ctx, "get_jsapi_ticket", "/cgi-bin/get_jsapi_ticket", accessToken, nil)
}

// AgentConfigTicket calls GET /cgi-bin/ticket/get?type=agent_config: the
// app's ticket for wx.agentConfig, stored as kind agent_config_ticket.
func (w *WeComClient) AgentConfigTicket(ctx context.Context, accessToken string) (Ticket, error) {
	return w.ticket(ctx, "ticket/get", "/cgi-bin/ticket/get", accessToken, url.Values{"type": {WeComTicketAgentConfig}})
}

func (w *WeComClient) ticket(ctx context.Context, op, path, accessToken string, query url.Values) (Ticket, error) {
	if accessToken == "" {
		return Ticket{}, fmt.Errorf("wecom: %s: access_token is empty", op)
	}
	q := url.Values{"access_token": {accessToken}}
	for k, v := range query {
		q[k] = v
	}
	var resp struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}
	err := w.do(ctx, request{
		op: op, method: http.MethodGet, path: path, query: q,
		idempotent: true, secret: accessToken,
	}, &resp)
	if err != nil {
		return Ticket{}, err
	}
	if resp.Ticket == "" {
		return Ticket{}, &ProtocolError{API: "wecom " + op, Reason: "response has no ticket"}
	}
	life, err := checkExpiresIn("wecom "+op, resp.ExpiresIn)
	if err != nil {
		return Ticket{}, err
	}
	return Ticket{Ticket: resp.Ticket, ExpiresIn: life, ReceivedAt: w.c.now()}, nil
}

// do runs req through the shared client and marks a WeCom answer's *Error
// with FamilyWeCom, so Class reads its errcode by WeCom's table.
func (w *WeComClient) do(ctx context.Context, req request, out any) error {
	err := w.c.do(ctx, req, out)
	var we *Error
	if errors.As(err, &we) {
		we.Family = FamilyWeCom
	}
	return err
}

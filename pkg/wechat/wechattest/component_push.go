package wechattest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// ComponentPush is one POST WeChat makes to a platform's authorization-event
// URL ("授权事件接收URL", wxcentral's /component/<component_appid>): the
// decrypted fields, and the signed, encrypted request that carries them.
type ComponentPush struct {
	ComponentAppID string    // AppId
	InfoType       string    // component_verify_ticket, authorized, updateauthorized, unauthorized
	CreateTime     time.Time // CreateTime (whole seconds)
	// ComponentVerifyTicket is set for InfoTypeVerifyTicket.
	ComponentVerifyTicket string
	// Authorization events: AuthorizerAppid; for authorized and
	// updateauthorized also AuthorizationCode, AuthorizationCodeExpiredTime
	// and PreAuthCode.
	AuthorizerAppID              string
	AuthorizationCode            string
	AuthorizationCodeExpiredTime time.Time
	PreAuthCode                  string

	Plain string // the decrypted XML
	// Query and Body are the request as sent: signature, timestamp (the
	// delivery time), nonce, encrypt_type=aes and msg_signature; body
	// <xml><AppId/><Encrypt/></xml>.
	Query string
	Body  string
}

// Path is the push's path on wxcentral's callback API.
func (p ComponentPush) Path() string { return "/component/" + p.ComponentAppID }

// NewRequest returns the push as a POST to baseURL + Path().
func (p ComponentPush) NewRequest(baseURL string) (*http.Request, error) {
	r, err := http.NewRequest(http.MethodPost, strings.TrimRight(baseURL, "/")+p.Path()+"?"+p.Query, strings.NewReader(p.Body))
	if err != nil {
		return nil, fmt.Errorf("wechattest: push request: %w", err)
	}
	r.Header.Set("Content-Type", "text/xml")
	return r, nil
}

// cdata wraps s for XML; WeChat's pushes never contain "]]>".
func cdata(s string) string { return "<![CDATA[" + s + "]]>" }

// seal builds the encrypted request for p's plaintext, signed at sentAt.
// Callers hold c.mu.
func (c *ComponentSimulator) seal(pl *platform, p *ComponentPush, sentAt time.Time) {
	var b strings.Builder
	b.WriteString("<xml><AppId>" + cdata(p.ComponentAppID) + "</AppId>")
	b.WriteString("<CreateTime>" + strconv.FormatInt(p.CreateTime.Unix(), 10) + "</CreateTime>")
	b.WriteString("<InfoType>" + cdata(p.InfoType) + "</InfoType>")
	if p.ComponentVerifyTicket != "" {
		b.WriteString("<ComponentVerifyTicket>" + cdata(p.ComponentVerifyTicket) + "</ComponentVerifyTicket>")
	}
	if p.AuthorizerAppID != "" {
		b.WriteString("<AuthorizerAppid>" + cdata(p.AuthorizerAppID) + "</AuthorizerAppid>")
	}
	if p.AuthorizationCode != "" {
		b.WriteString("<AuthorizationCode>" + cdata(p.AuthorizationCode) + "</AuthorizationCode>")
		b.WriteString("<AuthorizationCodeExpiredTime>" + strconv.FormatInt(p.AuthorizationCodeExpiredTime.Unix(), 10) + "</AuthorizationCodeExpiredTime>")
		b.WriteString("<PreAuthCode>" + cdata(p.PreAuthCode) + "</PreAuthCode>")
	}
	b.WriteString("</xml>")
	p.Plain = b.String()

	var random [16]byte
	for i := range random {
		random[i] = byte(c.rng.Uint32())
	}
	enc := pl.cipher.Encrypt(random, []byte(p.Plain))
	ts := strconv.FormatInt(sentAt.Unix(), 10)
	nonce := strconv.FormatUint(uint64(c.rng.Uint32()), 10)
	p.Query = url.Values{
		"signature":     {callback.Signature(pl.token, ts, nonce)},
		"timestamp":     {ts},
		"nonce":         {nonce},
		"encrypt_type":  {"aes"},
		"msg_signature": {callback.MsgSignature(pl.token, ts, nonce, enc)},
	}.Encode()
	p.Body = "<xml><AppId>" + cdata(p.ComponentAppID) + "</AppId><Encrypt>" + cdata(enc) + "</Encrypt></xml>"
}

// SetTicketPushFaults disturbs the platform's ticket pushes from now on;
// the zero value restores punctual, ordered, lossless pushes.
func (c *ComponentSimulator) SetTicketPushFaults(componentAppID string, f TicketPushFaults) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.platform(componentAppID)
	if err != nil {
		return err
	}
	f.DropRate = min(max(f.DropRate, 0), 1)
	p.pushFaults = f
	return nil
}

// StopTicketPushes stops the platform's ticket pushes, as when WeChat gives
// up on an event URL that kept failing: no push is made (and none is
// pending delivery) until api_start_push_ticket restarts the service.
func (c *ComponentSimulator) StopTicketPushes(componentAppID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.platform(componentAppID)
	if err != nil {
		return err
	}
	p.pushing = false
	p.pending = nil
	return nil
}

// TicketPushesRunning reports whether the platform's ticket push service
// runs.
func (c *ComponentSimulator) TicketPushesRunning(componentAppID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.platforms[componentAppID]
	return ok && p.pushing
}

// DueTicketPushes advances every platform's ticket schedule to the
// simulator's now and returns the pushes to deliver now, oldest first per
// platform (newest first with Reorder). Each push WeChat makes issues a new
// ticket, valid 12 h from its CreateTime whether or not it is delivered; a
// delayed push is delivered (and signed) Delay after its CreateTime. Call it
// as the clock advances, and send each push with NewRequest.
func (c *ComponentSimulator) DueTicketPushes() []ComponentPush {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	ids := make([]string, 0, len(c.platforms))
	for id := range c.platforms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []ComponentPush
	for _, id := range ids {
		p := c.platforms[id]
		for p.pushing && !p.nextPushAt.After(now) {
			at := p.nextPushAt
			p.nextPushAt = at.Add(c.pushInterval)
			g := c.issue(c.verifyTickets, p.appid, InfoTypeVerifyTicket, at.Truncate(time.Second), c.ticketLifetime)
			p.lastTicket = g
			if p.pushFaults.DropRate > 0 && c.rng.Float64() < p.pushFaults.DropRate {
				p.counters.TicketPushesDropped++
				continue
			}
			p.pending = append(p.pending, pendingPush{ticket: g, deliverAt: at.Add(p.pushFaults.Delay)})
		}
		var due []pendingPush
		keep := p.pending[:0]
		for _, pp := range p.pending {
			if pp.deliverAt.After(now) {
				keep = append(keep, pp)
			} else {
				due = append(due, pp)
			}
		}
		p.pending = keep
		if p.pushFaults.Reorder {
			sort.SliceStable(due, func(i, j int) bool { return due[i].ticket.issuedAt.After(due[j].ticket.issuedAt) })
		}
		for _, pp := range due {
			push := ComponentPush{ComponentAppID: p.appid, InfoType: InfoTypeVerifyTicket, CreateTime: pp.ticket.issuedAt, ComponentVerifyTicket: pp.ticket.value}
			c.seal(p, &push, now)
			p.counters.TicketPushes++
			out = append(out, push)
		}
	}
	return out
}

// Authorize simulates the admin of authorizerAppID authorising the
// platform (again), granting funcScopes (permission-set ids; none: 1 and
// 15). It returns the authorization code, valid for one api_query_auth
// within an hour, and the push: authorized the first time, updateauthorized
// while already authorised. A new authorisation makes the previous refresh
// token invalid at once.
func (c *ComponentSimulator) Authorize(componentAppID, authorizerAppID string, funcScopes ...int) (string, ComponentPush, error) {
	if authorizerAppID == "" {
		return "", ComponentPush{}, errors.New("wechattest: Authorize: authorizer appid is empty")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.platform(componentAppID)
	if err != nil {
		return "", ComponentPush{}, err
	}
	now := c.now()
	a, ok := p.authorizers[authorizerAppID]
	if !ok {
		a = &authorizer{appid: authorizerAppID}
		p.authorizers[authorizerAppID] = a
	}
	info := InfoTypeAuthorized
	if a.authorized {
		info = InfoTypeUpdateAuthorized
	}
	for _, r := range a.history {
		r.diesAt = minNonZero(r.diesAt, now)
	}
	a.authorized = true
	a.funcScopes = append([]int(nil), funcScopes...)
	if len(a.funcScopes) == 0 {
		a.funcScopes = []int{1, 15}
	}
	// The authorizer gets an Official Account entry so its access tokens
	// work on the Official Account API; it has no secret of its own here.
	if _, ok := c.apps[authorizerAppID]; !ok {
		c.apps[authorizerAppID] = &app{id: authorizerAppID, tickets: map[string]*grant{}, users: map[string]wechat.UserInfo{}}
	}
	code := "queryauthcode@@@" + c.newValue(nil)
	c.codes[code] = &authCode{component: p.appid, authorizer: authorizerAppID, expiresAt: now.Add(c.codeLifetime)}
	push := ComponentPush{
		ComponentAppID: p.appid, InfoType: info, CreateTime: now.Truncate(time.Second),
		AuthorizerAppID: authorizerAppID, AuthorizationCode: code,
		AuthorizationCodeExpiredTime: now.Add(c.codeLifetime).Truncate(time.Second),
		PreAuthCode:                  "preauthcode@@@" + c.newValue(nil),
	}
	c.seal(p, &push, now)
	return code, push, nil
}

// Unauthorize simulates the admin of authorizerAppID withdrawing the
// platform's authorisation: the refresh token and every access token of the
// authorizer die now. It returns the unauthorized push.
func (c *ComponentSimulator) Unauthorize(componentAppID, authorizerAppID string) (ComponentPush, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.platform(componentAppID)
	if err != nil {
		return ComponentPush{}, err
	}
	a, ok := p.authorizers[authorizerAppID]
	if !ok || !a.authorized {
		return ComponentPush{}, fmt.Errorf("wechattest: Unauthorize: %s has not authorised %s", authorizerAppID, componentAppID)
	}
	now := c.now()
	a.authorized = false
	for _, r := range a.history {
		r.diesAt = minNonZero(r.diesAt, now)
	}
	for _, g := range a.accessLive {
		g.revokeBy(now)
	}
	a.accessLive = nil
	push := ComponentPush{ComponentAppID: p.appid, InfoType: InfoTypeUnauthorized, CreateTime: now.Truncate(time.Second), AuthorizerAppID: authorizerAppID}
	c.seal(p, &push, now)
	return push, nil
}

// minNonZero returns the earlier of a and b, where a zero a means never.
func minNonZero(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

package wechattest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// componentErrmsgs are WeChat's texts for the Open Platform errcodes.
var componentErrmsgs = map[int]string{
	CodeComponentNotAuthorized:        "component is not authorized by this account",
	wechat.CodeComponentTicketExpired: "component ticket is expired",
	wechat.CodeComponentTicketInvalid: "component ticket is invalid",
	CodeAuthCodeInvalid:               "code is invalid",
	wechat.CodeRefreshTokenInvalid:    "refresh_token is invalid",
}

// componentRequest is the union of the component APIs' JSON bodies.
type componentRequest struct {
	ComponentAppID  string `json:"component_appid"`
	AppSecret       string `json:"component_appsecret"` // api_component_token
	Secret          string `json:"component_secret"`    // api_start_push_ticket
	VerifyTicket    string `json:"component_verify_ticket"`
	Code            string `json:"authorization_code"`
	AuthorizerAppID string `json:"authorizer_appid"`
	RefreshToken    string `json:"authorizer_refresh_token"`
}

// ServeHTTP serves the component APIs under /cgi-bin/component/ and hands
// every other path to the Official Account simulator.
func (c *ComponentSimulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ep Endpoint
	var process func(r *http.Request, body []byte) any
	switch r.URL.Path {
	case "/cgi-bin/component/api_component_token":
		ep, process = EndpointComponentToken, c.componentToken
	case "/cgi-bin/component/api_start_push_ticket":
		ep, process = EndpointStartPushTicket, c.startPushTicket
	case "/cgi-bin/component/api_query_auth":
		ep, process = EndpointQueryAuth, c.queryAuth
	case "/cgi-bin/component/api_authorizer_token":
		ep, process = EndpointAuthorizerToken, c.authorizerToken
	default:
		c.Simulator.ServeHTTP(w, r)
		return
	}
	c.serve(w, r, route{ep: ep, count: c.countComponent, process: process, errAnswer: c.componentErrAnswer})
}

// componentErrAnswer builds an error answer with WeChat's errmsg and an rid.
// Callers hold c.mu.
func (c *ComponentSimulator) componentErrAnswer(code int, now time.Time) any {
	if msg, ok := componentErrmsgs[code]; ok {
		return errorBody{ErrCode: code, ErrMsg: fmt.Sprintf("%s rid: %08x-%08x-%08x", msg, uint32(now.Unix()), c.rng.Uint32(), c.rng.Uint32())}
	}
	return c.errAnswer(code, now)
}

// countComponent bumps the counters of one call and returns the id its
// app-scoped faults are keyed by: the authorizer appid for
// api_authorizer_token, the component appid for the others. Callers hold
// c.mu.
func (c *ComponentSimulator) countComponent(ep Endpoint, r *http.Request, body []byte) string {
	var req componentRequest
	_ = json.Unmarshal(body, &req) // a malformed body counts as anonymous
	cnt := &c.anon
	if p, ok := c.platforms[req.ComponentAppID]; ok {
		cnt = &p.counters
	}
	switch ep {
	case EndpointComponentToken:
		cnt.ComponentToken++
	case EndpointStartPushTicket:
		cnt.StartPushTicket++
	case EndpointQueryAuth:
		cnt.QueryAuth++
	case EndpointAuthorizerToken:
		cnt.AuthorizerToken++
		return req.AuthorizerAppID
	}
	return req.ComponentAppID
}

// decodeComponent checks the method and decodes the body, returning the
// error answer to send if either is wrong. Callers hold c.mu.
func (c *ComponentSimulator) decodeComponent(r *http.Request, body []byte, now time.Time) (componentRequest, any) {
	var req componentRequest
	if r.Method != http.MethodPost {
		return req, c.componentErrAnswer(43002, now)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, c.componentErrAnswer(47001, now)
	}
	return req, nil
}

// platformBySecret checks a secret-authenticated call. Callers hold c.mu.
func (c *ComponentSimulator) platformBySecret(appid, secret string) (*platform, int) {
	if appid == "" {
		return nil, 41002
	}
	p, ok := c.platforms[appid]
	switch {
	case !ok:
		return nil, wechat.CodeInvalidAppID
	case secret == "":
		return nil, 41004
	case secret != p.secret:
		return nil, wechat.CodeInvalidAppSecret
	case p.ipBlocked:
		return nil, wechat.CodeIPNotWhitelisted2
	}
	return p, 0
}

// decodeAuthenticated decodes a call authenticated by a
// component_access_token and finds its platform, or returns the refusal.
// Callers hold c.mu.
func (c *ComponentSimulator) decodeAuthenticated(r *http.Request, body []byte, now time.Time) (componentRequest, *platform, any) {
	req, refused := c.decodeComponent(r, body, now)
	if refused != nil {
		return req, nil, refused
	}
	p, code := c.platformByToken(r, req.ComponentAppID, now)
	if code != 0 {
		return req, nil, c.componentErrAnswer(code, now)
	}
	return req, p, nil
}

// platformByToken checks a component_access_token and that the body names
// the same platform. Callers hold c.mu.
func (c *ComponentSimulator) platformByToken(r *http.Request, appid string, now time.Time) (*platform, int) {
	token := r.URL.Query().Get("component_access_token")
	if token == "" {
		return nil, wechat.CodeAccessTokenMissing
	}
	g, ok := c.componentTokens[token]
	switch {
	case !ok:
		return nil, wechat.CodeInvalidCredential
	case !now.Before(g.expiresAt):
		return nil, wechat.CodeAccessTokenExpired
	case !g.validAt(now):
		return nil, wechat.CodeInvalidCredential // replaced: "invalid or not latest"
	case appid != g.appid:
		return nil, wechat.CodeInvalidAppID
	}
	p := c.platforms[g.appid]
	if p.ipBlocked {
		return nil, wechat.CodeIPNotWhitelisted2
	}
	return p, 0
}

// componentToken implements POST /cgi-bin/component/api_component_token.
func (c *ComponentSimulator) componentToken(r *http.Request, body []byte) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now() // under the lock: concurrent calls see time in order
	req, refused := c.decodeComponent(r, body, now)
	if refused != nil {
		return refused
	}
	p, code := c.platformBySecret(req.ComponentAppID, req.AppSecret)
	if code != 0 {
		return c.componentErrAnswer(code, now)
	}
	t, ok := c.verifyTickets[req.VerifyTicket]
	switch {
	case !ok || t.appid != p.appid || now.Before(t.issuedAt):
		return c.componentErrAnswer(wechat.CodeComponentTicketInvalid, now)
	case !t.validAt(now):
		return c.componentErrAnswer(wechat.CodeComponentTicketExpired, now)
	}
	p.tokenLive = prune(p.tokenLive, now)
	for _, g := range p.tokenLive {
		g.revokeBy(minTime(g.expiresAt, now.Add(c.legacyOverlap)))
	}
	g := c.issue(c.componentTokens, p.appid, "component", now, c.tokenLifetime)
	p.tokenLive = append(p.tokenLive, g)
	return struct {
		Token     string `json:"component_access_token"`
		ExpiresIn int64  `json:"expires_in"`
	}{g.value, secondsLeft(g, now)}
}

// startPushTicket implements POST /cgi-bin/component/api_start_push_ticket:
// it restarts a stopped push service with a push due at once.
func (c *ComponentSimulator) startPushTicket(r *http.Request, body []byte) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	req, refused := c.decodeComponent(r, body, now)
	if refused != nil {
		return refused
	}
	p, code := c.platformBySecret(req.ComponentAppID, req.Secret)
	if code != 0 {
		return c.componentErrAnswer(code, now)
	}
	if p.pushing {
		return errorBody{0, "in a normal state"}
	}
	p.pushing, p.nextPushAt = true, now
	return errorBody{0, "ok"}
}

// queryAuth implements POST /cgi-bin/component/api_query_auth.
func (c *ComponentSimulator) queryAuth(r *http.Request, body []byte) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	req, p, refused := c.decodeAuthenticated(r, body, now)
	if refused != nil {
		return refused
	}
	ac, ok := c.codes[req.Code]
	if !ok || ac.used || ac.component != p.appid || !now.Before(ac.expiresAt) {
		return c.componentErrAnswer(CodeAuthCodeInvalid, now)
	}
	ac.used = true
	a := p.authorizers[ac.authorizer]
	if !a.authorized {
		return c.componentErrAnswer(CodeComponentNotAuthorized, now)
	}
	rt := c.newRefreshToken(p, a, now, false)
	g := c.issueAuthorizerToken(a, now)
	type funcInfo struct {
		Category struct {
			ID int `json:"id"`
		} `json:"funcscope_category"`
	}
	fi := make([]funcInfo, len(a.funcScopes))
	for i, id := range a.funcScopes {
		fi[i].Category.ID = id
	}
	type authorizationInfo struct {
		AppID        string     `json:"authorizer_appid"`
		AccessToken  string     `json:"authorizer_access_token"`
		ExpiresIn    int64      `json:"expires_in"`
		RefreshToken string     `json:"authorizer_refresh_token"`
		FuncInfo     []funcInfo `json:"func_info"`
	}
	return struct {
		Info authorizationInfo `json:"authorization_info"`
	}{authorizationInfo{a.appid, g.value, secondsLeft(g, now), rt.value, fi}}
}

// newRefreshToken issues the authorizer's next refresh token. A rotation
// leaves the previous one alive for the overlap; a new authorisation has
// already killed it. Callers hold c.mu.
func (c *ComponentSimulator) newRefreshToken(p *platform, a *authorizer, now time.Time, rotation bool) *refreshToken {
	if prev := a.refresh; prev != nil {
		if rotation {
			prev.rotatedOut = true
			prev.diesAt = minNonZero(prev.diesAt, now.Add(c.refreshOverlap))
		} else {
			prev.diesAt = minNonZero(prev.diesAt, now)
		}
	}
	var v string
	for {
		v = "refreshtoken@@@" + c.newValue(nil)
		if _, dup := c.refreshTokens[v]; !dup {
			break
		}
	}
	rt := &refreshToken{value: v, component: p.appid, authorizer: a.appid, issuedAt: now}
	c.refreshTokens[v] = rt
	a.refresh = rt
	a.history = append(a.history, rt)
	return rt
}

// issueAuthorizerToken issues a new authorizer_access_token; earlier ones
// stay valid for the legacy overlap at most. Callers hold c.mu.
func (c *ComponentSimulator) issueAuthorizerToken(a *authorizer, now time.Time) *grant {
	a.accessLive = prune(a.accessLive, now)
	for _, g := range a.accessLive {
		g.revokeBy(minTime(g.expiresAt, now.Add(c.legacyOverlap)))
	}
	g := c.issue(c.tokens, a.appid, "authorizer", now, c.tokenLifetime)
	a.accessLive = append(a.accessLive, g)
	return g
}

// authorizerToken implements POST /cgi-bin/component/api_authorizer_token.
func (c *ComponentSimulator) authorizerToken(r *http.Request, body []byte) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	req, p, refused := c.decodeAuthenticated(r, body, now)
	if refused != nil {
		return refused
	}
	a, ok := p.authorizers[req.AuthorizerAppID]
	if !ok || !a.authorized {
		return c.componentErrAnswer(CodeComponentNotAuthorized, now)
	}
	rt, ok := c.refreshTokens[req.RefreshToken]
	if !ok || rt.component != p.appid || rt.authorizer != a.appid || !rt.aliveAt(now) {
		a.stale++
		return c.componentErrAnswer(wechat.CodeRefreshTokenInvalid, now)
	}
	rt.used = true
	if a.rotateNext || (c.rotationRate > 0 && c.rng.Float64() < c.rotationRate) {
		a.rotateNext = false
		c.newRefreshToken(p, a, now, true)
	}
	g := c.issueAuthorizerToken(a, now)
	return struct {
		AccessToken  string `json:"authorizer_access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}{g.value, secondsLeft(g, now), a.refresh.value}
}

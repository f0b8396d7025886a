package wechattest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// wecomErrmsgs are texts for the WeCom errcodes the simulator produces;
// each answer gets a ", hint: […]" suffix as WeCom's do.
var wecomErrmsgs = map[int]string{
	-1:    "system busy",
	40001: "invalid credential",
	40013: "invalid corpid",
	40014: "invalid access_token",
	40058: "invalid parameter",
	40091: "secret is invalid",
	41001: "access_token missing",
	41002: "corpid missing",
	41004: "corpsecret missing",
	42001: "access_token expired",
	43001: "require GET method",
	45009: "api freq out of limit",
	60020: "not allow to access from your ip",
}

// ServeHTTP serves the simulated WeCom API.
func (w *WeComSimulator) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var ep Endpoint
	var process func(r *http.Request, body []byte) any
	switch r.URL.Path {
	case "/cgi-bin/gettoken":
		ep, process = EndpointWeComGetToken, w.getToken
	case "/cgi-bin/get_jsapi_ticket":
		ep, process = EndpointWeComJSAPITicket, w.jsapiTicket
	case "/cgi-bin/ticket/get":
		ep, process = EndpointWeComAgentConfigTicket, w.agentConfigTicket
	default:
		w.sim.notFound(rw, r)
		return
	}
	w.sim.serve(rw, r, route{ep: ep, count: w.count, process: process, errAnswer: w.errAnswer})
}

// errAnswer builds a WeCom error answer. Callers hold w.sim.mu.
func (w *WeComSimulator) errAnswer(code int, now time.Time) any {
	msg, ok := wecomErrmsgs[code]
	if !ok {
		msg = fmt.Sprintf("simulated error %d", code)
	}
	return errorBody{ErrCode: code, ErrMsg: fmt.Sprintf("%s, hint: [%d_%08x], more info at https://open.work.weixin.qq.com/devtool/query?e=%d",
		msg, now.Unix(), w.sim.rng.Uint32(), code)}
}

// byCorpSecret finds the app a gettoken call names: WeCom identifies the
// app by its secret within the corp. Callers hold w.sim.mu.
func (w *WeComSimulator) byCorpSecret(corpid, secret string) (a *wecomApp, corpKnown bool) {
	for _, c := range w.apps {
		if c.corpid != corpid {
			continue
		}
		corpKnown = true
		if secret != "" && c.secret == secret {
			return c, true
		}
	}
	return nil, corpKnown
}

// byToken finds the app an access_token was issued to, if any. Callers
// hold w.sim.mu.
func (w *WeComSimulator) byToken(token string) *wecomApp {
	if g, ok := w.sim.tokens[token]; ok {
		return w.apps[g.appid]
	}
	return nil
}

// count bumps the counters for one call and returns the credential id it
// was made for ("" when none is known). Callers hold w.sim.mu.
func (w *WeComSimulator) count(ep Endpoint, r *http.Request, _ []byte) string {
	q := r.URL.Query()
	var a *wecomApp
	if ep == EndpointWeComGetToken {
		a, _ = w.byCorpSecret(q.Get("corpid"), q.Get("corpsecret"))
	} else {
		a = w.byToken(q.Get("access_token"))
	}
	c := &w.anon
	if a != nil {
		c = &a.counters
	}
	switch ep {
	case EndpointWeComGetToken:
		c.GetToken++
	case EndpointWeComJSAPITicket:
		c.JSAPITicket++
	case EndpointWeComAgentConfigTicket:
		c.AgentConfigTicket++
	}
	if a == nil {
		return ""
	}
	return a.id
}

// blocked returns the errcode that refuses every call of a, or 0. Callers
// hold w.sim.mu.
func blocked(a *wecomApp) int {
	switch {
	case a.ipBlocked:
		return wechat.WeComCodeIPNotAllowed
	case a.quotaExhausted:
		return wechat.CodeDailyQuota
	}
	return 0
}

// current returns g when it is still valid at now, else a new grant with a
// full lifetime recorded in history: WeCom's "same value until it expires".
// Callers hold w.sim.mu.
func (w *WeComSimulator) current(g *grant, history map[string]*grant, a *wecomApp, kind string, now time.Time, life time.Duration) *grant {
	if g != nil && g.validAt(now) {
		return g
	}
	return w.sim.issue(history, a.id, kind, now, life)
}

// getToken implements GET /cgi-bin/gettoken?corpid=&corpsecret=.
func (w *WeComSimulator) getToken(r *http.Request, _ []byte) any {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	now := w.sim.now() // under the lock: concurrent calls see time in order
	if r.Method != http.MethodGet {
		return w.errAnswer(43001, now)
	}
	q := r.URL.Query()
	corpid, secret := q.Get("corpid"), q.Get("corpsecret")
	if corpid == "" {
		return w.errAnswer(wechat.WeComCodeCorpIDMissing, now)
	}
	if secret == "" {
		return w.errAnswer(wechat.WeComCodeSecretMissing, now)
	}
	a, corpKnown := w.byCorpSecret(corpid, secret)
	switch {
	case !corpKnown:
		return w.errAnswer(wechat.WeComCodeInvalidCorpID, now)
	case a == nil:
		return w.errAnswer(wechat.WeComCodeInvalidSecret, now)
	}
	if code := blocked(a); code != 0 {
		return w.errAnswer(code, now)
	}
	a.token = w.current(a.token, w.sim.tokens, a, "wecom", now, w.sim.tokenLifetime)
	return struct {
		errorBody
		tokenBody
	}{errorBody{0, "ok"}, tokenBody{a.token.value, secondsLeft(a.token, now)}}
}

// authenticate checks a WeCom access_token. Callers hold w.sim.mu.
func (w *WeComSimulator) authenticate(token string, now time.Time) (*wecomApp, int) {
	if token == "" {
		return nil, wechat.CodeAccessTokenMissing
	}
	g, ok := w.sim.tokens[token]
	a := w.byToken(token)
	switch {
	case !ok || a == nil:
		return nil, wechat.CodeInvalidAccessToken
	case !now.Before(g.expiresAt):
		return nil, wechat.CodeAccessTokenExpired
	case !g.validAt(now):
		return nil, wechat.CodeInvalidAccessToken // revoked early
	}
	if code := blocked(a); code != 0 {
		return nil, code
	}
	return a, 0
}

// jsapiTicket implements GET /cgi-bin/get_jsapi_ticket (the corp ticket).
func (w *WeComSimulator) jsapiTicket(r *http.Request, _ []byte) any {
	return w.ticket(r, "jsapi", func(a *wecomApp) **grant { return &a.jsapi })
}

// agentConfigTicket implements GET /cgi-bin/ticket/get?type=agent_config.
func (w *WeComSimulator) agentConfigTicket(r *http.Request, _ []byte) any {
	if t := r.URL.Query().Get("type"); t != wechat.WeComTicketAgentConfig {
		w.sim.mu.Lock()
		defer w.sim.mu.Unlock()
		return w.errAnswer(40058, w.sim.now())
	}
	return w.ticket(r, wechat.WeComTicketAgentConfig, func(a *wecomApp) **grant { return &a.agentConfig })
}

// ticket answers a ticket call: the app's current ticket of that kind, or
// a new one once it expired.
func (w *WeComSimulator) ticket(r *http.Request, kind string, slot func(*wecomApp) **grant) any {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	now := w.sim.now() // under the lock: concurrent calls see time in order
	if r.Method != http.MethodGet {
		return w.errAnswer(43001, now)
	}
	a, code := w.authenticate(r.URL.Query().Get("access_token"), now)
	if code != 0 {
		return w.errAnswer(code, now)
	}
	p := slot(a)
	*p = w.current(*p, w.sim.tickets, a, kind, now, w.sim.ticketLifetime)
	return struct {
		errorBody
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}{errorBody{0, "ok"}, (*p).value, secondsLeft(*p, now)}
}

package wechattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// maxRequestBytes bounds a request body; WeChat's JSON bodies are small.
const maxRequestBytes = 1 << 20

// errmsgs are WeChat's texts for the errcodes the simulator produces; an
// rid suffix is appended to each answer.
var errmsgs = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40003: "invalid openid",
	40008: "invalid message type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40097: "invalid args",
	40125: "invalid appsecret",
	40243: "AppSecret is frozen",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	42001: "access_token expired",
	43001: "require GET method",
	43002: "require POST method",
	44004: "empty content",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
	48001: "api unauthorized",
	61004: "access clientip is not registered",
}

// Handler returns the simulator as an http.Handler, for mounting in
// another server (the routes are WeChat's absolute paths under /cgi-bin/).
func (s *Simulator) Handler() http.Handler { return s }

// ServeHTTP serves the simulated WeChat API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ep Endpoint
	var process func(r *http.Request, body []byte) any
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		ep, process = EndpointStableToken, s.stableToken
	case "/cgi-bin/token":
		ep, process = EndpointToken, s.legacyToken
	case "/cgi-bin/ticket/getticket":
		ep, process = EndpointGetTicket, s.getTicket
	case "/cgi-bin/message/custom/send":
		ep, process = EndpointCustomSend, s.customSend
	case "/cgi-bin/user/info":
		ep, process = EndpointUserInfo, s.userInfo
	default:
		s.notFound(w, r)
		return
	}
	s.serve(w, r, route{ep: ep, count: s.count, process: process, errAnswer: s.errAnswerAny})
}

// route is one simulated endpoint as serve runs it: how a call is
// attributed to an app (for counters and app-scoped faults), how it is
// answered, and how an errcode fault is worded. count and errAnswer are
// called with s.mu held.
type route struct {
	ep        Endpoint
	count     func(ep Endpoint, r *http.Request, body []byte) string
	process   func(r *http.Request, body []byte) any
	errAnswer func(code int, now time.Time) any
}

// notFound answers a path no endpoint serves (a dropped connection during
// an outage, like every other call).
func (s *Simulator) notFound(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	outage := s.outage
	s.mu.Unlock()
	if outage {
		drop(w)
		return
	}
	http.NotFound(w, r)
}

// serve runs one call of rt: outage, counting, scripted or random faults
// (latency, drop, truncate, HTTP status, errcode), then the answer. Every
// API family the package simulates goes through it, so faults behave alike.
func (s *Simulator) serve(w http.ResponseWriter, r *http.Request, rt route) {
	ep, process := rt.ep, rt.process
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		drop(w)
		return
	}
	if len(body) > maxRequestBytes {
		body = nil // decoded as "data format error" below
	}

	s.mu.Lock()
	if s.outage {
		s.mu.Unlock()
		drop(w)
		return
	}
	appid := rt.count(ep, r, body)
	f, faulted := s.nextFault(ep, appid)
	s.mu.Unlock()

	if faulted && f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	var answer any
	if !faulted || !f.replaces() || f.AfterProcessing {
		answer = process(r, body)
	}
	if faulted && f.replaces() {
		switch {
		case f.Drop:
			drop(w)
		case f.Truncate:
			truncate(w)
		case f.HTTPStatus != 0:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(f.HTTPStatus)
			fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>\n",
				f.HTTPStatus, http.StatusText(f.HTTPStatus), f.HTTPStatus, http.StatusText(f.HTTPStatus))
		default:
			s.mu.Lock()
			answer = rt.errAnswer(f.Errcode, s.now())
			s.mu.Unlock()
			writeJSON(w, answer)
		}
		return
	}
	writeJSON(w, answer)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "marshal", http.StatusInternalServerError)
		return
	}
	w.Write(b)
}

// drop closes the connection without an answer; where hijacking is not
// possible (HTTP/2, wrapped writers) net/http aborts the stream instead.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// truncate sends a 200 head promising more body than follows, then closes.
func truncate(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.Header().Set("Content-Length", "160")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, `{"access_token":"`)
	rc := http.NewResponseController(w)
	rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// errorBody is WeChat's error answer.
type errorBody struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// errAnswer builds an error answer with a realistic errmsg and rid.
// Callers hold s.mu.
func (s *Simulator) errAnswer(code int, now time.Time, args ...string) errorBody {
	msg, ok := errmsgs[code]
	if !ok {
		msg = fmt.Sprintf("simulated error %d", code)
	}
	if code == wechat.CodeIPNotWhitelisted && len(args) > 0 {
		msg = fmt.Sprintf("invalid ip %s ipv6 ::ffff:%s, not in whitelist", args[0], args[0])
	}
	return errorBody{ErrCode: code, ErrMsg: fmt.Sprintf("%s rid: %08x-%08x-%08x", msg, uint32(now.Unix()), s.rng.Uint32(), s.rng.Uint32())}
}

// errAnswerAny is errAnswer for a route. Callers hold s.mu.
func (s *Simulator) errAnswerAny(code int, now time.Time) any { return s.errAnswer(code, now) }

// count bumps the counters for one call and returns the appid it was
// made for ("" when none is known). Callers hold s.mu.
func (s *Simulator) count(ep Endpoint, r *http.Request, body []byte) string {
	switch ep {
	case EndpointStableToken:
		var req struct {
			AppID        string `json:"appid"`
			ForceRefresh bool   `json:"force_refresh"`
		}
		_ = json.Unmarshal(body, &req) // a malformed body counts as anonymous
		c := s.counterFor(req.AppID)
		if req.ForceRefresh {
			c.StableTokenForce++
		} else {
			c.StableTokenNormal++
		}
		return req.AppID
	case EndpointToken:
		appid := r.URL.Query().Get("appid")
		s.counterFor(appid).LegacyToken++
		return appid
	default:
		appid := ""
		if g, ok := s.tokens[r.URL.Query().Get("access_token")]; ok {
			appid = g.appid
		}
		c := s.counterFor(appid)
		switch ep {
		case EndpointGetTicket:
			c.GetTicket++
		case EndpointCustomSend:
			c.CustomSend++
		case EndpointUserInfo:
			c.UserInfo++
		}
		return appid
	}
}

// credentialCheck validates the app part of a token request. Callers
// hold s.mu.
func (s *Simulator) credentialCheck(r *http.Request, grantType, appid, secret string) (*app, int) {
	switch {
	case grantType != "client_credential":
		return nil, wechat.CodeInvalidGrantType
	case appid == "":
		return nil, 41002
	}
	a, ok := s.apps[appid]
	switch {
	case !ok:
		return nil, wechat.CodeInvalidAppID
	case secret == "":
		return nil, 41004
	case secret != a.secret:
		return nil, wechat.CodeInvalidAppSecret
	case a.ipBlocked:
		return nil, wechat.CodeIPNotWhitelisted
	}
	return a, 0
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type tokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func secondsLeft(g *grant, now time.Time) int64 { return int64(g.end().Sub(now) / time.Second) }

// stableToken implements POST /cgi-bin/stable_token.
func (s *Simulator) stableToken(r *http.Request, body []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under the lock: concurrent calls see time in order
	if r.Method != http.MethodPost {
		return s.errAnswer(43002, now)
	}
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return s.errAnswer(47001, now)
	}
	a, code := s.credentialCheck(r, req.GrantType, req.AppID, req.Secret)
	if code != 0 {
		return s.errAnswer(code, now, remoteIP(r))
	}
	if !req.ForceRefresh {
		cur := a.stable
		if cur == nil || !cur.validAt(now) || cur.end().Sub(now) <= s.rotationWindow {
			// Rotation inside the window leaves the old token to its own
			// expiry: the documented 5-minute overlap.
			cur = s.rotateStable(a, now, time.Time{})
		}
		return tokenBody{cur.value, secondsLeft(cur, now)}
	}
	day := now.In(shanghai).Format(time.DateOnly)
	if a.forceDay != day {
		a.forceDay, a.forceCount = day, 0
	}
	if a.forceCount >= s.forceDailyLimit {
		return s.errAnswer(wechat.CodeDailyQuota, now)
	}
	a.forceCount++ // WeChat counts the call, whether or not it rotates
	cur := a.stable
	if cur != nil && cur.validAt(now) && !a.lastForceAt.IsZero() && now.Sub(a.lastForceAt) < s.forceMinInterval {
		// "At least 30 s between force calls, otherwise it does not
		// refresh": the current token comes back unchanged.
		a.counters.StableTokenForceIgnored++
		return tokenBody{cur.value, secondsLeft(cur, now)}
	}
	a.lastForceAt = now
	g := s.rotateStable(a, now, now.Add(s.forceOverlap))
	return tokenBody{g.value, secondsLeft(g, now)}
}

// legacyToken implements GET /cgi-bin/token.
func (s *Simulator) legacyToken(r *http.Request, _ []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under the lock: concurrent calls see time in order
	if r.Method != http.MethodGet {
		return s.errAnswer(43001, now)
	}
	q := r.URL.Query()
	a, code := s.credentialCheck(r, q.Get("grant_type"), q.Get("appid"), q.Get("secret"))
	if code != 0 {
		return s.errAnswer(code, now, remoteIP(r))
	}
	a.legacyLive = prune(a.legacyLive, now)
	for _, g := range a.legacyLive {
		g.revokeBy(minTime(g.expiresAt, now.Add(s.legacyOverlap)))
	}
	g := s.issue(s.tokens, a.id, "legacy", now, s.tokenLifetime)
	a.legacy = g
	a.legacyLive = append(a.legacyLive, g)
	return tokenBody{g.value, secondsLeft(g, now)}
}

// authenticate checks an access_token the way WeChat's APIs do. Callers
// hold s.mu.
func (s *Simulator) authenticate(token string, now time.Time) (*app, int) {
	if token == "" {
		return nil, wechat.CodeAccessTokenMissing
	}
	g, ok := s.tokens[token]
	if !ok {
		return nil, wechat.CodeInvalidCredential
	}
	if !now.Before(g.expiresAt) {
		return nil, wechat.CodeAccessTokenExpired
	}
	if !g.validAt(now) {
		return nil, wechat.CodeInvalidCredential // replaced: "invalid or not latest"
	}
	return s.apps[g.appid], 0
}

// authorize checks an authenticated API call: its method (43001 "require
// GET method" / 43002 "require POST method") and its access_token. It
// returns the app, or the error answer to send. Call it with s.mu held.
func (s *Simulator) authorize(r *http.Request, q url.Values, method string, now time.Time) (*app, any) {
	if r.Method != method {
		if method == http.MethodPost {
			return nil, s.errAnswer(43002, now)
		}
		return nil, s.errAnswer(43001, now)
	}
	a, code := s.authenticate(q.Get("access_token"), now)
	if code != 0 {
		return nil, s.errAnswer(code, now)
	}
	return a, nil
}

// getTicket implements GET /cgi-bin/ticket/getticket. Every call issues a
// new ticket with a full lifetime and leaves earlier tickets valid until
// their own expiry, so the returned expires_in is always the lifetime.
func (s *Simulator) getTicket(r *http.Request, _ []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under the lock: concurrent calls see time in order
	q := r.URL.Query()
	a, refused := s.authorize(r, q, http.MethodGet, now)
	if refused != nil {
		return refused
	}
	if a.miniProgram {
		return s.errAnswer(CodeAPIUnauthorized, now)
	}
	typ := q.Get("type")
	if typ != "jsapi" && typ != "wx_card" {
		return s.errAnswer(40097, now)
	}
	g := s.issue(s.tickets, a.id, typ, now, s.ticketLifetime)
	a.tickets[typ] = g
	return struct {
		errorBody
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}{errorBody{0, "ok"}, g.value, secondsLeft(g, now)}
}

// customSend implements POST /cgi-bin/message/custom/send.
func (s *Simulator) customSend(r *http.Request, body []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under the lock: concurrent calls see time in order
	a, refused := s.authorize(r, r.URL.Query(), http.MethodPost, now)
	if refused != nil {
		return refused
	}
	var msg wechat.CustomMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return s.errAnswer(47001, now)
	}
	switch msg.MsgType {
	case wechat.MsgTypeText, wechat.MsgTypeImage, wechat.MsgTypeVoice, wechat.MsgTypeNews:
	default:
		return s.errAnswer(40008, now)
	}
	if msg.ToUser == "" {
		return s.errAnswer(40003, now)
	}
	if msg.Validate() != nil {
		return s.errAnswer(44004, now)
	}
	s.messages = append(s.messages, SentMessage{AppID: a.id, At: now, Message: msg, Raw: append([]byte(nil), body...)})
	return errorBody{0, "ok"}
}

// userInfo implements GET /cgi-bin/user/info for followers added with
// AddUser.
func (s *Simulator) userInfo(r *http.Request, _ []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now() // under the lock: concurrent calls see time in order
	q := r.URL.Query()
	a, refused := s.authorize(r, q, http.MethodGet, now)
	if refused != nil {
		return refused
	}
	u, ok := a.users[q.Get("openid")]
	if !ok {
		return s.errAnswer(40003, now)
	}
	return u
}

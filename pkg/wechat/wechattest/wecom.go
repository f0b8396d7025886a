package wechattest

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// WeCom endpoints for fault injection (InjectFaults on a WeComSimulator).
const (
	EndpointWeComGetToken          Endpoint = "wecom_gettoken"            // GET /cgi-bin/gettoken
	EndpointWeComJSAPITicket       Endpoint = "wecom_get_jsapi_ticket"    // GET /cgi-bin/get_jsapi_ticket
	EndpointWeComAgentConfigTicket Endpoint = "wecom_agent_config_ticket" // GET /cgi-bin/ticket/get?type=agent_config
)

// WeComEndpoints lists every simulated WeCom endpoint.
var WeComEndpoints = []Endpoint{EndpointWeComGetToken, EndpointWeComJSAPITicket, EndpointWeComAgentConfigTicket}

// ErrUnknownWeComApp is returned by methods given a corpid and agent that
// AddApp never registered.
var ErrUnknownWeComApp = errors.New("wechattest: unknown wecom app")

// WeComSimulator is an in-memory WeCom (企业微信) credential API: an
// http.Handler serving GET /cgi-bin/gettoken, /cgi-bin/get_jsapi_ticket and
// /cgi-bin/ticket/get?type=agent_config for apps registered with AddApp,
// with WeCom's errcodes, the same faults, clock and counters as Simulator,
// and a validity oracle. It is safe for concurrent use.
//
//   - gettoken: the same token while it is valid (expires_in is what is
//     left), a new one with a full lifetime (WithTokenLifetime, default
//     7200 s) only once it expired or was revoked (RevokeToken). The app is
//     found by corpid and secret, as WeCom does: unknown corpid 40013, a
//     secret of no app of that corp 40001, SetIPAllowed(false) 60020,
//     SetQuotaExhausted 45009; missing corpid 41002, missing secret 41004.
//   - Tickets: the corp jsapi_ticket and the agent_config ticket, each the
//     same while valid and new after expiry (WithTicketLifetime). No token
//     41001, an unknown or revoked token 40014, an expired one 42001.
//
// Its credential ids are "<corpid>:<agent>", as wxcentral keys them: pass
// one to Valid, TicketValid, Counters and InjectFaultsFor. Of Simulator's
// options it honours WithClock, WithSeed, WithTokenLifetime and
// WithTicketLifetime.
type WeComSimulator struct {
	// sim is the engine: clock, lock, random source, the history of every
	// value issued (the oracle) and the fault plans. Its own apps stay empty.
	sim  *Simulator
	apps map[string]*wecomApp // by credential id
	anon WeComCounters        // calls that named no known app
}

// wecomApp is one WeCom app (an agent, or a built-in one such as contacts)
// of one corp.
type wecomApp struct {
	id                    string // credential id, corpid:agent
	corpid, agent, secret string
	ipBlocked             bool
	quotaExhausted        bool

	token       *grant
	jsapi       *grant
	agentConfig *grant
	counters    WeComCounters
}

// WeComCounters counts the calls a WeCom app's endpoints received, faulted
// ones included.
type WeComCounters struct {
	GetToken          int
	JSAPITicket       int
	AgentConfigTicket int
}

// Total is the sum of all endpoint counters.
func (c WeComCounters) Total() int { return c.GetToken + c.JSAPITicket + c.AgentConfigTicket }

// WeComCredentialID is the credential id of a WeCom app: "<corpid>:<agent>".
func WeComCredentialID(corpid, agent string) string { return corpid + ":" + agent }

// NewWeComSimulator returns a WeCom simulator with no apps; register them
// with AddApp.
func NewWeComSimulator(opts ...Option) *WeComSimulator {
	return &WeComSimulator{sim: NewSimulator(opts...), apps: map[string]*wecomApp{}}
}

// Handler returns the simulator as an http.Handler.
func (w *WeComSimulator) Handler() http.Handler { return w }

// Now returns the simulator's current time.
func (w *WeComSimulator) Now() time.Time { return w.sim.Now() }

// AddApp registers the WeCom app agent (an agent id such as "1000002" or a
// name such as "contacts") of corp corpid with its secret. Calling it
// again for the same app changes the secret (a reset) and keeps the tokens.
func (w *WeComSimulator) AddApp(corpid, agent, secret string) error {
	if corpid == "" || agent == "" || secret == "" {
		return errors.New("wechattest: AddApp: corpid, agent and secret must not be empty")
	}
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	for _, a := range w.apps {
		if a.corpid == corpid && a.agent != agent && a.secret == secret {
			return fmt.Errorf("wechattest: AddApp: corp %s already has an app with that secret", corpid)
		}
	}
	id := WeComCredentialID(corpid, agent)
	if a, ok := w.apps[id]; ok {
		a.secret = secret
		return nil
	}
	w.apps[id] = &wecomApp{id: id, corpid: corpid, agent: agent, secret: secret}
	return nil
}

// app returns a registered app. Callers hold w.sim.mu.
func (w *WeComSimulator) app(corpid, agent string) (*wecomApp, error) {
	a, ok := w.apps[WeComCredentialID(corpid, agent)]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownWeComApp, WeComCredentialID(corpid, agent))
	}
	return a, nil
}

// SetIPAllowed switches the app's trusted-IP check: with allowed false
// every call for the app (gettoken and tickets) fails with 60020.
func (w *WeComSimulator) SetIPAllowed(corpid, agent string, allowed bool) error {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	a, err := w.app(corpid, agent)
	if err != nil {
		return err
	}
	a.ipBlocked = !allowed
	return nil
}

// SetQuotaExhausted makes every call for the app fail with 45009 while on.
func (w *WeComSimulator) SetQuotaExhausted(corpid, agent string, on bool) error {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	a, err := w.app(corpid, agent)
	if err != nil {
		return err
	}
	a.quotaExhausted = on
	return nil
}

// RevokeToken invalidates the app's current access_token now, before its
// expiry, as WeCom may; the next gettoken issues a new one. It returns the
// revoked token ("" when none was valid).
func (w *WeComSimulator) RevokeToken(corpid, agent string) (string, error) {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	a, err := w.app(corpid, agent)
	if err != nil {
		return "", err
	}
	now := w.sim.now()
	if a.token == nil || !a.token.validAt(now) {
		return "", nil
	}
	a.token.revokeBy(now)
	return a.token.value, nil
}

// CurrentToken returns the app's valid access_token and when it expires,
// or "" when none was issued or it is no longer valid.
func (w *WeComSimulator) CurrentToken(corpid, agent string) (string, time.Time) {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	a, ok := w.apps[WeComCredentialID(corpid, agent)]
	if !ok || a.token == nil || !a.token.validAt(w.sim.now()) {
		return "", time.Time{}
	}
	return a.token.value, a.token.end()
}

// Valid is the oracle: whether WeCom accepted token for the app with
// credential id credID ("<corpid>:<agent>") at instant at.
func (w *WeComSimulator) Valid(credID, token string, at time.Time) bool {
	return w.sim.Valid(credID, token, at)
}

// TicketValid is the oracle for tickets (jsapi and agent_config): whether
// ticket was valid for credID at instant at.
func (w *WeComSimulator) TicketValid(credID, ticket string, at time.Time) bool {
	return w.sim.TicketValid(credID, ticket, at)
}

// IssuedValues returns every token and ticket ever issued, sorted, for
// leak scans.
func (w *WeComSimulator) IssuedValues() []string { return w.sim.IssuedValues() }

// Counters returns the app's call counters; credID "" returns the calls
// that named no registered app.
func (w *WeComSimulator) Counters(credID string) WeComCounters {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	if credID == "" {
		return w.anon
	}
	if a, ok := w.apps[credID]; ok {
		return a.counters
	}
	return WeComCounters{}
}

// ResetCounters zeroes every app's call counters.
func (w *WeComSimulator) ResetCounters() {
	w.sim.mu.Lock()
	defer w.sim.mu.Unlock()
	w.anon = WeComCounters{}
	for _, a := range w.apps {
		a.counters = WeComCounters{}
	}
}

// InjectFaults scripts the next calls to ep, as Simulator.InjectFaults.
func (w *WeComSimulator) InjectFaults(ep Endpoint, faults ...Fault) {
	w.sim.InjectFaults(ep, faults...)
}

// InjectFaultsFor scripts the next calls to ep for the app with credential
// id credID, as Simulator.InjectFaultsFor.
func (w *WeComSimulator) InjectFaultsFor(credID string, ep Endpoint, faults ...Fault) {
	w.sim.InjectFaultsFor(credID, ep, faults...)
}

// SetFaultRate fails a share of the calls to ep, as Simulator.SetFaultRate.
func (w *WeComSimulator) SetFaultRate(ep Endpoint, rate float64, choices ...Fault) {
	w.sim.SetFaultRate(ep, rate, choices...)
}

// SetOutage drops every connection while on, as Simulator.SetOutage.
func (w *WeComSimulator) SetOutage(on bool) { w.sim.SetOutage(on) }

// ClearFaults removes every fault and ends an outage.
func (w *WeComSimulator) ClearFaults() { w.sim.ClearFaults() }

// PendingFaults returns how many scripted faults ep has left.
func (w *WeComSimulator) PendingFaults(ep Endpoint) int { return w.sim.PendingFaults(ep) }

// WeComServer is a WeComSimulator listening on a loopback port, like
// Server. Its WeComSimulator methods are promoted.
type WeComServer struct {
	*WeComSimulator
	URL string // base URL for wechat.NewWeComClient(wechat.WithBaseURL(URL))

	srv *http.Server
}

// NewWeComServer starts a WeCom simulator on 127.0.0.1 on a free port. It
// panics if no port can be opened. Call Close when done.
func NewWeComServer(opts ...Option) *WeComServer {
	sim := NewWeComSimulator(opts...)
	url, srv := serveLoopback(sim)
	return &WeComServer{WeComSimulator: sim, URL: url, srv: srv}
}

// Close stops the server and closes every open connection at once.
func (s *WeComServer) Close() { s.srv.Close() }

package wechattest

import (
	"fmt"
	"time"
)

// Endpoint names a simulated API for fault injection.
type Endpoint string

// The simulated endpoints.
const (
	EndpointStableToken Endpoint = "stable_token" // POST /cgi-bin/stable_token
	EndpointToken       Endpoint = "token"        // GET /cgi-bin/token (legacy)
	EndpointGetTicket   Endpoint = "getticket"    // GET /cgi-bin/ticket/getticket
	EndpointCustomSend  Endpoint = "custom_send"  // POST /cgi-bin/message/custom/send
	EndpointUserInfo    Endpoint = "user_info"    // GET /cgi-bin/user/info
)

// Endpoints lists every simulated endpoint.
var Endpoints = []Endpoint{EndpointStableToken, EndpointToken, EndpointGetTicket, EndpointCustomSend, EndpointUserInfo}

// Fault is what happens to one call instead of (or, with AfterProcessing,
// after) its normal handling. Latency applies first, in real time (the
// virtual clock does not move); then the first of Drop, Truncate,
// HTTPStatus, Errcode that is set decides the answer. A Fault with only
// Latency set delays a normal answer.
//
// Drop closes the connection before any byte of the answer. Like any
// server, this lets Go's http.Transport replay a GET that went out on a
// reused keep-alive connection on a fresh one, so a single Drop on a GET
// endpoint may be absorbed by that retry (the call is then counted twice).
// Truncate fails every request exactly once.
type Fault struct {
	Latency    time.Duration // wait this long (real time) before answering
	Drop       bool          // close the connection without an answer
	Truncate   bool          // send the start of a 200 answer, then close
	HTTPStatus int           // answer with this HTTP status and an HTML body
	Errcode    int           // answer HTTP 200 {"errcode":Errcode,"errmsg":"… rid: …"}
	// AfterProcessing handles the call normally first (a token may rotate,
	// a force call is spent, a message is recorded) and then replaces the
	// answer with the fault: the "response lost on the way back" case.
	AfterProcessing bool
}

// ErrcodeFault answers with WeChat errcode code (e.g. -1, 45009, 45011).
func ErrcodeFault(code int) Fault { return Fault{Errcode: code} }

// HTTPFault answers with HTTP status (e.g. 502) and no JSON.
func HTTPFault(status int) Fault { return Fault{HTTPStatus: status} }

// LatencyFault delays the normal answer by d.
func LatencyFault(d time.Duration) Fault { return Fault{Latency: d} }

// DropFault closes the connection without answering.
func DropFault() Fault { return Fault{Drop: true} }

// TruncateFault sends the headers and part of a 200 answer, then closes the
// connection: the client sees an unexpected EOF.
func TruncateFault() Fault { return Fault{Truncate: true} }

// replaces reports whether the fault replaces the answer.
func (f Fault) replaces() bool { return f.Drop || f.Truncate || f.HTTPStatus != 0 || f.Errcode != 0 }

// String names the fault for test logs, e.g. "errcode -1" or "drop".
func (f Fault) String() string {
	switch {
	case f.Drop:
		return "drop"
	case f.Truncate:
		return "truncate"
	case f.HTTPStatus != 0:
		return fmt.Sprintf("http %d", f.HTTPStatus)
	case f.Errcode != 0:
		return fmt.Sprintf("errcode %d", f.Errcode)
	}
	return fmt.Sprintf("latency %v", f.Latency)
}

// faultKey scopes a fault plan to an endpoint, for one app or (appid "")
// for all.
type faultKey struct {
	appid string
	ep    Endpoint
}

// faultPlan is a scripted queue and a probabilistic mode.
type faultPlan struct {
	script  []Fault
	rate    float64
	choices []Fault
}

// InjectFaults scripts the next len(faults) calls to ep: each gets the
// next fault in order, after which calls are handled normally again.
// Repeated calls append to the script.
func (s *Simulator) InjectFaults(ep Endpoint, faults ...Fault) { s.InjectFaultsFor("", ep, faults...) }

// InjectFaultsFor scripts the next calls to ep made for appid only (the
// appid of the request for token endpoints, the token's app for the
// others). App-scoped faults are taken before endpoint-wide ones. An empty
// appid is the same as InjectFaults.
func (s *Simulator) InjectFaultsFor(appid string, ep Endpoint, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.plan(faultKey{appid, ep})
	p.script = append(p.script, faults...)
}

// SetFaultRate makes each call to ep fail with probability rate (0..1),
// with a fault picked uniformly from choices, using the simulator's seeded
// random source (WithSeed). Scripted faults take precedence. A rate of 0
// or no choices turns the mode off.
func (s *Simulator) SetFaultRate(ep Endpoint, rate float64, choices ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.plan(faultKey{"", ep})
	p.rate = min(max(rate, 0), 1)
	p.choices = append([]Fault(nil), choices...)
}

// SetOutage switches a full outage on or off: while on, every request to
// every endpoint has its connection dropped without an answer. Calls are
// not counted during an outage.
func (s *Simulator) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// ClearFaults removes every scripted and probabilistic fault and ends an
// outage.
func (s *Simulator) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	s.outage = false
}

// PendingFaults returns how many scripted faults ep has left, endpoint-wide
// and app-scoped together.
func (s *Simulator) PendingFaults(ep Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, p := range s.faults {
		if k.ep == ep {
			n += len(p.script)
		}
	}
	return n
}

// plan returns the fault plan for k, creating it. Callers hold s.mu.
func (s *Simulator) plan(k faultKey) *faultPlan {
	p, ok := s.faults[k]
	if !ok {
		p = &faultPlan{}
		s.faults[k] = p
	}
	return p
}

// nextFault takes the fault for one call to ep for appid, if any: the
// app's script, then the endpoint's script, then the endpoint's rate.
// Callers hold s.mu.
func (s *Simulator) nextFault(ep Endpoint, appid string) (Fault, bool) {
	for _, k := range []faultKey{{appid, ep}, {"", ep}} {
		if p, ok := s.faults[k]; ok && len(p.script) > 0 {
			f := p.script[0]
			p.script = p.script[1:]
			return f, true
		}
	}
	if p, ok := s.faults[faultKey{"", ep}]; ok && p.rate > 0 && len(p.choices) > 0 && s.rng.Float64() < p.rate {
		return p.choices[s.rng.IntN(len(p.choices))], true
	}
	return Fault{}, false
}

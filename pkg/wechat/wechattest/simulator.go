package wechattest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Defaults, from WeChat's documentation (docs/wechat-protocol.md).
const (
	DefaultTokenLifetime    = 7200 * time.Second
	DefaultTicketLifetime   = 7200 * time.Second
	DefaultRotationWindow   = 300 * time.Second // normal mode rotates inside the last 5 minutes
	DefaultForceOverlap     = 5 * time.Minute   // a forced-out token stays valid this long
	DefaultLegacyOverlap    = 5 * time.Minute   // same for /cgi-bin/token
	DefaultForceDailyLimit  = 20
	DefaultForceMinInterval = 30 * time.Second
)

// shanghai is WeChat's quota day; China has no daylight saving time, so a
// fixed zone is exact and needs no tzdata.
var shanghai = time.FixedZone("Asia/Shanghai", 8*3600)

// ErrUnknownApp is returned by methods given an appid that AddApp never
// registered.
var ErrUnknownApp = errors.New("wechattest: unknown appid")

// Simulator is an in-memory WeChat API: an http.Handler serving
// stable_token, the legacy token, getticket, custom send and user info,
// with per-app state, fault injection, call counters and a validity oracle.
// It is safe for concurrent use. Build it with NewSimulator, or NewServer
// for one listening on loopback.
type Simulator struct {
	now              func() time.Time
	tokenLifetime    time.Duration
	ticketLifetime   time.Duration
	rotationWindow   time.Duration
	forceOverlap     time.Duration
	legacyOverlap    time.Duration
	forceDailyLimit  int
	forceMinInterval time.Duration

	mu       sync.Mutex
	rng      *rand.Rand
	apps     map[string]*app
	tokens   map[string]*grant // every access_token ever issued
	tickets  map[string]*grant // every ticket ever issued
	faults   map[faultKey]*faultPlan
	outage   bool
	anon     Counters // calls that named no known app
	messages []SentMessage
}

// Option configures a Simulator.
type Option func(*Simulator)

// WithClock sets the simulator's clock (default time.Now); pass
// (*Clock).Now to drive it by hand.
func WithClock(now func() time.Time) Option {
	return func(s *Simulator) {
		if now != nil {
			s.now = now
		}
	}
}

// WithTokenLifetime sets the lifetime of a new access_token (default
// 7200 s), e.g. a few minutes for a local demo. If it is not longer than
// the rotation window, the window shrinks to half of it.
func WithTokenLifetime(d time.Duration) Option {
	return func(s *Simulator) {
		if d > 0 {
			s.tokenLifetime = d
		}
	}
}

// WithTicketLifetime sets the lifetime of a new ticket (default 7200 s).
func WithTicketLifetime(d time.Duration) Option {
	return func(s *Simulator) {
		if d > 0 {
			s.ticketLifetime = d
		}
	}
}

// WithRotationWindow sets how long before expiry a normal-mode stable_token
// call rotates the token (default 300 s).
func WithRotationWindow(d time.Duration) Option {
	return func(s *Simulator) {
		if d > 0 {
			s.rotationWindow = d
		}
	}
}

// WithForceOverlap sets how long the previous token stays valid after a
// force_refresh call (default 5 min; never beyond its own expiry; 0 means
// it dies at once).
func WithForceOverlap(d time.Duration) Option {
	return func(s *Simulator) {
		if d >= 0 {
			s.forceOverlap = d
		}
	}
}

// WithLegacyOverlap sets how long a /cgi-bin/token token stays valid after
// the next fetch (default 5 min; never beyond its own expiry).
func WithLegacyOverlap(d time.Duration) Option {
	return func(s *Simulator) {
		if d >= 0 {
			s.legacyOverlap = d
		}
	}
}

// WithForceDailyLimit sets the number of force_refresh calls allowed per
// Asia/Shanghai day before 45009 (default 20).
func WithForceDailyLimit(n int) Option {
	return func(s *Simulator) {
		if n >= 0 {
			s.forceDailyLimit = n
		}
	}
}

// WithForceMinInterval sets the minimum time between two rotating
// force_refresh calls (default 30 s).
func WithForceMinInterval(d time.Duration) Option {
	return func(s *Simulator) {
		if d >= 0 {
			s.forceMinInterval = d
		}
	}
}

// WithSeed seeds the simulator's random source (tokens, rids and the
// probabilistic faults) so a chaos run can be replayed. Default: random.
func WithSeed(seed uint64) Option {
	return func(s *Simulator) { s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// NewSimulator returns a simulator with no apps; register them with AddApp.
func NewSimulator(opts ...Option) *Simulator {
	s := &Simulator{
		now:              time.Now,
		tokenLifetime:    DefaultTokenLifetime,
		ticketLifetime:   DefaultTicketLifetime,
		rotationWindow:   DefaultRotationWindow,
		forceOverlap:     DefaultForceOverlap,
		legacyOverlap:    DefaultLegacyOverlap,
		forceDailyLimit:  DefaultForceDailyLimit,
		forceMinInterval: DefaultForceMinInterval,
		rng:              rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		apps:             map[string]*app{},
		tokens:           map[string]*grant{},
		tickets:          map[string]*grant{},
		faults:           map[faultKey]*faultPlan{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.rotationWindow >= s.tokenLifetime {
		s.rotationWindow = s.tokenLifetime / 2
	}
	return s
}

// Now returns the simulator's current time.
func (s *Simulator) Now() time.Time { return s.now() }

// app is one Official Account's state.
type app struct {
	id, secret  string
	ipBlocked   bool
	miniProgram bool // AddMiniProgram: no JS-SDK tickets

	stable     *grant   // latest stable_token
	stableLive []*grant // stable tokens that may still be valid
	legacy     *grant   // latest /cgi-bin/token
	legacyLive []*grant

	forceDay    string // YYYY-MM-DD, Asia/Shanghai
	forceCount  int
	lastForceAt time.Time // last force call that rotated

	tickets  map[string]*grant // latest per type
	users    map[string]wechat.UserInfo
	counters Counters
}

// grant is an issued token or ticket and its validity window
// [issuedAt, min(expiresAt, revokedAt)).
type grant struct {
	appid     string
	value     string
	kind      string // "stable", "legacy", or the ticket type
	issuedAt  time.Time
	expiresAt time.Time
	revokedAt time.Time // zero: not revoked
}

func (g *grant) end() time.Time {
	if !g.revokedAt.IsZero() && g.revokedAt.Before(g.expiresAt) {
		return g.revokedAt
	}
	return g.expiresAt
}

func (g *grant) validAt(t time.Time) bool { return !t.Before(g.issuedAt) && t.Before(g.end()) }

// validIn is every oracle's answer: whether value, looked up in the
// history of issued values, was issued for appid and valid at t.
func validIn(history map[string]*grant, appid, value string, t time.Time) bool {
	g, ok := history[value]
	return ok && g.appid == appid && g.validAt(t)
}

// revokeBy shortens g's life to end no later than t.
func (g *grant) revokeBy(t time.Time) {
	if g.revokedAt.IsZero() || t.Before(g.revokedAt) {
		g.revokedAt = t
	}
}

// AddApp registers an Official Account. Calling it again for the same appid
// changes the secret (an AppSecret reset) and keeps the tokens.
func (s *Simulator) AddApp(appid, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[appid]; ok {
		a.secret = secret
		return
	}
	s.apps[appid] = &app{id: appid, secret: secret, tickets: map[string]*grant{}, users: map[string]wechat.UserInfo{}}
}

// SetIPAllowed switches the app's IP whitelist check: with allowed false
// every token request (stable_token, /cgi-bin/token) fails with 40164.
func (s *Simulator) SetIPAllowed(appid string, allowed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownApp, appid)
	}
	a.ipBlocked = !allowed
	return nil
}

// AddUser registers a follower returned by /cgi-bin/user/info; other
// openids get 40003 (invalid openid).
func (s *Simulator) AddUser(appid string, u wechat.UserInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
	if !ok {
		return fmt.Errorf("%w %s", ErrUnknownApp, appid)
	}
	if u.OpenID == "" {
		return errors.New("wechattest: AddUser: openid is empty")
	}
	a.users[u.OpenID] = u
	return nil
}

// newValue returns a fresh, unique, realistic-looking credential: a
// numeric prefix and 134 url-safe base64 characters (137 in all).
// Callers hold s.mu.
func (s *Simulator) newValue(seen map[string]*grant) string {
	var b [100]byte
	for {
		for i := 0; i < len(b); i += 8 {
			v := s.rng.Uint64()
			for j := 0; j < 8 && i+j < len(b); j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		v := fmt.Sprintf("%d_%s", 80+s.rng.IntN(10), base64.RawURLEncoding.EncodeToString(b[:]))
		if _, dup := seen[v]; !dup {
			return v
		}
	}
}

// issue creates a grant for appid and records it in history.
func (s *Simulator) issue(history map[string]*grant, appid, kind string, now time.Time, life time.Duration) *grant {
	g := &grant{appid: appid, value: s.newValue(history), kind: kind, issuedAt: now, expiresAt: now.Add(life)}
	history[g.value] = g
	return g
}

// prune drops grants no longer valid at now from a live list.
func prune(live []*grant, now time.Time) []*grant {
	out := live[:0]
	for _, g := range live {
		if now.Before(g.end()) {
			out = append(out, g)
		}
	}
	clear(live[len(out):])
	return out
}

// rotateStable issues a new stable token; earlier live ones end no later
// than revokeAt (pass the zero time to leave them to their own expiry).
// Callers hold s.mu.
func (s *Simulator) rotateStable(a *app, now, revokeAt time.Time) *grant {
	a.stableLive = prune(a.stableLive, now)
	if !revokeAt.IsZero() {
		for _, g := range a.stableLive {
			g.revokeBy(revokeAt)
		}
	}
	g := s.issue(s.tokens, a.id, "stable", now, s.tokenLifetime)
	a.stable = g
	a.stableLive = append(a.stableLive, g)
	return g
}

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// RotateOption adjusts ForceRotate.
type RotateOption func(*rotateConfig)

type rotateConfig struct{ revokeNow bool }

// RevokeNow makes ForceRotate invalidate the previous tokens at once
// instead of after the force overlap: the leaked-token case.
func RevokeNow() RotateOption { return func(c *rotateConfig) { c.revokeNow = true } }

// ForceRotate rotates the app's stable token as if another environment had
// made a force_refresh call: a new token with a full lifetime, the previous
// ones valid for the force overlap (or not at all with RevokeNow). It does
// not touch the call counters or the daily force budget. It returns the new
// token.
func (s *Simulator) ForceRotate(appid string, opts ...RotateOption) (string, error) {
	var cfg rotateConfig
	for _, o := range opts {
		o(&cfg)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
	if !ok {
		return "", fmt.Errorf("%w %s", ErrUnknownApp, appid)
	}
	now := s.now()
	revokeAt := now.Add(s.forceOverlap)
	if cfg.revokeNow {
		revokeAt = now
	}
	return s.rotateStable(a, now, revokeAt).value, nil
}

// CurrentToken returns the app's latest stable token and when it expires,
// or "" when none was issued or it is no longer valid.
func (s *Simulator) CurrentToken(appid string) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
	if !ok || a.stable == nil || !a.stable.validAt(s.now()) {
		return "", time.Time{}
	}
	return a.stable.value, a.stable.end()
}

// Valid is the oracle: it reports whether WeChat accepted token (a stable
// or a legacy access_token) for appid at instant at. History is kept for
// every token issued, so at may be in the past.
func (s *Simulator) Valid(appid, token string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return validIn(s.tokens, appid, token, at)
}

// TicketValid is the oracle for JS-SDK tickets: whether ticket was a valid
// ticket of appid at instant at.
func (s *Simulator) TicketValid(appid, ticket string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return validIn(s.tickets, appid, ticket, at)
}

// Counters counts the calls an app's endpoints received, faulted ones
// included (a dropped connection still reached WeChat).
type Counters struct {
	StableTokenNormal       int // stable_token with force_refresh false
	StableTokenForce        int // stable_token with force_refresh true, all outcomes
	StableTokenForceIgnored int // force calls inside the min interval: no rotation
	LegacyToken             int // GET /cgi-bin/token
	GetTicket               int
	CustomSend              int
	UserInfo                int
}

// Total is the sum of all endpoint counters (ignored force calls are
// already in StableTokenForce).
func (c Counters) Total() int {
	return c.StableTokenNormal + c.StableTokenForce + c.LegacyToken + c.GetTicket + c.CustomSend + c.UserInfo
}

// Counters returns the app's call counters. Calls that named no registered
// app (unknown appid, unknown token) are under appid "".
func (s *Simulator) Counters(appid string) Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	if appid == "" {
		return s.anon
	}
	if a, ok := s.apps[appid]; ok {
		return a.counters
	}
	return Counters{}
}

// ResetCounters zeroes every app's call counters.
func (s *Simulator) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anon = Counters{}
	for _, a := range s.apps {
		a.counters = Counters{}
	}
}

// ForceCount returns how many force calls count against the app's budget
// on the current Asia/Shanghai day.
func (s *Simulator) ForceCount(appid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
	if !ok || a.forceDay != s.now().In(shanghai).Format(time.DateOnly) {
		return 0
	}
	return a.forceCount
}

// SentMessage is a customer-service message the simulator accepted.
type SentMessage struct {
	AppID   string
	At      time.Time // simulator clock
	Message wechat.CustomMessage
	Raw     []byte // the request body as sent
}

// SentMessages returns the messages accepted for appid ("" for all apps),
// oldest first.
func (s *Simulator) SentMessages(appid string) []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SentMessage
	for _, m := range s.messages {
		if appid == "" || m.AppID == appid {
			out = append(out, m)
		}
	}
	return out
}

// counterFor returns the counters to bump for appid. Callers hold s.mu.
func (s *Simulator) counterFor(appid string) *Counters {
	if a, ok := s.apps[appid]; ok {
		return &a.counters
	}
	return &s.anon
}

package wechattest

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// Third-party platform defaults, from the Open Platform documentation
// (component_verify_ticket, authorizer token) and, for the refresh-token
// overlap, WeChat's answer on its developer forum.
const (
	DefaultTicketPushInterval   = 10 * time.Minute // a component_verify_ticket push every 10 minutes
	DefaultVerifyTicketLifetime = 12 * time.Hour   // each ticket is valid 12 h
	DefaultAuthCodeLifetime     = time.Hour        // an authorization code expires in 3600 s
	DefaultRefreshTokenOverlap  = 5 * time.Minute  // a rotated-out refresh token keeps working this long
)

// Third-party platform endpoints for fault injection.
const (
	EndpointComponentToken  Endpoint = "api_component_token"   // POST /cgi-bin/component/api_component_token
	EndpointStartPushTicket Endpoint = "api_start_push_ticket" // POST /cgi-bin/component/api_start_push_ticket
	EndpointQueryAuth       Endpoint = "api_query_auth"        // POST /cgi-bin/component/api_query_auth
	EndpointAuthorizerToken Endpoint = "api_authorizer_token"  // POST /cgi-bin/component/api_authorizer_token
)

// ComponentEndpoints lists every simulated third-party platform endpoint.
var ComponentEndpoints = []Endpoint{EndpointComponentToken, EndpointStartPushTicket, EndpointQueryAuth, EndpointAuthorizerToken}

// Push InfoTypes of the authorization-event URL.
const (
	InfoTypeVerifyTicket     = "component_verify_ticket"
	InfoTypeAuthorized       = "authorized"
	InfoTypeUpdateAuthorized = "updateauthorized"
	InfoTypeUnauthorized     = "unauthorized"
)

// Open Platform errcodes the simulator answers (besides WeChat's common ones).
const (
	CodeComponentNotAuthorized = 61003 // the account has not authorised this platform
	CodeAuthCodeInvalid        = 61009 // authorization code unknown, used or expired
)

// ErrUnknownPlatform is returned by methods given a component appid that
// AddPlatform never registered.
var ErrUnknownPlatform = errors.New("wechattest: unknown third-party platform")

// ComponentSimulator is an in-memory WeChat Open Platform third-party
// platform (开放平台第三方平台): the component APIs, the pushes WeChat makes to
// the platform's authorization-event URL, and the authorizers' tokens. Every
// other path is the Official Account API of the Simulator it wraps, so an
// authorizer_access_token it issues works on getticket, custom send and user
// info, as on api.weixin.qq.com. It is safe for concurrent use.
//
// Rules:
//   - Ticket pushes (DueTicketPushes): every 10 minutes per platform a new
//     component_verify_ticket, valid 12 h from its CreateTime, signed and
//     encrypted with the platform's token and EncodingAESKey (receive id =
//     the component appid). SetTicketPushFaults delays, reorders or drops
//     them; StopTicketPushes stops them until api_start_push_ticket.
//   - api_component_token needs the platform's secret (40125; missing
//     41004; unknown appid 40013) and a pushed ticket still inside its 12 h
//     (61005 when older, 61006 when never pushed); SetPlatformIPAllowed(false) gives
//     61004. Each call issues a new component_access_token; the earlier ones
//     stay valid for WithLegacyOverlap (5 min) at most, a conservative
//     reading of "replace the old token before it expires".
//   - Authorize returns an authorization code (single use, 1 h) and the
//     authorized / updateauthorized push; Unauthorize the unauthorized push.
//     A new authorisation kills the previous refresh token at once ("after
//     re-authorisation the previous refresh token is invalid"); revoking one
//     also kills the authorizer's access tokens.
//   - api_query_auth and api_authorizer_token need a valid
//     component_access_token (none 41001, unknown or replaced 40001, expired
//     42001). api_query_auth: an unknown, used or expired code 61009.
//     api_authorizer_token: an account that has not authorised the platform
//     61003; a refresh token that is neither current nor a rotated-out one
//     inside its overlap 61023. Each success issues a new
//     authorizer_access_token (earlier ones valid for WithLegacyOverlap at
//     most) and may rotate the refresh token (SetRefreshTokenRotation,
//     RotateRefreshTokenNext); the answer always carries the current one.
//
// Of Simulator's options it honours WithClock, WithSeed, WithTokenLifetime
// (component and authorizer tokens) and WithLegacyOverlap.
type ComponentSimulator struct {
	*Simulator // the Official Account API, the clock, lock, faults and token history

	platforms map[string]*platform
	anon      ComponentCounters

	rotationRate   float64
	refreshOverlap time.Duration
	pushInterval   time.Duration
	ticketLifetime time.Duration
	codeLifetime   time.Duration

	componentTokens map[string]*grant // every component_access_token issued
	verifyTickets   map[string]*grant // every component_verify_ticket issued
	refreshTokens   map[string]*refreshToken
	codes           map[string]*authCode
}

// platform is one third-party platform's state.
type platform struct {
	appid, secret, token string
	cipher               *callback.Cipher
	ipBlocked            bool

	pushing     bool      // the ticket push service runs
	nextPushAt  time.Time // CreateTime of the next ticket push
	pushFaults  TicketPushFaults
	pending     []pendingPush
	lastTicket  *grant
	tokenLive   []*grant // component tokens that may still be valid
	authorizers map[string]*authorizer
	counters    ComponentCounters
}

// pendingPush is a ticket push WeChat made but has not delivered yet.
type pendingPush struct {
	ticket    *grant
	deliverAt time.Time
}

// authorizer is one account that authorised a platform.
type authorizer struct {
	appid      string
	authorized bool
	funcScopes []int
	refresh    *refreshToken // current; nil before the first query_auth
	history    []*refreshToken
	accessLive []*grant
	rotateNext bool
	stale      int // api_authorizer_token answers 61023
}

// refreshToken is an issued authorizer_refresh_token.
type refreshToken struct {
	value, component, authorizer string
	issuedAt                     time.Time
	diesAt                       time.Time // zero: alive
	rotatedOut                   bool      // superseded by a rotation, not by a re-authorisation
	used                         bool      // presented to a successful api_authorizer_token
}

func (r *refreshToken) aliveAt(t time.Time) bool { return r.diesAt.IsZero() || t.Before(r.diesAt) }

// authCode is an issued authorization code.
type authCode struct {
	component, authorizer string
	expiresAt             time.Time
	used                  bool
}

// ComponentCounters counts one platform's calls and pushes, faulted calls
// included.
type ComponentCounters struct {
	ComponentToken      int
	StartPushTicket     int
	QueryAuth           int
	AuthorizerToken     int
	TicketPushes        int // verify-ticket pushes delivered by DueTicketPushes
	TicketPushesDropped int // pushes lost by SetTicketPushFaults
}

// TicketPushFaults disturbs a platform's ticket pushes.
type TicketPushFaults struct {
	Delay    time.Duration // each push is delivered this long after its CreateTime
	Reorder  bool          // pushes due together are delivered newest first
	DropRate float64       // share of pushes lost (0..1), drawn from WithSeed's source
}

// NewComponentSimulator returns a third-party platform simulator with no
// platforms; register them with AddPlatform.
func NewComponentSimulator(opts ...Option) *ComponentSimulator {
	return &ComponentSimulator{
		Simulator:       NewSimulator(opts...),
		platforms:       map[string]*platform{},
		refreshOverlap:  DefaultRefreshTokenOverlap,
		pushInterval:    DefaultTicketPushInterval,
		ticketLifetime:  DefaultVerifyTicketLifetime,
		codeLifetime:    DefaultAuthCodeLifetime,
		componentTokens: map[string]*grant{},
		verifyTickets:   map[string]*grant{},
		refreshTokens:   map[string]*refreshToken{},
		codes:           map[string]*authCode{},
	}
}

// Handler returns the simulator as an http.Handler.
func (c *ComponentSimulator) Handler() http.Handler { return c }

// AddPlatform registers a third-party platform with its AppSecret and the
// token and EncodingAESKey of its authorization-event URL. Its ticket
// pushes start now: the first is due at once. Calling it again for the
// same appid replaces the secret, token and key.
func (c *ComponentSimulator) AddPlatform(componentAppID, secret, token, encodingAESKey string) error {
	if componentAppID == "" || secret == "" || token == "" {
		return errors.New("wechattest: AddPlatform: component appid, secret and token must not be empty")
	}
	ciph, err := callback.NewCipher(encodingAESKey, componentAppID)
	if err != nil {
		return fmt.Errorf("wechattest: AddPlatform %s: %w", componentAppID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.platforms[componentAppID]; ok {
		p.secret, p.token, p.cipher = secret, token, ciph
		return nil
	}
	c.platforms[componentAppID] = &platform{
		appid: componentAppID, secret: secret, token: token, cipher: ciph,
		pushing: true, nextPushAt: c.now(), authorizers: map[string]*authorizer{},
	}
	return nil
}

// platform returns a registered platform. Callers hold c.mu.
func (c *ComponentSimulator) platform(componentAppID string) (*platform, error) {
	p, ok := c.platforms[componentAppID]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownPlatform, componentAppID)
	}
	return p, nil
}

// SetRefreshTokenRotation makes each successful api_authorizer_token call
// rotate the refresh token with probability rate (0..1, default 0: WeChat
// documents only re-authorisation as changing it), using WithSeed's source.
func (c *ComponentSimulator) SetRefreshTokenRotation(rate float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rotationRate = min(max(rate, 0), 1)
}

// SetRefreshTokenOverlap sets how long a rotated-out refresh token is still
// accepted (default 5 min; 0: dead at once).
func (c *ComponentSimulator) SetRefreshTokenOverlap(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshOverlap = max(d, 0)
}

// RotateRefreshTokenNext makes the next successful api_authorizer_token
// call for the authorizer rotate its refresh token.
func (c *ComponentSimulator) RotateRefreshTokenNext(componentAppID, authorizerAppID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.authorizer(componentAppID, authorizerAppID)
	if err != nil {
		return err
	}
	a.rotateNext = true
	return nil
}

// SetPlatformIPAllowed switches the platform's IP whitelist: with allowed false
// every component API call for it fails with 61004.
func (c *ComponentSimulator) SetPlatformIPAllowed(componentAppID string, allowed bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.platform(componentAppID)
	if err != nil {
		return err
	}
	p.ipBlocked = !allowed
	return nil
}

// authorizer returns an authorizer of a platform. Callers hold c.mu.
func (c *ComponentSimulator) authorizer(componentAppID, authorizerAppID string) (*authorizer, error) {
	p, err := c.platform(componentAppID)
	if err != nil {
		return nil, err
	}
	a, ok := p.authorizers[authorizerAppID]
	if !ok {
		return nil, fmt.Errorf("wechattest: %s has never authorised %s", authorizerAppID, componentAppID)
	}
	return a, nil
}

// ComponentCounters returns the platform's counters; "" returns the calls
// that named no registered platform.
func (c *ComponentSimulator) ComponentCounters(componentAppID string) ComponentCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.platforms[componentAppID]; ok {
		return p.counters
	}
	if componentAppID == "" {
		return c.anon
	}
	return ComponentCounters{}
}

// ComponentTokenValid is the oracle for component_access_tokens: whether
// WeChat accepted token for the platform at instant at.
func (c *ComponentSimulator) ComponentTokenValid(componentAppID, token string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return validIn(c.componentTokens, componentAppID, token, at)
}

// VerifyTicketValid is the oracle for component_verify_tickets: whether
// ticket was a valid ticket of the platform at instant at.
func (c *ComponentSimulator) VerifyTicketValid(componentAppID, ticket string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return validIn(c.verifyTickets, componentAppID, ticket, at)
}

// LatestVerifyTicket returns the newest ticket WeChat issued for the
// platform (delivered or not) and its CreateTime.
func (c *ComponentSimulator) LatestVerifyTicket(componentAppID string) (string, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.platforms[componentAppID]
	if !ok || p.lastTicket == nil {
		return "", time.Time{}
	}
	return p.lastTicket.value, p.lastTicket.issuedAt
}

// AuthorizerTokenValid is the oracle for authorizer_access_tokens: whether
// WeChat accepted token for the authorizer at instant at.
func (c *ComponentSimulator) AuthorizerTokenValid(authorizerAppID, token string, at time.Time) bool {
	return c.Valid(authorizerAppID, token, at)
}

// CurrentRefreshToken returns the authorizer's current refresh token, or
// "" when it has none (never exchanged a code, or unauthorised).
func (c *ComponentSimulator) CurrentRefreshToken(componentAppID, authorizerAppID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.authorizer(componentAppID, authorizerAppID)
	if err != nil || a.refresh == nil || !a.refresh.aliveAt(c.now()) {
		return ""
	}
	return a.refresh.value
}

// RefreshAudit is the refresh-token history of one authorizer.
type RefreshAudit struct {
	AuthorizerAppID string
	Authorized      bool
	Issued          int // refresh tokens issued (query_auth and rotations)
	Rotations       int // of which by api_authorizer_token rotation
	// Lost counts refresh tokens rotated out without ever being presented
	// to api_authorizer_token: the platform received one and dropped it.
	Lost int
	// Stale counts api_authorizer_token calls answered 61023.
	Stale int
}

// OK reports whether no refresh token was lost and none was refused.
func (a RefreshAudit) OK() bool { return a.Lost == 0 && a.Stale == 0 }

// RefreshAudits returns the refresh-token audit of every authorizer of the
// platform, sorted by authorizer appid.
func (c *ComponentSimulator) RefreshAudits(componentAppID string) []RefreshAudit {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.platforms[componentAppID]
	if !ok {
		return nil
	}
	var out []RefreshAudit
	for _, a := range p.authorizers {
		ra := RefreshAudit{AuthorizerAppID: a.appid, Authorized: a.authorized, Issued: len(a.history), Stale: a.stale}
		for i, r := range a.history {
			if i > 0 && a.history[i-1].rotatedOut {
				ra.Rotations++
			}
			if r.rotatedOut && !r.used {
				ra.Lost++
			}
		}
		out = append(out, ra)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AuthorizerAppID < out[j].AuthorizerAppID })
	return out
}

// IssuedValues returns every token, ticket, refresh token and
// authorization code ever issued, sorted, for leak scans.
func (c *ComponentSimulator) IssuedValues() []string {
	out := c.Simulator.IssuedValues()
	c.mu.Lock()
	for _, m := range []map[string]*grant{c.componentTokens, c.verifyTickets} {
		for v := range m {
			out = append(out, v)
		}
	}
	for v := range c.refreshTokens {
		out = append(out, v)
	}
	for v := range c.codes {
		out = append(out, v)
	}
	c.mu.Unlock()
	sort.Strings(out)
	return out
}

// ComponentServer is a ComponentSimulator listening on a loopback port,
// like Server. Its methods are promoted.
type ComponentServer struct {
	*ComponentSimulator
	URL string // base URL for wechat.WithBaseURL

	srv *http.Server
}

// NewComponentServer starts a third-party platform simulator on 127.0.0.1
// on a free port. It panics if no port can be opened. Call Close when done.
func NewComponentServer(opts ...Option) *ComponentServer {
	sim := NewComponentSimulator(opts...)
	url, srv := serveLoopback(sim)
	return &ComponentServer{ComponentSimulator: sim, URL: url, srv: srv}
}

// Close stops the server and closes every open connection at once.
func (s *ComponentServer) Close() { s.srv.Close() }

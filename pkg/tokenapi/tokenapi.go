package tokenapi

import (
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// Actions of a direct-invoke payload.
const (
	// ActionForce asks the refresh function for a forced refresh (ForceRequest).
	ActionForce = "force"
	// ActionSweep asks the refresh function for a sweep; so does any
	// payload without a known action.
	ActionSweep = "sweep"
	// ActionInvalidate asks the token function to forward a rejected value
	// (Request); a Request without an action is a read.
	ActionInvalidate = "invalidate"
	// ActionAuthorize asks the refresh function to exchange a third-party
	// platform's authorization code (AuthorizationRequest): the callback
	// function forwards every authorized and updateauthorized event, since
	// only the refresh function may hold an authorizer's refresh token.
	ActionAuthorize = "authorize"
	// ActionUnauthorize asks the refresh function to forget an authorizer
	// (AuthorizationRequest without a code): its auth# item and its
	// credentials.
	ActionUnauthorize = "unauthorize"
)

// AuthorizationRequest is the refresh function's payload for
// ActionAuthorize and ActionUnauthorize. CreateTime (unix seconds) is the
// event's: an older event never undoes a newer one.
type AuthorizationRequest struct {
	Action            string `json:"action"`
	ComponentAppID    string `json:"component_appid"`
	AuthorizerAppID   string `json:"authorizer_appid"`
	AuthorizationCode string `json:"authorization_code,omitempty"` // ActionAuthorize only; never logged
	CreateTime        int64  `json:"create_time"`
}

// Error codes of an {"error","message"} answer.
const (
	CodeUnknownApp           = "unknown_app"            // no such credential is configured or stored (HTTP 404)
	CodeTokenUnavailable     = "token_unavailable"      // no usable value right now (HTTP 503)
	CodeBadRequest           = "bad_request"            // malformed request; the message names the field (HTTP 400, 413)
	CodeForceBudgetExhausted = "force_budget_exhausted" // the day's forced refreshes are spent (HTTP 429)
	CodeForceTooSoon         = "force_too_soon"         // within 30 s of the last forced refresh (HTTP 429)
	CodeNotFound             = "not_found"              // token function over HTTP: no such route (404)
	CodeMethodNotAllowed     = "method_not_allowed"     // token function over HTTP: wrong method (405)
)

// ForceRequest is the refresh function's forced-refresh payload:
// {"action":"force","appid","kind","stale_token"}, where StaleToken is the
// value a caller saw rejected (40001/40014/42001).
type ForceRequest struct {
	Action     string          `json:"action"` // ActionForce
	AppID      string          `json:"appid"`
	Kind       credential.Kind `json:"kind"`
	StaleToken string          `json:"stale_token"`
}

// NewForceRequest is the request reporting that stale, the value of kind
// for appid, was rejected.
func NewForceRequest(appid string, kind credential.Kind, stale string) ForceRequest {
	return ForceRequest{Action: ActionForce, AppID: appid, Kind: kind, StaleToken: stale}
}

// Request is the token function's direct-invoke payload ({"appid","kind"}
// or {"action":"invalidate","appid","kind","token"}) and, without Action,
// the body of POST /token/invalidate. An empty Kind is access_token.
type Request struct {
	Action string          `json:"action,omitempty"`
	AppID  string          `json:"appid"`
	Kind   credential.Kind `json:"kind,omitempty"`
	Token  string          `json:"token,omitempty"`
}

// Answer is what the token function and a forced refresh answer: the
// credential object, or, when Error is set, exactly {"error","message"}.
// Either is a normal payload, never a function error. It encodes through
// AppendJSON; decoding uses the field tags.
type Answer struct {
	AppID     string          `json:"appid,omitempty"`
	Kind      credential.Kind `json:"kind,omitempty"`
	Token     string          `json:"token,omitempty"`
	ExpiresAt int64           `json:"expires_at,omitempty"` // unix seconds
	ExpiresIn int64           `json:"expires_in,omitempty"` // seconds left when answered
	Version   int64           `json:"version,omitempty"`

	Error   string `json:"error,omitempty"` // one of the Code constants
	Message string `json:"message,omitempty"`
}

// AnswerFor is the credential answer for cred at now; expires_in counts
// down and is never negative.
func AnswerFor(cred credential.Credential, now time.Time) Answer {
	in := int64(cred.ExpiresAt.Sub(now) / time.Second)
	if in < 0 {
		in = 0
	}
	return Answer{AppID: cred.AppID, Kind: cred.Kind, Token: cred.Value,
		ExpiresAt: cred.ExpiresAt.Unix(), ExpiresIn: in, Version: cred.Version}
}

// Fail is the error answer with code and message.
func Fail(code, message string) Answer { return Answer{Error: code, Message: message} }

// Credential is the credential a success answer carries (AppID and Kind as
// answered; they may be empty in an answer from an older function).
func (a Answer) Credential() credential.Credential {
	return credential.Credential{AppID: a.AppID, Kind: a.Kind, Value: a.Token,
		ExpiresAt: time.Unix(a.ExpiresAt, 0), Version: a.Version}
}

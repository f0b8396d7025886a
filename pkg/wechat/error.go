package wechat

import (
	"errors"
	"fmt"
)

// Class groups WeChat errcodes by what a caller should do about them.
type Class int

// Error classes, from docs/wechat-protocol.md.
const (
	ClassUnknown       Class = iota // anything not listed below: report, do not retry blindly
	ClassTransient                  // -1, HTTP 5xx, timeouts, network errors: retry with backoff
	ClassTokenRejected              // 40001, 40014, 42001: compare-and-refresh, retry once
	ClassConfiguration              // 40013, 40125, 40164, 61004, 40243, 8950x: alarm, stop
	ClassDailyQuota                 // 45009: stop calling, alarm
	ClassMinuteQuota                // 45011: wait for the next minute
	ClassCallerBug                  // 41001, 40002: a bug in the request
	ClassProtocol                   // an answer that breaks the protocol (see ProtocolError): alarm, store nothing
)

var classNames = [...]string{"unknown", "transient", "token_rejected", "configuration", "daily_quota", "minute_quota", "caller_bug", "protocol"}

// Classes is every Class, in order.
func Classes() []Class {
	out := make([]Class, len(classNames))
	for i := range out {
		out[i] = Class(i)
	}
	return out
}

// String returns the class name used in logs, metrics and refresh results.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Errcodes that matter to a token manager.
const (
	CodeSystemBusy         = -1
	CodeInvalidCredential  = 40001
	CodeInvalidGrantType   = 40002
	CodeInvalidAppID       = 40013
	CodeInvalidAccessToken = 40014
	CodeInvalidAppSecret   = 40125
	CodeIPNotWhitelisted   = 40164
	CodeAppSecretFrozen    = 40243
	CodeAccessTokenMissing = 41001
	CodeAccessTokenExpired = 42001
	CodeDailyQuota         = 45009
	CodeMinuteQuota        = 45011
	CodeIPNotWhitelisted2  = 61004
)

// secretAuthAPIs are the calls authenticated by an AppSecret instead of an
// access_token: there 40001 means the secret is wrong (docs/wechat-protocol.md),
// so no fresh token can help and an operator must fix the configuration.
var secretAuthAPIs = map[string]bool{"stable_token": true, "api_component_token": true, "api_start_push_ticket": true}

// ClassOfAPI classifies errcode code as answered by api (the name an
// *Error carries in API). 40001 and 40125 from a call made with the
// AppSecret (stable_token) are configuration; elsewhere as ClassOf.
func ClassOfAPI(api string, code int) Class {
	if secretAuthAPIs[api] && (code == CodeInvalidCredential || code == CodeInvalidAppSecret) {
		return ClassConfiguration
	}
	return ClassOf(code)
}

// ClassOf classifies a WeChat errcode without knowing the call; an answer
// from stable_token is classified by ClassOfAPI instead.
func ClassOf(code int) Class {
	switch code {
	case CodeSystemBusy:
		return ClassTransient
	case CodeInvalidCredential, CodeInvalidAccessToken, CodeAccessTokenExpired:
		return ClassTokenRejected
	case CodeInvalidAppID, CodeInvalidAppSecret, CodeIPNotWhitelisted, CodeIPNotWhitelisted2,
		CodeAppSecretFrozen, 89501, 89503, 89506, 89507, CodeComponentTicketExpired, CodeComponentTicketInvalid, CodeRefreshTokenInvalid:
		return ClassConfiguration
	case CodeDailyQuota:
		return ClassDailyQuota
	case CodeMinuteQuota:
		return ClassMinuteQuota
	case CodeAccessTokenMissing, CodeInvalidGrantType:
		return ClassCallerBug
	}
	return ClassUnknown
}

// Error is a failure reported by WeChat (a non-zero errcode) or, with
// HTTPStatus set, an HTTP-level failure of the API. Msg is WeChat's errmsg,
// which never contains the caller's secret or token.
type Error struct {
	Code       int    // WeChat errcode; 0 when the failure is HTTP-level
	Msg        string // WeChat errmsg (with its rid suffix)
	HTTPStatus int    // non-200 HTTP status, when that was the failure
	// API names the call that was answered ("stable_token", "getticket",
	// or the path given to Call); the meaning of some errcodes depends on it.
	API string
	// Family is the API family that answered; one errcode means different
	// things in different families (40001 is a rejected token on WeChat, a
	// wrong secret on WeCom). The zero value is FamilyWeChat.
	Family Family
}

func (e *Error) Error() string {
	if e.HTTPStatus != 0 && e.Code == 0 {
		return fmt.Sprintf("wechat: http status %d", e.HTTPStatus)
	}
	return fmt.Sprintf("wechat: errcode %d: %s", e.Code, e.Msg)
}

// Class classifies the error by its code and the API that answered; any
// HTTP 5xx is transient.
func (e *Error) Class() Class {
	if e.Code == 0 && e.HTTPStatus >= 500 {
		return ClassTransient
	}
	if e.Family == FamilyWeCom {
		return WeComClassOf(e.Code)
	}
	return ClassOfAPI(e.API, e.Code)
}

// ErrorClass classifies any error returned by this package: a *Error by its
// code, a network failure or timeout as transient, anything else unknown.
func ErrorClass(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Class()
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ClassTransient
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return ClassProtocol
	}
	return ClassUnknown
}

// IsTokenRejected reports whether err means WeChat rejected the access_token
// that was sent (40001, 40014, 42001; not 40001 from stable_token, which
// sends no access_token).
func IsTokenRejected(err error) bool { return ErrorClass(err) == ClassTokenRejected }

// ErrorCode returns the errcode of a *Error in err's chain, or 0.
func ErrorCode(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// NetworkError wraps a failure to reach WeChat at all (DNS, connect, reset,
// timeout, truncated response). It never carries the request URL, which
// may hold an access_token.
type NetworkError struct {
	Op  string // e.g. "stable_token"
	Err error
}

func (e *NetworkError) Error() string { return "wechat: " + e.Op + ": network: " + e.Err.Error() }
func (e *NetworkError) Unwrap() error { return e.Err }

// ProtocolError reports an answer that breaks the documented protocol: a
// 200 body that is not JSON or is too large, a response without its token
// or ticket, or an expires_in outside 1..MaxExpiresIn. WeChat does not send
// such answers; a broken or hostile proxy does, so nothing from one is
// stored. Reason names the field, never a token value.
type ProtocolError struct {
	API    string // the call that was answered, e.g. "stable_token"
	Reason string // e.g. "response has invalid expires_in 9223372036854775807 (want 1..86400)"
	Err    error  // the decoding error, if any
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return "wechat: " + e.API + ": " + e.Reason + ": " + e.Err.Error()
	}
	return "wechat: " + e.API + ": " + e.Reason
}

func (e *ProtocolError) Unwrap() error { return e.Err }

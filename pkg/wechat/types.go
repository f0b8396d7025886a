// Package wechat is a client for the WeChat Official Account HTTP API as
// wxcentral needs it: stable_token, getticket and authenticated calls.
//
// The package depends on net/http only. Errors are *Error (an errcode from
// WeChat, classified by code and by the API that answered it),
// *NetworkError (WeChat could not be reached) or *ProtocolError (an answer
// that breaks the protocol, e.g. expires_in outside 1..86400); ErrorClass
// maps each to a Class that drives retry and alarm behaviour. No error or log
// line produced here contains an AppSecret or an access_token.
//
// By default the client calls DefaultBaseURL and moves to BackupBaseURL only
// after a network failure (never after an errcode or an HTTP status, which
// are WeChat's answer). Calls that must not run twice (a force_refresh
// stable_token, a POST through Call or SendCustomMessage) move to the backup
// only when the request never left this process. WithBaseURL replaces both
// bases with one and disables failover.
package wechat

import "time"

// Default API bases. The backup is used only after a network failure on the
// primary, and only when the client was not given an explicit base.
const (
	DefaultBaseURL = "https://api.weixin.qq.com"
	BackupBaseURL  = "https://api2.weixin.qq.com"
)

// Token is an access_token as returned by stable_token.
type Token struct {
	AccessToken string
	ExpiresIn   time.Duration // as returned; always use it, never a constant
	ReceivedAt  time.Time     // when the response arrived (client clock)
}

// ExpiresAt is ReceivedAt + ExpiresIn.
func (t Token) ExpiresAt() time.Time { return t.ReceivedAt.Add(t.ExpiresIn) }

// Ticket is a JS-SDK ticket as returned by getticket.
type Ticket struct {
	Ticket     string
	ExpiresIn  time.Duration
	ReceivedAt time.Time
}

// ExpiresAt is ReceivedAt + ExpiresIn.
func (t Ticket) ExpiresAt() time.Time { return t.ReceivedAt.Add(t.ExpiresIn) }

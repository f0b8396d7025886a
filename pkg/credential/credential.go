// Package credential holds wxcentral's domain types for WeChat credentials
// (access_token and JS-SDK tickets) and the timing policy that decides when a
// stored value is due for refresh and whether a reader may still use it.
//
// The package is pure: it does no I/O and never reads the wall clock; every
// function whose answer depends on time takes the instant as an argument.
package credential

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind names one credential of an app. Its string form is part of the
// DynamoDB contract (`cred#<appid>#<kind>`) and of every JSON API.
type Kind string

// The kinds wxcentral manages.
const (
	AccessToken  Kind = "access_token"
	JSAPITicket  Kind = "jsapi_ticket"
	WXCardTicket Kind = "wx_card_ticket"
	// AgentConfigTicket is a WeCom app's ticket for wx.agentConfig.
	AgentConfigTicket Kind = "agent_config_ticket"
	// ComponentAccessToken is a third-party platform's token
	// (api_component_token), kept like an access_token.
	ComponentAccessToken Kind = "component_access_token"
	// ComponentVerifyTicket is the ticket WeChat pushes to a platform every
	// 10 minutes. It is written by the platform's event intake, never
	// fetched: the refresher only reads it for api_component_token.
	ComponentVerifyTicket Kind = "component_verify_ticket"
)

// Kinds lists every kind, access_token first (tickets need it).
var Kinds = []Kind{AccessToken, JSAPITicket, WXCardTicket, AgentConfigTicket, ComponentAccessToken, ComponentVerifyTicket}

// ParseKind validates s; the empty string means AccessToken.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case "":
		return AccessToken, nil
	case AccessToken, JSAPITicket, WXCardTicket, AgentConfigTicket, ComponentAccessToken, ComponentVerifyTicket:
		return Kind(s), nil
	}
	return "", fmt.Errorf("kind: must be one of access_token, jsapi_ticket, wx_card_ticket, agent_config_ticket, component_access_token, component_verify_ticket")
}

// IsTicket reports whether k is a JS-SDK ticket (fetched with an access_token).
func (k Kind) IsTicket() bool { return k == JSAPITicket || k == WXCardTicket || k == AgentConfigTicket }

// Pushed reports whether WeChat pushes k to wxcentral (the platform's
// event intake writes it) rather than the refresher fetching it: the
// refresher only watches its age, and a reader's report cannot refresh it.
func (k Kind) Pushed() bool { return k == ComponentVerifyTicket }

// TicketType is the `type` of k in a secret document's `tickets` and in
// WeChat's getticket API ("jsapi", "wx_card", "agent_config"), or "" for
// AccessToken.
func (k Kind) TicketType() string {
	switch k {
	case JSAPITicket:
		return "jsapi"
	case WXCardTicket:
		return "wx_card"
	case AgentConfigTicket:
		return "agent_config"
	}
	return ""
}

// KindForTicketType maps an Official Account's `tickets` entry to its Kind
// (AccountType.TicketKind has every type's).
func KindForTicketType(t string) (Kind, bool) { return OfficialAccount.TicketKind(t) }

// Key is the DynamoDB partition key of a credential item.
func Key(appid string, kind Kind) string { return "cred#" + appid + "#" + string(kind) }

// CheckIDPart checks a name that becomes part of a DynamoDB key and of a
// credential id (an appid, corpid or agent): '#' separates a key's parts
// and ':' a WeCom corpid from its agent. The error is the message after the
// field's name.
func CheckIDPart(s string) error {
	if strings.ContainsAny(s, "#: \t\r\n") {
		return errors.New("must not contain '#', ':' or whitespace")
	}
	return nil
}

// MaxAppIDBytes is the longest appid (credential id) whose credential keys
// all fit DynamoDB's 2048-byte partition key limit ("cred#" + appid + "#" +
// the longest kind, component_verify_ticket): no item can exist for a longer one.
const MaxAppIDBytes = 2048 - len("cred#") - len("#") - len(ComponentVerifyTicket)

// Timing policy. WeChat's stable_token rotates only inside the last 5 minutes
// of a token's life, so refreshing earlier than that returns the same token.
const (
	// AccessTokenLead is how long before expires_at an access_token is due.
	AccessTokenLead = 290 * time.Second
	// TicketLead is how long before expires_at a ticket is due.
	TicketLead = 600 * time.Second
	// ReaderMargin: readers never hand out a value within this of expires_at.
	ReaderMargin = 10 * time.Second
	// MaxCacheAge bounds how long a reader keeps a value in memory.
	MaxCacheAge = 60 * time.Second
	// LeaseDuration is how long a refresher's lease lives.
	LeaseDuration = 30 * time.Second
	// ForceSpacing is WeChat's minimum interval between force_refresh calls.
	ForceSpacing = 30 * time.Second
	// DefaultForceDailyLimit leaves headroom under WeChat's 20 per day.
	DefaultForceDailyLimit = 10
	// VerifyTicketLifetime is how long a component_verify_ticket is valid
	// after its CreateTime (WeChat pushes a new one every 10 minutes).
	VerifyTicketLifetime = 12 * time.Hour
	// VerifyTicketMaxAge is how old the newest stored ticket may get before
	// the refresher asks WeChat to resume the pushes (api_start_push_ticket)
	// and alarms: three pushes in a row were missed.
	VerifyTicketMaxAge = 30 * time.Minute
)

// Errors callers branch on.
var (
	// ErrNotFound: no item exists for that appid and kind.
	ErrNotFound = errors.New("credential not found")
	// ErrUnavailable: an item exists but holds no value a caller may use
	// (expired, or within ReaderMargin of expiry).
	ErrUnavailable = errors.New("credential unavailable")
)

// Credential is a value as readers see it.
type Credential struct {
	AppID       string
	Kind        Kind
	Value       string
	ExpiresAt   time.Time // when WeChat stops accepting Value
	RefreshedAt time.Time // when Value was obtained
	Version     int64     // +1 each time Value changes
}

// Usable reports whether a reader may hand Value out at now.
func (c Credential) Usable(now time.Time) bool {
	return c.Value != "" && now.Before(c.ExpiresAt.Add(-ReaderMargin))
}

// DueAt is when the refresher should fetch a new value.
func (c Credential) DueAt() time.Time { return DueAt(c.Kind, c.ExpiresAt) }

// Fresh reports whether the value needs no refresh at now.
func (c Credential) Fresh(now time.Time) bool { return c.Value != "" && now.Before(c.DueAt()) }

// DueAt is the refresh time for a value of kind k of an Official Account
// (or mini-program) expiring at expiresAt; AccountType.Policy has every
// type's.
func DueAt(k Kind, expiresAt time.Time) time.Time {
	return OfficialAccount.Policy().DueAt(k, expiresAt)
}

// CacheUntil is the latest instant a reader that loaded c at loadedAt may
// keep serving it from memory: at most MaxCacheAge and never past
// expires_at - ReaderMargin.
func (c Credential) CacheUntil(loadedAt time.Time) time.Time {
	until := loadedAt.Add(MaxCacheAge)
	if limit := c.ExpiresAt.Add(-ReaderMargin); limit.Before(until) {
		until = limit
	}
	return until
}

// Record is the whole stored item: the credential plus the refresher's
// bookkeeping (lease, forced-refresh budget, last upstream error).
type Record struct {
	Credential

	LeaseOwner string
	LeaseUntil time.Time // millisecond precision

	ForceDay    string // YYYY-MM-DD in Asia/Shanghai
	ForceCount  int
	LastForceAt time.Time // millisecond precision

	LastErrorCode int
	LastError     string
	LastErrorAt   time.Time // millisecond precision (seconds for an item written before last_error_at_ms)

	// DueAt is due_at: when a sweep must next look at the item; zero for an
	// item written before the due index (or one no sweep keeps).
	DueAt time.Time
	// ComponentAppID is component_appid: the platform of an Authorizer's
	// credential; "" otherwise.
	ComponentAppID string
}

// LeaseHeld reports whether a live lease exists at now.
func (r Record) LeaseHeld(now time.Time) bool {
	return r.LeaseOwner != "" && now.Before(r.LeaseUntil)
}

// shanghai is WeChat's quota day zone. A fixed offset avoids needing tzdata
// in the Lambda image (China has no daylight saving time).
var shanghai = time.FixedZone("Asia/Shanghai", 8*60*60)

// ForceDay returns the forced-refresh budget day (Asia/Shanghai) of t.
func ForceDay(t time.Time) string { return t.In(shanghai).Format("2006-01-02") }

// ForceSpaced reports whether ForceSpacing has passed at now since the
// last forced refresh, to the millisecond.
func (r Record) ForceSpaced(now time.Time) bool {
	return r.LastForceAt.IsZero() || !now.Before(r.LastForceAt.Add(ForceSpacing))
}

// ForceUsed returns how many forced refreshes were spent on the day of now.
func (r Record) ForceUsed(now time.Time) int {
	if r.ForceDay != ForceDay(now) {
		return 0
	}
	return r.ForceCount
}

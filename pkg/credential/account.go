package credential

import (
	"fmt"
	"time"
)

// AccountType is the type of an account in the apps document (`type`). It
// chooses where the account's credentials come from and their Policy; the
// rest of the refresh algorithm is the same for every type.
type AccountType string

// The account types wxcentral keeps credentials for.
const (
	// OfficialAccount is a WeChat Official Account (the default type).
	OfficialAccount AccountType = "official_account"
	// MiniProgram is a mini-program or mini-game: stable_token, no tickets.
	MiniProgram AccountType = "miniprogram"
	// WeCom is a WeCom (企业微信) app of one corp: gettoken by corpid and
	// the app's secret; its credential id is "<corpid>:<agent>".
	WeCom AccountType = "wecom"
	// Component is a third-party platform (开放平台第三方平台): its
	// component_access_token from api_component_token with the pushed
	// component_verify_ticket.
	Component AccountType = "component"
	// Authorizer is an Official Account or mini-program that authorised a
	// third-party platform: its access_token comes from the platform
	// (api_authorizer_token with the authorizer's refresh token). It is
	// never written in a document: an authorizer appears when the platform's
	// authorized event is exchanged, and its credential items carry the
	// platform's appid (component_appid).
	Authorizer AccountType = "authorizer"
)

// AccountTypes lists every account type of the documents (Authorizer is
// not one: see there).
var AccountTypes = []AccountType{OfficialAccount, MiniProgram, WeCom, Component}

// ParseAccountType validates s; the empty string means OfficialAccount.
func ParseAccountType(s string) (AccountType, error) {
	switch AccountType(s) {
	case "":
		return OfficialAccount, nil
	case OfficialAccount, MiniProgram, WeCom, Component:
		return AccountType(s), nil
	}
	return "", fmt.Errorf("type: must be one of official_account, miniprogram, wecom, component")
}

// WeComID is the credential id of a WeCom app: "<corpid>:<agent>".
func WeComID(corpid, agent string) string { return corpid + ":" + agent }

// TicketKind maps an entry of an account's `tickets` to its Kind, if the
// type has that ticket: Official Accounts jsapi and wx_card, WeCom apps
// jsapi and agent_config, mini-programs none.
func (t AccountType) TicketKind(ticketType string) (Kind, bool) {
	var kinds []Kind
	switch t {
	case OfficialAccount, Authorizer, "":
		kinds = []Kind{JSAPITicket, WXCardTicket}
	case WeCom:
		kinds = []Kind{JSAPITicket, AgentConfigTicket}
	}
	for _, k := range kinds {
		if k.TicketType() == ticketType {
			return k, true
		}
	}
	return "", false
}

// Policy is how an account type's credentials are kept: when a value is
// due and what a caller's report of a rejected token may do.
type Policy struct {
	// TokenLead is how long before expires_at an access_token is due.
	TokenLead time.Duration
	// TicketLead is how long before expires_at a ticket is due.
	TicketLead time.Duration
	// ForceBudget: a reported rejection that the upstream still answers
	// with the same token spends the daily forced-refresh budget
	// (stable_token force_refresh). Without it the type has no force mode
	// and a report only re-fetches.
	ForceBudget bool
}

// Policy returns t's policy. WeChat's stable_token rotates only inside the
// last 5 minutes of a token's life (AccessTokenLead); WeCom hands out the
// same token until it expires, so its token is due at expiry and a report
// re-fetches at once, without a budget. api_component_token issues a new
// token on every call and keeps the previous one valid for up to 5 minutes,
// so a platform token is due AccessTokenLead before expiry (inside that
// overlap) and a report simply fetches a new one, without a budget; an
// authorizer's token (api_authorizer_token) is kept the same way.
func (t AccountType) Policy() Policy {
	switch t {
	case WeCom:
		return Policy{TokenLead: 0, TicketLead: TicketLead}
	case Component, Authorizer:
		return Policy{TokenLead: AccessTokenLead, TicketLead: TicketLead}
	}
	return Policy{TokenLead: AccessTokenLead, TicketLead: TicketLead, ForceBudget: true}
}

// Lead is how long before expires_at a value of kind k is due; 0 means due
// only at expiry.
func (p Policy) Lead(k Kind) time.Duration {
	if k == ComponentVerifyTicket {
		// Never fetched, only watched: "due" once no newer one has arrived
		// for VerifyTicketMaxAge.
		return VerifyTicketLifetime - VerifyTicketMaxAge
	}
	if k.IsTicket() {
		return p.TicketLead
	}
	return p.TokenLead
}

// DueAt is when a value of kind k expiring at expiresAt is due for refresh.
func (p Policy) DueAt(k Kind, expiresAt time.Time) time.Time {
	return expiresAt.Add(-p.Lead(k))
}

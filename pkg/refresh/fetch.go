package refresh

import (
	"context"
	"fmt"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// fetcher gets one account type's credentials from its upstream; the
// refresh algorithm around it (sweep, lease, fenced commit, failure
// classes, forced refresh) is the same for every type. Adding a type is one
// fetcher here, its Policy in pkg/credential and its simulator.
type fetcher interface {
	// token asks for the access_token; force asks for a new one while the
	// current one is valid (only asked of a type whose Policy has ForceBudget).
	token(ctx context.Context, app App, force bool) (wechat.Token, error)
	// ticket asks for a ticket of kind with accessToken.
	ticket(ctx context.Context, app App, kind credential.Kind, accessToken string) (wechat.Ticket, error)
	// api names the endpoint of kind for the WeChatCallLatency metric.
	api(kind credential.Kind) string
}

// fetcherOf returns app's fetcher by its type, or a configuration failure
// when the type's client was not given.
func (r *Refresher) fetcherOf(app App) (fetcher, *failure) {
	switch app.Type {
	case credential.OfficialAccount, credential.MiniProgram, "":
		if r.o.WeChat != nil {
			return wechatFetcher{r.o.WeChat}, nil
		}
	case credential.WeCom:
		if r.o.WeCom != nil {
			return wecomFetcher{r.o.WeCom}, nil
		}
	case credential.Component:
		if r.o.Component != nil {
			return componentFetcher{r}, nil
		}
	case credential.Authorizer:
		if r.o.Component != nil && r.o.Authorizations != nil {
			return authorizerFetcher{r}, nil
		}
	default:
		return nil, configFailure(fmt.Sprintf("type %q is not supported", app.Type))
	}
	return nil, configFailure(fmt.Sprintf("no client for type %s (Options)", app.typ()))
}

// configFailure is a refresher that cannot call an account's upstream at
// all: class configuration, which alarms.
func configFailure(what string) *failure {
	return &failure{class: wechat.ClassConfiguration, what: what, msg: wechat.ClassConfiguration.String() + ": " + what}
}

// wechatFetcher serves Official Accounts and mini-programs: stable_token
// and getticket.
type wechatFetcher struct{ c WeChat }

func (f wechatFetcher) token(ctx context.Context, app App, force bool) (wechat.Token, error) {
	return f.c.StableToken(ctx, app.AppID, app.Secret, force)
}

func (f wechatFetcher) ticket(ctx context.Context, _ App, kind credential.Kind, accessToken string) (wechat.Ticket, error) {
	return f.c.GetTicket(ctx, accessToken, kind.TicketType())
}

func (wechatFetcher) api(kind credential.Kind) string {
	if kind.IsTicket() {
		return "getticket"
	}
	return "stable_token"
}

// wecomFetcher serves WeCom apps: gettoken by corpid and the app's secret
// (no force mode: WeCom hands out the same token until it expires or is
// revoked), the corp jsapi_ticket and the agent_config ticket.
type wecomFetcher struct{ c WeCom }

func (f wecomFetcher) token(ctx context.Context, app App, _ bool) (wechat.Token, error) {
	return f.c.GetToken(ctx, app.CorpID, app.Secret)
}

func (f wecomFetcher) ticket(ctx context.Context, _ App, kind credential.Kind, accessToken string) (wechat.Ticket, error) {
	switch kind {
	case credential.JSAPITicket:
		return f.c.JSAPITicket(ctx, accessToken)
	case credential.AgentConfigTicket:
		return f.c.AgentConfigTicket(ctx, accessToken)
	}
	return wechat.Ticket{}, fmt.Errorf("wecom has no %s", kind)
}

func (wecomFetcher) api(kind credential.Kind) string {
	switch kind {
	case credential.JSAPITicket:
		return "wecom_get_jsapi_ticket"
	case credential.AgentConfigTicket:
		return "wecom_agent_config_ticket"
	}
	return "wecom_gettoken"
}

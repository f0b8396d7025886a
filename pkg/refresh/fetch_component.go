package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Component is the Open Platform's platform API as the refresher uses it
// (*wechat.Client): the platform's own token, and its authorizers'.
type Component interface {
	ComponentToken(ctx context.Context, componentAppID, componentSecret, verifyTicket string) (wechat.Token, error)
	StartPushTicket(ctx context.Context, componentAppID, componentSecret string) error
	QueryAuth(ctx context.Context, componentAccessToken, componentAppID, authorizationCode string) (wechat.AuthorizationInfo, error)
	AuthorizerToken(ctx context.Context, componentAccessToken, componentAppID, authorizerAppID, refreshToken string) (wechat.AuthorizerToken, error)
}

// The component_verify_ticket failure classes; both alarm.
var (
	// classVerifyTicketMissing: no usable ticket is stored, so no
	// component_access_token can be fetched; api_start_push_ticket was called.
	classVerifyTicketMissing = localClass{"verify_ticket_missing"}
	// classVerifyTicketStale: no ticket arrived for
	// credential.VerifyTicketMaxAge; api_start_push_ticket was called. The
	// stored one still buys tokens until it expires (12 h after CreateTime).
	classVerifyTicketStale = localClass{"verify_ticket_stale"}
)

// componentFetcher serves third-party platforms: api_component_token with
// the newest component_verify_ticket the platform's event intake stored.
// api_component_token issues a new token on every call (the previous one
// stays valid for a few minutes), so there is no force mode: a report
// fetches a new token.
type componentFetcher struct{ r *Refresher }

func (f componentFetcher) client() Component { return f.r.o.Component }

func (f componentFetcher) token(ctx context.Context, app App, _ bool) (wechat.Token, error) {
	r := f.r
	tk, err := r.o.Store.Get(ctx, app.AppID, credential.ComponentVerifyTicket, true)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		sf := storeFailure("component_verify_ticket read", err)
		return wechat.Token{}, &sf
	}
	if !tk.Usable(r.o.Now()) {
		ff := internalFailure(classVerifyTicketMissing, "no usable component_verify_ticket; "+f.startPush(ctx, app))
		return wechat.Token{}, &ff
	}
	tok, err := f.client().ComponentToken(ctx, app.AppID, app.Secret, tk.Value)
	if c := wechat.ErrorCode(err); c == wechat.CodeComponentTicketExpired || c == wechat.CodeComponentTicketInvalid {
		// WeChat refuses the newest ticket we hold: only a new push helps.
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "api_component_token refused the stored component_verify_ticket",
			slog.String("appid", app.AppID), slog.Int("errcode", c), slog.String("start_push", f.startPush(ctx, app)))
	}
	return tok, err
}

// startPushSpacing is how long after WeChat accepted an
// api_start_push_ticket call no other is made for the platform: WeChat
// pushes a ticket every 10 minutes once pushing, so calling again each
// minute while the stored ticket is still stale only spends calls. The
// record is per instance; a new instance may call once more.
const startPushSpacing = 10 * time.Minute

// startPush calls api_start_push_ticket, unless this instance had it
// accepted for the platform less than startPushSpacing ago, and says how it
// went, for a failure's message (never a secret: WeChat's errcode only).
func (f componentFetcher) startPush(ctx context.Context, app App) string {
	r := f.r
	now := r.o.Now()
	r.startedPushMu.Lock()
	last, ok := r.startedPush[app.AppID]
	r.startedPushMu.Unlock()
	if ok && now.Sub(last) < startPushSpacing {
		return fmt.Sprintf("api_start_push_ticket called %v ago; waiting for the push", now.Sub(last).Truncate(time.Second))
	}
	err := r.timed(ctx, "api_start_push_ticket", func(ctx context.Context) error {
		return f.client().StartPushTicket(ctx, app.AppID, app.Secret)
	})
	if err != nil {
		return fmt.Sprintf("api_start_push_ticket failed (%s errcode %d)", wechat.ErrorClass(err), wechat.ErrorCode(err))
	}
	r.startedPushMu.Lock()
	if r.startedPush == nil {
		r.startedPush = map[string]time.Time{}
	}
	r.startedPush[app.AppID] = now
	r.startedPushMu.Unlock()
	return "api_start_push_ticket called"
}

func (componentFetcher) ticket(_ context.Context, app App, kind credential.Kind, _ string) (wechat.Ticket, error) {
	return wechat.Ticket{}, fmt.Errorf("a third-party platform has no %s", kind)
}

func (componentFetcher) api(credential.Kind) string { return "api_component_token" }

// watchPushed is the sweep's step 3 for a pushed kind (the
// component_verify_ticket), due when no newer one arrived for
// credential.VerifyTicketMaxAge: there is nothing to fetch, so it asks
// WeChat to resume the pushes and fails with classVerifyTicketStale, which
// alarms and is recorded on the item until the next ticket is stored.
func (r *Refresher) watchPushed(ctx context.Context, app App, h *held) (fetched, *failure) {
	fe, ff := r.fetcherOf(app)
	if ff != nil {
		return fetched{}, ff
	}
	cf, ok := fe.(componentFetcher)
	if !ok {
		f := configFailure(fmt.Sprintf("type %s has no %s", app.typ(), h.kind))
		return fetched{}, f
	}
	ctx, cancel := r.callContext(ctx, h.rec.LeaseUntil)
	defer cancel()
	what := fmt.Sprintf("no component_verify_ticket for %v; %s", credential.VerifyTicketMaxAge, cf.startPush(ctx, app))
	f := internalFailure(classVerifyTicketStale, what)
	return fetched{}, &f
}

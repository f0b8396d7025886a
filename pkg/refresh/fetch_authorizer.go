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

// Authorizations is the store of the auth# items and the writes of an
// authorizer's credential items that happen outside a lease
// (pkg/dynamo.CredentialStore). Every method is one conditional write or
// one consistent read.
type Authorizations interface {
	GetAuthorization(ctx context.Context, componentAppID, authorizerAppID string) (credential.Authorization, error)
	Authorize(ctx context.Context, a credential.Authorization) (credential.Authorization, error)
	RotateRefreshToken(ctx context.Context, componentAppID, authorizerAppID string, version int64, refreshToken string) (credential.Authorization, error)
	RemoveAuthorization(ctx context.Context, componentAppID, authorizerAppID string, createTime time.Time) error
	CommitAuthorized(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error)
	RemoveAuthorizerCredential(ctx context.Context, appid string, kind credential.Kind, componentAppID string, createTime time.Time) error
}

// classAuthorizerRefreshTokenInvalid: WeChat refuses the stored refresh
// token (61023: rotated out, revoked by a re-authorisation, never issued;
// 61003: the account no longer authorises the platform), or none is
// stored. Nothing the refresher can retry helps: the account's admin must
// authorise the platform again. It alarms.
var classAuthorizerRefreshTokenInvalid = localClass{"authorizer_refresh_token_invalid"}

// codeComponentNotAuthorized (61003) answers api_authorizer_token for an
// account that does not (or no longer) authorise the platform.
const codeComponentNotAuthorized = 61003

// reauthorizationRequired reports whether err says the refresh token sent
// cannot buy a token any more.
func reauthorizationRequired(err error) bool {
	return wechat.IsReauthorizationRequired(err) || wechat.ErrorCode(err) == codeComponentNotAuthorized
}

// authorizerFetcher serves accounts that authorised a third-party
// platform: api_authorizer_token with the platform's component_access_token
// and the refresh token of the auth# item. Every call issues a new access
// token (no force mode: a report fetches a new one, like a platform token).
// Tickets are getticket with the authorizer's access token.
//
// A rotated refresh token is written to auth# (compare-and-swap on the
// version read) BEFORE the access token is committed to cred#, inside the
// lease. DynamoDB has no single conditional write across two items, and
// the project's test server (dynalite) has no TransactWriteItems; this
// order gives the same guarantee, that a rotated refresh token is never
// lost: if the cred# commit fails afterwards (crash, lost lease), the item
// is still due and the next sweep fetches again with the stored new
// refresh token; if the CAS fails because a newer authorisation replaced
// the item, the newer one wins and this result is discarded; if the CAS
// cannot be written at all, nothing is committed, so the next sweep (a
// minute later, inside WeChat's overlap for the old refresh token) asks
// again and WeChat's answer carries the current refresh token.
type authorizerFetcher struct{ r *Refresher }

func (f authorizerFetcher) token(ctx context.Context, app App, _ bool) (wechat.Token, error) {
	r := f.r
	if app.ComponentAppID == "" {
		return wechat.Token{}, configFailure("authorizer " + app.AppID + " has no component_appid")
	}
	ct, ff := f.componentToken(ctx, app)
	if ff != nil {
		return wechat.Token{}, ff
	}
	auth, ff := f.authorization(ctx, app)
	if ff != nil {
		return wechat.Token{}, ff
	}
	at, err := r.o.Component.AuthorizerToken(ctx, ct, app.ComponentAppID, app.AppID, auth.RefreshToken)
	if reauthorizationRequired(err) {
		// A new authorisation may have replaced the refresh token since it
		// was read: try once with the newer one.
		if again, ff := f.authorization(ctx, app); ff == nil && again.RefreshToken != auth.RefreshToken {
			auth = again
			at, err = r.o.Component.AuthorizerToken(ctx, ct, app.ComponentAppID, app.AppID, auth.RefreshToken)
		}
	}
	if reauthorizationRequired(err) {
		fl := classify(err, ct, auth.RefreshToken)
		fl.label = classAuthorizerRefreshTokenInvalid
		fl.msg = scrub(fl.label.name+": "+fl.msg+" (the account must authorise the platform again)", ct, auth.RefreshToken)
		return wechat.Token{}, &fl
	}
	if err != nil {
		return wechat.Token{}, err
	}
	if at.Rotated {
		if ff := f.rotate(ctx, app, auth, at.RefreshToken); ff != nil {
			return wechat.Token{}, ff
		}
	}
	return at.AccessToken, nil
}

// componentToken reads the platform's usable component_access_token.
func (f authorizerFetcher) componentToken(ctx context.Context, app App) (string, *failure) {
	rec, err := f.r.o.Store.Get(ctx, app.ComponentAppID, credential.ComponentAccessToken, true)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		sf := storeFailure("component_access_token read", err)
		return "", &sf
	}
	if !rec.Usable(f.r.o.Now()) {
		ff := internalFailure(classTokenUnavailable, "no usable component_access_token of "+app.ComponentAppID)
		return "", &ff
	}
	return rec.Value, nil
}

// authorization reads the auth# item (consistent).
func (f authorizerFetcher) authorization(ctx context.Context, app App) (credential.Authorization, *failure) {
	auth, err := f.r.o.Authorizations.GetAuthorization(ctx, app.ComponentAppID, app.AppID)
	switch {
	case errors.Is(err, credential.ErrNotFound):
		ff := internalFailure(classAuthorizerRefreshTokenInvalid,
			fmt.Sprintf("no refresh token stored: %s has not authorised %s (or withdrew)", app.AppID, app.ComponentAppID))
		return auth, &ff
	case err != nil:
		sf := storeFailure("auth# read", err)
		return auth, &sf
	}
	return auth, nil
}

// rotate writes the rotated refresh token, conditional on the auth# item
// still being the version read. It runs on a fresh context: the WeChat
// call may have used up the caller's, and the rotation already happened
// on WeChat's side.
func (f authorizerFetcher) rotate(ctx context.Context, app App, read credential.Authorization, rotated string) *failure {
	r := f.r
	sctx, cancel := storeContext(ctx)
	defer cancel()
	stored, err := r.o.Authorizations.RotateRefreshToken(sctx, app.ComponentAppID, app.AppID, read.Version, rotated)
	switch {
	case errors.Is(err, credential.ErrSuperseded):
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "authorizer refresh token replaced by a newer authorization; result discarded",
			slog.String("appid", app.AppID), slog.String("component_appid", app.ComponentAppID), slog.Int64("auth_version", read.Version))
		return &failure{superseded: true, class: wechat.ClassUnknown, what: "a newer authorization replaced the refresh token"}
	case err != nil:
		sf := storeFailure("auth# rotate", err)
		r.o.Logger.LogAttrs(ctx, slog.LevelError, "rotated refresh token not stored; nothing committed, the next sweep asks again",
			slog.String("appid", app.AppID), slog.String("component_appid", app.ComponentAppID), slog.String("error", err.Error()))
		return &sf
	}
	r.o.Logger.LogAttrs(ctx, slog.LevelInfo, "authorizer refresh token rotated",
		slog.String("appid", app.AppID), slog.String("component_appid", app.ComponentAppID), slog.Int64("auth_version", stored.Version))
	return nil
}

func (f authorizerFetcher) ticket(ctx context.Context, _ App, kind credential.Kind, accessToken string) (wechat.Ticket, error) {
	if f.r.o.WeChat == nil {
		return wechat.Ticket{}, configFailure("no client for getticket (Options.WeChat)")
	}
	return f.r.o.WeChat.GetTicket(ctx, accessToken, kind.TicketType())
}

func (authorizerFetcher) api(kind credential.Kind) string {
	if kind.IsTicket() {
		return "getticket"
	}
	return "api_authorizer_token"
}

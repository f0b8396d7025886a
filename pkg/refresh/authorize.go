package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// authorizerKinds are the credential items an authorizer can have; an
// unauthorized event removes each of them.
var authorizerKinds = []credential.Kind{credential.AccessToken, credential.JSAPITicket, credential.WXCardTicket}

// authorizerOf is the App of an authorizer of platform: never configured,
// it is known from its auth# and cred# items.
func authorizerOf(platform App, appid string) App {
	return App{AppID: appid, Type: credential.Authorizer, ComponentAppID: platform.AppID, Kinds: []credential.Kind{credential.AccessToken}}
}

// platformOf returns the configured third-party platform componentAppID.
func platformOf(apps []App, componentAppID string) (App, bool) {
	p, ok := findApp(apps, componentAppID)
	return p, ok && p.typ() == credential.Component
}

// authorizerApp resolves an appid that is not configured as an authorizer:
// its access_token item names its platform (component_appid), which must be
// configured. ok is false for any other appid. Its JS-SDK tickets are kept
// on request only: a report fetches one (getticket with its access token);
// no sweep refreshes them.
func (r *Refresher) authorizerApp(ctx context.Context, apps []App, appid string) (App, bool, *failure) {
	rec, err := r.o.Store.Get(ctx, appid, credential.AccessToken, true)
	if errors.Is(err, credential.ErrNotFound) {
		return App{}, false, nil
	}
	if err != nil {
		return App{}, false, r.storeFail(appid, credential.AccessToken, "read", err)
	}
	p, ok := platformOf(apps, rec.ComponentAppID)
	if rec.ComponentAppID == "" || !ok {
		return App{}, false, nil
	}
	app := authorizerOf(p, appid)
	app.Kinds = append(app.Kinds, credential.JSAPITicket, credential.WXCardTicket)
	return app, true, nil
}

// Authorize handles an authorized or updateauthorized event the callback
// function hands over ({"action":"authorize"}, docs/platform.md): it
// exchanges the authorization code (api_query_auth) with the platform's
// component_access_token, stores the refresh token in auth# FIRST, then
// commits the access token to cred#<authorizer_appid>#access_token, and
// answers that credential. WeChat pushes an event again until it is
// answered, and out of order: an event as old as or older than the stored
// authorisation is not exchanged again (its code is single-use) and is
// answered with the stored credential.
//
// Error answers: bad_request (a missing field; WeChat refused the code,
// not retryable), unknown_app (the platform is not configured),
// token_unavailable (no usable component_access_token, WeChat or the
// table failed: retryable, the callback answers 503 and WeChat pushes again).
func (r *Refresher) Authorize(ctx context.Context, req tokenapi.AuthorizationRequest) tokenapi.Answer {
	rec, f := r.authorize(ctx, req)
	return r.logAuthorization(ctx, req, rec, f)
}

// Unauthorize handles an unauthorized event ({"action":"unauthorize"}): it
// removes the auth# item and the authorizer's cred# items, each only if
// not newer than the event (a later re-authorisation survives a late
// push). It answers {"appid":"<authorizer_appid>"} (also when there was
// nothing to remove, or a newer authorisation was kept), or an error:
// bad_request, unknown_app, token_unavailable (the table failed: retryable).
func (r *Refresher) Unauthorize(ctx context.Context, req tokenapi.AuthorizationRequest) tokenapi.Answer {
	f := r.unauthorize(ctx, req)
	if f != nil {
		return r.logAuthorization(ctx, req, credential.Record{}, f)
	}
	r.o.Logger.LogAttrs(ctx, slog.LevelInfo, "authorization",
		slog.String("action", req.Action), slog.String("appid", req.AuthorizerAppID),
		slog.String("component_appid", req.ComponentAppID), slog.Int64("create_time", req.CreateTime), slog.String("outcome", "removed"))
	return tokenapi.Answer{AppID: req.AuthorizerAppID}
}

// logAuthorization logs an action's end and maps it to its answer.
func (r *Refresher) logAuthorization(ctx context.Context, req tokenapi.AuthorizationRequest, rec credential.Record, f *failure) tokenapi.Answer {
	resp := r.answer(rec, credential.AccessToken, f)
	attrs := []slog.Attr{slog.String("action", req.Action), slog.String("appid", req.AuthorizerAppID),
		slog.String("component_appid", req.ComponentAppID), slog.Int64("create_time", req.CreateTime)}
	level := slog.LevelInfo
	if resp.Error != "" {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("outcome", "failed"), slog.String("error", resp.Error), slog.String("message", resp.Message))
	} else {
		attrs = append(attrs, slog.String("outcome", "stored"), slog.Int64("version", resp.Version), slog.Int64("expires_at", resp.ExpiresAt))
	}
	r.o.Logger.LogAttrs(ctx, level, "authorization", attrs...)
	return resp
}

// checkAuthorization validates a request and finds its platform.
func (r *Refresher) checkAuthorization(ctx context.Context, req tokenapi.AuthorizationRequest, needCode bool) (App, *failure) {
	idErr := credential.CheckIDPart(req.AuthorizerAppID)
	switch {
	case req.ComponentAppID == "":
		return App{}, refuse(tokenapi.CodeBadRequest, "component_appid: missing")
	case req.AuthorizerAppID == "":
		return App{}, refuse(tokenapi.CodeBadRequest, "authorizer_appid: missing")
	case len(req.AuthorizerAppID) > credential.MaxAppIDBytes:
		return App{}, refuse(tokenapi.CodeBadRequest, "authorizer_appid: too long")
	case idErr != nil:
		// It becomes part of DynamoDB keys, like a configured appid.
		return App{}, refuse(tokenapi.CodeBadRequest, "authorizer_appid: "+idErr.Error())
	case needCode && req.AuthorizationCode == "":
		return App{}, refuse(tokenapi.CodeBadRequest, "authorization_code: missing")
	case req.CreateTime <= 0:
		return App{}, refuse(tokenapi.CodeBadRequest, "create_time: missing")
	}
	apps, err := r.o.Apps(ctx)
	if err != nil {
		r.o.Logger.LogAttrs(ctx, slog.LevelError, "configuration could not be loaded",
			slog.String("component_appid", req.ComponentAppID), slog.String("error", err.Error()))
		return App{}, refuse(tokenapi.CodeTokenUnavailable, "configuration could not be loaded: "+err.Error())
	}
	p, ok := platformOf(apps, req.ComponentAppID)
	if !ok {
		return App{}, refuse(tokenapi.CodeUnknownApp, req.ComponentAppID+" is not configured as a third-party platform (type component)")
	}
	if r.o.Component == nil || r.o.Authorizations == nil {
		return App{}, refuse(tokenapi.CodeTokenUnavailable, "the refresh function has no third-party platform client or store (Options.Component, Options.Authorizations)")
	}
	return p, nil
}

func (r *Refresher) authorize(ctx context.Context, req tokenapi.AuthorizationRequest) (credential.Record, *failure) {
	p, f := r.checkAuthorization(ctx, req, true)
	if f != nil {
		return credential.Record{}, f
	}
	app := authorizerOf(p, req.AuthorizerAppID)
	created := time.Unix(req.CreateTime, 0)
	// A repeated or older event: its code was (or need not be) exchanged.
	stored, err := r.o.Authorizations.GetAuthorization(ctx, p.AppID, app.AppID)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		return credential.Record{}, r.storeFail(app.AppID, credential.AccessToken, "auth# read", err)
	}
	if err == nil && !stored.AuthorizedAt.Before(created) {
		return r.authorized(ctx, app)
	}
	ct, f := r.usableComponentToken(ctx, p)
	if f != nil {
		return credential.Record{}, f
	}
	// The code is single-use: never retried once sent (the client retries
	// only a request that never left the process).
	var info wechat.AuthorizationInfo
	err = r.timed(ctx, "api_query_auth", func(ctx context.Context) error {
		var err error
		info, err = r.o.Component.QueryAuth(ctx, ct, p.AppID, req.AuthorizationCode)
		return err
	})
	if err != nil {
		// A concurrent delivery of the same event may have used the code.
		if again, gerr := r.o.Authorizations.GetAuthorization(ctx, p.AppID, app.AppID); gerr == nil && !again.AuthorizedAt.Before(created) {
			return r.authorized(ctx, app)
		}
		return credential.Record{}, r.queryAuthFailed(app, err, ct, req.AuthorizationCode)
	}
	switch {
	case info.AuthorizerAppID != app.AppID:
		return credential.Record{}, refuse(tokenapi.CodeBadRequest,
			fmt.Sprintf("authorization_code: WeChat exchanged it for authorizer %s, not %s", info.AuthorizerAppID, app.AppID))
	case info.RefreshToken == "":
		return credential.Record{}, refuse(tokenapi.CodeBadRequest,
			"authorization_code: the authorizer granted no API permission (no authorizer_refresh_token)")
	}
	// 1. The refresh token first: it is the only way to the next tokens.
	sctx, cancel := storeContext(ctx)
	defer cancel()
	_, err = r.o.Authorizations.Authorize(sctx, credential.Authorization{
		ComponentAppID: p.AppID, AuthorizerAppID: app.AppID, RefreshToken: info.RefreshToken, AuthorizedAt: created,
	})
	if errors.Is(err, credential.ErrSuperseded) {
		return r.authorized(ctx, app) // a newer event was stored meanwhile
	}
	if err != nil {
		r.o.Logger.LogAttrs(ctx, slog.LevelError, "authorization code exchanged but its refresh token not stored; the account must authorise again",
			slog.String("appid", app.AppID), slog.String("component_appid", p.AppID), slog.String("error", err.Error()))
		return credential.Record{}, r.reported(app.AppID, r.storeFail(app.AppID, credential.AccessToken, "auth# write", err))
	}
	if info.AccessToken.AccessToken == "" {
		return r.authorized(ctx, app)
	}
	// 2. The access token, never over a newer value.
	v := tokenFetched(info.AccessToken)
	if v.received.IsZero() {
		v.received = r.o.Now()
	}
	exp := v.received.Add(v.expiresIn)
	rec, err := r.o.Authorizations.CommitAuthorized(sctx, app.AppID, credential.AccessToken, credential.Commit{
		Value: v.value, ExpiresAt: exp, RefreshedAt: v.received,
		DueAt: dueAt(app, credential.AccessToken, exp), ComponentAppID: p.AppID,
	})
	switch {
	case errors.Is(err, credential.ErrSuperseded):
		return r.authorized(ctx, app)
	case err != nil:
		// auth# is stored: WeChat's retry of the event (token_unavailable
		// → 503) finds it and fetches the token with the stored refresh
		// token; an item that already existed is also swept when due.
		return credential.Record{}, r.reported(app.AppID, r.storeFail(app.AppID, credential.AccessToken, "commit", err))
	}
	return rec, nil
}

// reported reports a classified failure of an action like a sweep result
// (RefreshFailures by class) and returns it.
func (r *Refresher) reported(appid string, f *failure) *failure {
	r.reportFailure(appid, credential.AccessToken, f)
	return f
}

// queryAuthFailed maps a failed api_query_auth: WeChat refusing the code
// is bad_request (a new push will not help); a rejected component token,
// WeChat down or throttling is token_unavailable (WeChat's retry may
// succeed), reported by class so that configuration problems alarm.
func (r *Refresher) queryAuthFailed(app App, err error, secrets ...string) *failure {
	f := classify(err, secrets...)
	switch f.class {
	case wechat.ClassTransient, wechat.ClassTokenRejected, wechat.ClassMinuteQuota, wechat.ClassDailyQuota,
		wechat.ClassConfiguration, wechat.ClassProtocol:
		r.reportFailure(app.AppID, credential.AccessToken, &f)
		return refuse(tokenapi.CodeTokenUnavailable, "api_query_auth failed ("+f.resultError()+"); retry")
	}
	return refuse(tokenapi.CodeBadRequest, "authorization_code: WeChat refused it ("+f.what+")")
}

// usableComponentToken returns the platform's usable
// component_access_token; when none is stored it refreshes it at once (a
// sweep step of that one item), since the authorization code expires.
func (r *Refresher) usableComponentToken(ctx context.Context, p App) (string, *failure) {
	for attempt := 0; ; attempt++ {
		rec, err := r.o.Store.Get(ctx, p.AppID, credential.ComponentAccessToken, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return "", r.storeFail(p.AppID, credential.ComponentAccessToken, "read", err)
		}
		if rec.Usable(r.o.Now()) {
			return rec.Value, nil
		}
		if attempt > 0 {
			return "", refuse(tokenapi.CodeTokenUnavailable, "no usable component_access_token of "+p.AppID+"; retry")
		}
		// A sweep step outside any sweep: its own pass, never finished.
		r.sweepOne(ctx, &sweepPass{}, p, credential.ComponentAccessToken)
	}
}

// authorized answers with the authorizer's stored access token; when none
// is usable it fetches one with the stored refresh token (a sweep step).
func (r *Refresher) authorized(ctx context.Context, app App) (credential.Record, *failure) {
	for attempt := 0; ; attempt++ {
		rec, err := r.o.Store.Get(ctx, app.AppID, credential.AccessToken, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return rec, r.storeFail(app.AppID, credential.AccessToken, "read", err)
		}
		if rec.Usable(r.o.Now()) {
			return rec, nil
		}
		if attempt > 0 {
			return rec, refuse(tokenapi.CodeTokenUnavailable, "the authorization is stored but no usable access_token is; retry")
		}
		r.sweepOne(ctx, &sweepPass{}, app, credential.AccessToken)
	}
}

func (r *Refresher) unauthorize(ctx context.Context, req tokenapi.AuthorizationRequest) *failure {
	p, f := r.checkAuthorization(ctx, req, false)
	if f != nil {
		return f
	}
	created := time.Unix(req.CreateTime, 0)
	err := r.o.Authorizations.RemoveAuthorization(ctx, p.AppID, req.AuthorizerAppID, created)
	if errors.Is(err, credential.ErrSuperseded) {
		// Re-authorised after this withdrawal: keep everything.
		r.o.Logger.LogAttrs(ctx, slog.LevelInfo, "unauthorized event older than the stored authorization; kept",
			slog.String("appid", req.AuthorizerAppID), slog.String("component_appid", p.AppID), slog.Int64("create_time", req.CreateTime))
		return nil
	}
	if err != nil {
		return r.reported(req.AuthorizerAppID, r.storeFail(req.AuthorizerAppID, credential.AccessToken, "auth# delete", err))
	}
	for _, k := range authorizerKinds {
		err := r.o.Authorizations.RemoveAuthorizerCredential(ctx, req.AuthorizerAppID, k, p.AppID, created)
		if err != nil && !errors.Is(err, credential.ErrSuperseded) {
			return r.reported(req.AuthorizerAppID, r.storeFail(req.AuthorizerAppID, k, "delete", err))
		}
	}
	return nil
}

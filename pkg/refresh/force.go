package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// forceError is a forced refresh that ends without a credential.
type forceError struct {
	Code    string
	Message string
}

func errAnswer(code, msg string) *forceError { return &forceError{Code: code, Message: msg} }

// Force handles a report that WeChat rejected req.StaleToken (DESIGN.md §5):
//  1. if the store holds another usable value, it is returned (already rotated);
//  2. otherwise the leaseholder calls stable_token in normal mode; a
//     different token is committed and returned without spending budget;
//  3. only if WeChat still returns the rejected token, and the day's budget
//     and the 30 s spacing allow, it calls with force_refresh=true.
//
// Concurrent reports of the same token wait for the leaseholder's commit
// and re-read instead of calling WeChat, so any number of them make at most
// one normal-mode probe and one force call. Tickets have no force mode: a
// rejected ticket is fetched again.
func (r *Refresher) Force(ctx context.Context, req tokenapi.ForceRequest) tokenapi.Answer {
	start := r.o.Now()
	resp := r.forceRequest(ctx, req)
	level := slog.LevelInfo
	if resp.Error != "" {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("appid", req.AppID), slog.String("kind", string(req.Kind)), slog.String("action", "force")}
	if resp.Error != "" {
		attrs = append(attrs, slog.String("outcome", "failed"), slog.String("error", resp.Error))
	} else {
		attrs = append(attrs, slog.String("outcome", "served"), slog.Int64("version", resp.Version), slog.Int64("expires_at", resp.ExpiresAt))
	}
	attrs = append(attrs, slog.Duration("took", r.o.Now().Sub(start)))
	r.o.Logger.LogAttrs(ctx, level, "forced refresh", attrs...)
	return resp
}

func (r *Refresher) forceRequest(ctx context.Context, req tokenapi.ForceRequest) tokenapi.Answer {
	fail := func(e *forceError) tokenapi.Answer { return tokenapi.Fail(e.Code, e.Message) }
	if req.AppID == "" {
		return fail(errAnswer(tokenapi.CodeBadRequest, "appid: missing"))
	}
	kind, err := credential.ParseKind(string(req.Kind))
	if err != nil {
		return fail(errAnswer(tokenapi.CodeBadRequest, err.Error()))
	}
	if req.StaleToken == "" {
		return fail(errAnswer(tokenapi.CodeBadRequest, "stale_token: missing"))
	}
	apps, err := r.o.Apps(ctx)
	if err != nil {
		// The error names the field at fault, never a value (as a sweep's
		// function error does); the operator needs it in both places.
		r.o.Logger.LogAttrs(ctx, slog.LevelError, "configuration could not be loaded",
			slog.String("appid", req.AppID), slog.String("kind", string(kind)), slog.String("error", err.Error()))
		return fail(errAnswer(tokenapi.CodeTokenUnavailable, "configuration could not be loaded: "+err.Error()))
	}
	app, ok := findApp(apps, req.AppID)
	if !ok || !hasKind(app, kind) {
		return fail(errAnswer(tokenapi.CodeUnknownApp, fmt.Sprintf("%s/%s is not configured", req.AppID, kind)))
	}
	rec, ferr := r.force(ctx, app, kind, req.StaleToken, r.o.NewOwner())
	if ferr != nil {
		return fail(ferr)
	}
	return r.answer(rec)
}

func (r *Refresher) answer(rec credential.Record) tokenapi.Answer {
	return tokenapi.AnswerFor(rec.Credential, r.o.Now())
}

// replaced reports whether rec holds a usable value other than stale.
func (r *Refresher) replaced(rec credential.Record, stale string) bool {
	return rec.Value != stale && rec.Usable(r.o.Now())
}

// force is the forced-refresh algorithm; owner is the caller's lease id.
func (r *Refresher) force(ctx context.Context, app App, kind credential.Kind, stale, owner string) (credential.Record, *forceError) {
	start := r.o.Now()
	polls := int(r.o.MaxWait / r.o.WaitPoll) // shared by every wait of this report
	for {
		rec, err := r.o.Store.Get(ctx, app.AppID, kind, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return rec, r.forceStoreFailure(app.AppID, kind, "read", err)
		}
		if r.replaced(rec, stale) {
			return rec, nil
		}
		if ferr := r.settled(rec, kind, stale, start); ferr != nil {
			return rec, ferr
		}
		held, err := r.o.Store.TakeLease(ctx, app.AppID, kind, owner, r.o.Now(), r.o.LeaseDuration)
		if errors.Is(err, credential.ErrLeaseHeld) {
			// Another refresher is at work: wait for its commit, re-read.
			if ferr := r.waitForLeaseholder(ctx, app.AppID, kind, stale, &polls); ferr != nil {
				return rec, ferr
			}
			continue
		}
		if err != nil {
			return rec, r.forceStoreFailure(app.AppID, kind, "lease", err)
		}
		if r.replaced(held, stale) {
			r.release(ctx, app.AppID, kind, owner)
			return held, nil
		}
		if ferr := r.settled(held, kind, stale, start); ferr != nil {
			r.release(ctx, app.AppID, kind, owner)
			return held, ferr
		}
		probed := held.Value == stale && askedSince(held, start)
		if kind.IsTicket() {
			return r.refetchTicket(ctx, app, kind, owner, held, probed)
		}
		return r.forceToken(ctx, app, owner, held, stale, probed)
	}
}

// reachedSince reports whether t (unix seconds in the store) is at or
// after the report arrived at start, to the second.
func reachedSince(t, start time.Time) bool { return !t.IsZero() && t.Unix() >= start.Unix() }

// askedSince reports whether WeChat's answer held in rec was obtained at or
// after the report arrived at start, to the millisecond. An answer from
// earlier in the same second predates the rejection the caller saw, so it
// cannot stand in for a normal-mode probe: trusting it would spend a force
// call (and revoke a token another environment just rotated) where one
// normal-mode call finds the new token.
func askedSince(rec credential.Record, start time.Time) bool {
	return !rec.RefreshedAt.IsZero() && rec.RefreshedAt.UnixMilli() >= start.UnixMilli()
}

// settled answers a report from what the item already shows, without
// calling WeChat: a refresh that failed since the report arrived, or, when
// WeChat was asked since then and still returned the rejected token, a
// forced-refresh budget that is spent or spaced out. nil means "go on".
func (r *Refresher) settled(rec credential.Record, kind credential.Kind, stale string, start time.Time) *forceError {
	now := r.o.Now()
	if reachedSince(rec.LastErrorAt, start) {
		return errAnswer(tokenapi.CodeTokenUnavailable,
			fmt.Sprintf("a concurrent refresh failed (last_error_code %d); retry later", rec.LastErrorCode))
	}
	if kind.IsTicket() || rec.Value != stale || !askedSince(rec, start) {
		return nil
	}
	if rec.ForceUsed(now) >= r.o.ForceDailyLimit {
		return errAnswer(tokenapi.CodeForceBudgetExhausted,
			fmt.Sprintf("the daily forced-refresh limit (%d) for %s is spent", r.o.ForceDailyLimit, rec.AppID))
	}
	if !rec.ForceSpaced(now) {
		return errAnswer(tokenapi.CodeForceTooSoon, "the previous forced refresh was less than 30s ago; retry after it")
	}
	return nil
}

// waitForLeaseholder polls until the lease is released or the value is
// replaced, spending the report's poll budget.
func (r *Refresher) waitForLeaseholder(ctx context.Context, appid string, kind credential.Kind, stale string, polls *int) *forceError {
	for ; *polls > 0; *polls-- {
		if err := r.o.Sleep(ctx, r.o.WaitPoll); err != nil {
			return errAnswer(tokenapi.CodeTokenUnavailable, "deadline reached while another refresher held the lease")
		}
		rec, err := r.o.Store.Get(ctx, appid, kind, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return r.forceStoreFailure(appid, kind, "read", err)
		}
		if r.replaced(rec, stale) || !rec.LeaseHeld(r.o.Now()) {
			return nil
		}
	}
	return errAnswer(tokenapi.CodeTokenUnavailable, "another refresher still holds the lease; retry")
}

// forceToken runs steps 2 and 3 for an access_token with the lease held.
func (r *Refresher) forceToken(ctx context.Context, app App, owner string, held credential.Record, stale string, probed bool) (credential.Record, *forceError) {
	kind := credential.AccessToken
	var probe *wechat.Token
	if !probed {
		tok, err := r.stableToken(ctx, app, false, held.LeaseUntil)
		if err != nil {
			return held, r.forceFailure(ctx, app, kind, owner, err, stale)
		}
		if tok.AccessToken != stale {
			return r.commitForce(ctx, app.AppID, kind, owner, held, tok.AccessToken, tok.ReceivedAt, tok.ExpiresIn)
		}
		probe = &tok
	}
	// WeChat still hands out the rejected token: spend the budget, which
	// also extends our lease (only while it is live) to cover the force call.
	spent, err := r.o.Store.SpendForce(ctx, app.AppID, kind, owner, r.o.Now(), r.o.LeaseDuration, r.o.ForceDailyLimit)
	if err != nil {
		// Keep the probe's answer (it also tells concurrent reporters that
		// WeChat was asked), which releases the lease.
		if probe != nil {
			_, _ = r.commitForce(ctx, app.AppID, kind, owner, held, probe.AccessToken, probe.ReceivedAt, probe.ExpiresIn)
		} else {
			r.release(ctx, app.AppID, kind, owner)
		}
		switch {
		case errors.Is(err, credential.ErrForceBudgetExhausted):
			return held, errAnswer(tokenapi.CodeForceBudgetExhausted,
				fmt.Sprintf("the daily forced-refresh limit (%d) for %s is spent", r.o.ForceDailyLimit, app.AppID))
		case errors.Is(err, credential.ErrForceTooSoon):
			return held, errAnswer(tokenapi.CodeForceTooSoon, "the previous forced refresh was less than 30s ago; retry after it")
		case errors.Is(err, credential.ErrLeaseLost):
			return held, errAnswer(tokenapi.CodeTokenUnavailable, "the lease expired before the forced refresh; retry")
		}
		return held, r.forceStoreFailure(app.AppID, kind, "force budget", err)
	}
	tok, err := r.stableToken(ctx, app, true, spent.LeaseUntil)
	_ = r.o.Metrics.Emit(metrics.ForcedRefresh(app.AppID, string(kind)))
	if err != nil {
		return held, r.forceFailure(ctx, app, kind, owner, err, stale)
	}
	r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "forced refresh spent budget",
		slog.String("appid", app.AppID), slog.String("kind", string(kind)))
	if tok.AccessToken == stale {
		// WeChat ignored the force (a force less than 30 s after another,
		// perhaps from another environment) and handed back the rejected
		// token: keep its answer, but never serve it as the refreshed one.
		_, _ = r.commitForced(ctx, app.AppID, kind, owner, held, tok.AccessToken, tok.ReceivedAt, tok.ExpiresIn)
		return held, errAnswer(tokenapi.CodeForceTooSoon, "WeChat returned the rejected token to the forced refresh (a force less than 30s after another); retry after 30s")
	}
	return r.commitForced(ctx, app.AppID, kind, owner, held, tok.AccessToken, tok.ReceivedAt, tok.ExpiresIn)
}

// commitForced commits the answer to a force call. WeChat revoked the
// stored value when it issued this one, so if our lease was lost meanwhile
// the answer is still written, conditionally on nothing newer being stored.
func (r *Refresher) commitForced(ctx context.Context, appid string, kind credential.Kind, owner string, held credential.Record,
	value string, received time.Time, expiresIn time.Duration) (credential.Record, *forceError) {
	if received.IsZero() {
		received = r.o.Now()
	}
	res, f := r.commit(ctx, appid, kind, owner, held, value, received, expiresIn)
	if f == nil && res.Outcome == OutcomeLeased && value != held.Value {
		sctx, cancel := storeContext(ctx)
		defer cancel()
		stored, err := r.o.Store.CommitUnleased(sctx, appid, kind, credential.Commit{
			Owner: owner, PrevValue: held.Value, Value: value, ExpiresAt: received.Add(expiresIn), RefreshedAt: received,
		})
		switch {
		case err == nil:
			r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "lease lost after a forced refresh; its token stored without the lease",
				slog.String("appid", appid), slog.String("kind", string(kind)), slog.Int64("version", stored.Version))
		case !errors.Is(err, credential.ErrSuperseded):
			r.storeIncident(ctx, appid, kind, "commit without lease", err)
		}
	}
	return r.served(ctx, appid, kind, held, res, f)
}

// refetchTicket fetches a rejected ticket again (tickets have no force mode).
func (r *Refresher) refetchTicket(ctx context.Context, app App, kind credential.Kind, owner string, held credential.Record, probed bool) (credential.Record, *forceError) {
	if probed && held.Usable(r.o.Now()) {
		// Fetched since the report: WeChat's answer is what we hold.
		r.release(ctx, app.AppID, kind, owner)
		return held, nil
	}
	tk, f := r.fetchTicket(ctx, app, kind, owner, held.LeaseUntil)
	if f != nil {
		r.recordFailure(ctx, app.AppID, kind, owner, *f)
		return held, errAnswer(tokenapi.CodeTokenUnavailable, "WeChat did not issue a ticket ("+f.resultError()+")")
	}
	return r.commitForce(ctx, app.AppID, kind, owner, held, tk.Ticket, tk.ReceivedAt, tk.ExpiresIn)
}

func (r *Refresher) commitForce(ctx context.Context, appid string, kind credential.Kind, owner string, held credential.Record,
	value string, received time.Time, expiresIn time.Duration) (credential.Record, *forceError) {
	res, f := r.commit(ctx, appid, kind, owner, held, value, received, expiresIn)
	return r.served(ctx, appid, kind, held, res, f)
}

// served re-reads the item after a commit and answers with it, unless the
// commit failed or was discarded and the item still holds held's value.
func (r *Refresher) served(ctx context.Context, appid string, kind credential.Kind, held credential.Record, res Result, f *failure) (credential.Record, *forceError) {
	if f != nil {
		r.report(resultOf(held, appid, kind, OutcomeFailed).withError(f), f)
		return held, errAnswer(tokenapi.CodeTokenUnavailable, "credential store failed ("+f.resultError()+")")
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	rec, err := r.o.Store.Get(sctx, appid, kind, true)
	if err != nil {
		return held, r.forceStoreFailure(appid, kind, "read", err)
	}
	if res.Outcome == OutcomeLeased && rec.Value == held.Value {
		return rec, errAnswer(tokenapi.CodeTokenUnavailable, "another refresher took over; retry")
	}
	if !rec.Usable(r.o.Now()) {
		return rec, errAnswer(tokenapi.CodeTokenUnavailable, "the refreshed value expires too soon")
	}
	return rec, nil
}

// forceStoreFailure reports a forced refresh's store failure like a sweep
// result (RefreshOutcome failed, RefreshFailures store) and answers
// token_unavailable naming the store's error code.
func (r *Refresher) forceStoreFailure(appid string, kind credential.Kind, op string, err error) *forceError {
	res, f := r.storeFailure(credential.Record{}, appid, kind, op, err)
	r.report(res, f)
	return errAnswer(tokenapi.CodeTokenUnavailable, "credential store failed ("+f.resultError()+")")
}

func (r *Refresher) forceFailure(ctx context.Context, app App, kind credential.Kind, owner string, err error, stale string) *forceError {
	f := classify(err, app.Secret, stale)
	r.recordFailure(ctx, app.AppID, kind, owner, f)
	r.report(resultOf(credential.Record{}, app.AppID, kind, OutcomeFailed).withError(&f), &f)
	return errAnswer(tokenapi.CodeTokenUnavailable, "WeChat did not issue a token ("+f.resultError()+")")
}

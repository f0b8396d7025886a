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
)

// Force handles a report that WeChat rejected req.StaleToken (docs/refresh.md):
//  1. if the store holds another usable value, it is returned (already rotated);
//  2. otherwise the leaseholder calls stable_token in normal mode; a
//     different token is committed and returned without spending budget;
//  3. only if WeChat still returns the rejected token, and the day's budget
//     and the 30 s spacing allow, it calls with force_refresh=true.
//
// Concurrent reports of the same token wait for the leaseholder's commit
// and re-read instead of calling WeChat, so any number of them make at most
// one normal-mode probe and one force call. Tickets have no force mode: a
// rejected ticket is fetched again; nor has a WeCom token, whose report
// re-fetches at once without a budget (step 2 only).
func (r *Refresher) Force(ctx context.Context, req tokenapi.ForceRequest) tokenapi.Answer {
	start := r.o.Now()
	rec, kind, f := r.forceRequest(ctx, req)
	resp := r.answer(rec, kind, f)
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

func (r *Refresher) forceRequest(ctx context.Context, req tokenapi.ForceRequest) (credential.Record, credential.Kind, *failure) {
	if req.AppID == "" {
		return credential.Record{}, "", refuse(tokenapi.CodeBadRequest, "appid: missing")
	}
	kind, err := credential.ParseKind(string(req.Kind))
	if err != nil {
		return credential.Record{}, "", refuse(tokenapi.CodeBadRequest, err.Error())
	}
	if kind.Pushed() {
		return credential.Record{}, kind, refuse(tokenapi.CodeBadRequest, "kind: "+string(kind)+" is pushed by WeChat, not refreshed")
	}
	if req.StaleToken == "" {
		return credential.Record{}, kind, refuse(tokenapi.CodeBadRequest, "stale_token: missing")
	}
	apps, err := r.o.Apps(ctx)
	if err != nil {
		// The error names the field at fault, never a value (as a sweep's
		// function error does); the operator needs it in both places.
		r.o.Logger.LogAttrs(ctx, slog.LevelError, "configuration could not be loaded",
			slog.String("appid", req.AppID), slog.String("kind", string(kind)), slog.String("error", err.Error()))
		return credential.Record{}, kind, refuse(tokenapi.CodeTokenUnavailable, "configuration could not be loaded: "+err.Error())
	}
	app, ok := findApp(apps, req.AppID)
	if !ok {
		var f *failure
		if app, ok, f = r.authorizerApp(ctx, apps, req.AppID); f != nil {
			return credential.Record{}, kind, f
		}
	}
	if !ok || !hasKind(app, kind) {
		return credential.Record{}, kind, refuse(tokenapi.CodeUnknownApp, fmt.Sprintf("%s/%s is not configured", req.AppID, kind))
	}
	rec, f := r.force(ctx, app, kind, req.StaleToken)
	return rec, kind, f
}

// answer is a forced refresh's wire answer, mapped in this one place from
// how it ended: the credential, a refusal's code and message, or
// token_unavailable naming a classified failure.
func (r *Refresher) answer(rec credential.Record, kind credential.Kind, f *failure) tokenapi.Answer {
	switch {
	case f == nil:
		return tokenapi.AnswerFor(rec.Credential, r.o.Now())
	case f.refusal != "":
		return tokenapi.Fail(f.refusal, f.what)
	case f.label == classStore:
		return tokenapi.Fail(tokenapi.CodeTokenUnavailable, "credential store failed ("+f.resultError()+")")
	}
	what := "token"
	if kind.IsTicket() {
		what = "ticket"
	}
	return tokenapi.Fail(tokenapi.CodeTokenUnavailable, "WeChat did not issue a "+what+" ("+f.resultError()+")")
}

// replaced reports whether rec holds a usable value other than stale.
func (r *Refresher) replaced(rec credential.Record, stale string) bool {
	return rec.Value != stale && rec.Usable(r.o.Now())
}

// force is the forced-refresh algorithm. A classified failure is reported
// here, like a sweep result; a refusal is only answered.
func (r *Refresher) force(ctx context.Context, app App, kind credential.Kind, stale string) (credential.Record, *failure) {
	rec, f := r.forceSteps(ctx, app, kind, stale)
	r.reportFailure(app.AppID, kind, f)
	return rec, f
}

// reportFailure reports a forced refresh's classified failure
// (RefreshOutcome failed, RefreshFailures by class); nil and refusals are
// not reported.
func (r *Refresher) reportFailure(appid string, kind credential.Kind, f *failure) {
	if f != nil && f.refusal == "" {
		r.report(resultOf(credential.Record{}, appid, kind, OutcomeFailed).withError(f), f)
	}
}

func (r *Refresher) forceSteps(ctx context.Context, app App, kind credential.Kind, stale string) (credential.Record, *failure) {
	start := r.o.Now()
	polls := int(r.o.MaxWait / r.o.WaitPoll) // shared by every wait of this report
	for {
		rec, err := r.o.Store.Get(ctx, app.AppID, kind, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return rec, r.storeFail(app.AppID, kind, "read", err)
		}
		if r.replaced(rec, stale) {
			return rec, nil
		}
		if f := r.settled(app, rec, kind, stale, start); f != nil {
			return rec, f
		}
		h, err := r.take(ctx, app, kind)
		if errors.Is(err, credential.ErrLeaseHeld) {
			// Another refresher is at work: wait for its commit, re-read.
			if f := r.waitForLeaseholder(ctx, app.AppID, kind, stale, &polls); f != nil {
				return rec, f
			}
			continue
		}
		if err != nil {
			return rec, r.storeFail(app.AppID, kind, "lease", err)
		}
		if r.replaced(h.rec, stale) {
			h.release(ctx)
			return h.rec, nil
		}
		if f := r.settled(app, h.rec, kind, stale, start); f != nil {
			h.release(ctx)
			return h.rec, f
		}
		probed := h.rec.Value == stale && askedSince(h.rec, start)
		if kind.IsTicket() {
			return r.refetchTicket(ctx, app, h, probed)
		}
		return r.forceToken(ctx, app, h, stale, probed)
	}
}

// failedSince reports whether the failure recorded in rec happened at or
// after the report arrived at start, to the millisecond: a failure from
// earlier in the same second predates the rejection the caller saw, so it
// says nothing about the value the report is about.
func failedSince(rec credential.Record, start time.Time) bool {
	return !rec.LastErrorAt.IsZero() && rec.LastErrorAt.UnixMilli() >= start.UnixMilli()
}

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
// forced-refresh budget that is spent or spaced out (for a type without
// one, the re-fetch the report asked for is done). nil means "go on".
func (r *Refresher) settled(app App, rec credential.Record, kind credential.Kind, stale string, start time.Time) *failure {
	now := r.o.Now()
	if failedSince(rec, start) {
		return refuse(tokenapi.CodeTokenUnavailable,
			fmt.Sprintf("a concurrent refresh failed (last_error_code %d); retry later", rec.LastErrorCode))
	}
	if kind.IsTicket() || rec.Value != stale || !askedSince(rec, start) {
		return nil
	}
	if !app.policy().ForceBudget {
		return refuse(tokenapi.CodeTokenUnavailable, msgSameToken)
	}
	if rec.ForceUsed(now) >= r.o.ForceDailyLimit {
		return r.budgetSpent(rec.AppID)
	}
	if !rec.ForceSpaced(now) {
		return refuse(tokenapi.CodeForceTooSoon, msgForceTooSoon)
	}
	return nil
}

const (
	msgForceTooSoon = "the previous forced refresh was less than 30s ago; retry after it"
	msgSameToken    = "the upstream returned the rejected token again since the report (it has no force mode); retry later"
)

func (r *Refresher) budgetSpent(appid string) *failure {
	return refuse(tokenapi.CodeForceBudgetExhausted,
		fmt.Sprintf("the daily forced-refresh limit (%d) for %s is spent", r.o.ForceDailyLimit, appid))
}

// waitForLeaseholder polls until the lease is released or the value is
// replaced, spending the report's poll budget.
func (r *Refresher) waitForLeaseholder(ctx context.Context, appid string, kind credential.Kind, stale string, polls *int) *failure {
	for ; *polls > 0; *polls-- {
		if err := r.o.Sleep(ctx, r.o.WaitPoll); err != nil {
			return refuse(tokenapi.CodeTokenUnavailable, "deadline reached while another refresher held the lease")
		}
		rec, err := r.o.Store.Get(ctx, appid, kind, true)
		if err != nil && !errors.Is(err, credential.ErrNotFound) {
			return r.storeFail(appid, kind, "read", err)
		}
		if r.replaced(rec, stale) || !rec.LeaseHeld(r.o.Now()) {
			return nil
		}
	}
	return refuse(tokenapi.CodeTokenUnavailable, "another refresher still holds the lease; retry")
}

// forceToken runs steps 2 and 3 for an access_token with the lease held.
// For a type without a force budget (WeCom) step 2 is the whole answer: a
// report re-fetches at once, and the same token again is token_unavailable.
func (r *Refresher) forceToken(ctx context.Context, app App, h *held, stale string, probed bool) (credential.Record, *failure) {
	var probe *fetched
	if !probed {
		tok, err := r.token(ctx, app, false, h.rec.LeaseUntil)
		if err != nil {
			return h.rec, r.callFailed(ctx, app, h, err, stale)
		}
		if tok.AccessToken != stale {
			return r.commitServed(ctx, h, tokenFetched(tok))
		}
		v := tokenFetched(tok)
		probe = &v
	}
	if !app.policy().ForceBudget {
		// Keep the answer (it tells concurrent reporters the upstream was
		// asked); settled answered a probe made since the report already.
		if probe != nil {
			_, f := h.commit(ctx, *probe)
			r.reportFailure(h.app.AppID, h.kind, f)
		} else {
			h.release(ctx)
		}
		return h.rec, refuse(tokenapi.CodeTokenUnavailable, msgSameToken)
	}
	// WeChat still hands out the rejected token: spend the budget, which
	// also extends our lease (only while it is live) to cover the force call.
	if err := h.spendForce(ctx); err != nil {
		// Keep the probe's answer (it also tells concurrent reporters that
		// WeChat was asked), which releases the lease.
		if probe != nil {
			_, f := h.commit(ctx, *probe)
			r.reportFailure(h.app.AppID, h.kind, f)
		} else {
			h.release(ctx)
		}
		switch {
		case errors.Is(err, credential.ErrForceBudgetExhausted):
			return h.rec, r.budgetSpent(app.AppID)
		case errors.Is(err, credential.ErrForceTooSoon):
			return h.rec, refuse(tokenapi.CodeForceTooSoon, msgForceTooSoon)
		case errors.Is(err, credential.ErrLeaseLost):
			return h.rec, refuse(tokenapi.CodeTokenUnavailable, "the lease expired before the forced refresh; retry")
		}
		return h.rec, r.storeFail(h.app.AppID, h.kind, "force budget", err)
	}
	tok, err := r.token(ctx, app, true, h.rec.LeaseUntil)
	_ = r.o.Metrics.Emit(metrics.ForcedRefresh(app.AppID, string(h.kind)))
	if err != nil {
		return h.rec, r.callFailed(ctx, app, h, err, stale)
	}
	r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "forced refresh spent budget",
		slog.String("appid", app.AppID), slog.String("kind", string(h.kind)))
	if tok.AccessToken == stale {
		// WeChat ignored the force (a force less than 30 s after another,
		// perhaps from another environment) and handed back the rejected
		// token: keep its answer, but never serve it as the refreshed one.
		_, f := r.commitForced(ctx, h, tokenFetched(tok))
		r.reportFailure(h.app.AppID, h.kind, f)
		return h.rec, refuse(tokenapi.CodeForceTooSoon, "WeChat returned the rejected token to the forced refresh (a force less than 30s after another); retry after 30s")
	}
	return r.commitForced(ctx, h, tokenFetched(tok))
}

// callFailed classifies a failed WeChat call of a forced refresh and
// records it (which releases the lease).
func (r *Refresher) callFailed(ctx context.Context, app App, h *held, err error, stale string) *failure {
	f := classify(err, app.Secret, stale)
	if f.superseded {
		h.release(ctx)
		return refuse(tokenapi.CodeTokenUnavailable, "a newer authorization replaced the refresh token; retry")
	}
	h.recordFailure(ctx, f)
	return &f
}

// commitForced commits the answer to a force call. WeChat revoked the
// stored value when it issued this one, so if our lease was lost meanwhile
// the answer is still written, conditionally on nothing newer being stored.
func (r *Refresher) commitForced(ctx context.Context, h *held, v fetched) (credential.Record, *failure) {
	if v.received.IsZero() {
		v.received = r.o.Now()
	}
	res, f := h.commit(ctx, v)
	if f == nil && res.Outcome == OutcomeLeased && v.value != h.rec.Value {
		h.commitUnleased(ctx, v)
	}
	return r.served(ctx, h, res, f)
}

// refetchTicket fetches a rejected ticket again (tickets have no force mode).
func (r *Refresher) refetchTicket(ctx context.Context, app App, h *held, probed bool) (credential.Record, *failure) {
	if probed && h.rec.Usable(r.o.Now()) {
		// Fetched since the report: WeChat's answer is what we hold.
		h.release(ctx)
		return h.rec, nil
	}
	v, f := r.fetchTicket(ctx, app, h)
	if f != nil {
		h.recordFailure(ctx, *f)
		return h.rec, f
	}
	return r.commitServed(ctx, h, v)
}

// commitServed commits v under the lease and answers with the stored item.
func (r *Refresher) commitServed(ctx context.Context, h *held, v fetched) (credential.Record, *failure) {
	res, f := h.commit(ctx, v)
	return r.served(ctx, h, res, f)
}

// served re-reads the item after a commit and answers with it, unless the
// commit failed or was discarded and the item still holds the value the
// lease was taken over.
func (r *Refresher) served(ctx context.Context, h *held, res Result, f *failure) (credential.Record, *failure) {
	if f != nil {
		return h.rec, f
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	rec, err := r.o.Store.Get(sctx, h.app.AppID, h.kind, true)
	if err != nil {
		return h.rec, r.storeFail(h.app.AppID, h.kind, "read", err)
	}
	if res.Outcome == OutcomeLeased && rec.Value == h.rec.Value {
		return rec, refuse(tokenapi.CodeTokenUnavailable, "another refresher took over; retry")
	}
	if !rec.Usable(r.o.Now()) {
		return rec, refuse(tokenapi.CodeTokenUnavailable, "the refreshed value expires too soon")
	}
	return rec, nil
}

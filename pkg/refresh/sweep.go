package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Sweep refreshes every configured (app, kind) that is due: access tokens
// first, then tickets (which need them), each phase with bounded
// concurrency. Per-credential failures are results, not errors; the error
// is for a configuration that cannot be loaded.
func (r *Refresher) Sweep(ctx context.Context) (Summary, error) {
	apps, err := r.o.Apps(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("sweep: %w", err)
	}
	owner := r.o.NewOwner()
	type job struct {
		app  App
		kind credential.Kind
		slot int
	}
	var tokens, tickets []job
	n := 0
	for _, app := range apps {
		for _, k := range app.Kinds {
			j := job{app: app, kind: k, slot: n}
			n++
			if k.IsTicket() {
				tickets = append(tickets, j)
			} else {
				tokens = append(tokens, j)
			}
		}
	}
	results := make([]Result, n)
	for _, phase := range [][]job{tokens, tickets} {
		var g errgroup.Group
		g.SetLimit(r.o.Concurrency)
		for _, j := range phase {
			g.Go(func() error {
				results[j.slot] = r.sweepOne(ctx, j.app, j.kind, owner)
				return nil
			})
		}
		_ = g.Wait()
	}
	return Summary{Results: results}, nil
}

// fresh reports whether rec needs no refresh at now.
func fresh(kind credential.Kind, rec credential.Record, now time.Time) bool {
	return rec.Value != "" && now.Before(credential.DueAt(kind, rec.ExpiresAt))
}

func (r *Refresher) sweepOne(ctx context.Context, app App, kind credential.Kind, owner string) Result {
	res, f := r.sweepStep(ctx, app, kind, owner)
	r.report(res, f)
	return res
}

func (r *Refresher) sweepStep(ctx context.Context, app App, kind credential.Kind, owner string) (Result, *failure) {
	// 1. Consistent read: fresh → done, no WeChat call.
	rec, err := r.o.Store.Get(ctx, app.AppID, kind, true)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		return r.storeFailure(rec, app.AppID, kind, "read", err)
	}
	if fresh(kind, rec, r.o.Now()) {
		return resultOf(rec, app.AppID, kind, OutcomeFresh), nil
	}
	// 2. Lease; lost → someone else is refreshing. Re-check on the item
	// the conditional update returned.
	held, err := r.o.Store.TakeLease(ctx, app.AppID, kind, owner, r.o.Now(), r.o.LeaseDuration)
	if errors.Is(err, credential.ErrLeaseHeld) {
		return resultOf(rec, app.AppID, kind, OutcomeLeased), nil
	}
	if err != nil {
		return r.storeFailure(rec, app.AppID, kind, "lease", err)
	}
	if fresh(kind, held, r.o.Now()) {
		r.release(ctx, app.AppID, kind, owner)
		return resultOf(held, app.AppID, kind, OutcomeFresh), nil
	}
	// 3.–5. Call WeChat, commit or record the failure.
	return r.fetchAndCommit(ctx, app, kind, owner, held)
}

// fetchAndCommit runs with the lease on (app, kind) held; held is the item
// as the lease left it. It calls WeChat and commits the answer, or records
// the failure (which releases the lease).
func (r *Refresher) fetchAndCommit(ctx context.Context, app App, kind credential.Kind, owner string, held credential.Record) (Result, *failure) {
	var (
		value      string
		expiresIn  time.Duration
		received   time.Time
		f          *failure
		usedSecret = []string{app.Secret, held.Value}
	)
	if kind.IsTicket() {
		var tk wechat.Ticket
		tk, f = r.fetchTicket(ctx, app, kind, owner, held.LeaseUntil)
		value, expiresIn, received = tk.Ticket, tk.ExpiresIn, tk.ReceivedAt
	} else {
		tok, err := r.stableToken(ctx, app, false, held.LeaseUntil)
		if err != nil {
			cf := classify(err, usedSecret...)
			f = &cf
		}
		value, expiresIn, received = tok.AccessToken, tok.ExpiresIn, tok.ReceivedAt
	}
	if f != nil {
		r.recordFailure(ctx, app.AppID, kind, owner, *f)
		return resultOf(held, app.AppID, kind, OutcomeFailed).withError(f), f
	}
	return r.commit(ctx, app.AppID, kind, owner, held, value, received, expiresIn)
}

// commit writes a fetched value under the lease: expires_at is the time
// the response arrived plus WeChat's expires_in (DESIGN.md §4).
func (r *Refresher) commit(ctx context.Context, appid string, kind credential.Kind, owner string, held credential.Record,
	value string, received time.Time, expiresIn time.Duration) (Result, *failure) {
	if received.IsZero() {
		received = r.o.Now()
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	rec, err := r.o.Store.Commit(sctx, appid, kind, credential.Commit{
		Owner: owner, PrevValue: held.Value, Value: value, ExpiresAt: received.Add(expiresIn), RefreshedAt: received,
	})
	if errors.Is(err, credential.ErrLeaseLost) {
		// Our lease expired and another refresher took over: its value wins.
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "lease lost before commit; result discarded",
			slog.String("appid", appid), slog.String("kind", string(kind)))
		return resultOf(held, appid, kind, OutcomeLeased), nil
	}
	if err != nil {
		r.release(ctx, appid, kind, owner)
		return r.storeFailure(held, appid, kind, "commit", err)
	}
	outcome := OutcomeUnchanged
	if rec.Value != held.Value {
		outcome = OutcomeRefreshed
	}
	return resultOf(rec, appid, kind, outcome), nil
}

// fetchTicket gets a ticket with the stored access_token; when WeChat
// rejects that token it refreshes the access_token (compare-and-refresh)
// and tries once more. leaseUntil is the end of the ticket's lease.
func (r *Refresher) fetchTicket(ctx context.Context, app App, kind credential.Kind, owner string, leaseUntil time.Time) (wechat.Ticket, *failure) {
	at, err := r.tokenForTicket(ctx, app.AppID, owner)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		f := storeFail("access_token read", err)
		return wechat.Ticket{}, &f
	}
	if !at.Usable(r.o.Now()) {
		f := internalFailure(classTokenUnavailable, "no usable access_token for the ticket")
		return wechat.Ticket{}, &f
	}
	tk, err := r.getTicket(ctx, at.Value, kind.TicketType(), leaseUntil)
	if wechat.IsTokenRejected(err) {
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "getticket rejected the stored access_token; refreshing it",
			slog.String("appid", app.AppID), slog.String("kind", string(kind)), slog.Int("errcode", wechat.ErrorCode(err)))
		cred, ferr := r.force(ctx, app, credential.AccessToken, at.Value, owner)
		if ferr != nil {
			f := classify(err, app.Secret, at.Value)
			f.msg = scrub(f.msg+"; access_token refresh: "+ferr.Code, app.Secret, at.Value)
			return wechat.Ticket{}, &f
		}
		tk, err = r.getTicket(ctx, cred.Value, kind.TicketType(), leaseUntil)
		at = cred
	}
	if err != nil {
		f := classify(err, app.Secret, at.Value)
		return wechat.Ticket{}, &f
	}
	return tk, nil
}

// tokenForTicket reads the stored access_token. While another refresher
// holds its lease (another sweeper fetching it, say at a deployment's
// first minute), it waits for that commit with a forced refresh's
// waitForLeaseholder, for at most half a lease so that the ticket's own
// lease stays ours.
func (r *Refresher) tokenForTicket(ctx context.Context, appid, owner string) (credential.Record, error) {
	at, err := r.o.Store.Get(ctx, appid, credential.AccessToken, true)
	if now := r.o.Now(); err == nil && !at.Usable(now) && at.LeaseHeld(now) && at.LeaseOwner != owner {
		polls := int(min(r.o.MaxWait, r.o.LeaseDuration/2) / r.o.WaitPoll)
		if r.waitForLeaseholder(ctx, appid, credential.AccessToken, at.Value, &polls) == nil {
			at, err = r.o.Store.Get(ctx, appid, credential.AccessToken, true)
		}
	}
	return at, err
}

// stableToken calls stable_token, retrying transient failures in normal
// mode (force calls are never retried: each one spends WeChat's budget),
// all inside the lease that ends at leaseUntil.
func (r *Refresher) stableToken(ctx context.Context, app App, force bool, leaseUntil time.Time) (wechat.Token, error) {
	ctx, cancel := r.callContext(ctx, leaseUntil)
	defer cancel()
	var tok wechat.Token
	call := func(ctx context.Context) error {
		var err error
		tok, err = r.o.WeChat.StableToken(ctx, app.AppID, app.Secret, force)
		return err
	}
	if force {
		return tok, r.timed(ctx, "stable_token", call)
	}
	return tok, r.retry(ctx, "stable_token", call)
}

func (r *Refresher) getTicket(ctx context.Context, accessToken, ticketType string, leaseUntil time.Time) (wechat.Ticket, error) {
	ctx, cancel := r.callContext(ctx, leaseUntil)
	defer cancel()
	var tk wechat.Ticket
	err := r.retry(ctx, "getticket", func(ctx context.Context) error {
		var err error
		tk, err = r.o.WeChat.GetTicket(ctx, accessToken, ticketType)
		return err
	})
	return tk, err
}

// retryMargin is kept free before the invocation deadline for the commit.
const retryMargin = 2 * time.Second

// storeTimeout bounds each write that must happen after WeChat answered or
// failed (commit, failure record, lease release).
const storeTimeout = 3 * time.Second

// callContext bounds one item's WeChat calls: they end a margin before the
// lease (a sixth of it, 5 s of 30 s) and retryMargin before the
// invocation's deadline, so the commit or failure record that follows runs
// while the lease is still ours. leaseUntil is on the refresher's clock.
func (r *Refresher) callContext(ctx context.Context, leaseUntil time.Time) (context.Context, context.CancelFunc) {
	if leaseUntil.IsZero() { // a store that does not report the lease's end
		leaseUntil = r.o.Now().Add(r.o.LeaseDuration)
	}
	budget := leaseUntil.Sub(r.o.Now()) - r.o.LeaseDuration/6
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl)-retryMargin)
	}
	return context.WithTimeout(ctx, budget)
}

// storeContext is a fresh short context for a write that must not be lost
// to an expired or cancelled parent (a hung WeChat call used it up).
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// retry runs call up to MaxAttempts times while it fails transiently
// (-1, HTTP 5xx, network errors and timeouts), backing off exponentially,
// and never sleeps past the context's deadline (see callContext).
func (r *Refresher) retry(ctx context.Context, api string, call func(context.Context) error) error {
	backoff := r.o.Backoff
	for attempt := 1; ; attempt++ {
		err := r.timed(ctx, api, call)
		if err == nil || wechat.ErrorClass(err) != wechat.ClassTransient || attempt >= r.o.MaxAttempts {
			return err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < backoff {
			return err
		}
		if r.o.Sleep(ctx, backoff) != nil {
			return err
		}
		backoff *= 2
	}
}

// timed runs one WeChat call and emits its latency. Latency is measured on
// the wall clock (it is a measurement, not a decision).
func (r *Refresher) timed(ctx context.Context, api string, call func(context.Context) error) error {
	start := time.Now()
	err := call(ctx)
	_ = r.o.Metrics.Emit(metrics.WeChatCall(api, time.Since(start)))
	return err
}

// recordFailure writes last_error_* and releases the lease.
func (r *Refresher) recordFailure(ctx context.Context, appid string, kind credential.Kind, owner string, f failure) {
	sctx, cancel := storeContext(ctx)
	defer cancel()
	err := r.o.Store.RecordFailure(sctx, appid, kind, owner, credential.Failure{Code: f.code, Message: f.msg, At: r.o.Now()})
	if err != nil && !errors.Is(err, credential.ErrLeaseLost) {
		r.storeIncident(ctx, appid, kind, "failure record", err)
	}
}

func (r *Refresher) release(ctx context.Context, appid string, kind credential.Kind, owner string) {
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := r.o.Store.ReleaseLease(sctx, appid, kind, owner); err != nil && !errors.Is(err, credential.ErrLeaseLost) {
		r.storeIncident(ctx, appid, kind, "lease release", err)
	}
}

// storeFailure is the result of an item whose store call op failed; the
// caller reports it (RefreshOutcome failed, RefreshFailures store).
func (r *Refresher) storeFailure(rec credential.Record, appid string, kind credential.Kind, op string, err error) (Result, *failure) {
	f := storeFail(op, err)
	r.o.Logger.LogAttrs(context.Background(), slog.LevelError, "credential store error",
		slog.String("appid", appid), slog.String("kind", string(kind)), slog.String("op", op), slog.String("error", err.Error()))
	return resultOf(rec, appid, kind, OutcomeFailed).withError(&f), &f
}

// storeIncident logs and meters a store failure that is not an item's
// result (a failure record or lease release that could not be written): a
// stale lease or an unrecorded failure still raises the store alarm.
func (r *Refresher) storeIncident(ctx context.Context, appid string, kind credential.Kind, op string, err error) {
	r.o.Logger.LogAttrs(ctx, slog.LevelError, "credential store error",
		slog.String("appid", appid), slog.String("kind", string(kind)), slog.String("op", op),
		slog.String("error_class", classStore.name), slog.String("error", err.Error()))
	_ = r.o.Metrics.Emit(metrics.RefreshFailure(classStore.name))
}

func (res Result) withError(f *failure) Result {
	if f != nil {
		res.Error = f.resultError()
	}
	return res
}

// report logs one sweep result and emits its metrics. Configuration,
// quota and unknown failures are logged at error level: they need an
// operator (the RefreshFailures metric carries the alarm).
func (r *Refresher) report(res Result, f *failure) {
	level := slog.LevelInfo
	class := ""
	switch {
	case f != nil && f.alarm():
		level = slog.LevelError
	case f != nil:
		level = slog.LevelWarn
	case res.Outcome == OutcomeFresh:
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("appid", res.AppID), slog.String("kind", string(res.Kind)),
		slog.Int64("version", res.Version), slog.String("outcome", string(res.Outcome)),
		slog.Int64("expires_at", res.ExpiresAt),
	}
	if f != nil {
		class = f.className()
		attrs = append(attrs, slog.String("error", res.Error), slog.String("error_class", f.className()))
	}
	r.o.Logger.LogAttrs(context.Background(), level, "refresh", attrs...)
	ms := metrics.Refresh(string(res.Outcome), class)
	if res.ExpiresAt != 0 {
		ms = append(ms, metrics.SecondsToExpiry(res.AppID, string(res.Kind), time.Unix(res.ExpiresAt, 0).Sub(r.o.Now())))
	}
	_ = r.o.Metrics.Emit(ms...)
}

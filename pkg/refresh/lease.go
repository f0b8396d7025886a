package refresh

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// held is a lease this refresher holds on one credential, with the item as
// the lease left it. Every write a leaseholder makes goes through it: the
// sweep and the forced refresh share these primitives. The writes that
// follow a WeChat call run on a fresh short context (storeContext), so a
// hung WeChat that used up the parent never leaves a stale lease or an
// unrecorded failure.
type held struct {
	r     *Refresher
	app   App // the account the lease is for: its policy gives the due_at a commit writes
	kind  credential.Kind
	owner string
	rec   credential.Record // the item as the lease left it; rec.LeaseUntil tracks extensions
}

// fetched is a value WeChat issued and when: expires_at is the time the
// response arrived plus expires_in (docs/dynamodb.md).
type fetched struct {
	value     string
	received  time.Time
	expiresIn time.Duration
}

// storeTimeout bounds each write that must happen after WeChat answered or
// failed (commit, failure record, lease release).
const storeTimeout = 3 * time.Second

// storeContext is a fresh short context for a write that must not be lost
// to an expired or cancelled parent (a hung WeChat call used it up).
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

// take takes the lease on (app, kind) under a new owner id:
// credential.ErrLeaseHeld when another refresher holds a live one. Every
// attempt has its own owner because the store recognises an SDK-retried
// write as its own by owner and millisecond; a shared owner (a sweep's
// sibling tickets both refreshing the access_token) would pass a
// sibling's lease or force spend off as ours.
func (r *Refresher) take(ctx context.Context, app App, kind credential.Kind) (*held, error) {
	owner := r.o.NewOwner()
	rec, err := r.o.Store.TakeLease(ctx, app.AppID, kind, owner, r.o.Now(), r.o.LeaseDuration)
	if err != nil {
		return nil, err
	}
	return &held{r: r, app: app, kind: kind, owner: owner, rec: rec}, nil
}

// spendForce spends one forced refresh of the day's budget, which also
// extends the lease (only while it is live) over the force call. Its
// errors are credential.ErrForceBudgetExhausted, ErrForceTooSoon,
// ErrLeaseLost or the store's.
func (h *held) spendForce(ctx context.Context) error {
	r := h.r
	spent, err := r.o.Store.SpendForce(ctx, h.app.AppID, h.kind, h.owner, r.o.Now(), r.o.LeaseDuration, r.o.ForceDailyLimit)
	if err != nil {
		return err
	}
	h.rec.LeaseUntil = spent.LeaseUntil
	return nil
}

func (h *held) commitOf(v fetched) credential.Commit {
	if v.received.IsZero() {
		v.received = h.r.o.Now()
	}
	exp := v.received.Add(v.expiresIn)
	// Every commit, the sweep's and the forced refresh's, moves the item's
	// due_at in the due index to when the new value falls due; an
	// authorizer's items carry its platform (component_appid).
	return credential.Commit{
		Owner: h.owner, PrevValue: h.rec.Value, Value: v.value,
		ExpiresAt: exp, RefreshedAt: v.received,
		DueAt: dueAt(h.app, h.kind, exp), ComponentAppID: h.app.ComponentAppID,
	}
}

// commit writes a fetched value fenced on the lease and removes it. A lost
// lease discards the value (outcome leased): another refresher's wins.
func (h *held) commit(ctx context.Context, v fetched) (Result, *failure) {
	r := h.r
	sctx, cancel := storeContext(ctx)
	defer cancel()
	rec, err := r.o.Store.Commit(sctx, h.app.AppID, h.kind, h.commitOf(v))
	if errors.Is(err, credential.ErrLeaseLost) {
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "lease lost before commit; result discarded",
			slog.String("appid", h.app.AppID), slog.String("kind", string(h.kind)))
		return resultOf(h.rec, h.app.AppID, h.kind, OutcomeLeased), nil
	}
	if err != nil {
		h.release(ctx)
		f := r.storeFail(h.app.AppID, h.kind, "commit", err)
		return resultOf(h.rec, h.app.AppID, h.kind, OutcomeFailed).withError(f), f
	}
	outcome := OutcomeUnchanged
	if rec.Value != h.rec.Value {
		outcome = OutcomeRefreshed
	}
	return resultOf(rec, h.app.AppID, h.kind, outcome), nil
}

// commitUnleased writes a value after the lease was lost, unless the item
// already holds a newer one: for a force answer, which revoked the value
// the lease was taken over.
func (h *held) commitUnleased(ctx context.Context, v fetched) {
	r := h.r
	sctx, cancel := storeContext(ctx)
	defer cancel()
	stored, err := r.o.Store.CommitUnleased(sctx, h.app.AppID, h.kind, h.commitOf(v))
	switch {
	case err == nil:
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "lease lost after a forced refresh; its token stored without the lease",
			slog.String("appid", h.app.AppID), slog.String("kind", string(h.kind)), slog.Int64("version", stored.Version))
	case !errors.Is(err, credential.ErrSuperseded):
		r.storeIncident(ctx, h.app.AppID, h.kind, "commit without lease", err)
	}
}

// recordFailure writes last_error_* and releases the lease.
func (h *held) recordFailure(ctx context.Context, f failure) {
	r := h.r
	sctx, cancel := storeContext(ctx)
	defer cancel()
	err := r.o.Store.RecordFailure(sctx, h.app.AppID, h.kind, h.owner, credential.Failure{Code: f.code, Message: f.msg, At: r.o.Now()})
	if err != nil && !errors.Is(err, credential.ErrLeaseLost) {
		r.storeIncident(ctx, h.app.AppID, h.kind, "failure record", err)
	}
}

// release removes the lease without writing a value.
func (h *held) release(ctx context.Context) {
	r := h.r
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := r.o.Store.ReleaseLease(sctx, h.app.AppID, h.kind, h.owner); err != nil && !errors.Is(err, credential.ErrLeaseLost) {
		r.storeIncident(ctx, h.app.AppID, h.kind, "lease release", err)
	}
}

// storeFail logs a failed store call op ("read", "lease", "commit", ...)
// of an item and returns its failure (class store); the caller reports it
// (RefreshOutcome failed, RefreshFailures store).
func (r *Refresher) storeFail(appid string, kind credential.Kind, op string, err error) *failure {
	f := storeFailure(op, err)
	r.o.Logger.LogAttrs(context.Background(), slog.LevelError, "credential store error",
		slog.String("appid", appid), slog.String("kind", string(kind)), slog.String("op", op), slog.String("error", err.Error()))
	return &f
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

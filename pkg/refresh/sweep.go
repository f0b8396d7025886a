package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Sweep refreshes every configured (app, kind) that is due: access tokens
// first, then tickets and authorizers' tokens (which need them), each
// phase with bounded concurrency. Per-credential failures are results, not
// errors; the error is for a configuration that cannot be loaded.
//
// It finds the due credentials through the table's due index instead of
// reading every item (docs/refresh.md#finding-due-work): a full pass that
// reads every configured credential runs only when the configuration
// differs from the one the sweep meta item says is wholly indexed.
func (r *Refresher) Sweep(ctx context.Context) (Summary, error) {
	apps, err := r.o.Apps(ctx)
	if err != nil {
		return Summary{}, fmt.Errorf("sweep: %w", err)
	}
	p := r.plan(ctx, apps)
	var tokens, tickets []job
	for _, j := range p.jobs {
		// An authorizer's token is fetched with its platform's token, as a
		// ticket with its account's: after the tokens.
		if j.kind.IsTicket() || j.app.Type == credential.Authorizer {
			tickets = append(tickets, j)
		} else {
			tokens = append(tokens, j)
		}
	}
	results := p.results
	// Items waiting for their expiry (see dueSoon) wait outside the
	// concurrency limit, so they hold up no other item.
	var waiting sync.WaitGroup
	for _, phase := range [][]job{tokens, tickets} {
		var g errgroup.Group
		g.SetLimit(r.o.Concurrency)
		for _, j := range phase {
			g.Go(func() error {
				res, due := r.sweepOne(ctx, p, j.app, j.kind)
				results[j.slot] = res
				if !due.IsZero() {
					waiting.Add(1)
					go func() {
						defer waiting.Done()
						results[j.slot] = r.sweepWhenDue(ctx, p, j.app, j.kind, due, res)
					}()
				}
				return nil
			})
		}
		_ = g.Wait()
	}
	waiting.Wait()
	r.finish(ctx, p)
	return Summary{Results: results, NotRead: p.notRead}, nil
}

// fresh reports whether rec needs no refresh at now under app's policy.
func fresh(app App, kind credential.Kind, rec credential.Record, now time.Time) bool {
	return rec.Value != "" && now.Before(dueAt(app, kind, rec.ExpiresAt))
}

// dueAt is when a value of kind expiring at expiresAt is due under app's
// policy. One due at its expiry is due a second after expires_at: the
// stored expires_at is truncated to the second, and until the value really
// expired the upstream hands it out again (WeCom, with expires_in 0).
func dueAt(app App, kind credential.Kind, expiresAt time.Time) time.Time {
	p := app.policy()
	if p.Lead(kind) == 0 {
		return expiresAt.Add(time.Second)
	}
	return p.DueAt(kind, expiresAt)
}

// sweepOne refreshes one item if it is due and reports the result; or,
// for a fresh item that falls due at expiry before the next sweep, returns
// that time unreported, for sweepWhenDue.
func (r *Refresher) sweepOne(ctx context.Context, p *sweepPass, app App, kind credential.Kind) (Result, time.Time) {
	res, f, due := r.sweepStep(ctx, p, app, kind)
	if !due.IsZero() {
		return res, due
	}
	p.note(res, f)
	r.reportSwept(app, res, f)
	return res, time.Time{}
}

// dueWaitMargin is kept free after a wait for an item's expiry, before the
// invocation's deadline, for its lease, upstream call and commit.
const dueWaitMargin = 10 * time.Second

// dueSoon returns when a fresh item falls due (zero: not waited for), if
// its type has no lead
// (a WeCom access_token is due at expiry: WeCom hands out the same token
// until then) and it falls due before the next sweep and early enough in
// this invocation to be fetched. Left to the next sweep, such an item
// would leave readers without a value from ReaderMargin before expiry
// until that sweep, up to a sweep interval later.
func (r *Refresher) dueSoon(ctx context.Context, app App, kind credential.Kind, expiresAt time.Time) time.Time {
	if app.policy().Lead(kind) > 0 || expiresAt.IsZero() {
		return time.Time{}
	}
	due := dueAt(app, kind, expiresAt)
	wait := due.Sub(r.o.Now())
	if wait > r.o.SweepInterval {
		return time.Time{}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-dueWaitMargin < wait {
		return time.Time{}
	}
	return due
}

// sweepWhenDue waits until due (on the refresher's clock) and sweeps the
// item again; a wait cut short by the context reports the fresh result.
func (r *Refresher) sweepWhenDue(ctx context.Context, p *sweepPass, app App, kind credential.Kind, due time.Time, before Result) Result {
	if err := r.o.Sleep(ctx, due.Sub(r.o.Now())); err != nil {
		r.reportSwept(app, before, nil)
		return before
	}
	res, f, _ := r.sweepStep(ctx, p, app, kind)
	p.note(res, f)
	r.reportSwept(app, res, f)
	return res
}

// sweepStep is one sweep of one item. For a fresh item that falls due at
// expiry before the next sweep (dueSoon) it also returns when.
func (r *Refresher) sweepStep(ctx context.Context, p *sweepPass, app App, kind credential.Kind) (Result, *failure, time.Time) {
	// 1. Consistent read: fresh → done, no WeChat call.
	rec, err := r.o.Store.Get(ctx, app.AppID, kind, true)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		f := r.storeFail(app.AppID, kind, "read", err)
		return resultOf(rec, app.AppID, kind, OutcomeFailed).withError(f), f, time.Time{}
	}
	if fresh(app, kind, rec, r.o.Now()) {
		r.keepIndexed(ctx, p, app, kind, rec)
		return resultOf(rec, app.AppID, kind, OutcomeFresh), nil, r.dueSoon(ctx, app, kind, rec.ExpiresAt)
	}
	// 2. Lease; lost → someone else is refreshing. Re-check on the item
	// the conditional update returned.
	h, err := r.take(ctx, app, kind)
	if errors.Is(err, credential.ErrLeaseHeld) {
		return resultOf(rec, app.AppID, kind, OutcomeLeased), nil, time.Time{}
	}
	if err != nil {
		f := r.storeFail(app.AppID, kind, "lease", err)
		return resultOf(rec, app.AppID, kind, OutcomeFailed).withError(f), f, time.Time{}
	}
	if fresh(app, kind, h.rec, r.o.Now()) {
		h.release(ctx)
		r.keepIndexed(ctx, p, app, kind, h.rec)
		return resultOf(h.rec, app.AppID, kind, OutcomeFresh), nil, time.Time{}
	}
	// 3.–5. Call WeChat, commit or record the failure.
	v, f := r.fetch(ctx, app, h)
	if f != nil && f.superseded {
		h.release(ctx)
		return resultOf(h.rec, app.AppID, kind, OutcomeLeased), nil, time.Time{}
	}
	if f != nil {
		h.recordFailure(ctx, *f)
		return resultOf(h.rec, app.AppID, kind, OutcomeFailed).withError(f), f, time.Time{}
	}
	res, f := h.commit(ctx, v)
	return res, f, time.Time{}
}

// fetch asks WeChat for a new value of h's credential with its lease held:
// stable_token in normal mode, or the ticket with the stored access_token.
func (r *Refresher) fetch(ctx context.Context, app App, h *held) (fetched, *failure) {
	if h.kind.Pushed() {
		return r.watchPushed(ctx, app, h)
	}
	if h.kind.IsTicket() {
		return r.fetchTicket(ctx, app, h)
	}
	tok, err := r.token(ctx, app, false, h.rec.LeaseUntil)
	if err != nil {
		f := classify(err, app.Secret, h.rec.Value)
		return fetched{}, &f
	}
	return tokenFetched(tok), nil
}

func tokenFetched(t wechat.Token) fetched {
	return fetched{value: t.AccessToken, received: t.ReceivedAt, expiresIn: t.ExpiresIn}
}

func ticketFetched(t wechat.Ticket) fetched {
	return fetched{value: t.Ticket, received: t.ReceivedAt, expiresIn: t.ExpiresIn}
}

// fetchTicket gets a ticket with the stored access_token; when WeChat
// rejects that token it refreshes the access_token (compare-and-refresh,
// the forced-refresh path) and tries once more, inside the ticket's lease.
func (r *Refresher) fetchTicket(ctx context.Context, app App, h *held) (fetched, *failure) {
	at, err := r.tokenForTicket(ctx, app.AppID)
	if err != nil && !errors.Is(err, credential.ErrNotFound) {
		f := storeFailure("access_token read", err)
		return fetched{}, &f
	}
	if !at.Usable(r.o.Now()) {
		f := internalFailure(classTokenUnavailable, "no usable access_token for the ticket")
		return fetched{}, &f
	}
	tk, err := r.ticket(ctx, app, h.kind, at.Value, h.rec.LeaseUntil)
	if wechat.IsTokenRejected(err) {
		r.o.Logger.LogAttrs(ctx, slog.LevelWarn, "getticket rejected the stored access_token; refreshing it",
			slog.String("appid", app.AppID), slog.String("kind", string(h.kind)), slog.Int("errcode", wechat.ErrorCode(err)))
		cred, ff := r.force(ctx, app, credential.AccessToken, at.Value)
		if ff != nil {
			f := classify(err, app.Secret, at.Value)
			f.msg = scrub(f.msg+"; access_token refresh: "+ff.answerCode(), app.Secret, at.Value)
			return fetched{}, &f
		}
		tk, err = r.ticket(ctx, app, h.kind, cred.Value, h.rec.LeaseUntil)
		at = cred
	}
	if err != nil {
		f := classify(err, app.Secret, at.Value)
		return fetched{}, &f
	}
	return ticketFetched(tk), nil
}

// tokenForTicket reads the stored access_token. While another refresher
// holds its lease (another sweeper fetching it, say at a deployment's
// first minute), it waits for that commit with a forced refresh's
// waitForLeaseholder, for at most half a lease so that the ticket's own
// lease stays ours. A sibling ticket's refresh of the token is such a
// leaseholder too: every lease attempt has its own owner.
func (r *Refresher) tokenForTicket(ctx context.Context, appid string) (credential.Record, error) {
	at, err := r.o.Store.Get(ctx, appid, credential.AccessToken, true)
	if now := r.o.Now(); err == nil && !at.Usable(now) && at.LeaseHeld(now) {
		polls := int(min(r.o.MaxWait, r.o.LeaseDuration/2) / r.o.WaitPoll)
		f := r.waitForLeaseholder(ctx, appid, credential.AccessToken, at.Value, &polls)
		if f == nil {
			at, err = r.o.Store.Get(ctx, appid, credential.AccessToken, true)
		}
		r.reportFailure(appid, credential.AccessToken, f)
	}
	return at, err
}

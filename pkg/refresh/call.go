package refresh

import (
	"context"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// retryMargin is kept free before the invocation deadline for the commit.
const retryMargin = 2 * time.Second

// token asks app's upstream for its access_token, retrying transient
// failures in normal mode (force calls are never retried: each one spends
// WeChat's budget), all inside the lease that ends at leaseUntil.
func (r *Refresher) token(ctx context.Context, app App, force bool, leaseUntil time.Time) (wechat.Token, error) {
	f, ff := r.fetcherOf(app)
	if ff != nil {
		return wechat.Token{}, ff
	}
	ctx, cancel := r.callContext(ctx, leaseUntil)
	defer cancel()
	var tok wechat.Token
	call := func(ctx context.Context) error {
		var err error
		tok, err = f.token(ctx, app, force)
		return err
	}
	if force {
		return tok, r.timed(ctx, f.api(credential.AccessToken), call)
	}
	return tok, r.retry(ctx, f.api(credential.AccessToken), call)
}

// ticket asks app's upstream for a ticket of kind with accessToken,
// retrying transient failures inside the lease that ends at leaseUntil.
func (r *Refresher) ticket(ctx context.Context, app App, kind credential.Kind, accessToken string, leaseUntil time.Time) (wechat.Ticket, error) {
	f, ff := r.fetcherOf(app)
	if ff != nil {
		return wechat.Ticket{}, ff
	}
	ctx, cancel := r.callContext(ctx, leaseUntil)
	defer cancel()
	var tk wechat.Ticket
	err := r.retry(ctx, f.api(kind), func(ctx context.Context) error {
		var err error
		tk, err = f.ticket(ctx, app, kind, accessToken)
		return err
	})
	return tk, err
}

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

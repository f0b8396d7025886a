package callback

import (
	"context"
	"time"
)

// This file is the time budget (docs/callback.md, time budget): a request
// has one budget from its arrival, and claim, publish, handler and
// complete each get what is left of it, less what the steps after them
// need, with their own bound on top.

// Defaults of Options.
const (
	// DefaultBudget is the time a request has from arrival: claim, publish,
	// handler and complete each get what is left of it, and the rest of the
	// 5 s WeChat waits covers writing the answer.
	DefaultBudget         = 4500 * time.Millisecond
	DefaultHandlerTimeout = 4 * time.Second
	DefaultInProgressWait = 3 * time.Second
	// DefaultClaimLease is how long a claim holds off other deliveries. It
	// covers the whole budget, and stays short so that a retry after a
	// crashed instance (WeChat retries about 5 s apart) takes the stale
	// claim over instead of answering `success` for a push nobody handled:
	// a duplicate run is preferred to a lost push.
	DefaultClaimLease = 6 * time.Second
	// DefaultStoreTimeout bounds one dedupe store call (DynamoDB answers in
	// milliseconds); it is also what publish and the handler leave for
	// recording the reply.
	DefaultStoreTimeout = 500 * time.Millisecond
	// DefaultPublishTimeout bounds one Publish, within what is left of the
	// budget: a slow EventBridge (seconds) still succeeds.
	DefaultPublishTimeout = 3 * time.Second
)

// MinArrivalBudget is the least of the budget a request keeps when the
// arrival time it carries (WithArrival) says more has passed: a clock
// skewed between API Gateway and Lambda must not fail every push.
const MinArrivalBudget = time.Second

type arrivalKey struct{}

// WithArrival returns ctx carrying the instant the request reached the
// service (API Gateway's requestContext.timeEpoch), so that the budget
// counts a cold start. ServeHTTP starts the budget at now when it is absent.
func WithArrival(ctx context.Context, at time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, at)
}

// due is the end of the request's budget: Budget from its arrival, the
// time already passed bounded so a skewed clock can neither lengthen the
// budget (an arrival in the future) nor leave less than MinArrivalBudget.
func (h *Handler) due(ctx context.Context) time.Time { return Due(ctx, h.opt.Budget) }

// Due is the end of a budget of the given length from the arrival ctx
// carries (WithArrival), or from now without one. The time already passed
// is bounded so a skewed clock can neither lengthen the budget (an arrival
// in the future) nor leave less than MinArrivalBudget. The platform's event
// intake (pkg/component) shares it.
func Due(ctx context.Context, budget time.Duration) time.Time {
	now := time.Now()
	if at, ok := ctx.Value(arrivalKey{}).(time.Time); ok {
		passed := min(max(now.Sub(at), 0), max(budget-MinArrivalBudget, 0))
		return now.Add(budget - passed)
	}
	return now.Add(budget)
}

// LoadConfig loads and compiles the configuration as a request arriving
// with ctx would (within its budget, see WithArrival), and returns the
// error that request would answer 503 for: the Lambda function fails the
// invocation with it, naming the field.
func (h *Handler) LoadConfig(ctx context.Context) error {
	_, err := h.loadApps(ctx, h.due(ctx))
	return err
}

// loadApps is the configuration step: a reload (Secrets Manager on a cold
// start or a stale cache) is bounded by the request's budget.
func (h *Handler) loadApps(ctx context.Context, due time.Time) (*compiled, error) {
	cctx, cancel := stepContext(ctx, due, 0, h.opt.Budget)
	defer cancel()
	return h.apps(cctx)
}

// minReleaseTimeout is the least a claim release gets after a failure,
// even when the budget is spent: an unreleased claim delays WeChat's retry.
const minReleaseTimeout = 100 * time.Millisecond

// stepContext bounds one step: at most limit, and it ends reserve before
// due, leaving that much to the steps after it.
func stepContext(ctx context.Context, due time.Time, reserve, limit time.Duration) (context.Context, context.CancelFunc) {
	// One instant, not a duration from a second reading of the clock: the
	// step never ends after due-reserve.
	end := due.Add(-reserve)
	if byLimit := time.Now().Add(limit); byLimit.Before(end) {
		end = byLimit
	}
	return context.WithDeadline(ctx, end)
}

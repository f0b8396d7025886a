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

// minReleaseTimeout is the least a claim release gets after a failure,
// even when the budget is spent: an unreleased claim delays WeChat's retry.
const minReleaseTimeout = 100 * time.Millisecond

// stepContext bounds one step: at most limit, and it ends reserve before
// due, leaving that much to the steps after it.
func stepContext(ctx context.Context, due time.Time, reserve, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, min(limit, time.Until(due)-reserve))
}

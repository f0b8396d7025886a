package credential

import "errors"

// Outcomes of the refresher's conditional writes. The store implementation
// (pkg/dynamo) returns them; the orchestration (pkg/refresh) branches on them.
var (
	// ErrLeaseHeld: another refresher holds a live lease on the credential.
	ErrLeaseHeld = errors.New("lease held by another refresher")
	// ErrLeaseLost: the caller's lease expired and was taken over (or
	// released); nothing was written.
	ErrLeaseLost = errors.New("lease lost")
	// ErrForceBudgetExhausted: the day's forced-refresh limit is spent.
	ErrForceBudgetExhausted = errors.New("forced-refresh daily limit reached")
	// ErrForceTooSoon: the previous forced refresh was less than
	// ForceSpacing ago.
	ErrForceTooSoon = errors.New("previous forced refresh less than 30s ago")
)

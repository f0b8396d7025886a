package credential

import (
	"errors"
	"time"
)

// Outcomes of the refresher's conditional writes. The store implementation
// (pkg/dynamo) returns them; the orchestration (pkg/refresh) branches on them.
var (
	// ErrLeaseHeld: another refresher holds a live lease on the credential.
	ErrLeaseHeld = errors.New("lease held by another refresher")
	// ErrLeaseLost: the caller's lease expired and was taken over (or
	// released); nothing was written.
	ErrLeaseLost = errors.New("lease lost")
	// ErrSuperseded: a value written without the lease was refused because
	// the item already holds a newer one.
	ErrSuperseded = errors.New("a newer value is stored")
	// ErrForceBudgetExhausted: the day's forced-refresh limit is spent.
	ErrForceBudgetExhausted = errors.New("forced-refresh daily limit reached")
	// ErrForceTooSoon: the previous forced refresh was less than
	// ForceSpacing ago.
	ErrForceTooSoon = errors.New("previous forced refresh less than 30s ago")
)

// Commit is what a leaseholder writes after WeChat answered.
type Commit struct {
	Owner       string    // the lease owner id the lease was taken with
	PrevValue   string    // the value the item held when the lease was taken ("" for none)
	Value       string    // the value WeChat returned
	ExpiresAt   time.Time // response time + expires_in
	RefreshedAt time.Time // response time
	// DueAt is when a sweep must next look at the item (the type's
	// Policy.DueAt of ExpiresAt), written as due_at so that sweeps find due
	// items through the table's due index instead of reading every item.
	DueAt time.Time
	// ComponentAppID marks an Authorizer's item with its platform
	// (component_appid); "" for every other type.
	ComponentAppID string
}

// Failure is an upstream failure as recorded in last_error_*. Message must
// not contain a secret or token (WeChat's errmsg never does).
type Failure struct {
	Code    int // WeChat errcode, the HTTP status of an HTTP-level failure, or 0 (network, other)
	Message string
	At      time.Time
}

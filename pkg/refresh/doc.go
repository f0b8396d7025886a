// Package refresh keeps every configured WeChat credential fresh in the
// credential store with exactly one writer per credential (docs/refresh.md).
//
// A sweep visits each (app, kind) that is due, found through the table's
// due index rather than by reading every item (due.go; a full pass reads
// every configured credential after a change of the configuration, and
// once a day): a consistent read decides whether the value is still fresh
// (credential.DueAt); if not, the refresher takes the
// item's lease with a conditional write, re-checks, calls WeChat
// (stable_token in normal mode, or getticket with the current
// access_token) and commits the answer with a write fenced on its lease, so
// a refresher whose lease was taken over can never overwrite a newer value.
// Failures are classified by WeChat errcode class: transient ones are
// retried with backoff inside the invocation's deadline; configuration and
// daily-quota errors stop and alarm; a minute-quota error waits for the
// next sweep. Every failure is recorded in the item's last_error_*; a
// credential-store failure is a failed result of class "store".
//
// Deadlines: each item's WeChat calls end a margin before both the lease
// and the invocation's deadline, and the writes that follow (commit,
// failure record, lease release) run on a fresh short context, so a hung
// WeChat never leaves a stale lease or an unrecorded failure.
//
// A forced refresh handles a caller's report that WeChat rejected a value:
// if the store already holds another value it is returned; otherwise one
// refresher (the leaseholder) probes stable_token in normal mode, and only
// if WeChat still returns the rejected token spends the forced-refresh
// budget (daily limit, 30 s spacing to the millisecond) on
// force_refresh=true. Spending the budget needs a live lease and extends
// it over the force call; a force answer equal to the rejected token is
// force_too_soon; and because the force revoked the stored value, its new
// token is stored even if the lease was lost meanwhile, unless something
// newer already is. Concurrent reports wait for the leaseholder's commit
// instead of calling WeChat.
//
// One source model serves every account type (docs/secrets.md): an app's
// Type chooses its fetcher (fetch.go: stable_token and getticket for
// Official Accounts and mini-programs, gettoken and the WeCom tickets for
// WeCom apps) and its credential.Policy; the sweep, lease, fenced commit,
// failure classes and forced refresh are the same code for all. A WeCom
// token is due at expiry (WeCom hands out the same token until then) and
// has no force mode: a report re-fetches at once under the lease, spends
// no budget, and WeCom answering with the rejected token again is
// token_unavailable.
//
// Layout: sweep.go and force.go are the two algorithms; lease.go holds the
// lease and every write a leaseholder makes, call.go the upstream calls
// (deadline, retry, latency), result.go the outcomes and the one error
// model (failure) both algorithms answer with.
//
// The package declares the small Store, WeChat and WeCom interfaces it
// needs; pkg/dynamo and pkg/wechat implement them. It never imports the AWS
// SDK.
package refresh

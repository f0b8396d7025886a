// Package metrics writes CloudWatch metrics in the Embedded Metric Format
// (EMF): one JSON object per line on an io.Writer (stdout in Lambda), from
// which CloudWatch Logs extracts the metric values. No API call, no extra IAM
// permission and no added latency on the request path.
//
// Every metric is published in the namespace "wxcentral". The names and
// dimensions below are a contract with template.yaml: its alarms select
// metrics by exactly these names and dimension values, and a test in
// internal/samtemplate fails when an alarm names a metric this package does
// not define.
//
//	metric                unit          dimension sets          emitted by   alarm in template.yaml
//	RefreshOutcome        Count         [Outcome]               refresh      -
//	RefreshFailures       Count         [ErrorClass]            refresh      one per class: configuration,
//	                                                                          daily_quota, caller_bug, unknown,
//	                                                                          token_rejected, protocol (any
//	                                                                          failure); store (2 minutes running),
//	                                                                          token_unavailable (3), transient
//	                                                                          and minute_quota (5)
//	TokenSecondsToExpiry  Seconds       [Kind], [AppId Kind],   refresh      one per kind: access_token Minimum
//	                                    [AccountType Kind]                   < 180 (missing data breaching),
//	                                                                          tickets < 300; 2 minutes running;
//	                                                                          AccountType=wecom access_token
//	                                                                          < -90 (past expiry)
//	WeChatCallLatency     Milliseconds  [API]                   refresh      -
//	ForcedRefreshes       Count         [Kind], [AppId Kind]    refresh      Kind=access_token, 3 or more in an hour
//	TokenRequests         Count         [Outcome]               token        Outcome=5xx (503 token_unavailable,
//	                                                                          its only 5xx), 1 or more
//	CallbackRequests      Count         [Outcome]               callback     Outcome=5xx, 3 or more in 5 minutes
//	CallbackDuplicates    Count         [AppId]                 callback     -
//	ConfigReloadFailures  Count         [Outcome]               refresh,     Outcome=stale and Outcome=failed,
//	                                                            callback     1 or more
//	ComponentAuthorizations Count       [Outcome]               callback     -
//
// Dimension values:
//   - Outcome of RefreshOutcome: the sweep result outcome (fresh, refreshed,
//     unchanged, leased, failed).
//   - ErrorClass: wechat.Class.String() (transient, token_rejected,
//     configuration, daily_quota, minute_quota, caller_bug, protocol,
//     unknown) or a failure of wxcentral's own side (store: DynamoDB;
//     token_unavailable: a ticket without a usable access_token).
//   - Outcome of ConfigReloadFailures: stale (the last good document was
//     served, see config.CachedSource) or failed (nothing to serve).
//   - Outcome of ComponentAuthorizations: done, refused (WeChat refused
//     the authorization code), unknown_app (the platform is not in the
//     apps document), retry (answered 503, WeChat pushes again).
//   - Outcome of TokenRequests and CallbackRequests: the HTTP status class
//     (2xx, 4xx, 5xx; see StatusClass).
//   - TokenSecondsToExpiry under [Kind] alone also carries, once per sweep
//     that found its due work through the due index, a lower bound on the
//     time left on the values of that kind it did not read
//     (SecondsToExpiryAtLeast), so the access_token alarm still sees a
//     datapoint every minute.
//   - AccountType of TokenSecondsToExpiry: the account type of a value
//     refreshed only at its expiry (wecom access_token), published under
//     [AccountType Kind] instead of [Kind]; under [Kind] it counts as no
//     less than the access_token lead (SecondsToExpiryDueAtExpiry).
//   - API: the WeChat endpoint called (e.g. stable_token, getticket).
//   - AppId appears only after the app was found in the configuration, so a
//     caller cannot create metrics by sending arbitrary appids.
//
// Usage from a function:
//
//	m := metrics.New(os.Stdout)
//	m.Emit(metrics.Refresh("failed", "configuration")...)
//	m.Emit(metrics.WeChatCall("stable_token", elapsed))
//
// and, for the HTTP cores, CountResponses records CallbackRequests or
// TokenRequests by status class around any http.Handler:
//
//	h = m.CountResponses(metrics.CallbackRequests, h)
//
// An Emitter is safe for concurrent use; each metric is one line written
// with a single Write call. A nil *Emitter discards everything, so libraries
// can take an optional emitter without nil checks.
package metrics

package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Outcome of one (app, kind) in a sweep.
type Outcome string

// Sweep outcomes (docs/refresh.md).
const (
	OutcomeFresh     Outcome = "fresh"     // nothing to do
	OutcomeRefreshed Outcome = "refreshed" // a new value was committed
	OutcomeUnchanged Outcome = "unchanged" // WeChat returned the same value; expires_at updated
	OutcomeLeased    Outcome = "leased"    // another refresher holds the lease
	OutcomeFailed    Outcome = "failed"    // see Error
)

// Outcomes is every Outcome a Result (and the RefreshOutcome metric) can
// carry; the template's alarm tests read it.
var Outcomes = []Outcome{OutcomeFresh, OutcomeRefreshed, OutcomeUnchanged, OutcomeLeased, OutcomeFailed}

// Result is one entry of a sweep's answer.
type Result struct {
	AppID     string          `json:"appid"`
	Kind      credential.Kind `json:"kind"`
	Outcome   Outcome         `json:"outcome"`
	Version   int64           `json:"version"`
	ExpiresAt int64           `json:"expires_at"` // unix seconds; 0 when nothing is stored
	// Error is "<class>: errcode <n>", "<class>: http <status>" or
	// "<class>: <what>" for a failed outcome, "" otherwise. Never a secret.
	Error string `json:"error"`
}

// Summary is a sweep's answer: {"results":[...]}.
type Summary struct {
	Results []Result `json:"results"`
	// NotRead counts the configured credentials this sweep did not read
	// because the due index says they are not due; their results are
	// fresh, with the version and expires_at the instance's sweeps last
	// saw (0 when they saw none).
	NotRead int `json:"not_read,omitempty"`
}

func resultOf(rec credential.Record, appid string, kind credential.Kind, o Outcome) Result {
	res := Result{AppID: appid, Kind: kind, Outcome: o, Version: rec.Version}
	if !rec.ExpiresAt.IsZero() {
		res.ExpiresAt = rec.ExpiresAt.Unix()
	}
	return res
}

// failure is why one refresh step ended without a new value: the one
// error model of the sweep and the forced refresh. A classified failure
// (WeChat's, the store's) is reported as a failed result; a refusal (a
// forced refresh the rules answer without a value: budget spent, another
// refresher at work) is only answered.
type failure struct {
	class wechat.Class
	label localClass // result/log class name when not a WeChat class (e.g. "store")
	code  int        // last_error_code
	what  string     // result detail: "errcode 40125", "http 502", "network"; a refusal's message
	msg   string     // last_error: class, detail and WeChat's errmsg; scrubbed
	// refusal is the forced-refresh error code of a refusal, "" for a
	// classified failure.
	refusal string
	// superseded: the value fetched belongs to an authorisation a newer
	// one replaced (the auth# CAS failed); it is discarded, not recorded
	// as a failure (outcome leased, like a lost lease).
	superseded bool
}

// Error makes a failure an error, so a step that returns errors (a
// fetcher that cannot be built) hands it on to classify unchanged.
func (f *failure) Error() string { return f.msg }

// refuse is a refusal answered with the forced-refresh error code and msg.
func refuse(code, msg string) *failure { return &failure{refusal: code, what: msg} }

// answerCode is the forced-refresh error code a report ending in f gets.
func (f failure) answerCode() string {
	if f.refusal != "" {
		return f.refusal
	}
	return tokenapi.CodeTokenUnavailable
}

func (f failure) className() string {
	if f.label != (localClass{}) {
		return f.label.name
	}
	return f.class.String()
}

// resultError is the Result.Error text.
func (f failure) resultError() string { return f.className() + ": " + f.what }

// alarm reports whether the failure needs an operator (logged at error level).
func (f failure) alarm() bool {
	return f.class == wechat.ClassConfiguration || f.class == wechat.ClassDailyQuota ||
		f.class == wechat.ClassCallerBug || (f.class == wechat.ClassUnknown && f.label == localClass{}) || f.label == classStore ||
		f.label == classVerifyTicketMissing || f.label == classVerifyTicketStale ||
		f.label == classAuthorizerRefreshTokenInvalid
}

// localClass is the error class of a failure that is not WeChat's. It is a
// struct so that only the values declared below exist: ErrorClasses lists
// them all, and the template's alarm tests require an alarm on each.
type localClass struct{ name string }

var (
	// classStore is a credential-store failure (AccessDenied, throttling).
	classStore = localClass{"store"}
	// classTokenUnavailable is a ticket refresh without a usable access_token.
	classTokenUnavailable = localClass{"token_unavailable"}
	localClasses          = []localClass{classStore, classTokenUnavailable, classVerifyTicketMissing, classVerifyTicketStale,
		classAuthorizerRefreshTokenInvalid}
)

// ErrorClasses is every error class a failed Result (and the
// RefreshFailures metric's ErrorClass dimension) can carry: each
// wechat.Class and the refresher's own classes.
func ErrorClasses() []string {
	var out []string
	for _, c := range wechat.Classes() {
		out = append(out, c.String())
	}
	for _, c := range localClasses {
		out = append(out, c.name)
	}
	return out
}

// storeFailure is a failure of the credential store during op ("read",
// "lease", "commit", ...), named by the store's error code, e.g.
// "store: AccessDeniedException on read".
func storeFailure(op string, err error) failure {
	return internalFailure(classStore, storeErrorCode(err)+" on "+op)
}

// storeErrorCode names a store error without its message: the service's
// error code (AccessDeniedException, ThrottlingException, ...) when the
// error carries one, else timeout, canceled or error.
func storeErrorCode(err error) string {
	var coded interface{ ErrorCode() string }
	switch {
	case errors.As(err, &coded) && coded.ErrorCode() != "":
		return coded.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// classify turns an error from the WeChat client into a failure. secrets
// are scrubbed from the stored message as a second line of defence (the
// wechat package already keeps them out of its errors).
func classify(err error, secrets ...string) failure {
	if already := (*failure)(nil); errors.As(err, &already) {
		return *already
	}
	f := failure{class: wechat.ErrorClass(err)}
	var we *wechat.Error
	var ne *wechat.NetworkError
	switch {
	case errors.As(err, &we) && we.Code == 0 && we.HTTPStatus != 0:
		f.code, f.what = we.HTTPStatus, fmt.Sprintf("http %d", we.HTTPStatus)
		f.msg = fmt.Sprintf("%s: http status %d", f.class, we.HTTPStatus)
	case errors.As(err, &we):
		f.code, f.what = we.Code, fmt.Sprintf("errcode %d", we.Code)
		f.msg = fmt.Sprintf("%s: errcode %d: %s", f.class, we.Code, we.Msg)
	case errors.As(err, &ne):
		f.what = "network"
		f.msg = fmt.Sprintf("%s: %s", f.class, ne.Error())
	default:
		f.what = "error"
		f.msg = fmt.Sprintf("%s: %v", f.class, err)
	}
	f.msg = scrub(f.msg, secrets...)
	return f
}

// internalFailure is a failure that is not WeChat's (store, missing token).
func internalFailure(label localClass, what string) failure {
	return failure{class: wechat.ClassUnknown, label: label, what: what, msg: label.name + ": " + what}
}

func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	const max = 512
	if len(s) > max {
		s = s[:max]
	}
	return s
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
	_ = r.o.Metrics.Emit(metrics.Refresh(string(res.Outcome), class)...)
}

// expiryFloor is what a value due only at expiry counts as under the
// [Kind] expiry rollup: the access_token lead, above every [Kind] alarm's
// threshold (template.yaml), so that rollup alarms only on values the
// refresher should have replaced ahead of expiry.
const expiryFloor = credential.AccessTokenLead

// reportSwept reports a sweep result of app: report, plus the time left on
// the stored value (TokenSecondsToExpiry). A value due only at expiry (no
// lead in app's policy) has its own rollup and alarm, by account type. An
// authorizer's is published without its AppId (SecondsToExpiryOfFleet).
func (r *Refresher) reportSwept(app App, res Result, f *failure) {
	r.report(res, f)
	if res.ExpiresAt == 0 {
		return
	}
	left := time.Unix(res.ExpiresAt, 0).Sub(r.o.Now())
	if app.typ() == credential.Authorizer {
		_ = r.o.Metrics.Emit(metrics.SecondsToExpiryOfFleet(string(app.typ()), string(res.Kind), left))
		return
	}
	if app.policy().Lead(res.Kind) > 0 {
		_ = r.o.Metrics.Emit(metrics.SecondsToExpiry(res.AppID, string(res.Kind), left))
		return
	}
	_ = r.o.Metrics.Emit(metrics.SecondsToExpiryDueAtExpiry(string(app.typ()), res.AppID, string(res.Kind), left, expiryFloor)...)
}

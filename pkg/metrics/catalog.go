package metrics

import (
	"net/http"
	"time"
)

// Metric names. template.yaml's alarms use exactly these (see doc.go).
const (
	RefreshOutcome       = "RefreshOutcome"
	RefreshFailures      = "RefreshFailures"
	TokenSecondsToExpiry = "TokenSecondsToExpiry"
	WeChatCallLatency    = "WeChatCallLatency"
	ForcedRefreshes      = "ForcedRefreshes"
	TokenRequests        = "TokenRequests"
	CallbackRequests     = "CallbackRequests"
	CallbackDuplicates   = "CallbackDuplicates"
	ConfigReloadFailures = "ConfigReloadFailures"
	// ComponentAuthorizations counts a platform's authorization events the
	// callback handed to the refresh function, by Outcome.
	ComponentAuthorizations = "ComponentAuthorizations"
)

// Dimension names.
const (
	DimOutcome    = "Outcome"
	DimErrorClass = "ErrorClass"
	DimAppID      = "AppId"
	DimKind       = "Kind"
	DimAPI        = "API"
	// DimAccountType is the account type (credential.AccountType) of a
	// value refreshed only at its expiry (see SecondsToExpiryDueAtExpiry).
	DimAccountType = "AccountType"
)

// Names lists every metric this package defines, for tests that check
// alarms and dashboards against it.
var Names = []string{
	RefreshOutcome, RefreshFailures, TokenSecondsToExpiry, WeChatCallLatency,
	ForcedRefreshes, TokenRequests, CallbackRequests, CallbackDuplicates,
	ConfigReloadFailures, ComponentAuthorizations,
}

// Refresh returns the metrics of one sweep result: RefreshOutcome by outcome
// and, when errorClass is not empty, RefreshFailures by class.
func Refresh(outcome, errorClass string) []Metric {
	ms := []Metric{{Name: RefreshOutcome, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, outcome}}}}
	if errorClass != "" {
		ms = append(ms, Metric{Name: RefreshFailures, Unit: Count, Value: 1, Dimensions: []Dimension{{DimErrorClass, errorClass}}})
	}
	return ms
}

// SecondsToExpiry reports how long the stored value of (appid, kind) stays
// valid; negative once it has expired. The [Kind] rollup carries the
// alarms, which watch values refreshed ahead of their expiry: one running
// low means the refresher is not keeping up.
func SecondsToExpiry(appid, kind string, left time.Duration) Metric {
	return Metric{
		Name: TokenSecondsToExpiry, Unit: Seconds, Value: left.Seconds(),
		Dimensions: []Dimension{{DimAppID, appid}, {DimKind, kind}},
		Rollups:    [][]string{{DimKind}},
	}
}

// SecondsToExpiryDueAtExpiry reports the same for a value of accountType
// refreshed only once it expires (a WeCom access_token: WeCom hands out the
// same token until then), which runs down to zero by design. It is
// published under [AppId Kind] like any value and under [AccountType Kind],
// whose alarm fires once such a value stays past expiry. Under [Kind] it
// counts as no less than floor (the time left below which the [Kind]
// alarms fire), so it shows a sweep ran without raising them.
func SecondsToExpiryDueAtExpiry(accountType, appid, kind string, left, floor time.Duration) []Metric {
	return []Metric{
		{Name: TokenSecondsToExpiry, Unit: Seconds, Value: left.Seconds(), Dimensions: []Dimension{{DimAppID, appid}, {DimKind, kind}}},
		{Name: TokenSecondsToExpiry, Unit: Seconds, Value: left.Seconds(), Dimensions: []Dimension{{DimAccountType, accountType}, {DimKind, kind}}},
		{Name: TokenSecondsToExpiry, Unit: Seconds, Value: max(left, floor).Seconds(), Dimensions: []Dimension{{DimKind, kind}}},
	}
}

// SecondsToExpiryOfFleet reports the same as SecondsToExpiry for a value of
// an account type kept by the thousand (a third-party platform's
// authorizers): under [AccountType Kind] and the [Kind] rollup, never per
// AppId. Each distinct dimension set is a billed CloudWatch custom metric,
// so a per-authorizer series would make the metrics bill grow with the
// number of accounts instead of with the refreshes.
func SecondsToExpiryOfFleet(accountType, kind string, left time.Duration) Metric {
	return Metric{
		Name: TokenSecondsToExpiry, Unit: Seconds, Value: left.Seconds(),
		Dimensions: []Dimension{{DimAccountType, accountType}, {DimKind, kind}},
		Rollups:    [][]string{{DimKind}},
	}
}

// SecondsToExpiryAtLeast reports, under the [Kind] rollup only, a lower
// bound on the time left on the values of kind a sweep did not read: the
// due index said they are not due, so each lives at least left longer. It
// keeps the [Kind] alarms fed (an access_token's treats missing data as an
// outage) without a read per credential per sweep.
func SecondsToExpiryAtLeast(kind string, left time.Duration) Metric {
	return Metric{Name: TokenSecondsToExpiry, Unit: Seconds, Value: left.Seconds(), Dimensions: []Dimension{{DimKind, kind}}}
}

// WeChatCall reports the latency of one WeChat API call (api names the
// endpoint, e.g. "stable_token" or "getticket").
func WeChatCall(api string, elapsed time.Duration) Metric {
	return Metric{
		Name: WeChatCallLatency, Unit: Milliseconds, Value: float64(elapsed.Microseconds()) / 1000,
		Dimensions: []Dimension{{DimAPI, api}},
	}
}

// ForcedRefresh counts one force_refresh=true call to WeChat for (appid, kind).
func ForcedRefresh(appid, kind string) Metric {
	return Metric{
		Name: ForcedRefreshes, Unit: Count, Value: 1,
		Dimensions: []Dimension{{DimAppID, appid}, {DimKind, kind}},
		Rollups:    [][]string{{DimKind}},
	}
}

// TokenRequest counts one token-function request by the class of its status.
func TokenRequest(status int) Metric {
	return Metric{Name: TokenRequests, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, StatusClass(status)}}}
}

// CallbackRequest counts one callback request by the class of its status.
func CallbackRequest(status int) Metric {
	return Metric{Name: CallbackRequests, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, StatusClass(status)}}}
}

// ComponentAuthorization counts one authorized, updateauthorized or
// unauthorized event handed to the refresh function, by outcome: done,
// refused (WeChat refused the code), unknown_app, retry (answered 503).
func ComponentAuthorization(outcome string) Metric {
	return Metric{Name: ComponentAuthorizations, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, outcome}}}
}

// CallbackDuplicate counts one push WeChat delivered again for a known app.
func CallbackDuplicate(appid string) Metric {
	return Metric{Name: CallbackDuplicates, Unit: Count, Value: 1, Dimensions: []Dimension{{DimAppID, appid}}}
}

// Outcomes of ConfigReloadFailures.
const (
	ConfigServedStale = "stale"  // the last good document was served instead
	ConfigLoadFailed  = "failed" // nothing young enough to serve: the invocation fails
)

// ConfigReloadFailure counts one failed load of a configuration document
// (Secrets Manager unreadable) by what was served instead: ConfigServedStale
// or ConfigLoadFailed.
func ConfigReloadFailure(outcome string) Metric {
	return Metric{Name: ConfigReloadFailures, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, outcome}}}
}

// StatusClass maps an HTTP status to its class: "2xx", "3xx", "4xx", "5xx",
// or "other" outside 200-599.
func StatusClass(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "2xx"
	case status >= 300 && status < 400:
		return "3xx"
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return "other"
}

// CountResponses wraps an HTTP handler so that every response is counted
// under metric (TokenRequests or CallbackRequests) by its status class. A
// nil Emitter returns next unchanged.
func (e *Emitter) CountResponses(metric string, next http.Handler) http.Handler {
	if e == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		_ = e.Emit(Metric{Name: metric, Unit: Count, Value: 1, Dimensions: []Dimension{{DimOutcome, StatusClass(status)}}})
	})
}

// statusWriter records the first status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim responses
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// --- Refresh store failures (issue 11, item 8) ---

// RefreshFailure counts one refresh failure of errorClass that is not a
// sweep result of its own: a failure record or lease release the
// credential store refused. It is RefreshFailures by ErrorClass, the same
// metric and dimension as a result's failure, so one alarm on
// ErrorClass=store covers both.
func RefreshFailure(errorClass string) Metric {
	return Metric{Name: RefreshFailures, Unit: Count, Value: 1, Dimensions: []Dimension{{DimErrorClass, errorClass}}}
}

package component

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

// Invoke calls the refresh function synchronously with payload and returns
// its answer; an error is a transport failure or a function error
// (pkg/tokenclient/lambdainvoke.Function in Lambda, the refresh handler's
// Invoke in process).
type Invoke func(ctx context.Context, payload []byte) ([]byte, error)

// Outcomes of AuthorizationSink, the Outcome of metrics.ComponentAuthorization.
const (
	AuthorizationDone       = "done"        // the refresh function exchanged the code or forgot the authorizer
	AuthorizationRefused    = "refused"     // bad_request: WeChat refused the code (used, expired); acknowledged
	AuthorizationUnknownApp = "unknown_app" // the platform is not in the refresh function's apps document; acknowledged
	AuthorizationRetry      = "retry"       // token_unavailable, a failed invoke: 503, WeChat pushes again
)

// DefaultPublishReserve is what AuthorizationSink leaves of its context's
// deadline for the sinks after it (publishing the event).
const DefaultPublishReserve = 500 * time.Millisecond

// AuthorizationSink hands authorized, updateauthorized and unauthorized
// events to the refresh function, the only holder of refresh tokens, as
// tokenapi.AuthorizationRequest (ActionAuthorize with the code,
// ActionUnauthorize), and acknowledges other events. A retryable answer
// (token_unavailable) or a failed invoke is an error, so WeChat pushes the
// event again; a code WeChat refused (bad_request) or a platform the refresh
// function does not know (unknown_app) cannot succeed on a retry: it is
// logged at error level (never the code), counted, and acknowledged.
type AuthorizationSink struct {
	Invoke Invoke
	// Reserve is left of ctx's deadline for the sinks after this one;
	// zero: DefaultPublishReserve.
	Reserve time.Duration
	Logger  *slog.Logger     // nil: slog.Default()
	Metrics *metrics.Emitter // nil: none
}

// Event implements EventSink.
func (s AuthorizationSink) Event(ctx context.Context, e Event) error {
	req := tokenapi.AuthorizationRequest{ComponentAppID: e.ComponentAppID, AuthorizerAppID: e.AuthorizerAppID, CreateTime: e.CreateTime.Unix()}
	switch e.InfoType {
	case InfoAuthorized, InfoUpdateAuthorized:
		req.Action, req.AuthorizationCode = tokenapi.ActionAuthorize, e.AuthorizationCode
	case InfoUnauthorized:
		req.Action = tokenapi.ActionUnauthorize
	default:
		return nil
	}
	outcome, err := s.hand(ctx, req)
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	_ = s.Metrics.Emit(metrics.ComponentAuthorization(outcome))
	attrs := []slog.Attr{slog.String("component_appid", e.ComponentAppID), slog.String("authorizer_appid", e.AuthorizerAppID),
		slog.String("info_type", e.InfoType), slog.String("outcome", outcome)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	level := slog.LevelInfo
	if outcome != AuthorizationDone {
		level = slog.LevelError
	}
	log.LogAttrs(ctx, level, "component authorization", attrs...)
	if outcome == AuthorizationRetry {
		return err
	}
	return nil
}

// hand invokes the refresh function with req, bounded by ctx's deadline
// less the reserve, and classifies its answer. Errors never carry the code.
func (s AuthorizationSink) hand(ctx context.Context, req tokenapi.AuthorizationRequest) (string, error) {
	if s.Invoke == nil {
		return AuthorizationRetry, errors.New("no refresh function to hand the event to (REFRESH_FUNCTION_NAME unset)")
	}
	reserve := s.Reserve
	if reserve <= 0 {
		reserve = DefaultPublishReserve
	}
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-reserve))
		defer cancel()
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return AuthorizationRetry, fmt.Errorf("%s: encode: %w", req.Action, err)
	}
	out, err := s.Invoke(ctx, payload)
	if err != nil {
		return AuthorizationRetry, fmt.Errorf("%s: invoke the refresh function: %w", req.Action, err)
	}
	var a struct {
		tokenapi.Answer
		Results json.RawMessage `json:"results"` // a sweep's summary
	}
	if err := json.Unmarshal(out, &a); err != nil {
		return AuthorizationRetry, fmt.Errorf("%s: the refresh function's answer is not JSON", req.Action)
	}
	if a.Results != nil {
		// A refresh function older than the action sweeps instead.
		return AuthorizationRetry, fmt.Errorf("%s: the refresh function answered with a sweep: it does not know the action (deploy a newer one)", req.Action)
	}
	if req.AuthorizationCode != "" {
		a.Message = strings.ReplaceAll(a.Message, req.AuthorizationCode, "…")
	}
	switch a.Error {
	case "":
		return AuthorizationDone, nil
	case tokenapi.CodeBadRequest:
		return AuthorizationRefused, fmt.Errorf("%s: refused: %s", req.Action, a.Message)
	case tokenapi.CodeUnknownApp:
		return AuthorizationUnknownApp, fmt.Errorf("%s: the refresh function does not know platform %s (apps document): %s", req.Action, req.ComponentAppID, a.Message)
	default: // token_unavailable, and any code this version does not know
		return AuthorizationRetry, fmt.Errorf("%s: %s: %s", req.Action, a.Error, a.Message)
	}
}

// Sinks hands each event to every sink in order; the first error stops
// and is returned (503: WeChat pushes again, and the sinks before it see
// the event again).
type Sinks []EventSink

// Event implements EventSink.
func (ss Sinks) Event(ctx context.Context, e Event) error {
	for _, s := range ss {
		if err := s.Event(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

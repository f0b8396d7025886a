package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
)

// Routes of the HTTP shape.
const (
	PathToken      = "/token"
	PathInvalidate = "/token/invalidate"
)

// MaxBodyBytes bounds a POST /token/invalidate body.
const MaxBodyBytes = 64 << 10

// Credentials is what the server needs from a tokenclient.Client.
type Credentials interface {
	Get(ctx context.Context, appid string, kind credential.Kind) (credential.Credential, error)
	Invalidate(ctx context.Context, appid string, kind credential.Kind, token string) (credential.Credential, error)
}

// Server answers token requests. Build it with New.
type Server struct {
	creds   Credentials
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics.Emitter
}

// Option configures a Server.
type Option func(*Server)

// WithClock sets the clock that computes expires_in (default time.Now);
// give the tokenclient.Client the same one.
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLogger sets the JSON logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithMetrics counts every answer, HTTP or direct invoke, as the EMF
// metric TokenRequests by status class (default: not counted).
func WithMetrics(m *metrics.Emitter) Option {
	return func(s *Server) { s.metrics = m }
}

// New returns a Server reading and invalidating through creds (normally a
// *tokenclient.Client with a Lambda invalidator).
func New(creds Credentials, opts ...Option) *Server {
	s := &Server{creds: creds, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// result is one answer: an HTTP status and the JSON object.
type result struct {
	status int
	body   tokenapi.Answer
}

func failure(status int, code, format string, args ...any) result {
	return result{status, tokenapi.Fail(code, fmt.Sprintf(format, args...))}
}

func badRequest(format string, args ...any) result {
	return failure(http.StatusBadRequest, tokenapi.CodeBadRequest, format, args...)
}

// get serves the credential of kind for appid.
func (s *Server) get(ctx context.Context, appid, kindStr string) result {
	kind, bad, ok := parse(appid, kindStr)
	if !ok {
		return bad
	}
	cred, err := s.creds.Get(ctx, appid, kind)
	if err != nil {
		return s.fail(ctx, "get", appid, kind, err)
	}
	now := s.now()
	// The client already refuses such values; re-check so this function
	// can never hand out a token within the margin whatever serves it.
	if !cred.Usable(now) {
		return s.fail(ctx, "get", appid, kind, fmt.Errorf("value expires at %d: %w", cred.ExpiresAt.Unix(), credential.ErrUnavailable))
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, "token served", "op", "get", "appid", appid, "kind", string(kind), "version", cred.Version, "outcome", "ok")
	}
	return result{http.StatusOK, tokenapi.AnswerFor(cred, now)}
}

// invalidate forwards a rejected token to the refresh function.
func (s *Server) invalidate(ctx context.Context, appid, kindStr, token string) result {
	kind, bad, ok := parse(appid, kindStr)
	if !ok {
		return bad
	}
	if token == "" {
		return badRequest("token: required (the value WeChat rejected)")
	}
	cred, err := s.creds.Invalidate(ctx, appid, kind, token)
	if err != nil {
		return s.fail(ctx, "invalidate", appid, kind, err)
	}
	now := s.now()
	if !cred.Usable(now) {
		return s.fail(ctx, "invalidate", appid, kind, fmt.Errorf("value expires at %d: %w", cred.ExpiresAt.Unix(), credential.ErrUnavailable))
	}
	s.log.InfoContext(ctx, "invalidation forwarded", "op", "invalidate", "appid", appid, "kind", string(kind),
		"version", cred.Version, "outcome", "ok")
	return result{http.StatusOK, tokenapi.AnswerFor(cred, now)}
}

// parse validates appid and kind; on failure it returns the 400 answer.
func parse(appid, kindStr string) (credential.Kind, result, bool) {
	if appid == "" {
		return "", badRequest("appid: required"), false
	}
	if len(appid) > credential.MaxAppIDBytes {
		// Bad input, not a store failure: no item can have such a key.
		return "", badRequest("appid: longer than %d bytes", credential.MaxAppIDBytes), false
	}
	kind, err := credential.ParseKind(kindStr)
	if err != nil {
		return "", badRequest("%v", err), false
	}
	return kind, result{}, true
}

// fail maps an error from the client to its answer and logs it.
func (s *Server) fail(ctx context.Context, op, appid string, kind credential.Kind, err error) result {
	var r result
	var lastFailure *tokenclient.LastFailureError
	switch {
	case errors.Is(err, credential.ErrNotFound):
		r = failure(http.StatusNotFound, tokenapi.CodeUnknownApp, "no %s is stored for appid %s", kind, appid)
	case errors.Is(err, tokenclient.ErrForceBudgetExhausted):
		r = failure(http.StatusTooManyRequests, tokenapi.CodeForceBudgetExhausted,
			"the forced-refresh budget of appid %s is spent for today", appid)
	case errors.Is(err, tokenclient.ErrForceTooSoon):
		r = failure(http.StatusTooManyRequests, tokenapi.CodeForceTooSoon,
			"a forced refresh of appid %s happened less than 30 s ago; retry shortly", appid)
	case errors.As(err, &lastFailure):
		// Tell the caller why (e.g. errcode 40164: the IP to whitelist).
		r = failure(http.StatusServiceUnavailable, tokenapi.CodeTokenUnavailable,
			"no %s for appid %s yet: the last refresh failed at %s (errcode %d): %s",
			kind, appid, lastFailure.At.UTC().Format(time.RFC3339), lastFailure.Code, lastFailure.Message)
	case errors.Is(err, credential.ErrUnavailable):
		r = failure(http.StatusServiceUnavailable, tokenapi.CodeTokenUnavailable,
			"no usable %s for appid %s right now (expired, about to expire, or the store is unreachable); retry shortly", kind, appid)
	default:
		r = failure(http.StatusServiceUnavailable, tokenapi.CodeTokenUnavailable,
			"the %s of appid %s could not be obtained right now; retry shortly", kind, appid)
	}
	level := slog.LevelInfo
	if r.status >= 500 {
		level = slog.LevelWarn
	}
	// err comes from our own packages, which never put a token in an error.
	s.log.Log(ctx, level, "token request failed", "op", op, "appid", appid, "kind", string(kind),
		"outcome", r.body.Error, "status", r.status, "error", err.Error())
	return r
}

// ServeHTTP implements the Function URL routes of docs/token-api.md.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var res result
	switch r.URL.Path {
	case PathToken:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			res = failure(http.StatusMethodNotAllowed, tokenapi.CodeMethodNotAllowed, "%s: method %s not allowed; use GET", PathToken, r.Method)
			break
		}
		appid, kind, err := queryParams(r.URL.RawQuery)
		if err != nil {
			res = badRequest("%v", err)
			break
		}
		res = s.get(r.Context(), appid, kind)
	case PathInvalidate:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			res = failure(http.StatusMethodNotAllowed, tokenapi.CodeMethodNotAllowed, "%s: method %s not allowed; use POST", PathInvalidate, r.Method)
			break
		}
		var req tokenapi.Request
		if bad, ok := decodeBody(w, r, &req); !ok {
			res = bad
			break
		}
		res = s.invalidate(r.Context(), req.AppID, string(req.Kind), req.Token)
	default:
		res = failure(http.StatusNotFound, tokenapi.CodeNotFound, "no route for path %q; use GET %s or POST %s", r.URL.Path, PathToken, PathInvalidate)
	}
	writeJSON(w, res)
	_ = s.metrics.Emit(metrics.TokenRequest(res.status))
}

func decodeBody(w http.ResponseWriter, r *http.Request, into *tokenapi.Request) (result, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return failure(http.StatusRequestEntityTooLarge, tokenapi.CodeBadRequest, "body: larger than %d bytes", MaxBodyBytes), false
		}
		return badRequest("body: could not be read"), false
	}
	if err := decodeRequest(body, into); err != nil {
		return badRequest("%v", err), false
	}
	return result{}, true
}

// decodeRequest parses a JSON object into req; the error names the field.
func decodeRequest(data []byte, req *tokenapi.Request) error {
	var probe json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return errors.New("body: not valid JSON")
	}
	if len(probe) == 0 || probe[0] != '{' {
		return errors.New("body: must be a JSON object")
	}
	if err := json.Unmarshal(data, req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: must be a string", te.Field)
		}
		return errors.New("body: not a valid request object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, res result) {
	data := res.body.AppendJSON(make([]byte, 0, 256))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(res.status)
	_, _ = w.Write(data)
}

// Invoke answers a direct-invoke payload with the JSON object the HTTP
// shape would have sent as its body; errors are answers too, so the
// returned error is always nil (kept for lambda handler signatures).
func (s *Server) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var res result
	var req tokenapi.Request
	if err := decodeRequest(payload, &req); err != nil {
		res = badRequest("%v", err)
	} else {
		switch req.Action {
		case "":
			res = s.get(ctx, req.AppID, string(req.Kind))
		case tokenapi.ActionInvalidate:
			res = s.invalidate(ctx, req.AppID, string(req.Kind), req.Token)
		default:
			res = badRequest("action: must be absent (read) or \"invalidate\"")
		}
	}
	_ = s.metrics.Emit(metrics.TokenRequest(res.status))
	return res.body.AppendJSON(make([]byte, 0, 256)), nil
}

// deadlineReserve is kept back from the invocation deadline so that a slow
// forced refresh ends in a 503 answer instead of a Lambda timeout.
const deadlineReserve = 500 * time.Millisecond

// Handle is the Lambda entry point: a Function URL event (payload 2.0) goes
// through ServeHTTP, anything else is a direct invoke.
func (s *Server) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-deadlineReserve))
		defer cancel()
	}
	if lambdahttp.IsHTTPEvent(raw) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("tokenserver: decode Function URL event: %w", err)
		}
		return lambdahttp.Serve(ctx, s, ev)
	}
	out, err := s.Invoke(ctx, raw)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(out), nil
}

// Lambda returns the handler to pass to lambda.Start: Handle, taking the
// payload as bytes, so that a direct invoke which is not JSON at all is
// answered bad_request as a payload (docs/token-api.md) instead of failing as a
// function error in the runtime library's decoding.
func (s *Server) Lambda() LambdaHandler { return LambdaHandler{s} }

// LambdaHandler implements aws-lambda-go's lambda.Handler for a Server
// (declared here so that this package does not link the runtime library).
type LambdaHandler struct{ s *Server }

// Invoke answers one Lambda payload, as Handle does.
func (b LambdaHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := b.s.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	if raw, ok := out.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(out)
}

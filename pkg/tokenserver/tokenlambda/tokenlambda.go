// Package tokenlambda is the token function: New builds it from its
// dependencies (the credential reader and the refresh function it forwards
// invalidations to), and its Handler serves Function URL events, direct
// invokes and plain HTTP alike. functions/token, the local stack and the
// chaos run all build it here.
package tokenlambda

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
)

// Deps are what the token function runs on.
type Deps struct {
	Reader      tokenclient.Reader      // the credential items (tokenclient.NewStoreReader over pkg/dynamo)
	Invalidator tokenclient.Invalidator // the refresh function (lambdainvoke in production)
	Logger      *slog.Logger
	Metrics     *metrics.Emitter // nil: none
	// Clock computes expiry for the cache and expires_in (default
	// time.Now); the chaos run's is virtual.
	Clock func() time.Time
	// Client holds further reader options (the chaos run's read timeout).
	Client []tokenclient.Option
}

// Handler is the token function: ServeHTTP for the local stack and any Go
// server, Invoke for Lambda (Function URL events and direct invokes).
type Handler struct {
	Server *tokenserver.Server
	lambda tokenserver.LambdaHandler
}

// New builds the token function from d.
func New(d Deps) (*Handler, error) {
	if d.Reader == nil || d.Invalidator == nil {
		return nil, errors.New("tokenlambda: Reader and Invalidator are required")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	copts := append([]tokenclient.Option{tokenclient.WithInvalidator(d.Invalidator), tokenclient.WithLogger(d.Logger),
		tokenclient.WithClock(d.Clock)}, d.Client...)
	srv := tokenserver.New(tokenclient.New(d.Reader, copts...),
		tokenserver.WithLogger(d.Logger), tokenserver.WithMetrics(d.Metrics), tokenserver.WithClock(d.Clock))
	return &Handler{Server: srv, lambda: srv.Lambda()}, nil
}

// ServeHTTP serves GET /token and POST /token/invalidate.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.Server.ServeHTTP(w, r) }

// Invoke implements aws-lambda-go's lambda.Handler: a Function URL event
// goes through ServeHTTP, any other payload is a direct invoke.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.lambda.Invoke(ctx, payload)
}

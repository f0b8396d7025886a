// Package callbacklambda is the callback function: New builds it from its
// dependencies (the callback document, the dedupe store, the event bus),
// and its Handler serves API Gateway HTTP API events (payload 2.0) and
// plain HTTP alike. functions/callback, the local stack and the chaos run
// all build it here.
package callbacklambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// Deps are what the callback function runs on.
type Deps struct {
	// Config is the callback document (CALLBACK_SECRET_ID), e.g.
	// callback.ConfigFromJSON over a cached secret; loaded lazily.
	Config    callback.ConfigSource
	Store     callback.DedupeStore    // nil: no de-duplication
	Publisher callback.Publisher      // nil: nothing is published (EVENT_BUS_NAME unset)
	Routes    callback.MessageHandler // nil: only the document's built-in replies
	MaxSkew   time.Duration           // CALLBACK_MAX_SKEW as config.ParseMaxSkew returns it
	Logger    *slog.Logger
	Metrics   *metrics.Emitter // nil: none
	// Tune, when set, adjusts the handler's options after the above are
	// applied: the chaos run's virtual clock and short polls.
	Tune func(*callback.Options)
}

// Handler is the callback function: ServeHTTP for the local stack and any
// Go server, Invoke for Lambda.
type Handler struct {
	http http.Handler // the callback core, its responses counted
	core *callback.Handler
}

// New builds the callback function from d.
func New(d Deps) (*Handler, error) {
	if d.Config == nil {
		return nil, errors.New("callbacklambda: Config is required")
	}
	o := callback.Options{
		Config:    d.Config,
		Routes:    d.Routes,
		Store:     d.Store,
		Publisher: d.Publisher,
		MaxSkew:   d.MaxSkew,
		Logger:    d.Logger,
		Metrics:   d.Metrics,
	}
	if d.Tune != nil {
		d.Tune(&o)
	}
	core, err := callback.NewHandler(o)
	if err != nil {
		return nil, err
	}
	// CallbackErrorsAlarm watches the 5xx of this count.
	return &Handler{http: d.Metrics.CountResponses(metrics.CallbackRequests, core), core: core}, nil
}

// ServeHTTP serves GET and POST /wechat/{appid}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.http.ServeHTTP(w, r) }

// Serve answers one HTTP API event. A callback document that cannot be
// loaded fails the invocation with an error naming the field. The request's
// budget starts at API Gateway's arrival time, so a cold start counts, and
// the document's load is inside it.
func (h *Handler) Serve(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	at := time.Now()
	if ms := req.RequestContext.TimeEpoch; ms > 0 {
		at = time.UnixMilli(ms) // bounded by the handler against a skewed clock
	}
	ctx = callback.WithArrival(ctx, at)
	if err := h.core.LoadConfig(ctx); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return lambdahttp.Serve(ctx, h.http, req)
}

// Invoke implements aws-lambda-go's lambda.Handler: Serve over JSON.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, fmt.Errorf("callback: decode HTTP API event: %w", err)
	}
	resp, err := h.Serve(ctx, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

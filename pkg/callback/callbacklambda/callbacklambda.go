// Package callbacklambda is the callback function: New builds it from its
// dependencies (the callback document, the dedupe store, the event bus,
// the credential table and the refresh function for third-party
// platforms), and its Handler serves API Gateway HTTP API events (payload
// 2.0) and plain HTTP alike: /wechat/{appid} (an account's, or an
// authorizer's of a configured platform) and /component/{component_appid}
// (a platform's authorization events, pkg/component). functions/callback,
// the local stack and the chaos run all build it here.
package callbacklambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/component"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// Credentials is the part of the credential table the callback reaches
// (pkg/dynamo.CredentialStore): a platform's component_verify_ticket
// writes, and reads of an authorizer's access_token item for its
// component_appid.
type Credentials interface {
	component.TicketStore
	Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error)
}

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
	// Credentials is the credential table (TABLE_NAME): without it the
	// component route answers 404 and authorizers are unknown.
	Credentials Credentials
	// Refresh invokes the refresh function (REFRESH_FUNCTION_NAME) with a
	// platform's authorization events; nil: those events answer 503.
	Refresh component.Invoke
	// Tune, when set, adjusts the handler's options after the above are
	// applied: the chaos run's virtual clock and short polls.
	Tune func(*callback.Options)
	// TuneComponent adjusts the component route's options likewise.
	TuneComponent func(*component.Options)
}

// Handler is the callback function: ServeHTTP for the local stack and any
// Go server, Invoke for Lambda.
type Handler struct {
	http      http.Handler // the callback core, its responses counted
	component http.Handler // nil without Deps.Credentials
	core      *callback.Handler
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
	if d.Credentials != nil {
		o.Authorizers = authorizerLookup(d.Credentials)
	}
	if d.Tune != nil {
		d.Tune(&o)
	}
	core, err := callback.NewHandler(o)
	if err != nil {
		return nil, err
	}
	// CallbackErrorsAlarm watches the 5xx of this count.
	h := &Handler{http: d.Metrics.CountResponses(metrics.CallbackRequests, core), core: core}
	if d.Credentials != nil {
		co := component.Options{
			Platforms: platforms(d.Config),
			Tickets:   d.Credentials,
			Events:    sinks(d),
			MaxSkew:   d.MaxSkew,
			Logger:    d.Logger,
		}
		if d.TuneComponent != nil {
			d.TuneComponent(&co)
		}
		comp, err := component.NewHandler(co)
		if err != nil {
			return nil, err
		}
		h.component = d.Metrics.CountResponses(metrics.CallbackRequests, comp)
	}
	return h, nil
}

// sinks are where a platform's events go: authorizations to the refresh
// function first (an event on the bus means the exchange was done), then
// the bus, without the codes.
func sinks(d Deps) component.EventSink {
	s := component.Sinks{component.AuthorizationSink{Invoke: d.Refresh, Logger: d.Logger, Metrics: d.Metrics}}
	if d.Publisher != nil {
		s = append(s, component.PublisherSink{Publisher: d.Publisher})
	}
	return s
}

// platforms are the callback document's component entries.
func platforms(cfg callback.ConfigSource) component.PlatformsFunc {
	return func(ctx context.Context) ([]component.Platform, error) {
		c, err := cfg(ctx)
		if err != nil {
			return nil, err
		}
		var ps []component.Platform
		for _, a := range c.Apps {
			if a.Type == callback.TypeComponent {
				ps = append(ps, component.Platform{AppID: a.AppID, Token: a.Token,
					EncodingAESKey: a.EncodingAESKey, PreviousEncodingAESKey: a.PreviousEncodingAESKey})
			}
		}
		return ps, nil
	}
}

// authorizerLookup finds an authorizer's platform in its access_token
// item's component_appid (written by the refresh function when it
// exchanged the authorization code). An eventually consistent read: the
// item is long written when the authorizer's first message arrives.
func authorizerLookup(creds Credentials) callback.AuthorizerLookup {
	return func(ctx context.Context, appid string) (string, error) {
		rec, err := creds.Get(ctx, appid, credential.AccessToken, false)
		if errors.Is(err, credential.ErrNotFound) || (err == nil && rec.ComponentAppID == "") {
			return "", callback.ErrUnknownAuthorizer
		}
		if err != nil {
			return "", err
		}
		return rec.ComponentAppID, nil
	}
}

// ServeHTTP serves GET and POST /wechat/{appid} and POST
// /component/{component_appid}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isComponentPath(r.URL.Path) {
		if h.component == nil {
			http.NotFound(w, r)
			return
		}
		h.component.ServeHTTP(w, r)
		return
	}
	h.http.ServeHTTP(w, r)
}

// isComponentPath reports whether p is /component/{component_appid}
// (under any prefix a custom domain's mapping adds).
func isComponentPath(p string) bool {
	p = strings.TrimSuffix(p, "/")
	i := strings.LastIndexByte(p, '/')
	return i > 0 && strings.HasSuffix(p[:i], "/component")
}

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
	return lambdahttp.Serve(ctx, h, req)
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

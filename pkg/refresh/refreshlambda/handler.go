// Package refreshlambda is the refresh function: New builds it from its
// dependencies (the credential store, the WeChat client, the apps
// document), and its Handler dispatches Lambda events to a sweep or a
// forced refresh. functions/refresh, the local stack and the chaos run all
// build it here.
package refreshlambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

// Deps are what the refresh function runs on.
type Deps struct {
	Store  refresh.Store  // the credential items (pkg/dynamo in production)
	WeChat refresh.WeChat // WeChat's API: Official Accounts and mini-programs
	// WeCom is WeCom's API (WECOM_API_BASE), for apps of type wecom.
	WeCom refresh.WeCom
	// Component is the Open Platform's API (the WeChat client), for
	// platforms of type component and their authorizers; Authorizations
	// holds the authorizers' auth# items (the credential store). Both are
	// needed for the authorize and unauthorize actions.
	Component      refresh.Component
	Authorizations refresh.Authorizations
	// Apps is the apps document (APPS_SECRET_ID), read on every sweep and
	// forced refresh; cache it (config.NewCachedSource) where it is remote.
	Apps            config.Source
	ForceDailyLimit int // FORCE_REFRESH_DAILY_LIMIT; 0 disables force_refresh
	Logger          *slog.Logger
	Metrics         *metrics.Emitter // nil: none
	// Tune, when set, adjusts the refresher's options after the above are
	// applied: the chaos run's virtual clock and short waits.
	Tune func(*refresh.Options)
}

// Handler is the refresh function. Its Invoke is the Lambda entry point.
type Handler struct {
	Refresher *refresh.Refresher
	log       *slog.Logger
}

// New builds the refresh function from d.
func New(d Deps) (*Handler, error) {
	if d.Store == nil || d.WeChat == nil || d.Apps == nil {
		return nil, errors.New("refreshlambda: Store, WeChat and Apps are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	o := refresh.Options{
		Store:           d.Store,
		WeChat:          d.WeChat,
		WeCom:           d.WeCom,
		Component:       d.Component,
		Authorizations:  d.Authorizations,
		Apps:            appsFrom(d.Apps),
		ForceDailyLimit: d.ForceDailyLimit,
		Logger:          d.Logger,
		Metrics:         d.Metrics,
	}
	if d.Tune != nil {
		d.Tune(&o)
	}
	return &Handler{Refresher: refresh.New(o), log: d.Logger}, nil
}

// appsFrom maps the apps document to the refresher's apps.
func appsFrom(src config.Source) refresh.AppsFunc {
	return func(ctx context.Context) ([]refresh.App, error) {
		doc, err := config.LoadApps(ctx, src)
		if err != nil {
			return nil, err
		}
		apps := make([]refresh.App, 0, len(doc.Apps))
		for _, a := range doc.Apps {
			apps = append(apps, refreshApp(a))
		}
		return apps, nil
	}
}

// refreshApp is the one place where a configured account becomes a
// refresh.App; its AppID is the credential id (App.ID).
func refreshApp(a config.App) refresh.App {
	return refresh.App{AppID: a.ID(), Type: credential.AccountType(a.Type), CorpID: a.CorpID, Agent: a.Agent, Secret: a.Secret, Kinds: a.Kinds()}
}

// Handle handles any event: {"action":"force",...} runs a forced refresh
// and answers its tokenapi.Answer (errors included, as a normal payload);
// {"action":"authorize"|"unauthorize",...} (tokenapi.AuthorizationRequest,
// from the callback function) stores or removes a third-party platform's
// authorizer and answers a tokenapi.Answer the same way;
// every other event (EventBridge Scheduler input of any shape including {},
// an EventBridge rule "Scheduled Event", {"action":"sweep"}, a payload that
// is not JSON at all) runs a sweep and answers its refresh.Summary. A sweep
// whose configuration cannot be loaded is a function error naming the field.
func (h *Handler) Handle(ctx context.Context, payload []byte) (any, error) {
	var probe struct {
		Action string `json:"action"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		_ = json.Unmarshal(payload, &probe)
	}
	switch probe.Action {
	case tokenapi.ActionForce:
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			msg := "force request: malformed JSON"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				msg = te.Field + ": must be a string"
			}
			return tokenapi.Fail(tokenapi.CodeBadRequest, msg), nil
		}
		return h.Refresher.Force(ctx, req), nil
	case tokenapi.ActionAuthorize, tokenapi.ActionUnauthorize:
		var req tokenapi.AuthorizationRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			msg := probe.Action + " request: malformed JSON"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				msg = te.Field + ": must be a string"
				if te.Field == "create_time" {
					msg = te.Field + ": must be a number (unix seconds)"
				}
			}
			return tokenapi.Fail(tokenapi.CodeBadRequest, msg), nil
		}
		if probe.Action == tokenapi.ActionAuthorize {
			return h.Refresher.Authorize(ctx, req), nil
		}
		return h.Refresher.Unauthorize(ctx, req), nil
	case "", tokenapi.ActionSweep:
	default:
		h.log.LogAttrs(ctx, slog.LevelWarn, "unknown action; sweeping", slog.String("action", probe.Action))
	}
	sum, err := h.Refresher.Sweep(ctx)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "sweep failed", slog.String("error", err.Error()))
		return nil, err
	}
	return sum, nil
}

// Invoke implements aws-lambda-go's lambda.Handler: Handle, answered as
// JSON. It takes the payload as bytes so that one which is not JSON at all
// still sweeps instead of failing in the runtime library's decoding.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

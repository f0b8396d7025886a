// Package refreshlambda wires the refresh function: it builds a
// refresh.Refresher from the environment (DESIGN.md §3) with DynamoDB,
// Secrets Manager and the WeChat client, and dispatches Lambda events to a
// sweep or a forced refresh.
package refreshlambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Handler dispatches one Lambda event.
type Handler struct {
	Refresher *refresh.Refresher
	Logger    *slog.Logger
}

// Invoke handles any event: {"action":"force",...} runs a forced refresh
// and answers its JSON (errors included, as a normal payload); every other
// event (EventBridge Scheduler input of any shape including {}, an
// EventBridge rule "Scheduled Event", {"action":"sweep"}) runs a sweep and
// answers {"results":[...]}. A sweep whose configuration cannot be loaded
// is a function error naming the field.
func (h *Handler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var probe struct {
		Action string `json:"action"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(payload), []byte("{")) {
		_ = json.Unmarshal(payload, &probe)
	}
	switch probe.Action {
	case "force":
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			msg := "force request: malformed JSON"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				msg = te.Field + ": must be a string"
			}
			return tokenapi.Answer{Error: tokenapi.CodeBadRequest, Message: msg}, nil
		}
		return h.Refresher.Force(ctx, req), nil
	case "", "sweep":
	default:
		h.Logger.LogAttrs(ctx, slog.LevelWarn, "unknown action; sweeping", slog.String("action", probe.Action))
	}
	sum, err := h.Refresher.Sweep(ctx)
	if err != nil {
		h.Logger.LogAttrs(ctx, slog.LevelError, "sweep failed", slog.String("error", err.Error()))
		return nil, err
	}
	return sum, nil
}

// Lambda returns the handler to pass to lambda.Start. It takes the
// payload as bytes, so that one which is not JSON at all is still "an event
// that is not a direct-invoke action" and sweeps (DESIGN.md §5), instead of
// failing in the runtime library's decoding before Invoke runs.
func (h *Handler) Lambda() lambda.Handler { return bytesHandler{h} }

type bytesHandler struct{ h *Handler }

func (b bytesHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := b.h.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// NewFromEnv builds the handler from the environment read through getenv,
// with the AWS SDK's default configuration (endpoints from AWS_ENDPOINT_URL*
// variables), logs and EMF metrics on out. Errors name the variable.
func NewFromEnv(ctx context.Context, getenv func(string) string, out io.Writer) (*Handler, error) {
	env, err := config.RefreshFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: env.LogLevel}))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	m := metrics.New(out)
	secrets := config.NewCachedSource(
		config.NewSecretsManagerSource(secretsmanager.NewFromConfig(awsCfg), env.AppsSecretID), config.MaxCacheTTL, time.Now,
		config.WithLogger(logger), config.WithMetrics(m))
	r := refresh.New(refresh.Options{
		Store:           dynamo.NewCredentialStore(dynamodb.NewFromConfig(awsCfg), env.TableName),
		WeChat:          wechat.NewClient(wechat.WithBaseURL(env.WeChatAPIBase)),
		Apps:            AppsFrom(secrets),
		ForceDailyLimit: env.ForceDailyLimit,
		Logger:          logger,
		Metrics:         m,
	})
	return &Handler{Refresher: r, Logger: logger}, nil
}

// AppsFrom adapts a source of the APPS_SECRET_ID document to refresh.AppsFunc.
func AppsFrom(src config.Source) refresh.AppsFunc {
	return func(ctx context.Context) ([]refresh.App, error) {
		doc, err := config.LoadApps(ctx, src)
		if err != nil {
			return nil, err
		}
		apps := make([]refresh.App, 0, len(doc.Apps))
		for _, a := range doc.Apps {
			apps = append(apps, refresh.App{AppID: a.AppID, Secret: a.Secret, Kinds: a.Kinds()})
		}
		return apps, nil
	}
}

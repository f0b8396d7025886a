// Package callbacklambda wires the callback function: callback.Handler
// behind API Gateway HTTP API (payload 2.0) with the callback document from
// Secrets Manager (cached), the DynamoDB dedupe store, EventBridge when
// EVENT_BUS_NAME is set, JSON logs and EMF metrics on one writer.
package callbacklambda

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/eventbus"
	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// Handler is the Lambda entry point for HTTP API events.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// NewFromEnv builds the handler from the environment read through getenv
// (DESIGN.md §3: TABLE_NAME, CALLBACK_SECRET_ID, EVENT_BUS_NAME,
// CALLBACK_MAX_SKEW, LOG_LEVEL) and the AWS SDK's default configuration,
// which takes endpoints from the AWS_ENDPOINT_URL* variables. Logs and
// metrics go to out. Errors name the variable.
func NewFromEnv(ctx context.Context, getenv func(string) string, out io.Writer) (Handler, error) {
	env, err := callback.EnvFrom(getenv)
	if err != nil {
		return nil, err
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	m := metrics.New(out)
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: env.LogLevel}))
	secret := config.NewCachedSource(config.NewSecretsManagerSource(secretsmanager.NewFromConfig(aws), env.SecretID), config.MaxCacheTTL, time.Now,
		config.WithLogger(logger), config.WithMetrics(m))
	cfg := callback.ConfigFromJSON(secret.Load) // loaded lazily, on the first request
	opt := callback.Options{
		Config:  cfg,
		Store:   dynamo.NewDedupeStore(dynamodb.NewFromConfig(aws), env.TableName),
		MaxSkew: env.MaxSkew,
		Logger:  logger,
		Metrics: m,
	}
	if env.EventBusName != "" {
		opt.Publisher = eventbus.New(eventbridge.NewFromConfig(aws), env.EventBusName)
	}
	core, err := callback.NewHandler(opt)
	if err != nil {
		return nil, err
	}
	h := m.CountResponses(metrics.CallbackRequests, core) // CallbackErrorsAlarm watches its 5xx
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if _, err := cfg(ctx); err != nil { // a bad callback document fails the invocation, naming the field
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return lambdahttp.Serve(ctx, h, req)
	}, nil
}

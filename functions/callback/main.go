// Command callback is WeChat's push endpoint (DESIGN.md §7) behind an API
// Gateway HTTP API: payload 2.0 events are served by callback.Handler with
// the DynamoDB dedupe store and, when EVENT_BUS_NAME is set, EventBridge.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
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

func main() {
	h, err := newHandler(context.Background())
	if err != nil { // every invocation fails with the error, which names the variable
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("configuration error", "error", err.Error())
		h = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, err
		}
	}
	lambda.Start(h)
}

func newHandler(ctx context.Context) (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	env, err := callback.EnvFrom(os.Getenv)
	if err != nil {
		return nil, err
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	secret := config.NewCachedSource(config.NewSecretsManagerSource(secretsmanager.NewFromConfig(aws), env.SecretID), config.MaxCacheTTL, time.Now)
	cfg := callback.ConfigFromJSON(secret.Load) // loaded lazily, on the first request
	opt := callback.Options{Config: cfg, Store: dynamo.NewDedupeStore(dynamodb.NewFromConfig(aws), env.TableName), MaxSkew: env.MaxSkew,
		Logger: slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: env.LogLevel}))}
	if env.EventBusName != "" {
		opt.Publisher = eventbus.New(eventbridge.NewFromConfig(aws), env.EventBusName)
	}
	core, err := callback.NewHandler(opt)
	h := metrics.New(os.Stdout).CountResponses(metrics.CallbackRequests, core) // CallbackErrorsAlarm
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if _, err := cfg(ctx); err != nil { // a bad callback document fails the invocation, naming the field
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return lambdahttp.Serve(ctx, h, req)
	}, err
}

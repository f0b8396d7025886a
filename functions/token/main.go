// Command token is the token Lambda function (DESIGN.md §6): it serves
// stored credentials through a Function URL (payload 2.0) and direct
// invokes, and forwards invalidations to the refresh function. See
// pkg/tokenserver.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/lambdainvoke"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
)

func main() {
	h, err := newHandler(context.Background())
	if err != nil {
		// Answer every invocation with the configuration error (it names
		// the variable), so it shows in the caller's error and the logs.
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("configuration error", "error", err.Error())
		lambda.Start(func(context.Context, json.RawMessage) (any, error) { return nil, err })
		return
	}
	lambda.Start(h)
}

func newHandler(ctx context.Context) (lambda.Handler, error) {
	var level slog.Level // LOG_LEVEL: debug, info (default), warn or error
	if s := os.Getenv("LOG_LEVEL"); s != "" && level.UnmarshalText([]byte(s)) != nil {
		return nil, errors.New("LOG_LEVEL: must be debug, info, warn or error")
	}
	table, refreshFn := os.Getenv("TABLE_NAME"), os.Getenv("REFRESH_FUNCTION_NAME")
	if table == "" {
		return nil, errors.New("TABLE_NAME: missing")
	}
	if refreshFn == "" {
		return nil, errors.New("REFRESH_FUNCTION_NAME: missing")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
	store := dynamo.NewCredentialStore(dynamodb.NewFromConfig(cfg), table)
	tc := tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithLogger(log),
		tokenclient.WithInvalidator(lambdainvoke.New(awslambda.NewFromConfig(cfg), refreshFn)))
	return tokenserver.New(tc, tokenserver.WithLogger(log), tokenserver.WithMetrics(metrics.New(os.Stdout))).Lambda(), nil
}

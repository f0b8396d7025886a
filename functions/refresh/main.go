// Command refresh is the refresh Lambda function: a scheduled sweep keeps
// every configured credential fresh in DynamoDB; a direct invoke
// {"action":"force","appid","kind","stale_token"} runs a forced refresh.
// See pkg/refresh and DESIGN.md §5.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
)

func main() {
	h, err := refreshlambda.NewFromEnv(context.Background(), os.Getenv, os.Stdout)
	if err != nil {
		// Answer every invocation with the configuration error, so it shows
		// in the caller's error and in the logs, naming the variable.
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("configuration error", slog.String("error", err.Error()))
		lambda.Start(func(context.Context, json.RawMessage) (any, error) { return nil, err })
		return
	}
	lambda.Start(h.Lambda())
}

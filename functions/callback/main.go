// Command callback is WeChat's push endpoint (DESIGN.md §7) behind an API
// Gateway HTTP API: payload 2.0 events are served by callback.Handler with
// the DynamoDB dedupe store and, when EVENT_BUS_NAME is set, EventBridge.
// See pkg/callback and pkg/callback/callbacklambda.
package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
)

func main() {
	// An instance serves one event at a time; a second P only adds a
	// cross-CPU wake-up when an application handler runs on its goroutine.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	h, err := callbacklambda.NewFromEnv(context.Background(), os.Getenv, os.Stdout)
	if err != nil { // every invocation fails with the error, which names the variable
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("configuration error", "error", err.Error())
		h = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, err
		}
	}
	lambda.Start(h)
}

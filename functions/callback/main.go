// Command callback is WeChat's push endpoint behind an API Gateway HTTP
// API: payload 2.0 events are served by callback.Handler with the DynamoDB
// dedupe store and, when EVENT_BUS_NAME is set, EventBridge; a platform's
// authorization events by pkg/component, handed to REFRESH_FUNCTION_NAME.
// See pkg/callback/callbacklambda, docs/callback.md and docs/platform.md.
package main

import (
	"context"
	"os"
	"runtime"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/lambdamain"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/eventbus"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/lambdainvoke"
)

func main() {
	// An instance serves one event at a time; a second P only adds a
	// cross-CPU wake-up when an application handler runs on its goroutine.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	lambdamain.Start(func(ctx context.Context) (*callbacklambda.Handler, error) {
		env, err := config.CallbackFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		aws, err := lambdamain.AWS(ctx)
		if err != nil {
			return nil, err
		}
		log, m := lambdamain.Logger(env.LogLevel), metrics.New(os.Stdout)
		doc, db := config.NewSecret(aws, env.CallbackSecretID, log, m), dynamodb.NewFromConfig(aws)
		d := callbacklambda.Deps{
			Config:      callback.ConfigFromJSON(doc.Load),
			Store:       dynamo.NewDedupeStore(db, env.TableName),
			Credentials: dynamo.NewCredentialStore(db, env.TableName),
			MaxSkew:     env.MaxSkew, Logger: log, Metrics: m,
		}
		if env.EventBusName != "" {
			d.Publisher = eventbus.New(eventbridge.NewFromConfig(aws), env.EventBusName)
		}
		if env.RefreshFunctionName != "" {
			d.Refresh = lambdainvoke.NewFunction(lambda.NewFromConfig(aws), env.RefreshFunctionName).Invoke
		}
		return callbacklambda.New(d)
	})
}

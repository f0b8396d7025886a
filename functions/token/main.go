// Command token is the token Lambda function: it serves stored credentials
// through a Function URL (payload 2.0) and direct invokes, and forwards
// invalidations to the refresh function. See pkg/tokenserver/tokenlambda
// and docs/token-api.md.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/lambdamain"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/lambdainvoke"
	"github.com/wxcentral/wxcentral/pkg/tokenserver/tokenlambda"
)

func main() {
	lambdamain.Start(func(ctx context.Context) (*tokenlambda.Handler, error) {
		env, err := config.TokenFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		aws, err := lambdamain.AWS(ctx)
		if err != nil {
			return nil, err
		}
		return tokenlambda.New(tokenlambda.Deps{
			Reader:      tokenclient.NewStoreReader(dynamo.NewCredentialStore(dynamodb.NewFromConfig(aws), env.TableName)),
			Invalidator: lambdainvoke.New(awslambda.NewFromConfig(aws), env.RefreshFunctionName),
			Logger:      lambdamain.Logger(env.LogLevel),
			Metrics:     metrics.New(os.Stdout),
		})
	})
}

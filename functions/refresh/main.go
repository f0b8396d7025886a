// Command refresh is the refresh Lambda function: a scheduled sweep keeps
// every configured credential fresh in DynamoDB; a direct invoke
// {"action":"force","appid","kind","stale_token"} runs a forced refresh.
// See pkg/refresh/refreshlambda and docs/refresh.md.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/lambdamain"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

func main() {
	lambdamain.Start(func(ctx context.Context) (*refreshlambda.Handler, error) {
		env, err := config.RefreshFromEnv(os.Getenv)
		if err != nil {
			return nil, err
		}
		aws, err := lambdamain.AWS(ctx)
		if err != nil {
			return nil, err
		}
		log, m := lambdamain.Logger(env.LogLevel), metrics.New(os.Stdout)
		store := dynamo.NewCredentialStore(dynamodb.NewFromConfig(aws), env.TableName)
		wc := wechat.NewClient(wechat.WithBaseURL(env.WeChatAPIBase))
		return refreshlambda.New(refreshlambda.Deps{
			Store:           store,
			WeChat:          wc,
			WeCom:           wechat.NewWeComClient(wechat.WithBaseURL(env.WeComAPIBase)),
			Component:       wc,
			Authorizations:  store,
			Apps:            config.NewSecret(aws, env.AppsSecretID, log, m),
			ForceDailyLimit: env.ForceDailyLimit,
			Logger:          log,
			Metrics:         m,
		})
	})
}

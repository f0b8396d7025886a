// Package lambdamain is what every functions/*/main.go does around its
// function's constructor: build the handler once at init, and when that
// fails (a configuration error, which names the variable or field) answer
// every invocation with that error, so it shows in the caller's error and
// in the logs instead of as a crash loop.
package lambdamain

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Start builds the handler with build and serves it with lambda.Start;
// when build fails it logs the error once and serves Failing(err).
func Start[H lambda.Handler](build func(ctx context.Context) (H, error)) {
	h, err := build(context.Background())
	if err != nil {
		Logger(slog.LevelInfo).Error("configuration error", slog.String("error", err.Error()))
		lambda.Start(Failing(err))
		return
	}
	lambda.Start(h)
}

// Failing is a handler that answers every invocation with err, as a
// function error.
func Failing(err error) lambda.Handler { return failing{err} }

type failing struct{ err error }

func (f failing) Invoke(context.Context, []byte) ([]byte, error) { return nil, f.err }

// Logger is the functions' JSON logger on stdout at level.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// AWS loads the SDK's default configuration: credentials, region and the
// AWS_ENDPOINT_URL* endpoints from the environment.
func AWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	return cfg, nil
}

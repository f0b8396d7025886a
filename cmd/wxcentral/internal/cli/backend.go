package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/devstack"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// backend is the stack the operator commands talk to.
type backend struct {
	// where is a one-line description for messages.
	where string
	store *dynamo.CredentialStore
	// invoke runs the refresh function with a payload and returns its
	// answer; a function error is an error.
	invoke func(ctx context.Context, payload []byte) ([]byte, error)
	// forceLimit is the refresh function's FORCE_REFRESH_DAILY_LIMIT as far
	// as the CLI can know it.
	forceLimit int
	// local is the local stack's state (zero for AWS).
	local devstack.State
}

// openBackend picks the deployed stack when TABLE_NAME is set, else the
// local stack recorded in the state file at statePath ("" for the default).
func openBackend(ctx context.Context, env Env, statePath string) (*backend, error) {
	limit := credential.DefaultForceDailyLimit
	if s := strings.TrimSpace(env.Getenv("FORCE_REFRESH_DAILY_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("FORCE_REFRESH_DAILY_LIMIT: must be a non-negative integer")
		}
		limit = n
	}
	if table := strings.TrimSpace(env.Getenv("TABLE_NAME")); table != "" {
		return awsBackend(ctx, env, table, limit)
	}
	if statePath == "" {
		statePath = devstack.StatePath(env.Getenv)
	}
	st, err := devstack.ReadState(statePath)
	if err != nil {
		if errors.Is(err, devstack.ErrNoState) {
			return nil, fmt.Errorf("%w\nTo operate a deployed stack instead, set TABLE_NAME (and REFRESH_FUNCTION_NAME for refresh) with your usual AWS configuration", err)
		}
		return nil, err
	}
	return localBackend(st), nil
}

func awsBackend(ctx context.Context, env Env, table string, limit int) (*backend, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	b := &backend{
		where:      "table " + table,
		store:      dynamo.NewCredentialStore(dynamodb.NewFromConfig(cfg), table),
		forceLimit: limit,
	}
	fn := strings.TrimSpace(env.Getenv("REFRESH_FUNCTION_NAME"))
	lc := lambda.NewFromConfig(cfg)
	b.invoke = func(ctx context.Context, payload []byte) ([]byte, error) {
		if fn == "" {
			return nil, errors.New("REFRESH_FUNCTION_NAME: missing (the refresh function to invoke)")
		}
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload})
		if err != nil {
			return nil, fmt.Errorf("invoke %s: %w", fn, err)
		}
		if out.FunctionError != nil {
			return nil, fmt.Errorf("invoke %s: function error: %s", fn, functionErrorMessage(out.Payload))
		}
		return out.Payload, nil
	}
	return b, nil
}

func localBackend(st devstack.State) *backend {
	region := st.Region
	if region == "" {
		region = devstack.Region
	}
	client := dynamodb.NewFromConfig(aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		HTTPClient:  &http.Client{Timeout: 10 * time.Second},
	}, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(st.DynamoDBEndpoint) })
	limit := st.ForceDailyLimit
	if limit == 0 {
		limit = credential.DefaultForceDailyLimit
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	return &backend{
		where:      "local stack " + st.URL,
		store:      dynamo.NewCredentialStore(client, st.Table),
		forceLimit: limit,
		local:      st,
		invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
			u := st.URL + devstack.PathRefresh
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return nil, fmt.Errorf("post %s: %w", u, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if err != nil {
				return nil, fmt.Errorf("post %s: %w", u, err)
			}
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("post %s: HTTP %d: %s", u, resp.StatusCode, functionErrorMessage(body))
			}
			return body, nil
		},
	}
}

// functionErrorMessage extracts errorMessage from a Lambda function error
// payload, or returns the payload's start.
func functionErrorMessage(payload []byte) string {
	var fe struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(payload, &fe) == nil && fe.ErrorMessage != "" {
		return fe.ErrorMessage
	}
	s := strings.TrimSpace(string(payload))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// defaultAppID picks the app when --appid is not given: the local stack's
// sample app, or the only app in the table.
func (b *backend) defaultAppID(ctx context.Context) (string, error) {
	if b.local.AppID != "" {
		return b.local.AppID, nil
	}
	recs, err := b.store.List(ctx)
	if err != nil {
		return "", err
	}
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.AppID] = true
	}
	if len(ids) == 1 {
		return recs[0].AppID, nil
	}
	if len(ids) == 0 {
		return "", usagef("--appid: required (the %s holds no credentials yet)", b.where)
	}
	return "", usagef("--appid: required (the %s holds %d apps)", b.where, len(ids))
}

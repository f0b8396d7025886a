package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

// TestBootstrap runs the real bootstrap under the test Runtime API with a
// Function URL event and direct invokes: DynamoDB is dynalite (through
// AWS_ENDPOINT_URL_DYNAMODB) and the refresh function is reached with the
// Lambda Invoke protocol (fakeaws, through AWS_ENDPOINT_URL_LAMBDA).
func TestBootstrap(t *testing.T) {
	bootstrap := lambdatest.Build(t, "token")
	db := dynamotest.Shared(t)
	client, table := db.NewTable(t)
	store := dynamo.NewCredentialStore(client, table)
	ctx := context.Background()
	now := time.Now()
	for _, r := range []credential.Record{
		{Credential: credential.Credential{AppID: "wx0123456789abcdef", Kind: credential.AccessToken,
			Value: "tok-v1", ExpiresAt: now.Add(2 * time.Hour).Truncate(time.Second), Version: 1}},
		{Credential: credential.Credential{AppID: "wxexpired", Kind: credential.AccessToken,
			Value: "tok-old", ExpiresAt: now.Add(-time.Minute).Truncate(time.Second), Version: 5}},
	} {
		if err := store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	aws := fakeaws.New(t)
	var forced []tokenapi.ForceRequest
	aws.HandleInvoke("wxcentral-refresh", func(ctx context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		forced = append(forced, req)
		rec, err := store.Get(ctx, req.AppID, req.Kind, true)
		if err != nil {
			return json.Marshal(tokenapi.Answer{Error: "unknown_app", Message: "not configured"})
		}
		if rec.Value == req.StaleToken {
			rec.Value, rec.Version, rec.ExpiresAt = "tok-v2", rec.Version+1, time.Now().Add(2*time.Hour).Truncate(time.Second)
			if err := store.Put(ctx, rec); err != nil {
				return nil, err
			}
		}
		return json.Marshal(tokenapi.AnswerFor(rec.Credential, time.Now()))
	})
	env := aws.Env()
	env["AWS_ENDPOINT_URL_DYNAMODB"] = db.Endpoint
	env["TABLE_NAME"] = table
	env["REFRESH_FUNCTION_NAME"] = "wxcentral-refresh"
	env["LOG_LEVEL"] = "debug"
	fn := lambdatest.Start(t, bootstrap, env)

	urlEvent := func(method, path, query, body string) []byte {
		raw, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query, Body: body,
			Headers: map[string]string{"host": "x.lambda-url.us-east-1.on.aws", "content-type": "application/json"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "10.0.0.1"},
			},
		})
		return raw
	}
	tests := []struct {
		name    string
		payload []byte
		url     bool // answer is a payload-2.0 response
		status  int
		want    map[string]any // fields to compare
	}{
		{"url get", urlEvent("GET", "/token", "appid=wx0123456789abcdef", ""), true, 200,
			map[string]any{"appid": "wx0123456789abcdef", "kind": "access_token", "token": "tok-v1", "version": 1.0}},
		{"direct get", []byte(`{"appid":"wx0123456789abcdef","kind":"access_token"}`), false, 0,
			map[string]any{"token": "tok-v1", "version": 1.0}},
		{"url expired", urlEvent("GET", "/token", "appid=wxexpired", ""), true, 503,
			map[string]any{"error": "token_unavailable"}},
		{"direct unknown", []byte(`{"appid":"wxnobody"}`), false, 0, map[string]any{"error": "unknown_app"}},
		{"direct bad kind", []byte(`{"appid":"wx0123456789abcdef","kind":"nope"}`), false, 0, map[string]any{"error": "bad_request"}},
		{"direct not JSON", []byte(`appid=wx0123456789abcdef`), false, 0, map[string]any{"error": "bad_request"}},
		{"url invalidate", urlEvent("POST", "/token/invalidate", "", `{"appid":"wx0123456789abcdef","token":"tok-v1"}`), true, 200,
			map[string]any{"token": "tok-v2", "version": 2.0}},
		{"direct get after invalidate", []byte(`{"appid":"wx0123456789abcdef"}`), false, 0,
			map[string]any{"token": "tok-v2", "version": 2.0}},
		{"direct invalidate already rotated", []byte(`{"action":"invalidate","appid":"wx0123456789abcdef","token":"tok-v1"}`), false, 0,
			map[string]any{"token": "tok-v2", "version": 2.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			out, err := fn.Invoke(ictx, tt.payload)
			if err != nil {
				t.Fatalf("invoke: %v", err)
			}
			body := out
			if tt.url {
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("response %s: %v", out, err)
				}
				if resp.StatusCode != tt.status || resp.Headers["Content-Type"] != "application/json" {
					t.Fatalf("status %d, headers %v; want %d JSON (body %s)", resp.StatusCode, resp.Headers, tt.status, resp.Body)
				}
				body = []byte(resp.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %v, want %v (body %s)", k, got[k], v, body)
				}
			}
		})
	}
	if len(forced) != 2 || forced[0].StaleToken != "tok-v1" || forced[0].Action != "force" {
		t.Fatalf("refresh invocations %+v, want two force requests for tok-v1", forced)
	}
	logs := fn.Logs()
	if strings.Contains(logs, "tok-v1") || strings.Contains(logs, "tok-v2") {
		t.Fatalf("a token reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"invalidation forwarded"`) {
		t.Fatalf("no JSON log line for the invalidation:\n%s", logs)
	}
}

// TestBootstrapConfigurationError: a missing variable fails every
// invocation with an error naming it.
func TestBootstrapConfigurationError(t *testing.T) {
	bootstrap := lambdatest.Build(t, "token")
	for _, missing := range []string{"TABLE_NAME", "REFRESH_FUNCTION_NAME"} {
		env := map[string]string{"TABLE_NAME": "t", "REFRESH_FUNCTION_NAME": "r"}
		delete(env, missing)
		fn := lambdatest.Start(t, bootstrap, env)
		_, err := fn.Invoke(context.Background(), []byte(`{"appid":"wx"}`))
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Fatalf("without %s: err = %v", missing, err)
		}
	}
}

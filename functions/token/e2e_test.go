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
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// TestBootstrapWithRealRefresh runs both real bootstraps: the token
// function's invalidation reaches the refresh function over the Lambda
// Invoke protocol (fakeaws), which talks to the WeChat simulator and
// dynalite. A token rotated and revoked on WeChat's side is reported, the
// refresh function picks up the rotated token with one normal-mode call,
// and the warm token function serves it next.
func TestBootstrapWithRealRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two bootstraps; skipped with -short")
	}
	const (
		appid     = "wx0123456789abcdef"
		secret    = "secret-0123456789abcdef0123456789"
		secretID  = "wxcentral/apps"
		refreshFn = "wxcentral-refresh"
	)
	tokenBin, refreshBin := lambdatest.Build(t, "token"), lambdatest.Build(t, "refresh")
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp(appid, secret)
	db := dynamotest.Shared(t)
	_, table := db.NewTable(t)
	aws := fakeaws.New(t)
	aws.PutSecret(secretID, `{"apps":[{"appid":"`+appid+`","secret":"`+secret+`","tickets":["jsapi"]}]}`)

	env := func(extra map[string]string) map[string]string {
		e := aws.Env()
		e["AWS_ENDPOINT_URL_DYNAMODB"] = db.Endpoint
		e["TABLE_NAME"] = table
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	refresh := lambdatest.Start(t, refreshBin, env(map[string]string{"APPS_SECRET_ID": secretID, "WECHAT_API_BASE": sim.URL}))
	aws.HandleInvoke(refreshFn, refresh.Invoke)
	token := lambdatest.Start(t, tokenBin, env(map[string]string{"REFRESH_FUNCTION_NAME": refreshFn}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := refresh.Invoke(ctx, []byte(`{}`)); err != nil { // the scheduled sweep
		t.Fatalf("sweep: %v", err)
	}
	invoke := func(payload []byte, url bool) (int, map[string]any) {
		t.Helper()
		out, err := token.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		status := 0
		if url {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			status, out = resp.StatusCode, []byte(resp.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("answer %s: %v", out, err)
		}
		return status, m
	}
	urlEvent := func(method, path, query, body string) []byte {
		raw, _ := json.Marshal(events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query, Body: body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path}}})
		return raw
	}

	status, got := invoke(urlEvent("GET", "/token", "appid="+appid, ""), true)
	current, _ := sim.CurrentToken(appid)
	if status != 200 || got["token"] != current || got["version"] != 1.0 {
		t.Fatalf("GET: %d version %v, serves WeChat's current token: %v", status, got["version"], got["token"] == current)
	}
	_, ticket := invoke([]byte(`{"appid":"`+appid+`","kind":"jsapi_ticket"}`), false)
	if tv, _ := ticket["token"].(string); !sim.TicketValid(appid, tv, time.Now()) {
		t.Fatalf("jsapi_ticket served is not valid: %v", ticket["error"])
	}

	// Rotated on WeChat's side right after the sweep (often in the same
	// second): the report's normal-mode probe must still find the new token.
	rotated, err := sim.ForceRotate(appid, wechattest.RevokeNow())
	if err != nil {
		t.Fatal(err)
	}
	sim.ResetCounters()
	status, got = invoke(urlEvent("POST", "/token/invalidate", "", `{"appid":"`+appid+`","kind":"access_token","token":"`+current+`"}`), true)
	if status != 200 || got["token"] != rotated || got["version"] != 2.0 {
		t.Fatalf("invalidate: %d version %v error %v; rotated token served: %v", status, got["version"], got["error"], got["token"] == rotated)
	}
	c := sim.Counters(appid)
	if c.StableTokenNormal != 1 || c.StableTokenForce != 0 || aws.Invocations(refreshFn) != 1 {
		t.Fatalf("counters %+v, refresh invocations %d: want one normal-mode call through one invoke", c, aws.Invocations(refreshFn))
	}
	_, got = invoke([]byte(`{"appid":"`+appid+`"}`), false)
	if got["token"] != rotated || !sim.Valid(appid, rotated, time.Now()) {
		t.Fatal("the warm token function did not serve the rotated token next")
	}
	for _, logs := range []string{token.Logs(), refresh.Logs()} {
		if strings.Contains(logs, current) || strings.Contains(logs, rotated) || strings.Contains(logs, secret) {
			t.Fatal("a token or the secret reached the logs")
		}
	}
}

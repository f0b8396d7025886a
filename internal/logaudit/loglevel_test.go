package logaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
)

// TestBootstrapsAgreeOnLogLevel runs the three real bootstrap binaries with
// one table of LOG_LEVEL values: each value is accepted by all three (the
// invocation is served) or rejected by all three (every invocation fails
// with the LOG_LEVEL error, and the configuration error is logged).
func TestBootstrapsAgreeOnLogLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the three bootstrap binaries")
	}
	levels := []struct {
		value string
		ok    bool
	}{
		{"", true}, {"debug", true}, {"info", true}, {"warn", true}, {"error", true},
		{"DEBUG", true}, {"Warn", true}, {" error ", true},
		{"warning", false}, {"info+2", false}, {"INFO-4", false}, {"trace", false}, {"0", false}, {"verbose", false},
	}
	aws := fakeaws.New(t)
	aws.PutSecret(callbackID, `{"apps":[{"appid":"`+appid+`","token":"`+cbToken+`","mode":"plain"}]}`)
	base := maps.Clone(aws.Env())
	base["TABLE_NAME"] = "wxcentral-loglevel" // never reached: the requests below need no table
	with := func(kv ...string) map[string]string {
		e := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	unknownApp, _ := json.Marshal(events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /wechat/{appid}", RawPath: "/wechat/wxnobody",
		PathParameters: map[string]string{"appid": "wxnobody"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: "GET /wechat/{appid}",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/wechat/wxnobody", SourceIP: "203.0.113.7"}},
	})
	functions := []struct {
		name    string
		env     map[string]string
		payload []byte
		served  func(out []byte) error // the answer of an accepted LOG_LEVEL
	}{
		{"refresh", with("APPS_SECRET_ID", appsID), []byte(`{"action":"force","appid":"","kind":"access_token","stale_token":"x"}`),
			wantField("error", "bad_request")},
		{"token", with("REFRESH_FUNCTION_NAME", refreshName), []byte(`{"appid":""}`), wantField("error", "bad_request")},
		{"callback", with("CALLBACK_SECRET_ID", callbackID), unknownApp, wantField("statusCode", float64(404))},
	}
	for i := range functions {
		functions[i].name = lambdatest.Build(t, functions[i].name) + "|" + functions[i].name
	}
	for _, lv := range levels {
		t.Run(fmt.Sprintf("%q", lv.value), func(t *testing.T) {
			for _, fn := range functions {
				bin, name, _ := strings.Cut(fn.name, "|")
				env := maps.Clone(fn.env)
				env["LOG_LEVEL"] = lv.value
				f := lambdatest.Start(t, bin, env)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := f.Invoke(ctx, fn.payload)
				cancel()
				var fe *lambdatest.FunctionError
				switch {
				case lv.ok && err != nil:
					t.Errorf("%s rejects LOG_LEVEL=%q: %v", name, lv.value, err)
				case lv.ok:
					if err := fn.served(out); err != nil {
						t.Errorf("%s with LOG_LEVEL=%q: answer %s: %v", name, lv.value, out, err)
					}
				case !errors.As(err, &fe) || fe.Message != "LOG_LEVEL: must be debug, info, warn or error":
					t.Errorf("%s accepts LOG_LEVEL=%q: answer %s, err %v; want the LOG_LEVEL function error", name, lv.value, out, err)
				case !strings.Contains(f.Logs(), `"msg":"configuration error","error":"LOG_LEVEL: must be debug, info, warn or error"`):
					t.Errorf("%s: no configuration error log line for LOG_LEVEL=%q:\n%s", name, lv.value, f.Logs())
				}
				f.Close()
			}
		})
	}
}

// wantField checks one top-level field of a JSON answer.
func wantField(key string, want any) func([]byte) error {
	return func(out []byte) error {
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			return err
		}
		if m[key] != want {
			return fmt.Errorf("%s = %v, want %v", key, m[key], want)
		}
		return nil
	}
}

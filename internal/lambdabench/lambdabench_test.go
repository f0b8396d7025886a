package lambdabench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appid      = "wx0123456789abcdef"
	appSecret  = "bench-app-secret-0123456789abcdef"
	cbToken    = "bench-callback-token"
	aesKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	appsID     = "wxcentral/apps"
	callbackID = "wxcentral/callback"
	warmCount  = 10000
	initRuns   = 5
)

// stack is everything the three functions talk to.
type stack struct {
	env map[string]string // common environment for every function
	sim *wechattest.Server
}

func newStack(b *testing.B) *stack {
	b.Helper()
	_, table := dynamotest.NewTable(b)
	aws := fakeaws.New(b)
	sim := wechattest.NewServer()
	b.Cleanup(sim.Close)
	sim.AddApp(appid, appSecret)
	aws.PutSecret(appsID, fmt.Sprintf(`{"apps":[{"appid":%q,"secret":%q}]}`, appid, appSecret))
	aws.PutSecret(callbackID, fmt.Sprintf(`{"apps":[{"appid":%q,"token":%q,"encoding_aes_key":%q,"mode":"safe","auto_replies":[{"match":"ping","reply":"pong"}]}]}`,
		appid, cbToken, aesKey))
	env := aws.Env()
	env["TABLE_NAME"] = table
	env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(b).Endpoint
	env["APPS_SECRET_ID"] = appsID
	env["CALLBACK_SECRET_ID"] = callbackID
	env["CALLBACK_MAX_SKEW"] = "0"
	env["WECHAT_API_BASE"] = sim.URL
	env["REFRESH_FUNCTION_NAME"] = "refresh"
	env["LOG_LEVEL"] = "warn"
	return &stack{env: env, sim: sim}
}

// fill runs one sweep through the real refresh binary so a token exists.
func (s *stack) fill(b *testing.B) {
	b.Helper()
	fn := lambdatest.Start(b, lambdatest.Build(b, "refresh"), s.env)
	defer fn.Close()
	if _, err := fn.Invoke(context.Background(), []byte(`{}`)); err != nil {
		b.Fatalf("sweep: %v\n%s", err, fn.Logs())
	}
}

var functions = []string{"refresh", "token", "callback"}

// BenchmarkInit reports the median time from exec to the first /next over
// initRuns cold starts of each function.
func BenchmarkInit(b *testing.B) {
	s := newStack(b)
	for _, name := range functions {
		bin := lambdatest.Build(b, name)
		b.Run(name, func(b *testing.B) {
			var ms []float64
			for i := 0; i < b.N*initRuns; i++ {
				fn := lambdatest.Start(b, bin, s.env)
				ms = append(ms, float64(fn.InitDuration().Microseconds())/1000)
				fn.Close()
			}
			sort.Float64s(ms)
			b.ReportMetric(ms[len(ms)/2], "init-ms")
			if st, err := os.Stat(bin); err == nil {
				b.ReportMetric(float64(st.Size())/1e6, "host-size-MB")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkWarmRSS serves warmCount warm requests through each function
// and reports its peak RSS (VmHWM) afterwards.
func BenchmarkWarmRSS(b *testing.B) {
	s := newStack(b)
	s.fill(b)
	for _, name := range functions {
		bin := lambdatest.Build(b, name)
		b.Run(name, func(b *testing.B) {
			fn := lambdatest.Start(b, bin, s.env)
			defer fn.Close()
			next := requests(b, name)
			ctx := context.Background()
			start := time.Now()
			for i := 0; i < b.N*warmCount; i++ {
				payload, check := next(i)
				out, err := fn.Invoke(ctx, payload)
				if err != nil {
					b.Fatalf("%s request %d: %v\n%s", name, i, err, fn.Logs())
				}
				if err := check(out); err != nil {
					b.Fatalf("%s request %d: %v", name, i, err)
				}
			}
			b.ReportMetric(float64(fn.PeakRSS())/(1<<20), "peak-rss-MB")
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N*warmCount), "µs/request")
			b.ReportMetric(0, "ns/op")
		})
	}
}

type request func(i int) (payload []byte, check func([]byte) error)

// requests returns the warm request mix of one function: sweeps with
// every credential fresh, token reads through the Function URL, and
// safe-mode text pushes with distinct MsgIds (each claims a dedupe item).
func requests(b *testing.B, name string) request {
	switch name {
	case "refresh":
		return func(int) ([]byte, func([]byte) error) {
			return []byte(`{}`), func(out []byte) error {
				var sum struct {
					Results []struct{ Outcome string } `json:"results"`
				}
				if err := json.Unmarshal(out, &sum); err != nil || len(sum.Results) != 1 || sum.Results[0].Outcome != "fresh" {
					return fmt.Errorf("sweep answered %s", out)
				}
				return nil
			}
		}
	case "token":
		ev := httpEvent("GET", "/token", "appid="+appid+"&kind=access_token", "")
		return func(int) ([]byte, func([]byte) error) { return ev, expectStatus(200) }
	case "callback":
		sender := &callbacktest.Sender{AppID: appid, Token: cbToken, EncodingAESKey: aesKey}
		return func(i int) ([]byte, func([]byte) error) {
			msg := sender.Text("o_bench_user", time.Now().Unix(), int64(1_000_000+i), "ping")
			query, body, _ := sender.PushParts(msg)
			return httpEvent("POST", "/wechat/"+appid, query, body), expectStatus(200)
		}
	}
	b.Fatalf("unknown function %s", name)
	return nil
}

func expectStatus(code int) func([]byte) error {
	return func(out []byte) error {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return err
		}
		if resp.StatusCode != code {
			return fmt.Errorf("status %d, want %d: %s", resp.StatusCode, code, resp.Body)
		}
		return nil
	}
}

// httpEvent is a payload-2.0 event as API Gateway HTTP API and Function
// URLs deliver it.
func httpEvent(method, path, rawQuery, body string) []byte {
	q, _ := url.ParseQuery(rawQuery)
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: rawQuery,
		Headers:               map[string]string{"content-type": "text/xml", "host": "bench.lambda-url.us-east-1.on.aws"},
		QueryStringParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", Stage: "$default", RequestID: "bench",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"},
		},
		Body: body,
	}
	if len(path) > len("/wechat/") && path[:len("/wechat/")] == "/wechat/" {
		ev.RouteKey = method + " /wechat/{appid}"
		ev.PathParameters = map[string]string{"appid": path[len("/wechat/"):]}
	}
	out, _ := json.Marshal(ev)
	return out
}

package logaudit_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/internal/logaudit"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appid       = "wx0a1dca11de7a0001"
	appSecret   = "audit-app-secret-7f3e9a1c5b2d4e6f"
	newSecret   = "audit-app-secret-reset-0c9b8a7d6e5f"
	cbToken     = "audit-callback-token-51d2"
	aesKey      = "Zm9vYmFyYmF6cXV4MDEyMzQ1Njc4OWFiY2RlZmdoaWo"
	welcome     = "audit welcome text 8d1f"
	autoReply   = "audit auto reply text 3a7c"
	appsID      = "wxcentral/apps"
	callbackID  = "wxcentral/callback"
	refreshName = "wxcentral-refresh"
)

// TestBootstrapLogs runs the three real bootstrap binaries at LOG_LEVEL
// debug through a representative scenario (sweeps, forced refreshes,
// token reads and invalidations, safe-mode pushes, and error paths: WeChat
// faults, a reset AppSecret, bad input, a failed publish) and checks that
// none of their log lines holds an AppSecret, a token or ticket WeChat
// issued, the EncodingAESKey, the callback token or a message's content.
func TestBootstrapLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the three bootstrap binaries")
	}
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp(appid, appSecret)
	_, table := dynamotest.NewTable(t)
	aws := fakeaws.New(t)
	aws.PutSecret(appsID, `{"apps":[{"appid":"`+appid+`","secret":"`+appSecret+`","tickets":["jsapi"]}]}`)
	aws.PutSecret(callbackID, `{"apps":[{"appid":"`+appid+`","token":"`+cbToken+`","encoding_aes_key":"`+aesKey+`","mode":"safe",
		"welcome":"`+welcome+`","auto_replies":[{"prefix":"audit question","reply":"`+autoReply+`"}]}]}`)
	base := maps.Clone(aws.Env())
	base["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(t).Endpoint
	base["TABLE_NAME"] = table
	base["LOG_LEVEL"] = "debug"
	env := func(kv ...string) map[string]string {
		e := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			e[kv[i]] = kv[i+1]
		}
		return e
	}
	refreshFn := lambdatest.Start(t, lambdatest.Build(t, "refresh"), env("APPS_SECRET_ID", appsID, "WECHAT_API_BASE", sim.URL))
	aws.HandleInvoke(refreshName, refreshFn.Invoke)
	tokenFn := lambdatest.Start(t, lambdatest.Build(t, "token"), env("REFRESH_FUNCTION_NAME", refreshName))
	callbackFn := lambdatest.Start(t, lambdatest.Build(t, "callback"), env("CALLBACK_SECRET_ID", callbackID, "EVENT_BUS_NAME", "wxcentral-audit"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	call := func(fn *lambdatest.Function, payload string) map[string]any {
		t.Helper()
		out, err := fn.Invoke(ctx, []byte(payload))
		if err != nil {
			t.Fatalf("invoke: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("answer %s: %v", out, err)
		}
		return m
	}
	want := func(step string, m map[string]any, key string, value any) {
		t.Helper()
		if m[key] != value {
			t.Fatalf("%s: %s = %v, want %v (answer fields %v)", step, key, m[key], value, slicesOfKeys(m))
		}
	}
	force := func(stale string) map[string]any {
		return call(refreshFn, `{"action":"force","appid":"`+appid+`","kind":"access_token","stale_token":"`+stale+`"}`)
	}

	// Refresh: a scheduled sweep fetches the token and ticket; the next one
	// finds them fresh.
	sweep := call(refreshFn, `{}`)
	if s := fmt.Sprint(sweep["results"]); strings.Count(s, "refreshed") != 2 {
		t.Fatalf("first sweep: %s", s)
	}
	if s := fmt.Sprint(call(refreshFn, `{"action":"sweep"}`)["results"]); strings.Count(s, "fresh") != 2 {
		t.Fatalf("second sweep: %s", s)
	}
	// Token function: direct and URL reads.
	t1 := call(tokenFn, `{"appid":"`+appid+`"}`)["token"].(string)
	resp := urlInvoke(t, ctx, tokenFn, "GET", "/token", "appid="+appid+"&kind=jsapi_ticket", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /token jsapi_ticket: %d", resp.StatusCode)
	}
	// A leaked token is revoked elsewhere: the invalidation goes through
	// the token function to the refresh function, whose normal-mode probe
	// finds the new token.
	if _, err := sim.ForceRotate(appid, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	inv := call(tokenFn, `{"action":"invalidate","appid":"`+appid+`","kind":"access_token","token":"`+t1+`"}`)
	t2, _ := inv["token"].(string)
	if t2 == "" || t2 == t1 {
		t.Fatalf("invalidate: answer fields %v", slicesOfKeys(inv))
	}
	// A report of the current token spends the force budget; a second one
	// at once is too soon.
	t3, _ := force(t2)["token"].(string)
	if t3 == "" || t3 == t2 {
		t.Fatal("forced refresh did not rotate the token")
	}
	want("second force", force(t3), "error", "force_too_soon")
	want("unknown app", call(refreshFn, `{"action":"force","appid":"wxnobody","kind":"access_token","stale_token":"x"}`), "error", "unknown_app")
	want("bad kind", call(refreshFn, `{"action":"force","appid":"`+appid+`","kind":"nope","stale_token":"x"}`), "error", "bad_request")
	// WeChat fails the probe three times (-1, a dropped connection, 502).
	if _, err := sim.ForceRotate(appid, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	sim.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1), wechattest.DropFault(), wechattest.HTTPFault(502))
	want("probe failing", force(t3), "error", "token_unavailable")
	if n := sim.PendingFaults(wechattest.EndpointStableToken); n != 0 {
		t.Fatalf("%d scripted faults left: the probe was not retried", n)
	}
	// The AppSecret was reset on WeChat's side: 40125, a configuration alarm.
	sim.AddApp(appid, newSecret)
	// last_error_at has whole seconds: a report in the same second as the
	// failure above would be answered from it without calling WeChat.
	nextSecond()
	want("wrong secret", force(t3), "error", "token_unavailable")
	// Token function bad input.
	want("unknown app read", call(tokenFn, `{"appid":"wxnobody"}`), "error", "unknown_app")
	want("bad kind read", call(tokenFn, `{"appid":"`+appid+`","kind":"session"}`), "error", "bad_request")
	if r := urlInvoke(t, ctx, tokenFn, "POST", "/token/invalidate", "", `{"appid":`); r.StatusCode != 400 {
		t.Fatalf("bad JSON: %d", r.StatusCode)
	}

	// Callback function: handshake, safe-mode pushes with replies, a
	// duplicate, a failed publish and its retry, forged and malformed input.
	sender := &callbacktest.Sender{AppID: appid, Token: cbToken, EncodingAESKey: aesKey}
	if r := cbInvoke(t, ctx, callbackFn, "GET", sender.HandshakeQuery("audit-echo"), ""); r.StatusCode != 200 {
		t.Fatalf("handshake: %d", r.StatusCode)
	}
	contents := []string{"audit question one 6b2e91", "audit plain message 0f4d27"}
	now := time.Now().Unix()
	pushes := []struct {
		name, xml string
		failPut   bool
		status    int
		reply     string
	}{
		{"auto reply", sender.Text("oAuditUser", now, 9100001, contents[0]), false, 200, autoReply},
		{"duplicate", sender.Text("oAuditUser", now, 9100001, contents[0]), false, 200, autoReply},
		{"welcome", sender.Event("oAuditUser", now, "subscribe", ""), false, 200, welcome},
		{"publish fails", sender.Text("oAuditUser", now, 9100002, contents[1]), true, 503, ""},
		{"publish retried", sender.Text("oAuditUser", now, 9100002, contents[1]), false, 200, ""},
	}
	for _, p := range pushes {
		if p.failPut {
			aws.FailPutEvents(fakeaws.PutEventsPartialFailure, 1)
		}
		q, body, nonce := sender.PushParts(p.xml)
		r := cbInvoke(t, ctx, callbackFn, "POST", q, body)
		if r.StatusCode != p.status {
			t.Fatalf("push %s: status %d, want %d", p.name, r.StatusCode, p.status)
		}
		if p.status == 200 {
			plain, err := sender.OpenReply([]byte(r.Body), nonce)
			if err != nil || !strings.Contains(plain, p.reply) {
				t.Fatalf("push %s: reply does not open or lacks the expected text: %v", p.name, err)
			}
		}
	}
	q, body, _ := sender.PushParts(sender.Text("oAuditUser", now, 9100003, "forged"))
	forged, _ := url.ParseQuery(q)
	forged.Set("msg_signature", strings.Repeat("0", 40))
	for _, bad := range []struct {
		name, query, body string
		status            int
	}{
		{"bad signature", "signature=0&timestamp=1&nonce=1&encrypt_type=aes", body, 403},
		{"bad msg_signature", forged.Encode(), body, 403},
		{"not XML", q, "not xml", 400},
	} {
		if r := cbInvoke(t, ctx, callbackFn, "POST", bad.query, bad.body); r.StatusCode != bad.status {
			t.Fatalf("%s: status %d, want %d", bad.name, r.StatusCode, bad.status)
		}
	}

	// The audit.
	sc := logaudit.NewScanner()
	for _, err := range []error{
		sc.Add("AppSecret", appSecret, newSecret),
		sc.Add("callback token", cbToken),
		sc.AddEncodingAESKey(aesKey),
		sc.Add("token or ticket", sim.IssuedValues()...),
		sc.Add("message content", append(contents, welcome, autoReply)...),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := sc.Counts()["token or ticket"]; n < 5 {
		t.Fatalf("WeChat issued %d tokens and tickets; the scenario did not run", n)
	}
	lines := 0
	for _, fn := range []struct {
		name string
		f    *lambdatest.Function
		must []string // log messages the scenario must have produced
	}{
		{"refresh", refreshFn, []string{`"msg":"refresh"`, `"msg":"forced refresh"`, `configuration: errcode 40125`}},
		{"token", tokenFn, []string{`"msg":"invalidation forwarded"`}},
		{"callback", callbackFn, []string{`"msg":"callback"`, `"outcome":"duplicate"`, `"msg":"callback publish"`}},
	} {
		logs := fn.f.Logs()
		n := strings.Count(logs, "\n")
		lines += n
		for _, m := range fn.must {
			if !strings.Contains(logs, m) {
				t.Errorf("%s: no log line with %s; the scenario did not reach that path", fn.name, m)
			}
		}
		for _, f := range sc.Scan("bootstrap "+fn.name, logs) {
			t.Errorf("log audit: %s", f)
		}
	}
	t.Logf("log audit of the bootstrap binaries: %d lines scanned for %v", lines, sc.Counts())
}

// nextSecond waits for the next whole wall-clock second.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + 10*time.Millisecond).Sub(now))
}

func slicesOfKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// urlInvoke sends a Function URL (payload 2.0) event.
func urlInvoke(t *testing.T, ctx context.Context, fn *lambdatest.Function, method, path, query, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return invokeEvent(t, ctx, fn, events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query, Body: body,
		Headers: map[string]string{"host": "x.lambda-url.us-east-1.on.aws", "content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "10.0.0.1"},
		},
	})
}

// cbInvoke sends an HTTP API event for /wechat/{appid}.
func cbInvoke(t *testing.T, ctx context.Context, fn *lambdatest.Function, method, query, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	q, _ := url.ParseQuery(query)
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	route := method + " /wechat/{appid}"
	return invokeEvent(t, ctx, fn, events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: route, RawPath: "/wechat/" + appid, RawQueryString: query,
		Headers:               map[string]string{"content-type": "text/xml", "host": "abc.execute-api.us-east-1.amazonaws.com"},
		QueryStringParameters: params, PathParameters: map[string]string{"appid": appid},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: route, Stage: "$default", RequestID: "audit",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/wechat/" + appid, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
		},
		Body: body,
	})
}

func invokeEvent(t *testing.T, ctx context.Context, fn *lambdatest.Function, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fn.Invoke(ctx, raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if resp.IsBase64Encoded {
		b, _ := base64.StdEncoding.DecodeString(resp.Body)
		resp.Body = string(b)
	}
	return resp
}

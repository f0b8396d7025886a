package tokenserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/lambdainvoke"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

func rec(appid string, kind credential.Kind, value string, expiresAt time.Time, version int64) credential.Record {
	return credential.Record{Credential: credential.Credential{AppID: appid, Kind: kind, Value: value,
		ExpiresAt: expiresAt, RefreshedAt: expiresAt.Add(-2 * time.Hour), Version: version}}
}

// fixture is a token server over dynalite whose invalidations invoke a
// scripted refresh function through the Lambda Invoke protocol (fakeaws).
type fixture struct {
	srv   *tokenserver.Server
	store *dynamo.CredentialStore
	clk   *wechattest.Clock
	aws   *fakeaws.Server
	logs  *bytes.Buffer
}

const refreshFn = "wxcentral-refresh"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client, table := dynamotest.NewTable(t)
	f := &fixture{store: dynamo.NewCredentialStore(client, table), aws: fakeaws.New(t), logs: &bytes.Buffer{},
		clk: wechattest.NewClock(time.Unix(1_800_000_000, 0))}
	now := f.clk.Now()
	ctx := context.Background()
	for _, r := range []credential.Record{
		rec("wxok", credential.AccessToken, "tok-ok", now.Add(7200*time.Second), 3),
		rec("wxok", credential.JSAPITicket, "ticket-ok", now.Add(7000*time.Second), 2),
		rec("wxsoon", credential.AccessToken, "tok-soon", now.Add(10*time.Second), 1),
		rec("wxjust", credential.AccessToken, "tok-just", now.Add(11*time.Second), 1),
		rec("wxexpired", credential.AccessToken, "tok-expired", now.Add(-time.Hour), 9),
		rec("wxrot", credential.AccessToken, "tok-rot-1", now.Add(7200*time.Second), 1),
		rec("wxbudget", credential.AccessToken, "tok-budget", now.Add(7200*time.Second), 1),
		rec("wxtoosoon", credential.AccessToken, "tok-toosoon", now.Add(7200*time.Second), 1),
		rec("wxdying", credential.AccessToken, "tok-dying", now.Add(7200*time.Second), 1),
		rec("wxcomponent", credential.ComponentAccessToken, "tok-component", now.Add(7200*time.Second), 4),
	} {
		if err := f.store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	f.aws.HandleInvoke(refreshFn, f.fakeRefresh)
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tc := tokenclient.New(tokenclient.NewStoreReader(f.store), tokenclient.WithClock(f.clk.Now), tokenclient.WithLogger(logger),
		tokenclient.WithInvalidator(lambdainvoke.New(lambda.NewFromConfig(f.aws.AWSConfig()), refreshFn)))
	f.srv = tokenserver.New(tc, tokenserver.WithClock(f.clk.Now), tokenserver.WithLogger(logger))
	return f
}

// fakeRefresh follows the forced-refresh answers of docs/refresh.md for the
// fixture's apps: the stored value when it differs from the stale one, else
// a new value committed to the table; scripted refusals for some apps.
func (f *fixture) fakeRefresh(ctx context.Context, payload []byte) ([]byte, error) {
	var req tokenapi.ForceRequest
	if err := json.Unmarshal(payload, &req); err != nil || req.Action != "force" {
		return nil, errors.New("fake refresh: bad payload")
	}
	answer := func(a tokenapi.Answer) ([]byte, error) { return json.Marshal(a) }
	switch req.AppID {
	case "wxbudget":
		return answer(tokenapi.Answer{Error: "force_budget_exhausted", Message: "10 of 10 forced refreshes used today"})
	case "wxtoosoon":
		return answer(tokenapi.Answer{Error: "force_too_soon", Message: "last forced refresh 3 s ago"})
	case "wxdying":
		return answer(tokenapi.Answer{Error: "token_unavailable", Message: "WeChat unreachable"})
	}
	r, err := f.store.Get(ctx, req.AppID, req.Kind, true)
	if errors.Is(err, credential.ErrNotFound) {
		return answer(tokenapi.Answer{Error: "unknown_app", Message: "no such app"})
	}
	if err != nil {
		return nil, err
	}
	now := f.clk.Now()
	if r.Value == req.StaleToken {
		r.Value = strings.TrimSuffix(r.Value, "-1") + "-2"
		r.Version++
		r.ExpiresAt = now.Add(7200 * time.Second)
		if err := f.store.Put(ctx, r); err != nil {
			return nil, err
		}
	}
	return answer(tokenapi.AnswerFor(r.Credential, now))
}

// call sends one request through the Lambda entry point: as a Function URL
// event when httpReq is set, else as a direct invoke.
type httpReq struct {
	method, path, query, body string
}

func urlEvent(t testing.TB, r httpReq) json.RawMessage {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: r.path, RawQueryString: r.query,
		Headers: map[string]string{"host": "abc.lambda-url.us-east-1.on.aws", "content-type": "application/json"},
		Body:    r.body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.method, Path: r.path, Protocol: "HTTP/1.1", SourceIP: "10.0.0.1"},
		},
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (f *fixture) viaURL(t *testing.T, r httpReq) (int, map[string]any) {
	t.Helper()
	out, err := f.srv.Handle(context.Background(), urlEvent(t, r))
	if err != nil {
		t.Fatalf("Handle(URL event): %v", err)
	}
	resp, ok := out.(events.APIGatewayV2HTTPResponse)
	if !ok {
		t.Fatalf("Handle(URL event) returned %T", out)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return resp.StatusCode, decode(t, []byte(resp.Body))
}

func (f *fixture) viaDirect(t *testing.T, payload string) map[string]any {
	t.Helper()
	out, err := f.srv.Handle(context.Background(), json.RawMessage(payload))
	if err != nil {
		t.Fatalf("Handle(direct): function error %v (errors must be payloads)", err)
	}
	raw, ok := out.(json.RawMessage)
	if !ok {
		t.Fatalf("Handle(direct) returned %T", out)
	}
	return decode(t, raw)
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", data, err)
	}
	return m
}

// want describes the expected JSON object.
type want struct {
	status    int
	errCode   string // "" for a credential
	msgHas    string // substring of message (field names)
	token     string
	kind      string
	version   float64
	expiresIn float64
}

func check(t *testing.T, shape string, status int, body map[string]any, w want, f *fixture) {
	t.Helper()
	if w.errCode != "" {
		if body["error"] != w.errCode || len(body) != 2 {
			t.Fatalf("%s: body %v, want exactly {error:%q, message}", shape, body, w.errCode)
		}
		msg, _ := body["message"].(string)
		if msg == "" || !strings.Contains(msg, w.msgHas) {
			t.Fatalf("%s: message %q, want it to contain %q", shape, msg, w.msgHas)
		}
		if strings.Contains(msg, "tok-") || strings.Contains(msg, "ticket-") {
			t.Fatalf("%s: message %q leaks a token", shape, msg)
		}
	} else {
		wantBody := map[string]any{"appid": body["appid"], "kind": w.kind, "token": w.token,
			"expires_at": float64(f.clk.Now().Unix()) + w.expiresIn, "expires_in": w.expiresIn, "version": w.version}
		if len(body) != 6 {
			t.Fatalf("%s: body %v has %d fields, want the 6 of §6", shape, body, len(body))
		}
		for k, v := range wantBody {
			if body[k] != v {
				t.Fatalf("%s: %s = %v, want %v (body %v)", shape, k, body[k], v, body)
			}
		}
	}
	if shape == "url" && status != w.status {
		t.Fatalf("url: status %d, want %d (body %v)", status, w.status, body)
	}
}

// TestContract covers every row of docs/token-api.md in both shapes.
// longAppID is an appid no credential item key can hold.
var longAppID = strings.Repeat("w", 2100)

func TestContract(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		http   *httpReq // nil: no URL form
		direct string   // "": no direct form
		want   want
	}{
		{"get default kind", &httpReq{"GET", "/token", "appid=wxok", ""}, `{"appid":"wxok"}`,
			want{status: 200, token: "tok-ok", kind: "access_token", version: 3, expiresIn: 7200}},
		{"get access_token", &httpReq{"GET", "/token", "appid=wxok&kind=access_token", ""}, `{"appid":"wxok","kind":"access_token"}`,
			want{status: 200, token: "tok-ok", kind: "access_token", version: 3, expiresIn: 7200}},
		{"get jsapi_ticket", &httpReq{"GET", "/token", "appid=wxok&kind=jsapi_ticket", ""}, `{"appid":"wxok","kind":"jsapi_ticket"}`,
			want{status: 200, token: "ticket-ok", kind: "jsapi_ticket", version: 2, expiresIn: 7000}},
		{"get a platform's component_access_token", &httpReq{"GET", "/token", "appid=wxcomponent&kind=component_access_token", ""},
			`{"appid":"wxcomponent","kind":"component_access_token"}`,
			want{status: 200, token: "tok-component", kind: "component_access_token", version: 4, expiresIn: 7200}},
		{"11 s left is served", &httpReq{"GET", "/token", "appid=wxjust", ""}, `{"appid":"wxjust"}`,
			want{status: 200, token: "tok-just", kind: "access_token", version: 1, expiresIn: 11}},
		{"unknown app", &httpReq{"GET", "/token", "appid=wxnobody", ""}, `{"appid":"wxnobody"}`,
			want{status: 404, errCode: "unknown_app", msgHas: "wxnobody"}},
		{"kind not stored for app", &httpReq{"GET", "/token", "appid=wxok&kind=wx_card_ticket", ""}, `{"appid":"wxok","kind":"wx_card_ticket"}`,
			want{status: 404, errCode: "unknown_app", msgHas: "wx_card_ticket"}},
		{"10 s left is unavailable", &httpReq{"GET", "/token", "appid=wxsoon", ""}, `{"appid":"wxsoon"}`,
			want{status: 503, errCode: "token_unavailable", msgHas: "wxsoon"}},
		{"expired is unavailable", &httpReq{"GET", "/token", "appid=wxexpired", ""}, `{"appid":"wxexpired"}`,
			want{status: 503, errCode: "token_unavailable", msgHas: "wxexpired"}},
		{"missing appid", &httpReq{"GET", "/token", "kind=access_token", ""}, `{"kind":"access_token"}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"empty appid", &httpReq{"GET", "/token", "appid=", ""}, `{"appid":""}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"bad escape in appid", &httpReq{"GET", "/token", "appid=wx%zz", ""}, "",
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		// No item can have a key over DynamoDB's 2048-byte limit: bad input,
		// not a store failure (503).
		{"appid too long for a key", &httpReq{"GET", "/token", "appid=" + longAppID, ""}, `{"appid":"` + longAppID + `"}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"longest appid a key holds is looked up", &httpReq{"GET", "/token", "appid=" + longAppID[:credential.MaxAppIDBytes] + "&kind=wx_card_ticket", ""},
			`{"appid":"` + longAppID[:credential.MaxAppIDBytes] + `","kind":"wx_card_ticket"}`,
			want{status: 404, errCode: "unknown_app", msgHas: "wx_card_ticket"}},
		{"invalidate appid too long", &httpReq{"POST", "/token/invalidate", "", `{"appid":"` + longAppID + `","token":"x"}`},
			`{"action":"invalidate","appid":"` + longAppID + `","token":"x"}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"bad kind", &httpReq{"GET", "/token", "appid=wxok&kind=refresh_token", ""}, `{"appid":"wxok","kind":"refresh_token"}`,
			want{status: 400, errCode: "bad_request", msgHas: "kind"}},
		{"invalidate rotates", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxrot","kind":"access_token","token":"tok-rot-1"}`},
			`{"action":"invalidate","appid":"wxrot","kind":"access_token","token":"tok-rot-1"}`,
			want{status: 200, token: "tok-rot-2", kind: "access_token", version: 2, expiresIn: 7200}},
		{"invalidate default kind", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxrot","token":"tok-rot-1"}`},
			`{"action":"invalidate","appid":"wxrot","token":"tok-rot-1"}`,
			want{status: 200, token: "tok-rot-2", kind: "access_token", version: 2, expiresIn: 7200}},
		{"invalidate unknown app", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxnobody","token":"x"}`},
			`{"action":"invalidate","appid":"wxnobody","token":"x"}`,
			want{status: 404, errCode: "unknown_app", msgHas: "wxnobody"}},
		{"invalidate budget exhausted", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxbudget","token":"tok-budget"}`},
			`{"action":"invalidate","appid":"wxbudget","token":"tok-budget"}`,
			want{status: 429, errCode: "force_budget_exhausted", msgHas: "wxbudget"}},
		{"invalidate too soon", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxtoosoon","token":"tok-toosoon"}`},
			`{"action":"invalidate","appid":"wxtoosoon","token":"tok-toosoon"}`,
			want{status: 429, errCode: "force_too_soon", msgHas: "wxtoosoon"}},
		{"invalidate refresh unavailable", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxdying","token":"tok-dying"}`},
			`{"action":"invalidate","appid":"wxdying","token":"tok-dying"}`,
			want{status: 503, errCode: "token_unavailable", msgHas: "wxdying"}},
		{"invalidate bad JSON", &httpReq{"POST", "/token/invalidate", "", `{"appid":`}, `{"appid":`,
			want{status: 400, errCode: "bad_request", msgHas: "body"}},
		{"invalidate not an object", &httpReq{"POST", "/token/invalidate", "", `["wxok"]`}, `["wxok"]`,
			want{status: 400, errCode: "bad_request", msgHas: "body"}},
		{"invalidate appid not a string", &httpReq{"POST", "/token/invalidate", "", `{"appid":5,"token":"x"}`},
			`{"action":"invalidate","appid":5,"token":"x"}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"invalidate missing appid", &httpReq{"POST", "/token/invalidate", "", `{"token":"x"}`},
			`{"action":"invalidate","token":"x"}`,
			want{status: 400, errCode: "bad_request", msgHas: "appid"}},
		{"invalidate missing token", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxok"}`},
			`{"action":"invalidate","appid":"wxok"}`,
			want{status: 400, errCode: "bad_request", msgHas: "token"}},
		{"invalidate bad kind", &httpReq{"POST", "/token/invalidate", "", `{"appid":"wxok","kind":"x","token":"t"}`},
			`{"action":"invalidate","appid":"wxok","kind":"x","token":"t"}`,
			want{status: 400, errCode: "bad_request", msgHas: "kind"}},
		{"direct unknown action", nil, `{"action":"sweep","appid":"wxok"}`,
			want{errCode: "bad_request", msgHas: "action"}},
		{"direct empty payload", nil, `null`, want{errCode: "bad_request", msgHas: "body"}},
		{"GET on invalidate", &httpReq{"GET", "/token/invalidate", "", ""}, "",
			want{status: 405, errCode: "method_not_allowed", msgHas: "POST"}},
		{"POST on token", &httpReq{"POST", "/token", "appid=wxok", ""}, "",
			want{status: 405, errCode: "method_not_allowed", msgHas: "GET"}},
		{"DELETE on token", &httpReq{"DELETE", "/token", "appid=wxok", ""}, "",
			want{status: 405, errCode: "method_not_allowed", msgHas: "GET"}},
		{"other path", &httpReq{"GET", "/tokens", "appid=wxok", ""}, "",
			want{status: 404, errCode: "not_found", msgHas: "/tokens"}},
		{"root path", &httpReq{"GET", "/", "", ""}, "",
			want{status: 404, errCode: "not_found", msgHas: "/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.http != nil {
				status, body := f.viaURL(t, *tt.http)
				check(t, "url", status, body, tt.want, f)
			}
			if tt.direct != "" {
				check(t, "direct", 0, f.viaDirect(t, tt.direct), tt.want, f)
			}
		})
	}
	if logs := f.logs.String(); strings.Contains(logs, "tok-") || strings.Contains(logs, "ticket-") {
		t.Fatalf("a token reached the logs:\n%s", logs)
	}
	if n := f.aws.Invocations(refreshFn); n == 0 {
		t.Fatal("the refresh function was never invoked")
	}
}

// TestExpiryWhileCached: a value served and cached is never served once
// expires_at - now <= 10 s, even from the warm cache.
func TestExpiryWhileCached(t *testing.T) {
	f := newFixture(t)
	get := httpReq{"GET", "/token", "appid=wxok", ""}
	if status, _ := f.viaURL(t, get); status != 200 {
		t.Fatalf("warm-up: status %d", status)
	}
	f.clk.Advance(7190 * time.Second) // expires_at - now = 10 s
	status, body := f.viaURL(t, get)
	check(t, "url", status, body, want{status: 503, errCode: "token_unavailable", msgHas: "wxok"}, f)
	check(t, "direct", 0, f.viaDirect(t, `{"appid":"wxok"}`), want{errCode: "token_unavailable", msgHas: "wxok"}, f)
	f.clk.Advance(time.Hour) // long expired
	status, body = f.viaURL(t, get)
	check(t, "url", status, body, want{status: 503, errCode: "token_unavailable", msgHas: "wxok"}, f)
}

// TestInvalidateServesNewValueNext: after forwarding an invalidation the
// same warm instance serves the new value, not its cached old one.
func TestInvalidateServesNewValueNext(t *testing.T) {
	f := newFixture(t)
	get := httpReq{"GET", "/token", "appid=wxrot", ""}
	_, body := f.viaURL(t, get)
	if body["token"] != "tok-rot-1" {
		t.Fatalf("before: %v", body)
	}
	status, body := f.viaURL(t, httpReq{"POST", "/token/invalidate", "", `{"appid":"wxrot","token":"tok-rot-1"}`})
	if status != 200 || body["token"] != "tok-rot-2" {
		t.Fatalf("invalidate: %d %v", status, body)
	}
	for _, shape := range []string{"url", "direct"} {
		var got map[string]any
		if shape == "url" {
			_, got = f.viaURL(t, get)
		} else {
			got = f.viaDirect(t, `{"appid":"wxrot"}`)
		}
		if got["token"] != "tok-rot-2" || got["version"] != float64(2) {
			t.Fatalf("%s after invalidate: %v", shape, got)
		}
	}
}

// TestServeHTTPDirect exercises the plain http.Handler (the local stack's
// path) including body limits and the Allow header.
func TestServeHTTPDirect(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, target, body string
		status                     int
		allow                      string
	}{
		{"get", "GET", "/token?appid=wxok", "", 200, ""},
		{"wrong method", "PUT", "/token/invalidate", "", 405, "POST"},
		{"HEAD token", "HEAD", "/token?appid=wxok", "", 405, "GET"},
		{"body too large", "POST", "/token/invalidate", `{"appid":"` + strings.Repeat("a", tokenserver.MaxBodyBytes) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			w := httptest.NewRecorder()
			f.srv.ServeHTTP(w, req)
			if w.Code != tt.status || w.Header().Get("Allow") != tt.allow {
				t.Fatalf("status %d Allow %q, want %d %q (body %s)", w.Code, w.Header().Get("Allow"), tt.status, tt.allow, w.Body)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// BenchmarkWarmPath measures GET /token served from the warm cache through
// the http.Handler (target ≤ 5 µs/op).
func BenchmarkWarmPath(b *testing.B) {
	srv := benchServer(b)
	req := httptest.NewRequest("GET", "/token?appid=wx0123456789abcdef&kind=access_token", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkWarmPathLambdaEvent is the same request as the Lambda handler
// sees it: a raw Function URL event decoded, served and converted back.
func BenchmarkWarmPathLambdaEvent(b *testing.B) {
	srv := benchServer(b)
	raw := urlEvent(b, httpReq{"GET", "/token", "appid=wx0123456789abcdef&kind=access_token", ""})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := srv.Handle(ctx, raw)
		if err != nil || out.(events.APIGatewayV2HTTPResponse).StatusCode != 200 {
			b.Fatalf("Handle: %v %v", out, err)
		}
	}
}

func benchServer(b *testing.B) *tokenserver.Server {
	b.Helper()
	reads := 0
	reader := tokenclient.ReaderFunc(func(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
		reads++
		if reads > 1 {
			b.Fatal("benchmark left the warm path")
		}
		return credential.Credential{AppID: appid, Kind: kind, Value: "token-value-of-realistic-length-0123456789abcdefghijklmnopqrstuvwxyz-0123456789abcdefghijklmnopqrstuvwxyz",
			ExpiresAt: time.Now().Add(2 * time.Hour), Version: 7}, nil
	})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return tokenserver.New(tokenclient.New(reader), tokenserver.WithLogger(quiet))
}

var _ http.Handler = (*tokenserver.Server)(nil)

// Every answer, HTTP or direct invoke, is counted as TokenRequests by its
// status class; the metric lines never carry the token.
func TestTokenRequestsMetric(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	tc := tokenclient.New(tokenclient.NewStoreReader(f.store), tokenclient.WithClock(f.clk.Now))
	srv := tokenserver.New(tc, tokenserver.WithClock(f.clk.Now), tokenserver.WithMetrics(metrics.New(&out)))
	for _, target := range []string{"/token?appid=wxok", "/token?appid=wxnone", "/token?kind=bad"} {
		srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	if _, err := srv.Invoke(context.Background(), []byte(`{"appid":"wxexpired"}`)); err != nil {
		t.Fatal(err)
	}
	var classes []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m struct {
			Outcome       string
			TokenRequests float64
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.TokenRequests != 1 {
			t.Fatalf("metric line %q: %v", line, err)
		}
		classes = append(classes, m.Outcome)
	}
	if got, want := strings.Join(classes, ","), "2xx,4xx,4xx,5xx"; got != want {
		t.Fatalf("outcomes %s, want %s", got, want)
	}
	if strings.Contains(out.String(), "tok-ok") {
		t.Fatal("metric lines contain the token")
	}
}

// An item whose first refresh failed (here: the egress IP is not on
// WeChat's whitelist) answers 503 token_unavailable with the recorded
// failure, so the team integrating sees what to fix.
func TestUnavailableSaysWhyTheRefreshFailed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	failed := credential.Record{Credential: credential.Credential{AppID: "wxnoip", Kind: credential.AccessToken},
		LastErrorCode: 40164, LastErrorAt: f.clk.Now().Add(-time.Minute),
		LastError: "configuration: errcode 40164: invalid ip 203.0.113.9 ipv6 ::ffff:203.0.113.9, not in whitelist rid: 6553f0e0-1"}
	if err := f.store.Put(ctx, failed); err != nil {
		t.Fatal(err)
	}
	status, body := f.viaURL(t, httpReq{method: "GET", path: "/token", query: "appid=wxnoip"})
	direct := f.viaDirect(t, `{"appid":"wxnoip"}`)
	for _, got := range []map[string]any{body, direct} {
		msg, _ := got["message"].(string)
		if got["error"] != "token_unavailable" || !strings.Contains(msg, "errcode 40164") || !strings.Contains(msg, "not in whitelist") {
			t.Fatalf("answer %v", got)
		}
	}
	if status != 503 {
		t.Fatalf("status %d, want 503", status)
	}
}

// Issue 11 item 8: every 503 (here: the table cannot be read) is counted
// as TokenRequests{Outcome=5xx}, which TokenUnavailableAlarm watches,
// whether it was asked through the Function URL or a direct invoke.
func TestStoreOutageAnswers503AndCountsIt(t *testing.T) {
	var out bytes.Buffer
	down := tokenclient.ReaderFunc(func(context.Context, string, credential.Kind) (credential.Credential, error) {
		return credential.Credential{}, errors.New("AccessDeniedException: not authorized to perform dynamodb:GetItem")
	})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := tokenserver.New(tokenclient.New(down), tokenserver.WithLogger(quiet), tokenserver.WithMetrics(metrics.New(&out)))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/token?appid=wxa", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP status %d, want 503", rec.Code)
	}
	payload, err := srv.Invoke(context.Background(), []byte(`{"appid":"wxa","kind":"jsapi_ticket"}`))
	if err != nil || !strings.Contains(string(payload), `"error":"token_unavailable"`) {
		t.Fatalf("direct invoke: %s, %v", payload, err)
	}
	if got := strings.Count(out.String(), `"Outcome":"5xx","TokenRequests":1}`); got != 2 {
		t.Fatalf("%d TokenRequests{Outcome=5xx} lines, want 2:\n%s", got, out.String())
	}
}

package callbacklambda_test

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
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/component"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	compID     = "wxc0mp0nent0000001"
	compSecret = "component-secret-0123456789abcdef"
	compToken  = "component-event-token"
	compKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	authz      = "wxauth0rizer000001"
	ownAppID   = "wx0123456789abcdef"
)

// platformDoc is a callback document with one Official Account and one
// platform (which has no /wechat route of its own).
const platformDoc = `{"apps":[
	{"appid":"` + ownAppID + `","token":"own-token","encoding_aes_key":"` + compKey + `"},
	{"type":"component","appid":"` + compID + `","token":"` + compToken + `","encoding_aes_key":"` + compKey + `"}]}`

// fakeRefresh is the refresh function's authorize/unauthorize protocol at
// the Invoke seam: it records every request and answers with answer.
type fakeRefresh struct {
	mu       sync.Mutex
	requests []tokenapi.AuthorizationRequest
	answer   func(tokenapi.AuthorizationRequest) ([]byte, error)
	deadline time.Duration // time left on the context at the call
}

func (f *fakeRefresh) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var req tokenapi.AuthorizationRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		return json.Marshal(tokenapi.Answer{AppID: req.AuthorizerAppID, Kind: credential.AccessToken, Token: "authorizer-token", ExpiresAt: time.Now().Add(2 * time.Hour).Unix(), Version: 1})
	}
	return answer(req)
}

func (f *fakeRefresh) got() []tokenapi.AuthorizationRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tokenapi.AuthorizationRequest(nil), f.requests...)
}

type pubs struct {
	mu     sync.Mutex
	pushes []callback.Push
}

func (p *pubs) Publish(_ context.Context, push callback.Push) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushes = append(p.pushes, push)
	return nil
}

func (p *pubs) all() []callback.Push {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]callback.Push(nil), p.pushes...)
}

// platformEnv is the callback function built as in Lambda on dynalite,
// with a platform simulator signing its pushes.
type platformEnv struct {
	t       *testing.T
	h       *callbacklambda.Handler
	sim     *wechattest.ComponentSimulator
	clock   *wechattest.Clock
	db      *dynamodb.Client
	table   string
	store   *dynamo.CredentialStore
	refresh *fakeRefresh
	bus     *pubs
	logs    *bytes.Buffer
	metrics *bytes.Buffer
}

func newPlatformEnv(t *testing.T, routes callback.MessageHandler) *platformEnv {
	t.Helper()
	db, table := dynamotest.NewTable(t)
	clock := wechattest.NewClock(time.Now().Truncate(time.Second))
	sim := wechattest.NewComponentSimulator(wechattest.WithClock(clock.Now), wechattest.WithSeed(11))
	if err := sim.AddPlatform(compID, compSecret, compToken, compKey); err != nil {
		t.Fatal(err)
	}
	e := &platformEnv{t: t, sim: sim, clock: clock, db: db, table: table, store: dynamo.NewCredentialStore(db, table),
		refresh: &fakeRefresh{}, bus: &pubs{}, logs: &bytes.Buffer{}, metrics: &bytes.Buffer{}}
	cfg, err := callback.ParseConfig([]byte(platformDoc))
	if err != nil {
		t.Fatal(err)
	}
	h, err := callbacklambda.New(callbacklambda.Deps{
		Config: callback.StaticConfig(cfg), Store: dynamo.NewDedupeStore(db, table), Publisher: e.bus, Routes: routes,
		Credentials: e.store, Refresh: e.refresh.invoke, MaxSkew: -1, // the simulator's clock may lag the wall clock
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: e.logs}, nil)), Metrics: metrics.New(&syncWriter{w: e.metrics}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// invoke sends r through the Lambda entry point (an HTTP API event).
func (e *platformEnv) invoke(method, path, rawQuery, body string) events.APIGatewayV2HTTPResponse {
	e.t.Helper()
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: path, RawQueryString: rawQuery, Body: body,
		Headers: map[string]string{"content-type": "text/xml"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path}}}
	payload, _ := json.Marshal(ev)
	out, err := e.h.Invoke(context.Background(), payload)
	if err != nil {
		e.t.Fatalf("invoke %s: %v", path, err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *platformEnv) deliver(p wechattest.ComponentPush) events.APIGatewayV2HTTPResponse {
	e.t.Helper()
	return e.invoke(http.MethodPost, p.Path(), p.Query, p.Body)
}

func (e *platformEnv) ticket() credential.Record {
	e.t.Helper()
	rec, err := e.store.Get(context.Background(), compID, credential.ComponentVerifyTicket, true)
	if errors.Is(err, credential.ErrNotFound) {
		return credential.Record{}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

// nextTicketPush advances the platform's clock to its next ticket push.
func (e *platformEnv) nextTicketPush() wechattest.ComponentPush {
	e.t.Helper()
	for i := 0; i < 20; i++ {
		if ps := e.sim.DueTicketPushes(); len(ps) > 0 {
			return ps[len(ps)-1]
		}
		e.clock.Advance(time.Minute)
	}
	e.t.Fatal("no ticket push in 20 minutes")
	return wechattest.ComponentPush{}
}

func wantStatus(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, body string) {
	t.Helper()
	if resp.StatusCode != status || (body != "" && resp.Body != body) {
		t.Fatalf("answer %d %q, want %d %q", resp.StatusCode, resp.Body, status, body)
	}
}

// A signed, encrypted component_verify_ticket push through the Lambda
// entry point is stored; an older one delivered after it changes nothing.
func TestComponentTicketThroughTheFunction(t *testing.T) {
	e := newPlatformEnv(t, nil)
	older := e.nextTicketPush()
	e.clock.Advance(time.Second)
	newer := e.nextTicketPush()
	if !newer.CreateTime.After(older.CreateTime) {
		t.Fatalf("pushes at %v and %v", older.CreateTime, newer.CreateTime)
	}
	wantStatus(t, e.deliver(newer), http.StatusOK, "success")
	if got := e.ticket(); got.Value != newer.ComponentVerifyTicket || !got.RefreshedAt.Equal(newer.CreateTime) {
		t.Fatalf("stored ticket of %v, want the pushed one of %v", got.RefreshedAt, newer.CreateTime)
	}
	wantStatus(t, e.deliver(older), http.StatusOK, "success")
	if got := e.ticket(); got.Value != newer.ComponentVerifyTicket {
		t.Fatal("an older ticket replaced the newer one")
	}
	if len(e.refresh.got()) != 0 || len(e.bus.all()) != 0 {
		t.Fatal("a ticket push reached the refresh function or the bus")
	}
	if !strings.Contains(e.metrics.String(), `"CallbackRequests":1`) {
		t.Fatal("component pushes are not counted in CallbackRequests")
	}
}

// An authorized event hands the code to the refresh function (with the
// remaining budget), then publishes the event without it; unauthorized
// hands the authorizer over without a code.
func TestComponentAuthorizationEvents(t *testing.T) {
	e := newPlatformEnv(t, nil)
	code, push, err := e.sim.Authorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(push), http.StatusOK, "success")
	reqs := e.refresh.got()
	want := tokenapi.AuthorizationRequest{Action: tokenapi.ActionAuthorize, ComponentAppID: compID, AuthorizerAppID: authz,
		AuthorizationCode: code, CreateTime: push.CreateTime.Unix()}
	if len(reqs) != 1 || reqs[0] != want {
		t.Fatalf("refresh function got %+v, want %+v", reqs, want)
	}
	if d := e.refresh.deadline; d <= 0 || d > callback.DefaultBudget {
		t.Fatalf("invoke had %v left, want within the 4.5 s budget", d)
	}
	pubs := e.bus.all()
	if len(pubs) != 1 || pubs[0].DetailType != component.DetailTypeEvent || strings.Contains(string(pubs[0].Detail), code) {
		t.Fatalf("published %+v, want one event without the code", pubs)
	}
	unauth, err := e.sim.Unauthorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(unauth), http.StatusOK, "success")
	reqs = e.refresh.got()
	if len(reqs) != 2 || reqs[1].Action != tokenapi.ActionUnauthorize || reqs[1].AuthorizerAppID != authz || reqs[1].AuthorizationCode != "" {
		t.Fatalf("refresh function got %+v, want an unauthorize", reqs)
	}
	if strings.Contains(e.logs.String(), code) {
		t.Fatal("the logs hold the authorization code")
	}
}

// The refresh function's answers: token_unavailable and a failed invoke
// are retried by WeChat (503), a refused code and an unknown platform are
// acknowledged (logged at error level and counted), never with the code.
func TestComponentAuthorizationAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(tokenapi.AuthorizationRequest) ([]byte, error)
		status  int
		outcome string
	}{
		{"token_unavailable", answerError(tokenapi.CodeTokenUnavailable), http.StatusServiceUnavailable, component.AuthorizationRetry},
		{"bad_request", answerError(tokenapi.CodeBadRequest), http.StatusOK, component.AuthorizationRefused},
		{"unknown_app", answerError(tokenapi.CodeUnknownApp), http.StatusOK, component.AuthorizationUnknownApp},
		{"invoke fails", invokeFails("Lambda: TooManyRequestsException"), http.StatusServiceUnavailable, component.AuthorizationRetry},
		{"function error", invokeFails("function failed (Unhandled)"), http.StatusServiceUnavailable, component.AuthorizationRetry},
		{"an older refresh function sweeps", func(tokenapi.AuthorizationRequest) ([]byte, error) { return []byte(`{"results":[]}`), nil },
			http.StatusServiceUnavailable, component.AuthorizationRetry},
		{"not JSON", func(tokenapi.AuthorizationRequest) ([]byte, error) { return []byte(`<html>`), nil },
			http.StatusServiceUnavailable, component.AuthorizationRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPlatformEnv(t, nil)
			e.refresh.answer = tc.answer
			code, push, err := e.sim.Authorize(compID, authz)
			if err != nil {
				t.Fatal(err)
			}
			resp := e.deliver(push)
			wantStatus(t, resp, tc.status, "")
			if tc.status == http.StatusOK && resp.Body != "success" {
				t.Fatalf("body %q, want success", resp.Body)
			}
			if !strings.Contains(e.metrics.String(), `"ComponentAuthorizations":1`) || !strings.Contains(e.metrics.String(), `"Outcome":"`+tc.outcome+`"`) {
				t.Fatalf("metrics %s, want ComponentAuthorizations with Outcome %s", e.metrics, tc.outcome)
			}
			if tc.outcome != component.AuthorizationDone && !strings.Contains(e.logs.String(), `"level":"ERROR","msg":"component authorization"`) {
				t.Fatalf("no error-level log line:\n%s", e.logs)
			}
			if strings.Contains(e.logs.String(), code) {
				t.Fatal("the logs hold the authorization code")
			}
			// A retried event is not published; an acknowledged one is.
			if n := len(e.bus.all()); (tc.status == http.StatusOK) != (n == 1) {
				t.Fatalf("%d events published for answer %d", n, tc.status)
			}
		})
	}
}

func invokeFails(msg string) func(tokenapi.AuthorizationRequest) ([]byte, error) {
	return func(tokenapi.AuthorizationRequest) ([]byte, error) { return nil, errors.New(msg) }
}

func answerError(code string) func(tokenapi.AuthorizationRequest) ([]byte, error) {
	return func(req tokenapi.AuthorizationRequest) ([]byte, error) {
		// A careless message quoting the code is cut out of the log.
		return json.Marshal(tokenapi.Fail(code, "api_query_auth refused "+req.AuthorizationCode))
	}
}

// putAuthorizer writes the authorizer's access_token item as the refresh
// function does after exchanging the code: with its component_appid.
func (e *platformEnv) putAuthorizer(appid, componentAppID string) {
	e.t.Helper()
	_, err := e.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		"pk":              &types.AttributeValueMemberS{Value: credential.Key(appid, credential.AccessToken)},
		"value":           &types.AttributeValueMemberS{Value: "authorizer-token"},
		"expires_at":      &types.AttributeValueMemberN{Value: "4102444800"},
		"version":         &types.AttributeValueMemberN{Value: "1"},
		"component_appid": &types.AttributeValueMemberS{Value: componentAppID},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// An authorizer's message at /wechat/{authorizer_appid} is verified and
// decrypted with the platform's token and key (receive id = the component
// appid) and answered encrypted the same way; an appid that is no
// authorizer gets the unknown-app answer.
func TestAuthorizerMessages(t *testing.T) {
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		return callback.TextReply{Content: "hello " + m.AppID}, nil
	})
	e := newPlatformEnv(t, mux)
	e.putAuthorizer(authz, compID)
	platform := callback.AppConfig{Type: callback.TypeComponent, AppID: compID, Token: compToken, EncodingAESKey: compKey}
	send := func(appid string, msgID int64) (events.APIGatewayV2HTTPResponse, callbacktest.Request) {
		req, err := callbacktest.Seal(callbacktest.Text("gh_authorizer0001", "oUser", "hi", time.Now().Unix(), msgID), platform,
			time.Now().Unix(), callbacktest.Nonce(), callbacktest.Random())
		if err != nil {
			t.Fatal(err)
		}
		return e.invoke(http.MethodPost, "/wechat/"+appid, req.Query.Encode(), string(req.Body)), req
	}
	resp, req := send(authz, 1001)
	wantStatus(t, resp, http.StatusOK, "")
	reply, err := callbacktest.Open([]byte(resp.Body), platform, req)
	if err != nil || !reply.Encrypted || reply.Message.Get("Content") != "hello "+authz {
		t.Fatalf("reply %+v, %v: want an encrypted reply for the platform naming the authorizer", reply, err)
	}
	// Unknown: no item, an item of no platform, a platform not configured.
	e.putAuthorizer("wxplainaccount0001", "")
	e.putAuthorizer("wxotherplatform001", "wxc0mp0nent9999999")
	for _, appid := range []string{"wxnobody000000001", "wxplainaccount0001", "wxotherplatform001", compID} {
		resp, _ := send(appid, 1002)
		wantStatus(t, resp, http.StatusNotFound, "")
	}
	// The platform's key under another account's route is not accepted.
	resp, _ = send(ownAppID, 1003)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the platform's push at an own account's route: %d, want 403", resp.StatusCode)
	}
	// Signed with the platform token but a wrong signature: 403.
	req, _ = callbacktest.Seal(callbacktest.Text("gh_authorizer0001", "oUser", "hi", time.Now().Unix(), 1004), platform, time.Now().Unix(), "1", callbacktest.Random())
	q := req.Query
	q.Set("signature", strings.Repeat("0", 40))
	if resp := e.invoke(http.MethodPost, "/wechat/"+authz, q.Encode(), string(req.Body)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad signature: %d, want 403", resp.StatusCode)
	}
}

// Bad input at the component route is a 4xx naming what is wrong, never a
// 5xx, and nothing reaches the table, the refresh function or the bus.
func TestComponentBadInput(t *testing.T) {
	e := newPlatformEnv(t, nil)
	_, push, err := e.sim.Authorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	big := "<xml><AppId>" + compID + "</AppId><Encrypt>" + strings.Repeat("A", callback.MaxBodyBytes) + "</Encrypt></xml>"
	for _, tc := range []struct {
		name, path, query, body string
		status                  int
	}{
		{"unknown platform", "/component/wxc0mp0nent9999999", push.Query, push.Body, http.StatusNotFound},
		{"no signature", push.Path(), "timestamp=1&nonce=2", push.Body, http.StatusForbidden},
		{"wrong msg_signature", push.Path(), strings.Replace(push.Query, "msg_signature=", "msg_signature=0", 1), push.Body, http.StatusForbidden},
		{"not encrypted", push.Path(), push.Query, "<xml><AppId>" + compID + "</AppId></xml>", http.StatusForbidden},
		{"not XML", push.Path(), push.Query, "{}", http.StatusBadRequest},
		{"oversize", push.Path(), push.Query, big, http.StatusRequestEntityTooLarge},
		{"empty", push.Path(), push.Query, "", http.StatusBadRequest},
	} {
		resp := e.invoke(http.MethodPost, tc.path, tc.query, tc.body)
		if resp.StatusCode != tc.status || resp.Body == "" {
			t.Errorf("%s: %d %q, want %d with a message", tc.name, resp.StatusCode, resp.Body, tc.status)
		}
	}
	if resp := e.invoke(http.MethodGet, push.Path(), push.Query, ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	if len(e.refresh.got()) != 0 || len(e.bus.all()) != 0 || e.ticket().Value != "" {
		t.Fatal("a refused push reached the refresh function, the bus or the table")
	}
}

// Without a credential table the component route is not served, and
// ServeHTTP (the local stack's mount) routes it like Lambda.
func TestComponentRouteNeedsCredentials(t *testing.T) {
	cfg, err := callback.ParseConfig([]byte(platformDoc))
	if err != nil {
		t.Fatal(err)
	}
	h, err := callbacklambda.New(callbacklambda.Deps{Config: callback.StaticConfig(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/component/"+compID, strings.NewReader("<xml/>")))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", rec.Code)
	}
}

// The whole story with the real refresh function in process: the ticket
// push is stored, a sweep buys the platform's token, the authorized push
// is exchanged by the refresh function (the authorizer's access token is
// stored with its component_appid), a repeat of the push is acknowledged
// without a second exchange, and the authorizer's messages are then
// served at /wechat/{authorizer_appid} with the platform's key.
func TestAuthorizationWithTheRefreshFunction(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	store := dynamo.NewCredentialStore(db, table)
	sim := wechattest.NewComponentServer(wechattest.WithSeed(13))
	t.Cleanup(sim.Close)
	if err := sim.AddPlatform(compID, compSecret, compToken, compKey); err != nil {
		t.Fatal(err)
	}
	wc := wechat.NewClient(wechat.WithBaseURL(sim.URL))
	logs := &syncWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	refresh, err := refreshlambda.New(refreshlambda.Deps{Store: store, WeChat: wc, Component: wc, Authorizations: store, Logger: log,
		Apps: config.SourceFunc(func(context.Context) ([]byte, error) {
			return []byte(`{"apps":[{"type":"component","appid":"` + compID + `","secret":"` + compSecret + `"}]}`), nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := callback.ParseConfig([]byte(platformDoc))
	if err != nil {
		t.Fatal(err)
	}
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText}, func(_ context.Context, m *callback.Message) (callback.Reply, error) {
		return callback.TextReply{Content: "hello " + m.AppID}, nil
	})
	h, err := callbacklambda.New(callbacklambda.Deps{Config: callback.StaticConfig(cfg), Store: dynamo.NewDedupeStore(db, table),
		Routes: mux, Credentials: store, Refresh: refresh.Invoke, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &platformEnv{t: t, h: h, db: db, table: table, store: store}
	ctx := context.Background()

	pushes := sim.DueTicketPushes()
	if len(pushes) == 0 {
		t.Fatal("no ticket push")
	}
	wantStatus(t, e.deliver(pushes[0]), http.StatusOK, "success")
	if _, err := refresh.Invoke(ctx, []byte(`{"action":"sweep"}`)); err != nil {
		t.Fatal(err)
	}
	code, push, err := sim.Authorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(push), http.StatusOK, "success")
	rec, err := store.Get(ctx, authz, credential.AccessToken, true)
	if err != nil || rec.ComponentAppID != compID || !sim.AuthorizerTokenValid(authz, rec.Value, time.Now()) {
		t.Fatalf("authorizer token after the authorized push: %+v %v", rec.ComponentAppID, err)
	}
	// WeChat pushes the event again (it saw no success in time): the code
	// is not exchanged twice, and the answer is still success.
	wantStatus(t, e.deliver(push), http.StatusOK, "success")

	platform := callback.AppConfig{Type: callback.TypeComponent, AppID: compID, Token: compToken, EncodingAESKey: compKey}
	req, err := callbacktest.Seal(callbacktest.Text("gh_authorizer0001", "oUser", "hi", time.Now().Unix(), 77), platform,
		time.Now().Unix(), callbacktest.Nonce(), callbacktest.Random())
	if err != nil {
		t.Fatal(err)
	}
	resp := e.invoke(http.MethodPost, "/wechat/"+authz, req.Query.Encode(), string(req.Body))
	reply, err := callbacktest.Open([]byte(resp.Body), platform, req)
	if resp.StatusCode != 200 || err != nil || reply.Message.Get("Content") != "hello "+authz {
		t.Fatalf("authorizer message: %d %v %+v", resp.StatusCode, err, reply)
	}

	unauth, err := sim.Unauthorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(unauth), http.StatusOK, "success")
	if _, err := store.Get(ctx, authz, credential.AccessToken, true); !errors.Is(err, credential.ErrNotFound) {
		t.Fatalf("after unauthorized the authorizer's token is still stored: %v", err)
	}
	if strings.Contains(logs.w.(*bytes.Buffer).String(), code) {
		t.Fatal("the logs hold the authorization code")
	}
}

// Without REFRESH_FUNCTION_NAME (Deps.Refresh nil) tickets are still
// stored, but an authorization event answers 503, naming the variable in
// the log: acknowledging it would lose the code.
func TestAuthorizationWithoutRefreshFunction(t *testing.T) {
	e := newPlatformEnv(t, nil)
	cfg, err := callback.ParseConfig([]byte(platformDoc))
	if err != nil {
		t.Fatal(err)
	}
	if e.h, err = callbacklambda.New(callbacklambda.Deps{Config: callback.StaticConfig(cfg), Credentials: e.store, MaxSkew: -1,
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: e.logs}, nil))}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(e.nextTicketPush()), http.StatusOK, "success")
	_, push, err := e.sim.Authorize(compID, authz)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.deliver(push), http.StatusServiceUnavailable, "")
	if !strings.Contains(e.logs.String(), "REFRESH_FUNCTION_NAME") {
		t.Fatalf("the log does not name REFRESH_FUNCTION_NAME:\n%s", e.logs)
	}
}

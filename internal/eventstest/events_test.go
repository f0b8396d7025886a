package eventstest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appsID     = "wxcentral/apps"
	callbackID = "wxcentral/callback"
	refreshFn  = "wxcentral-refresh"
)

// repoFile reads a file relative to the module root.
func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type world struct {
	// sim is WeChat: the Official Account APIs and a third-party
	// platform's component APIs on one base URL, like api.weixin.qq.com.
	sim      *wechattest.ComponentServer
	appid    string
	kinds    map[string]int                  // credentials the sweep keeps, by credential id
	fns      map[string]*lambdatest.Function // by file-name prefix
	callback callback.AppConfig
}

func newWorld(t *testing.T) *world {
	t.Helper()
	appsDoc, cbDoc := repoFile(t, "examples/local/apps.json"), repoFile(t, "examples/local/callback.json")
	apps, err := config.ParseApps(appsDoc)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := callback.ParseConfig(cbDoc)
	if err != nil {
		t.Fatal(err)
	}
	cbConfig, err := callback.ParseConfig(cbDoc)
	if err != nil {
		t.Fatal(err)
	}
	sim, wecom := wechattest.NewComponentServer(), wechattest.NewWeComServer()
	t.Cleanup(sim.Close)
	t.Cleanup(wecom.Close)
	kinds := map[string]int{}
	for _, a := range apps.Apps {
		switch a.Type {
		case config.TypeMiniProgram:
			sim.AddMiniProgram(a.AppID, a.Secret)
		case config.TypeWeCom:
			if err := wecom.AddApp(a.CorpID, a.Agent, a.Secret); err != nil {
				t.Fatal(err)
			}
		case config.TypeComponent:
			entry, ok := cbConfig.App(a.AppID)
			if !ok {
				t.Fatalf("platform %s has no callback document entry", a.AppID)
			}
			if err := sim.AddPlatform(a.AppID, a.Secret, entry.Token, entry.EncodingAESKey); err != nil {
				t.Fatal(err)
			}
		default:
			sim.AddApp(a.AppID, a.Secret)
		}
		kinds[a.ID()] = len(a.Kinds())
	}
	_, table := dynamotest.NewTable(t)
	aws := fakeaws.New(t)
	aws.PutSecret(appsID, string(appsDoc))
	aws.PutSecret(callbackID, string(cbDoc))
	env := aws.Env()
	env["TABLE_NAME"] = table
	env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(t).Endpoint
	env["APPS_SECRET_ID"] = appsID
	env["CALLBACK_SECRET_ID"] = callbackID
	env["CALLBACK_MAX_SKEW"] = "0" // the samples carry a fixed, old timestamp
	env["WECHAT_API_BASE"] = sim.URL
	env["WECOM_API_BASE"] = wecom.URL
	env["REFRESH_FUNCTION_NAME"] = refreshFn
	w := &world{sim: sim, appid: apps.Apps[0].AppID, kinds: kinds, fns: map[string]*lambdatest.Function{}, callback: cb.Apps[0]}
	for _, name := range []string{"refresh", "token", "callback"} {
		w.fns[name] = lambdatest.Start(t, lambdatest.Build(t, name), env)
	}
	// The token function's forced refreshes reach the real refresh binary.
	aws.HandleInvoke(refreshFn, w.fns["refresh"].Invoke)
	w.pushTickets(t)
	return w
}

// pushTickets delivers the platform simulator's first ticket pushes to the
// callback binary, as WeChat does to /component/<component_appid>, so that
// the sweeps find a ticket to buy the platform's token with.
func (w *world) pushTickets(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range w.sim.DueTicketPushes() {
		ev, _ := json.Marshal(events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "POST /component/{component_appid}",
			RawPath: p.Path(), RawQueryString: p.Query, Body: p.Body, Headers: map[string]string{"content-type": "text/xml"},
			PathParameters: map[string]string{"component_appid": p.ComponentAppID},
			RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: "POST /component/{component_appid}",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: p.Path()}}})
		out, err := w.fns["callback"].Invoke(ctx, ev)
		var resp events.APIGatewayV2HTTPResponse
		if err != nil || json.Unmarshal(out, &resp) != nil || resp.StatusCode != 200 {
			t.Fatalf("ticket push for %s: %s %v\n%s", p.ComponentAppID, out, err, w.fns["callback"].Logs())
		}
	}
}

// TestEveryEventThroughItsBinary invokes each file of events/ on the
// function its name starts with and checks the answer against docs/:
// sweeps fill the table with values WeChat accepts, the token function
// serves them through both shapes, the callback answers the handshake and
// the encrypted pushes with the configured auto replies.
func TestEveryEventThroughItsBinary(t *testing.T) {
	w := newWorld(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	// Sweeps first, so the token samples find a stored token.
	sort.SliceStable(files, func(i, j int) bool {
		return strings.Contains(files[i], "refresh-schedule") && !strings.Contains(files[j], "refresh-schedule")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := map[string]bool{}
	for _, file := range files {
		name := filepath.Base(file)
		fn := w.fns[strings.SplitN(name, "-", 2)[0]]
		if fn == nil {
			t.Fatalf("%s: no function for this file name", name)
		}
		payload, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out, err := fn.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, fn.Logs())
		}
		seen[strings.SplitN(name, "-", 2)[0]] = true
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) { w.check(t, name, payload, out) })
	}
	for _, fn := range []string{"refresh", "token", "callback"} {
		if !seen[fn] {
			t.Errorf("events/ has no sample for the %s function", fn)
		}
	}
	for name, fn := range w.fns {
		for _, secret := range []string{w.callback.Token, w.callback.EncodingAESKey} {
			if strings.Contains(fn.Logs(), secret) {
				t.Errorf("%s logs contain a callback secret", name)
			}
		}
	}
}

func (w *world) check(t *testing.T, name string, payload, out []byte) {
	switch {
	case strings.HasPrefix(name, "refresh-force"):
		w.checkCredential(t, out)
	case strings.HasPrefix(name, "refresh-"):
		var sum struct {
			Results []struct {
				AppID, Kind, Outcome, Error string
				Version                     int64
			} `json:"results"`
		}
		if err := json.Unmarshal(out, &sum); err != nil {
			t.Fatalf("sweep answer %s: %v", out, err)
		}
		results := map[string]int{}
		for _, r := range sum.Results {
			results[r.AppID]++
			if w.kinds[r.AppID] == 0 || (r.Outcome != "refreshed" && r.Outcome != "fresh") || r.Error != "" || r.Version != 1 {
				t.Fatalf("sweep result %+v", r)
			}
		}
		if !maps.Equal(results, w.kinds) {
			t.Fatalf("sweep answer %s: results by app %v, want %v", out, results, w.kinds)
		}
	case strings.HasPrefix(name, "token-invoke"):
		w.checkCredential(t, out)
	case strings.HasPrefix(name, "token-"):
		resp := httpResponse(t, out)
		if resp.StatusCode != 200 || resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
		}
		w.checkCredential(t, []byte(resp.Body))
	case strings.HasPrefix(name, "callback-"):
		w.checkCallback(t, payload, httpResponse(t, out))
	default:
		t.Fatalf("no check for %s", name)
	}
}

// checkCredential checks a §6 credential object holding a value WeChat
// accepts now.
func (w *world) checkCredential(t *testing.T, data []byte) {
	t.Helper()
	var c tokenapi.Answer
	if err := json.Unmarshal(data, &c); err != nil || c.Error != "" {
		t.Fatalf("credential %s: %v", data, err)
	}
	now := time.Now()
	valid := w.sim.Valid
	if c.Kind == "jsapi_ticket" {
		valid = w.sim.TicketValid
	}
	if c.AppID != w.appid || c.Version < 1 || c.ExpiresIn < 7000 || c.ExpiresAt < now.Unix()+7000 || !valid(w.appid, c.Token, now) {
		t.Fatalf("credential %+v: not a value WeChat accepts now", c)
	}
}

func (w *world) checkCallback(t *testing.T, payload []byte, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(ev.RawQueryString)
	body := resp.Body
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if strings.HasPrefix(ev.RawPath, "/component/") {
		// A platform's ticket push (older than the one already stored, so
		// it is dropped) is answered success.
		if body != "success" {
			t.Fatalf("component push answered %q, want success", body)
		}
		return
	}
	if ev.RequestContext.HTTP.Method == "GET" {
		if body != q.Get("echostr") || !strings.HasPrefix(resp.Headers["Content-Type"], "text/plain") {
			t.Fatalf("handshake answered %q (%v), want the echostr", body, resp.Headers)
		}
		return
	}
	s := &callbacktest.Sender{AppID: w.appid, Token: w.callback.Token, EncodingAESKey: w.callback.EncodingAESKey}
	plain, err := s.OpenReply([]byte(body), q.Get("nonce"))
	if err != nil {
		t.Fatalf("reply does not open: %v", err)
	}
	m, err := callback.ParseMessage([]byte(plain))
	if err != nil || m.MsgType != "text" {
		t.Fatalf("reply %q: %v", plain, err)
	}
	matched := false
	for _, ar := range w.callback.AutoReplies {
		matched = matched || m.Content == ar.Reply
	}
	if !matched {
		t.Fatalf("reply content %q is none of the configured auto replies", m.Content)
	}
}

func httpResponse(t *testing.T, out []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

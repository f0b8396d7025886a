package refreshlambda_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const appid = "wx0123456789abcdef"

func newHandler(t *testing.T, doc string) (*refreshlambda.Handler, *wechattest.Server, *bytes.Buffer) {
	t.Helper()
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp(appid, "secret-0123")
	client, table := dynamotest.NewTable(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	src := config.SourceFunc(func(context.Context) ([]byte, error) { return []byte(doc), nil })
	h, err := refreshlambda.New(refreshlambda.Deps{
		Store:           dynamo.NewCredentialStore(client, table),
		WeChat:          wechat.NewClient(wechat.WithBaseURL(sim.URL)),
		Apps:            src,
		ForceDailyLimit: 10,
		Logger:          logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, sim, &logs
}

func TestInvokeDispatch(t *testing.T) {
	h, sim, _ := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123","tickets":["wx_card"]}]}`)
	ctx := context.Background()
	sweeps := []struct{ name, payload string }{
		{"scheduler input {}", `{}`},
		{"scheduler custom input", `{"source":"schedule","note":"any shape"}`},
		{"rule Scheduled Event", `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`},
		{"sweep action", `{"action":"sweep"}`},
		{"unknown action sweeps", `{"action":"dance"}`},
		{"null", `null`},
		{"a string", `"tick"`},
		{"a list", `[1,2]`},
	}
	for i, tc := range sweeps {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Handle(ctx, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			sum, ok := out.(refresh.Summary)
			if !ok || len(sum.Results) != 2 {
				t.Fatalf("answer %#v, want a sweep summary of 2 results", out)
			}
			want := refresh.OutcomeFresh
			if i == 0 {
				want = refresh.OutcomeRefreshed
			}
			for _, r := range sum.Results {
				if r.Outcome != want {
					t.Fatalf("%+v, want %s", r, want)
				}
			}
		})
	}
	token, _ := sim.CurrentToken(appid)
	t.Run("force", func(t *testing.T) {
		out, err := h.Handle(ctx, []byte(`{"action":"force","appid":"`+appid+`","stale_token":"`+token+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, ok := out.(tokenapi.Answer)
		if !ok || resp.Error != "" || resp.Token == token || resp.Version != 2 {
			t.Fatalf("answer %#v", out)
		}
	})
	t.Run("force with a malformed body", func(t *testing.T) {
		out, err := h.Handle(ctx, []byte(`{"action":"force","appid":12}`))
		resp, ok := out.(tokenapi.Answer)
		if err != nil || !ok || resp.Error != tokenapi.CodeBadRequest {
			t.Fatalf("answer %#v %v", out, err)
		}
	})
}

func TestInvokeBadSecretDocument(t *testing.T) {
	h, _, logs := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123"},{"appid":"`+appid+`","secret":"secret-0123"}]}`)
	_, err := h.Handle(context.Background(), []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "apps[1].appid: duplicate of apps[0].appid") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error()+logs.String(), "secret-0123") {
		t.Fatal("secret leaked")
	}
}

func TestNewRequiresItsDependencies(t *testing.T) {
	if _, err := refreshlambda.New(refreshlambda.Deps{}); err == nil {
		t.Fatal("New without a store, a WeChat client and an apps document succeeded")
	}
}

// A force request with a field of the wrong type is answered bad_request
// naming the field, as a payload (docs/refresh.md, docs/token-api.md: errors name the field).
func TestInvokeForceBadFieldNamesIt(t *testing.T) {
	h, _, _ := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123"}]}`)
	tests := []struct{ name, payload, field string }{
		{"appid a number", `{"action":"force","appid":12,"stale_token":"x"}`, "appid"},
		{"kind a list", `{"action":"force","appid":"` + appid + `","kind":["access_token"],"stale_token":"x"}`, "kind"},
		{"stale_token an object", `{"action":"force","appid":"` + appid + `","stale_token":{}}`, "stale_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Handle(context.Background(), []byte(tc.payload))
			resp, ok := out.(tokenapi.Answer)
			if err != nil || !ok || resp.Error != tokenapi.CodeBadRequest || !strings.HasPrefix(resp.Message, tc.field+": ") {
				t.Fatalf("answer %#v %v, want bad_request naming %s", out, err, tc.field)
			}
		})
	}
}

// A mini-program's access_token is kept like an Official Account's, under
// its appid; its entry may not ask for tickets.
func TestMiniProgram(t *testing.T) {
	h, sim, _ := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123"},{"type":"miniprogram","appid":"wxmini0123456789ab","secret":"mini-secret"}]}`)
	sim.AddMiniProgram("wxmini0123456789ab", "mini-secret")
	out, err := h.Handle(context.Background(), []byte(`{}`))
	sum, ok := out.(refresh.Summary)
	if err != nil || !ok || len(sum.Results) != 2 {
		t.Fatalf("sweep: %#v %v", out, err)
	}
	if r := sum.Results[1]; r.AppID != "wxmini0123456789ab" || r.Kind != "access_token" || r.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("mini-program result %+v", r)
	}
	h, _, _ = newHandler(t, `{"apps":[{"type":"miniprogram","appid":"wxmini0123456789ab","secret":"mini-secret","tickets":["jsapi"]}]}`)
	if _, err := h.Handle(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "apps[0].tickets: a miniprogram has no tickets") {
		t.Fatalf("err = %v", err)
	}
}

// The authorize and unauthorize actions are dispatched to the refresher;
// a platform the apps document does not configure is unknown_app, a
// malformed payload bad_request naming the field.
func TestInvokeAuthorizationActions(t *testing.T) {
	h, _, logs := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123"}]}`)
	ctx := context.Background()
	cases := []struct{ payload, code, msg string }{
		{`{"action":"authorize","component_appid":"wxc0mp0nent0000001","authorizer_appid":"wxauth0rizer00000a","authorization_code":"queryauthcode@@@secret-code","create_time":1800000000}`,
			tokenapi.CodeUnknownApp, "wxc0mp0nent0000001"},
		{`{"action":"unauthorize","component_appid":"wxc0mp0nent0000001","authorizer_appid":"wxauth0rizer00000a","create_time":1800000000}`,
			tokenapi.CodeUnknownApp, "type component"},
		{`{"action":"authorize","component_appid":"wxc0mp0nent0000001","authorizer_appid":"wxauth0rizer00000a","create_time":"soon"}`,
			tokenapi.CodeBadRequest, "create_time: must be a number"},
		{`{"action":"unauthorize","component_appid":"wxc0mp0nent0000001","create_time":1800000000}`,
			tokenapi.CodeBadRequest, "authorizer_appid: missing"},
		{`{"action":"unauthorize","component_appid":"wxc0mp0nent0000001","authorizer_appid":"wx#1","create_time":1800000000}`,
			tokenapi.CodeBadRequest, "authorizer_appid: must not contain"},
	}
	for _, c := range cases {
		out, err := h.Handle(ctx, []byte(c.payload))
		if err != nil {
			t.Fatal(err)
		}
		a, ok := out.(tokenapi.Answer)
		if !ok || a.Error != c.code || !strings.Contains(a.Message, c.msg) {
			t.Errorf("%s answered %#v", c.payload, out)
		}
	}
	if strings.Contains(logs.String(), "secret-code") {
		t.Error("an authorization code was logged")
	}
}

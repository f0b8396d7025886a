package refresh_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// noWeChat fails the test on any call: for paths that must not reach WeChat.
type noWeChat struct{ t *testing.T }

func (n noWeChat) StableToken(context.Context, string, string, bool) (wechat.Token, error) {
	n.t.Error("unexpected stable_token call")
	return wechat.Token{}, &wechat.Error{Code: -1, Msg: "unexpected"}
}

func (n noWeChat) GetTicket(context.Context, string, string) (wechat.Ticket, error) {
	n.t.Error("unexpected getticket call")
	return wechat.Ticket{}, &wechat.Error{Code: -1, Msg: "unexpected"}
}

func staticApps(apps ...refresh.App) refresh.AppsFunc {
	return func(context.Context) ([]refresh.App, error) { return apps, nil }
}

func TestForceResponseJSON(t *testing.T) {
	tests := []struct {
		name string
		in   tokenapi.Answer
		want string
	}{
		{"credential", tokenapi.Answer{AppID: "wxa", Kind: credential.AccessToken, Token: "T", ExpiresAt: 100, ExpiresIn: 50, Version: 2},
			`{"appid":"wxa","kind":"access_token","token":"T","expires_at":100,"expires_in":50,"version":2}`},
		{"error", tokenapi.Answer{Error: tokenapi.CodeForceTooSoon, Message: "m"}, `{"error":"force_too_soon","message":"m"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.in)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s %v, want %s", b, err, tc.want)
			}
		})
	}
	b, _ := json.Marshal(refresh.Summary{Results: []refresh.Result{{AppID: "wxa", Kind: credential.JSAPITicket, Outcome: refresh.OutcomeFailed,
		Version: 3, ExpiresAt: 9, Error: "configuration: errcode 40164"}}})
	want := `{"results":[{"appid":"wxa","kind":"jsapi_ticket","outcome":"failed","version":3,"expires_at":9,"error":"configuration: errcode 40164"}]}`
	if string(b) != want {
		t.Fatalf("summary %s, want %s", b, want)
	}
}

// Requests that never reach the store's lease or WeChat.
func TestForceRejectsBadRequests(t *testing.T) {
	client, table := dynamotest.NewTable(t)
	store := dynamo.NewCredentialStore(client, table)
	now := time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if err := store.Put(ctx, credential.Record{Credential: credential.Credential{AppID: "wxa", Kind: credential.AccessToken,
		Value: "CURRENT", ExpiresAt: now.Add(time.Hour), RefreshedAt: now.Add(-time.Hour), Version: 4}}); err != nil {
		t.Fatal(err)
	}
	r := refresh.New(refresh.Options{Store: store, WeChat: noWeChat{t}, Now: func() time.Time { return now },
		Apps: staticApps(refresh.App{AppID: "wxa", Secret: "s", Kinds: []credential.Kind{credential.AccessToken}}), ForceDailyLimit: 10,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	tests := []struct {
		name      string
		req       tokenapi.ForceRequest
		wantError string
		wantToken string
	}{
		{"missing appid", tokenapi.ForceRequest{Kind: "access_token", StaleToken: "x"}, tokenapi.CodeBadRequest, ""},
		{"bad kind", tokenapi.ForceRequest{AppID: "wxa", Kind: "refresh_token", StaleToken: "x"}, tokenapi.CodeBadRequest, ""},
		{"missing stale token", tokenapi.ForceRequest{AppID: "wxa"}, tokenapi.CodeBadRequest, ""},
		{"unknown app", tokenapi.ForceRequest{AppID: "wxnone", StaleToken: "x"}, tokenapi.CodeUnknownApp, ""},
		{"kind not configured", tokenapi.ForceRequest{AppID: "wxa", Kind: "jsapi_ticket", StaleToken: "x"}, tokenapi.CodeUnknownApp, ""},
		{"already rotated: stored value returned", tokenapi.ForceRequest{AppID: "wxa", StaleToken: "OLD"}, "", "CURRENT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Force(ctx, tc.req)
			if got.Error != tc.wantError || got.Token != tc.wantToken {
				t.Fatalf("got %+v", got)
			}
			if tc.wantToken != "" && (got.Version != 4 || got.ExpiresIn != 3600 || got.ExpiresAt != now.Add(time.Hour).Unix()) {
				t.Fatalf("credential fields: %+v", got)
			}
		})
	}
}

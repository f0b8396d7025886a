package lambdainvoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/lambdainvoke"
)

func TestForceRefreshOverLambdaInvoke(t *testing.T) {
	aws := fakeaws.New(t)
	var got []tokenapi.ForceRequest
	aws.HandleInvoke("refresh", func(_ context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		got = append(got, req)
		switch req.AppID {
		case "wxok":
			return []byte(`{"appid":"wxok","kind":"access_token","token":"tok-new","expires_at":1800007200,"expires_in":7200,"version":8}`), nil
		case "wxbudget":
			return []byte(`{"error":"force_budget_exhausted","message":"10 of 10 used"}`), nil
		case "wxunknown":
			return []byte(`{"error":"unknown_app","message":"not configured"}`), nil
		case "wxgarbage":
			return []byte(`{"appid":"wxgarbage"}`), nil
		}
		return nil, errors.New("refresh crashed: " + req.AppID)
	})
	inv := lambdainvoke.New(lambda.NewFromConfig(aws.AWSConfig()), "refresh")
	ctx := context.Background()

	c, err := inv.ForceRefresh(ctx, "wxok", credential.AccessToken, "tok-old")
	want := credential.Credential{AppID: "wxok", Kind: credential.AccessToken, Value: "tok-new", ExpiresAt: time.Unix(1800007200, 0), Version: 8}
	if err != nil || c != want {
		t.Fatalf("ForceRefresh = %+v, %v; want %+v", c, err, want)
	}
	if got[0] != (tokenapi.ForceRequest{Action: "force", AppID: "wxok", Kind: credential.AccessToken, StaleToken: "tok-old"}) {
		t.Fatalf("request %+v", got[0])
	}

	tests := []struct {
		appid   string
		is      error
		msgHas  string
		refresh bool // a *RefreshError
	}{
		{"wxbudget", tokenclient.ErrForceBudgetExhausted, "force_budget_exhausted", true},
		{"wxunknown", credential.ErrNotFound, "unknown_app", true},
		{"wxgarbage", nil, "no token", false},
		{"wxcrash", nil, "Unhandled", false},
	}
	for _, tt := range tests {
		t.Run(tt.appid, func(t *testing.T) {
			_, err := inv.ForceRefresh(ctx, tt.appid, credential.AccessToken, "tok-secret-value")
			if err == nil || !strings.Contains(err.Error(), tt.msgHas) || !strings.Contains(err.Error(), tt.appid) {
				t.Fatalf("err = %v, want one naming %s and %q", err, tt.appid, tt.msgHas)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
			var re *tokenclient.RefreshError
			if errors.As(err, &re) != tt.refresh {
				t.Fatalf("err = %v: *RefreshError %v, want %v", err, !tt.refresh, tt.refresh)
			}
			if strings.Contains(err.Error(), "tok-secret-value") {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}

	missing := lambdainvoke.New(lambda.NewFromConfig(aws.AWSConfig()), "no-such-function")
	if _, err := missing.ForceRefresh(ctx, "wxok", credential.AccessToken, "t"); err == nil || !strings.Contains(err.Error(), "no-such-function") {
		t.Fatalf("missing function: %v", err)
	}
}

package tokenlambda_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver/tokenlambda"
)

func TestNew(t *testing.T) {
	if _, err := tokenlambda.New(tokenlambda.Deps{}); err == nil {
		t.Fatal("New without a reader and an invalidator succeeded")
	}
	now := time.Unix(1_800_000_000, 0)
	reader := tokenclient.ReaderFunc(func(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
		return credential.Credential{AppID: appid, Kind: kind, Value: "v1", ExpiresAt: now.Add(time.Hour), Version: 1}, nil
	})
	inv := tokenclient.InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, _ string) (credential.Credential, error) {
		return credential.Credential{AppID: appid, Kind: kind, Value: "v2", ExpiresAt: now.Add(2 * time.Hour), Version: 2}, nil
	})
	h, err := tokenlambda.New(tokenlambda.Deps{Reader: reader, Invalidator: inv, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// HTTP, with the clock given: expires_in counts from it.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/token?appid=wx1", nil))
	var a tokenapi.Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != 200 || a.Token != "v1" || a.ExpiresIn != 3600 {
		t.Fatalf("GET /token: %d %s", rec.Code, rec.Body)
	}
	// Direct invoke of an invalidation reaches the invalidator.
	out, err := h.Invoke(context.Background(), []byte(`{"action":"invalidate","appid":"wx1","token":"v1"}`))
	if err != nil || json.Unmarshal(out, &a) != nil || a.Token != "v2" || a.Version != 2 {
		t.Fatalf("invalidate: %s %v", out, err)
	}
}

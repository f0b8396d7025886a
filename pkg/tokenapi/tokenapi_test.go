package tokenapi_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

// AppendJSON must produce what encoding/json would for the same object,
// with every credential field present (zeros included) or exactly
// {"error","message"}.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tests := []tokenapi.Answer{
		{AppID: "wx0123456789abcdef", Kind: "access_token", Token: "ABC_def-123", ExpiresAt: 1800007200, ExpiresIn: 7200, Version: 3},
		{AppID: "wx", Kind: "jsapi_ticket", Token: "t", ExpiresAt: 1, ExpiresIn: 0, Version: 0},
		{AppID: "corp:agent", Kind: "access_token", Token: "t", ExpiresAt: 1, ExpiresIn: 1, Version: 1},
		{Error: "bad_request", Message: `kind: must be one of "a" <b> & c\d` + "\n\x01é\xff"},
		{Error: "unknown_app", Message: ""},
	}
	for _, a := range tests {
		got := a.AppendJSON(nil)
		var gotMap, wantMap map[string]any
		if err := json.Unmarshal(got, &gotMap); err != nil {
			t.Fatalf("%q is not JSON: %v", got, err)
		}
		var want []byte
		if a.Error != "" {
			want, _ = json.Marshal(map[string]any{"error": a.Error, "message": a.Message})
		} else {
			want, _ = json.Marshal(map[string]any{"appid": a.AppID, "kind": a.Kind, "token": a.Token,
				"expires_at": a.ExpiresAt, "expires_in": a.ExpiresIn, "version": a.Version})
		}
		_ = json.Unmarshal(want, &wantMap)
		if !reflect.DeepEqual(gotMap, wantMap) {
			t.Fatalf("AppendJSON = %s, want %s", got, want)
		}
		if m, err := json.Marshal(a); err != nil || string(m) != string(got) {
			t.Fatalf("json.Marshal = %s, %v; want the AppendJSON bytes %s", m, err, got)
		}
		var back tokenapi.Answer
		if err := json.Unmarshal(got, &back); err != nil || (back != a && utf8.ValidString(a.Message)) {
			t.Fatalf("round trip %+v, %v; want %+v", back, err, a)
		}
	}
}

func TestAnswerForCountsDown(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cred := credential.Credential{AppID: "wx1", Kind: credential.AccessToken, Value: "v", ExpiresAt: now.Add(90 * time.Second), Version: 4}
	a := tokenapi.AnswerFor(cred, now)
	if a.ExpiresIn != 90 || a.ExpiresAt != now.Unix()+90 || a.Token != "v" || a.Version != 4 || a.AppID != "wx1" {
		t.Fatalf("answer %+v", a)
	}
	if a := tokenapi.AnswerFor(cred, now.Add(time.Hour)); a.ExpiresIn != 0 {
		t.Fatalf("expired: expires_in %d, want 0", a.ExpiresIn)
	}
	if got := a.Credential(); got.Value != "v" || !got.ExpiresAt.Equal(cred.ExpiresAt) || got.Version != 4 || got.Kind != cred.Kind {
		t.Fatalf("Credential() = %+v", got)
	}
}

// The force request's field names are the refresh function's contract.
func TestForceRequestJSON(t *testing.T) {
	b, _ := json.Marshal(tokenapi.NewForceRequest("wx1", credential.AccessToken, "old"))
	if string(b) != `{"action":"force","appid":"wx1","kind":"access_token","stale_token":"old"}` {
		t.Fatalf("%s", b)
	}
	b, _ = json.Marshal(tokenapi.Request{Action: tokenapi.ActionInvalidate, AppID: "wx1", Token: "old"})
	if string(b) != `{"action":"invalidate","appid":"wx1","token":"old"}` {
		t.Fatalf("%s", b)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	a := tokenapi.Answer{AppID: "wx0123456789abcdef", Kind: "access_token", Token: "token-value-of-realistic-length-0123456789abcdefghijklmnopqrstuvwxyz",
		ExpiresAt: 1800007200, ExpiresIn: 7200, Version: 3}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = a.AppendJSON(buf[:0])
	}
}

package tokenserver

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/tokenclient"
)

// appendAnswer must produce what encoding/json would for the same object.
func TestAppendAnswerMatchesEncodingJSON(t *testing.T) {
	tests := []tokenclient.Answer{
		{AppID: "wx0123456789abcdef", Kind: "access_token", Token: "ABC_def-123", ExpiresAt: 1800007200, ExpiresIn: 7200, Version: 3},
		{AppID: "wx", Kind: "jsapi_ticket", Token: "t", ExpiresAt: 1, ExpiresIn: 0, Version: 0},
		{Error: "bad_request", Message: `kind: must be one of "a" <b> & c\d` + "\n\x01é\xff"},
		{Error: "unknown_app", Message: ""},
	}
	for _, a := range tests {
		got := appendAnswer(nil, a)
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
			t.Fatalf("appendAnswer = %s, want %s", got, want)
		}
	}
}

func TestQueryParamsMatchesParseQuery(t *testing.T) {
	tests := []string{
		"", "appid=wx1", "appid=wx1&kind=jsapi_ticket", "kind=x&appid=a&appid=b", "appid=a%20b&kind=access%5Ftoken",
		"x=1&appid=&kind=", "appid=a+b", "appid", "&&appid=z&&",
	}
	for _, raw := range tests {
		appid, kind, err := queryParams(raw)
		q, perr := url.ParseQuery(raw)
		if err != nil || perr != nil {
			t.Fatalf("%q: %v / %v", raw, err, perr)
		}
		if appid != q.Get("appid") || kind != q.Get("kind") {
			t.Fatalf("%q: got (%q,%q), ParseQuery (%q,%q)", raw, appid, kind, q.Get("appid"), q.Get("kind"))
		}
	}
	if _, _, err := queryParams("appid=%zz"); err == nil || err.Error()[:5] != "appid" {
		t.Fatalf("bad escape: %v", err)
	}
}

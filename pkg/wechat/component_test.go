package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testComponentAppID = "wxc0mp0nent0000001"
	// Characters that change under query escaping, so a scrubber matching
	// only one form is caught.
	testComponentSecret = "comp s3cr3t+/=&0123456789"
	testVerifyTicket    = "ticket@@@VERIFY-abcdefghijklmnop"
	testAuthorizerAppID = "wxauth0rizer000001"
	testRefreshToken    = "refreshtoken@@@REFRESH-0123456789"
	testAuthCode        = "queryauthcode@@@CODE-0123456789"
)

// decodeBody reads r's JSON body into a map and checks it has exactly want.
func decodeBody(t *testing.T, r *http.Request, want map[string]string) {
	t.Helper()
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		t.Errorf("decode body: %v", err)
		return
	}
	if len(body) != len(want) {
		t.Errorf("body has %d fields, want %d: %v", len(body), len(want), keys(body))
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%s] = %v, want %v", k, body[k], v)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestComponentTokenSendsDocumentedFieldsAndUsesReturnedExpiresIn(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/component/api_component_token" || r.URL.RawQuery != "" {
			t.Errorf("got %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		}
		decodeBody(t, r, map[string]string{
			"component_appid": testComponentAppID, "component_appsecret": testComponentSecret,
			"component_verify_ticket": testVerifyTicket,
		})
		writeJSON(w, map[string]any{"component_access_token": testToken, "expires_in": 7000})
	})
	tok, err := c.ComponentToken(context.Background(), testComponentAppID, testComponentSecret, testVerifyTicket)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != testToken || tok.ExpiresIn != 7000*time.Second || !tok.ReceivedAt.Equal(fixedNow) {
		t.Fatalf("token = %+v", tok)
	}
}

func TestStartPushTicketSendsAppIDAndSecret(t *testing.T) {
	calls := 0
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/component/api_start_push_ticket" || r.URL.RawQuery != "" {
			t.Errorf("got %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		}
		decodeBody(t, r, map[string]string{"component_appid": testComponentAppID, "component_secret": testComponentSecret})
		writeJSON(w, map[string]any{"errcode": 0, "errmsg": "in a normal state"})
	})
	if err := c.StartPushTicket(context.Background(), testComponentAppID, testComponentSecret); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("calls = %d", calls)
	}
}

func TestQueryAuthExchangesCodeForAuthorizationInfo(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/component/api_query_auth" {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if q := r.URL.Query(); q.Get("component_access_token") != testToken || len(q) != 1 {
			t.Errorf("query = %v", q)
		}
		decodeBody(t, r, map[string]string{"component_appid": testComponentAppID, "authorization_code": testAuthCode})
		writeJSON(w, map[string]any{"authorization_info": map[string]any{
			"authorizer_appid": testAuthorizerAppID, "authorizer_access_token": "AUTHTOKEN", "expires_in": 7200,
			"authorizer_refresh_token": testRefreshToken,
			"func_info": []any{
				map[string]any{"funcscope_category": map[string]any{"id": 1}},
				map[string]any{"funcscope_category": map[string]any{"id": 15}, "confirm_info": map[string]any{"need_confirm": 0}},
			},
		}})
	})
	info, err := c.QueryAuth(context.Background(), testToken, testComponentAppID, testAuthCode)
	if err != nil {
		t.Fatal(err)
	}
	if info.AuthorizerAppID != testAuthorizerAppID || info.RefreshToken != testRefreshToken ||
		info.AccessToken.AccessToken != "AUTHTOKEN" || info.AccessToken.ExpiresIn != 7200*time.Second ||
		!info.AccessToken.ReceivedAt.Equal(fixedNow) || len(info.FuncScopes) != 2 || info.FuncScopes[1] != 15 {
		t.Fatalf("info = %+v", info)
	}
}

func TestQueryAuthWithoutAPIPermissionHasNoAccessToken(t *testing.T) {
	_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"authorization_info": map[string]any{"authorizer_appid": testAuthorizerAppID}})
	})
	info, err := c.QueryAuth(context.Background(), testToken, testComponentAppID, testAuthCode)
	if err != nil {
		t.Fatal(err)
	}
	if info.AccessToken != (Token{}) || info.RefreshToken != "" {
		t.Fatalf("info = %+v, want no tokens", info)
	}
}

func TestAuthorizerTokenReportsRefreshTokenRotation(t *testing.T) {
	for _, tc := range []struct {
		name        string
		returned    any // authorizer_refresh_token in the answer; nil: absent
		wantRefresh string
		wantRotated bool
	}{
		{"same", testRefreshToken, testRefreshToken, false},
		{"rotated", "refreshtoken@@@NEW", "refreshtoken@@@NEW", true},
		{"absent keeps the one sent", nil, testRefreshToken, false},
		{"empty keeps the one sent", "", testRefreshToken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/component/api_authorizer_token" {
					t.Errorf("got %s %s", r.Method, r.URL.Path)
				}
				if q := r.URL.Query(); q.Get("component_access_token") != testToken || len(q) != 1 {
					t.Errorf("query = %v", q)
				}
				decodeBody(t, r, map[string]string{
					"component_appid": testComponentAppID, "authorizer_appid": testAuthorizerAppID,
					"authorizer_refresh_token": testRefreshToken,
				})
				ans := map[string]any{"authorizer_access_token": "AUTHTOKEN", "expires_in": 7200}
				if tc.returned != nil {
					ans["authorizer_refresh_token"] = tc.returned
				}
				writeJSON(w, ans)
			})
			at, err := c.AuthorizerToken(context.Background(), testToken, testComponentAppID, testAuthorizerAppID, testRefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if at.AccessToken.AccessToken != "AUTHTOKEN" || at.AccessToken.ExpiresIn != 7200*time.Second ||
				at.RefreshToken != tc.wantRefresh || at.Rotated != tc.wantRotated {
				t.Fatalf("answer = %+v", at)
			}
		})
	}
}

// componentCalls makes each component API call once against c.
var componentCalls = map[string]func(c *Client) error{
	"api_component_token": func(c *Client) error {
		_, err := c.ComponentToken(context.Background(), testComponentAppID, testComponentSecret, testVerifyTicket)
		return err
	},
	"api_start_push_ticket": func(c *Client) error {
		return c.StartPushTicket(context.Background(), testComponentAppID, testComponentSecret)
	},
	"api_query_auth": func(c *Client) error {
		_, err := c.QueryAuth(context.Background(), testToken, testComponentAppID, testAuthCode)
		return err
	},
	"api_authorizer_token": func(c *Client) error {
		_, err := c.AuthorizerToken(context.Background(), testToken, testComponentAppID, testAuthorizerAppID, testRefreshToken)
		return err
	},
}

func TestComponentErrcodesAreClassifiedPerAPI(t *testing.T) {
	for _, tc := range []struct {
		api    string
		code   int
		want   Class
		reauth bool
	}{
		// These two send the AppSecret: 40001 is a wrong secret, not a token.
		{"api_component_token", 40001, ClassConfiguration, false},
		{"api_component_token", 40125, ClassConfiguration, false},
		{"api_start_push_ticket", 40001, ClassConfiguration, false},
		{"api_component_token", 61005, ClassConfiguration, false},
		{"api_component_token", 61006, ClassConfiguration, false},
		{"api_component_token", 61004, ClassConfiguration, false},
		{"api_component_token", 40164, ClassConfiguration, false},
		{"api_component_token", 45009, ClassDailyQuota, false},
		{"api_component_token", -1, ClassTransient, false},
		// These authenticate with component_access_token: 40001 rejects it.
		{"api_query_auth", 40001, ClassTokenRejected, false},
		{"api_query_auth", 42001, ClassTokenRejected, false},
		{"api_authorizer_token", 40001, ClassTokenRejected, false},
		{"api_authorizer_token", 42001, ClassTokenRejected, false},
		{"api_authorizer_token", 61023, ClassConfiguration, true},
		{"api_authorizer_token", 61004, ClassConfiguration, false},
		{"api_authorizer_token", 45009, ClassDailyQuota, false},
		{"api_authorizer_token", -1, ClassTransient, false},
	} {
		_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": tc.code, "errmsg": "simulated rid: 1"})
		})
		err := componentCalls[tc.api](c)
		var we *Error
		if !errors.As(err, &we) || we.Code != tc.code || we.API != tc.api {
			t.Errorf("%s errcode %d: err = %#v", tc.api, tc.code, err)
			continue
		}
		if got := ErrorClass(err); got != tc.want {
			t.Errorf("%s errcode %d: class %v, want %v", tc.api, tc.code, got, tc.want)
		}
		if got := IsReauthorizationRequired(err); got != tc.reauth {
			t.Errorf("%s errcode %d: IsReauthorizationRequired = %v", tc.api, tc.code, got)
		}
	}
}

func TestComponentProtocolViolationsAreProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		api    string
		answer map[string]any
		field  string
	}{
		{"api_component_token", map[string]any{"expires_in": 7200}, "component_access_token"},
		{"api_component_token", map[string]any{"component_access_token": "T", "expires_in": 0}, "expires_in"},
		{"api_component_token", map[string]any{"component_access_token": "T", "expires_in": 86401}, "expires_in"},
		{"api_query_auth", map[string]any{"authorization_info": map[string]any{}}, "authorizer_appid"},
		{"api_query_auth", map[string]any{"authorization_info": map[string]any{"authorizer_appid": "wx1", "authorizer_access_token": "T"}}, "expires_in"},
		{"api_authorizer_token", map[string]any{"expires_in": 7200}, "authorizer_access_token"},
		{"api_authorizer_token", map[string]any{"authorizer_access_token": "T", "expires_in": -5}, "expires_in"},
	} {
		_, c := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tc.answer) })
		err := componentCalls[tc.api](c)
		var pe *ProtocolError
		if !errors.As(err, &pe) || ErrorClass(err) != ClassProtocol || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s answer %v: err = %v, want a ProtocolError naming %s", tc.api, tc.answer, err, tc.field)
		}
	}
}

func TestComponentCallsRejectEmptyInputNamingTheField(t *testing.T) {
	ctx := context.Background()
	c := NewClient(WithBaseURL("http://127.0.0.1:1"))
	for _, tc := range []struct {
		err   error
		field string
	}{
		{func() error { _, err := c.ComponentToken(ctx, "", "s", "t"); return err }(), "component_appid"},
		{func() error { _, err := c.ComponentToken(ctx, "a", "", "t"); return err }(), "component_appsecret"},
		{func() error { _, err := c.ComponentToken(ctx, "a", "s", ""); return err }(), "component_verify_ticket"},
		{c.StartPushTicket(ctx, "a", ""), "component_secret"},
		{func() error { _, err := c.QueryAuth(ctx, "", "a", "c"); return err }(), "component_access_token"},
		{func() error { _, err := c.QueryAuth(ctx, "t", "a", ""); return err }(), "authorization_code"},
		{func() error { _, err := c.AuthorizerToken(ctx, "t", "a", "", "r"); return err }(), "authorizer_appid"},
		{func() error { _, err := c.AuthorizerToken(ctx, "t", "a", "b", ""); return err }(), "authorizer_refresh_token"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.field) {
			t.Errorf("err = %v, want one naming %s", tc.err, tc.field)
		}
	}
}

// TestComponentErrorsNeverCarrySecrets drives every call into an errcode
// answer, an HTTP error and a dropped connection and checks that no secret,
// ticket, token or refresh token appears in the error text.
func TestComponentErrorsNeverCarrySecrets(t *testing.T) {
	secrets := []string{testComponentSecret, testVerifyTicket, testToken, testRefreshToken, testAuthCode}
	answers := map[string]http.HandlerFunc{
		"errcode": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential rid: 1"})
		},
		"http 502": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) },
		"drop": func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		},
		"not json": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>" + r.URL.RawQuery)) },
	}
	for name, h := range answers {
		_, c := newServer(t, h)
		for api, call := range componentCalls {
			err := call(c)
			if err == nil {
				t.Fatalf("%s/%s: no error", name, api)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%s/%s: error %q carries a secret", name, api, err)
				}
			}
		}
	}
}

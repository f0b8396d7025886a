package devstack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	var got []string
	invoke := func(_ context.Context, payload []byte) ([]byte, error) {
		got = append(got, string(payload))
		if strings.Contains(string(payload), "boom") {
			return nil, errors.New("apps document: apps[0].secret: missing")
		}
		return []byte(`{"results":[]}`), nil
	}
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.PathValue("appid")) })
	}
	var logs strings.Builder
	h := accessLog(slog.New(slog.NewTextHandler(&logs, nil)), routes(named("token"), named("callback"), invoke))
	cases := []struct {
		method, target, body string
		status               int
		want                 string
	}{
		{"GET", "/token?appid=wx1", "", 200, "token"},
		{"POST", "/token/invalidate", "{}", 200, "token"},
		{"DELETE", "/token", "", 200, "token"}, // the token server answers its own 405
		{"GET", "/wechat/wx1?signature=s&echostr=e", "", 200, "callback wx1"},
		{"POST", "/wechat/wx1", "<xml/>", 200, "callback wx1"},
		{"PUT", "/wechat/wx1", "", 405, ""},
		{"POST", "/component/wxc1", "<xml/>", 200, "callback"},
		{"GET", "/component/wxc1", "", 405, ""},
		{"POST", "/dev/refresh", `{"action":"sweep"}`, 200, `{"results":[]}`},
		{"POST", "/dev/refresh", "", 200, `{"results":[]}`},
		{"POST", "/dev/refresh", "not json", 400, "payload is not JSON"},
		{"POST", "/dev/refresh", `{"action":"boom"}`, 500, `"errorMessage":"apps document: apps[0].secret: missing"`},
		{"GET", "/dev/refresh", "", 405, ""},
		{"GET", "/", "", 200, "POST /dev/refresh"},
		{"GET", "/nothing", "", 404, ""},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body)))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %q, want %d containing %q", tc.method, tc.target, rec.Code, rec.Body.String(), tc.status, tc.want)
		}
	}
	if len(got) != 3 || got[1] != "{}" {
		t.Errorf("invoke payloads: %q", got)
	}
	if strings.Contains(logs.String(), "signature") || strings.Contains(logs.String(), "echostr") {
		t.Errorf("the access log contains a query string:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "path=/wechat/wx1 status=405") {
		t.Errorf("the access log lacks the status:\n%s", logs.String())
	}
}

package wechattest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// FuzzHandler sends arbitrary bodies and queries to every endpoint: the
// simulator must answer HTTP 200 with JSON (an errcode or a result), never
// panic and never a 5xx.
func FuzzHandler(f *testing.F) {
	f.Add("/cgi-bin/stable_token", "POST", "", `{"grant_type":"client_credential","appid":"`+appA+`","secret":"`+secretA+`"}`)
	f.Add("/cgi-bin/stable_token", "POST", "", `{"grant_type":"client_credential","appid":"`+appA+`","secret":"`+secretA+`","force_refresh":true}`)
	f.Add("/cgi-bin/token", "GET", "grant_type=client_credential&appid="+appA+"&secret="+secretA, "")
	f.Add("/cgi-bin/ticket/getticket", "GET", "access_token=x&type=jsapi", "")
	f.Add("/cgi-bin/message/custom/send", "POST", "access_token=x", `{"touser":"o","msgtype":"text","text":{"content":"hi"}}`)
	f.Add("/cgi-bin/user/info", "GET", "access_token=&openid=o", "")
	f.Add("/cgi-bin/stable_token", "POST", "", `{"appid":null,"force_refresh":1e400}`)
	sim := wechattest.NewSimulator(wechattest.WithSeed(3))
	sim.AddApp(appA, secretA)
	f.Fuzz(func(t *testing.T, path, method, query, body string) {
		switch path {
		case "/cgi-bin/stable_token", "/cgi-bin/token", "/cgi-bin/ticket/getticket", "/cgi-bin/message/custom/send", "/cgi-bin/user/info":
		default:
			return
		}
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		req, err := http.NewRequest(method, "http://sim"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %s %s?%s %q", rec.Code, method, path, query, body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("answer %q is not a JSON object: %v", rec.Body, err)
		}
		if _, hasCode := v["errcode"]; !hasCode && v["access_token"] == nil && v["openid"] == nil {
			t.Fatalf("answer %q is neither an error nor a result", rec.Body)
		}
	})
}

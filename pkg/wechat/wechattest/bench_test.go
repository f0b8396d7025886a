package wechattest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// BenchmarkStableTokenNormal measures one normal-mode stable_token call
// through the handler (no network), on a clock that moves 37 s per call so
// rotations happen as in a long simulated run.
func BenchmarkStableTokenNormal(b *testing.B) {
	clock := wechattest.NewClock(start)
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now), wechattest.WithSeed(1))
	sim.AddApp(appA, secretA)
	body := `{"grant_type":"client_credential","appid":"` + appA + `","secret":"` + secretA + `"}`
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(37 * time.Second)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cgi-bin/stable_token", strings.NewReader(body)))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "access_token") {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkAuthenticatedCall measures a getticket call with a valid token.
func BenchmarkAuthenticatedCall(b *testing.B) {
	sim := wechattest.NewSimulator(wechattest.WithSeed(1))
	sim.AddApp(appA, secretA)
	tok, _ := sim.ForceRotate(appA)
	target := "/cgi-bin/ticket/getticket?" + url.Values{"access_token": {tok}, "type": {"jsapi"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"errcode":0`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

package tokenserver

import (
	"net/url"
	"testing"
)

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

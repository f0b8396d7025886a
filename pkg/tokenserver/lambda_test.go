package tokenserver_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The Lambda entry point takes the payload as bytes: a direct invoke that
// is not JSON at all is a bad request answered as a payload (docs/token-api.md:
// "bad JSON" is 400 bad_request; direct-invoke errors are payloads, not
// function errors), and the other shapes answer as through Handle.
func TestLambdaHandler(t *testing.T) {
	f := newFixture(t)
	h := f.srv.Lambda()
	tests := []struct {
		name    string
		payload []byte
		url     bool // answer is a payload-2.0 response
		want    want
	}{
		{"not JSON", []byte(`appid=wxok`), false, want{errCode: "bad_request", msgHas: "JSON"}},
		{"truncated object", []byte(`{"appid":"wxok"`), false, want{errCode: "bad_request", msgHas: "JSON"}},
		{"empty", []byte(``), false, want{errCode: "bad_request", msgHas: "JSON"}},
		{"direct read", []byte(`{"appid":"wxok"}`), false, want{token: "tok-ok", kind: "access_token", version: 3, expiresIn: 7200}},
		{"Function URL read", urlEvent(t, httpReq{"GET", "/token", "appid=wxok&kind=jsapi_ticket", ""}), true,
			want{status: 200, token: "ticket-ok", kind: "jsapi_ticket", version: 2, expiresIn: 7000}},
		{"Function URL bad body", urlEvent(t, httpReq{"POST", "/token/invalidate", "", "{nope"}), true,
			want{status: 400, errCode: "bad_request", msgHas: "JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), tc.payload)
			if err != nil {
				t.Fatalf("function error %v (errors must be payloads)", err)
			}
			shape, status, body := "direct", 0, out
			if tc.url {
				shape = "url"
				var resp events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					t.Fatalf("response %s: %v", out, err)
				}
				status, body = resp.StatusCode, []byte(resp.Body)
			}
			check(t, shape, status, decode(t, body), tc.want, f)
		})
	}
}

package lambdahttptest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
	"github.com/wxcentral/wxcentral/pkg/lambdahttp/lambdahttptest"
)

func TestNewEvent(t *testing.T) {
	binary := []byte{0x1f, 0x8b, 0x00, 0xff}
	tests := []struct {
		name  string
		req   func() *http.Request
		check func(t *testing.T, ev events.APIGatewayV2HTTPRequest)
	}{
		{"XML body stays text", func() *http.Request {
			r := httptest.NewRequest("POST", "http://api.example.com/wechat/wx1?signature=a%2Bb&nonce=1+2&x=1&x=2", strings.NewReader("<xml/>"))
			r.Header.Set("Content-Type", "text/xml")
			return r
		}, func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
			if ev.IsBase64Encoded || ev.Body != "<xml/>" {
				t.Errorf("body %q base64 %v", ev.Body, ev.IsBase64Encoded)
			}
			if ev.RawPath != "/wechat/wx1" || ev.RawQueryString != "signature=a%2Bb&nonce=1+2&x=1&x=2" {
				t.Errorf("rawPath %q rawQueryString %q", ev.RawPath, ev.RawQueryString)
			}
			if ev.QueryStringParameters["x"] != "1,2" || ev.QueryStringParameters["signature"] != "a+b" {
				t.Errorf("queryStringParameters %v", ev.QueryStringParameters)
			}
			if ev.RequestContext.HTTP.Method != "POST" || ev.RequestContext.DomainName != "api.example.com" || ev.Headers["host"] != "api.example.com" {
				t.Errorf("requestContext %+v, host %q", ev.RequestContext, ev.Headers["host"])
			}
			if ev.RouteKey != "$default" || ev.Version != "2.0" {
				t.Errorf("routeKey %q version %q", ev.RouteKey, ev.Version)
			}
		}},
		{"binary body is base64", func() *http.Request {
			r := httptest.NewRequest("POST", "/upload", bytes.NewReader(binary))
			r.Header.Set("Content-Type", "application/octet-stream")
			return r
		}, func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
			if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(binary) {
				t.Errorf("body %q base64 %v", ev.Body, ev.IsBase64Encoded)
			}
		}},
		{"encoded JSON is base64", func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader("{}"))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Content-Encoding", "identity")
			return r
		}, func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
			if !ev.IsBase64Encoded {
				t.Error("body with a Content-Encoding not base64-encoded")
			}
		}},
		{"headers and cookies", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Add("Accept", "a")
			r.Header.Add("Accept", "b")
			r.Header.Set("Cookie", "s=1; t=2")
			r.Header.Set("X-Forwarded-For", "198.51.100.1")
			return r
		}, func(t *testing.T, ev events.APIGatewayV2HTTPRequest) {
			if ev.Headers["accept"] != "a,b" || ev.Headers["cookie"] != "" {
				t.Errorf("headers %v", ev.Headers)
			}
			if !reflect.DeepEqual(ev.Cookies, []string{"s=1", "t=2"}) {
				t.Errorf("cookies %q", ev.Cookies)
			}
			if ev.Headers["x-forwarded-for"] != "198.51.100.1, 192.0.2.1" || ev.RequestContext.HTTP.SourceIP != "192.0.2.1" {
				t.Errorf("x-forwarded-for %q sourceIp %q", ev.Headers["x-forwarded-for"], ev.RequestContext.HTTP.SourceIP)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := lambdahttptest.NewEvent(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(ev)
			if !lambdahttp.IsHTTPEvent(raw) {
				t.Error("IsHTTPEvent is false for NewEvent's event")
			}
			tt.check(t, ev)
		})
	}
}

func TestNewEventRoutePattern(t *testing.T) {
	mux := http.NewServeMux()
	var ev events.APIGatewayV2HTTPRequest
	mux.HandleFunc("POST /wechat/{appid}", func(w http.ResponseWriter, r *http.Request) {
		var err error
		if ev, err = lambdahttptest.NewEvent(r); err != nil {
			t.Error(err)
		}
	})
	mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/wechat/wx0123456789abcdef", nil))
	if ev.RouteKey != "POST /wechat/{appid}" || ev.PathParameters["appid"] != "wx0123456789abcdef" || ev.RequestContext.RouteKey != ev.RouteKey {
		t.Errorf("routeKey %q pathParameters %v", ev.RouteKey, ev.PathParameters)
	}
}

func TestNewEventTooLarge(t *testing.T) {
	r := httptest.NewRequest("POST", "/", bytes.NewReader(make([]byte, lambdahttptest.MaxPayload+1)))
	if _, err := lambdahttptest.NewEvent(r); !errors.Is(err, lambdahttptest.ErrPayloadTooLarge) {
		t.Errorf("err = %v", err)
	}
}

// TestGatewayRoundTrip checks that a handler behind NewEvent, Serve and
// WriteResponse answers an HTTP client as it would when served directly.
func TestGatewayRoundTrip(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wechat/{appid}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, r.PathValue("appid")+":"+r.URL.Query().Get("echostr"))
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		http.SetCookie(w, &http.Cookie{Name: "n", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "m", Value: "2"})
		w.WriteHeader(http.StatusCreated)
		w.Write(append(b, 0xff))
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("b")
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return
		}
		io.WriteString(w, c.Value)
	})
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := lambdahttptest.NewEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(ev) // through JSON, as Lambda would
		var in events.APIGatewayV2HTTPRequest
		json.Unmarshal(raw, &in)
		resp, err := lambdahttp.Serve(context.Background(), mux, in)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(resp)
		decoded, err := lambdahttptest.DecodeResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := lambdahttptest.WriteResponse(w, decoded); err != nil {
			t.Fatal(err)
		}
	})
	requests := []func() *http.Request{
		func() *http.Request { return httptest.NewRequest("GET", "/wechat/wx1?echostr=a%2Bb+c", nil) },
		func() *http.Request {
			r := httptest.NewRequest("POST", "/upload", bytes.NewReader([]byte{0, 1, 0xfe}))
			r.Header.Set("Content-Type", "application/octet-stream")
			return r
		},
		func() *http.Request {
			r := httptest.NewRequest("GET", "/cookie", nil)
			r.Header.Set("Cookie", "a=1; b=two")
			return r
		},
		func() *http.Request { return httptest.NewRequest("GET", "/cookie", nil) },
		func() *http.Request { return httptest.NewRequest("DELETE", "/upload", nil) },
		func() *http.Request { return httptest.NewRequest("GET", "/missing", nil) },
	}
	for _, mk := range requests {
		direct, via := httptest.NewRecorder(), httptest.NewRecorder()
		mux.ServeHTTP(direct, mk())
		gateway.ServeHTTP(via, mk())
		r := mk()
		if direct.Code != via.Code || !bytes.Equal(direct.Body.Bytes(), via.Body.Bytes()) ||
			direct.Header().Get("Content-Type") != via.Header().Get("Content-Type") ||
			!reflect.DeepEqual(direct.Header().Values("Set-Cookie"), via.Header().Values("Set-Cookie")) {
			t.Errorf("%s %s: direct %d %q %v, via gateway %d %q %v", r.Method, r.URL, direct.Code, direct.Body, direct.Header(), via.Code, via.Body, via.Header())
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name, payload string
		want          events.APIGatewayV2HTTPResponse
		wantErr       bool
	}{
		{"response object", `{"statusCode":404,"headers":{"Content-Type":"application/json"},"body":"{\"error\":\"unknown_app\"}"}`,
			events.APIGatewayV2HTTPResponse{StatusCode: 404, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"error":"unknown_app"}`}, false},
		{"plain object is a 200 body", `{"appid":"wx1","token":"t"}`,
			events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"appid":"wx1","token":"t"}`}, false},
		{"string is a 200 body", `"hello"`,
			events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: `"hello"`}, false},
		{"not JSON", `<xml/>`, events.APIGatewayV2HTTPResponse{}, true},
		{"bad status", `{"statusCode":42}`, events.APIGatewayV2HTTPResponse{}, true},
		{"status not a number", `{"statusCode":"200"}`, events.APIGatewayV2HTTPResponse{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lambdahttptest.DecodeResponse([]byte(tt.payload))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteResponseBadBase64(t *testing.T) {
	w := httptest.NewRecorder()
	err := lambdahttptest.WriteResponse(w, events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "!!", IsBase64Encoded: true})
	if err == nil || !strings.Contains(err.Error(), "isBase64Encoded") || w.Body.Len() != 0 {
		t.Errorf("err %v, body %q", err, w.Body)
	}
}

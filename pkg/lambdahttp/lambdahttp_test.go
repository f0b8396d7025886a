package lambdahttp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
)

// seen is what a handler observed of the request.
type seen struct {
	Method, Host, Path, RawPath, EscapedPath, RawQuery, RequestURI, RemoteAddr, Proto string
	Query                                                                             map[string][]string
	Header                                                                            http.Header
	Body                                                                              []byte
	ContentLength                                                                     int64
	PathAppid                                                                         string
	Cookies                                                                           map[string]string
	RequestID                                                                         string
	Stage                                                                             string
}

func record(into *seen, called *bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*called = true
		body, _ := io.ReadAll(r.Body)
		*into = seen{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, EscapedPath: r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery, RequestURI: r.RequestURI, RemoteAddr: r.RemoteAddr, Proto: r.Proto,
			Query: r.URL.Query(), Header: r.Header, Body: body, ContentLength: r.ContentLength,
			PathAppid: r.PathValue("appid"), Cookies: map[string]string{},
		}
		for _, c := range r.Cookies() {
			into.Cookies[c.Name] = c.Value
		}
		if lc, ok := lambdacontext.FromContext(r.Context()); ok {
			into.RequestID = lc.AwsRequestID
		}
		if ev, ok := lambdahttp.EventFromContext(r.Context()); ok {
			into.Stage = ev.RequestContext.Stage
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func event(method, rawPath, rawQuery string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: rawPath, RawQueryString: rawQuery,
		Headers: map[string]string{"host": "api.example.com"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "api.example.com", Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, Protocol: "HTTP/1.1", SourceIP: "203.0.113.9"},
		},
	}
}

func loadEvent(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestServeRequest(t *testing.T) {
	binary := []byte{0x00, 0xff, 0xfe, 'x', 0x80}
	tests := []struct {
		name  string
		ev    func() events.APIGatewayV2HTTPRequest
		check func(t *testing.T, s seen)
	}{
		{"base64 body is decoded", func() events.APIGatewayV2HTTPRequest {
			e := event("POST", "/upload", "")
			e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(binary), true
			return e
		}, func(t *testing.T, s seen) {
			if !bytes.Equal(s.Body, binary) || s.ContentLength != int64(len(binary)) {
				t.Errorf("body %x (length %d), want %x", s.Body, s.ContentLength, binary)
			}
		}},
		{"base64 XML body is decoded", func() events.APIGatewayV2HTTPRequest {
			e := event("POST", "/wechat/wx1", "")
			e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte("<xml>a+b</xml>")), true
			return e
		}, func(t *testing.T, s seen) {
			if string(s.Body) != "<xml>a+b</xml>" {
				t.Errorf("body %q", s.Body)
			}
		}},
		{"plain body is passed as is", func() events.APIGatewayV2HTTPRequest {
			e := event("POST", "/x", "")
			e.Body = `{"appid":"wx1","note":"a+b%2B"}`
			return e
		}, func(t *testing.T, s seen) {
			if string(s.Body) != `{"appid":"wx1","note":"a+b%2B"}` {
				t.Errorf("body %q", s.Body)
			}
		}},
		{"raw query string is kept exactly", func() events.APIGatewayV2HTTPRequest {
			return event("GET", "/wechat/wx1", "signature=a%2Bb&nonce=1+2&x=1&x=2&echostr=%E4%BD%A0%3D")
		}, func(t *testing.T, s seen) {
			if s.RawQuery != "signature=a%2Bb&nonce=1+2&x=1&x=2&echostr=%E4%BD%A0%3D" {
				t.Errorf("RawQuery %q", s.RawQuery)
			}
			want := map[string][]string{"signature": {"a+b"}, "nonce": {"1 2"}, "x": {"1", "2"}, "echostr": {"你="}}
			if !reflect.DeepEqual(s.Query, want) {
				t.Errorf("Query %v, want %v", s.Query, want)
			}
			if s.RequestURI != "/wechat/wx1?signature=a%2Bb&nonce=1+2&x=1&x=2&echostr=%E4%BD%A0%3D" {
				t.Errorf("RequestURI %q", s.RequestURI)
			}
		}},
		{"query parameters without raw string", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "/token", "")
			e.QueryStringParameters = map[string]string{"appid": "wx1", "kind": "a b+c"}
			return e
		}, func(t *testing.T, s seen) {
			if s.Query["appid"][0] != "wx1" || s.Query["kind"][0] != "a b+c" {
				t.Errorf("Query %v", s.Query)
			}
		}},
		{"path parameters and raw path", func() events.APIGatewayV2HTTPRequest {
			e := event("POST", "/wechat/wx0123456789abcdef", "")
			e.PathParameters = map[string]string{"appid": "wx0123456789abcdef"}
			return e
		}, func(t *testing.T, s seen) {
			if s.Path != "/wechat/wx0123456789abcdef" || s.PathAppid != "wx0123456789abcdef" {
				t.Errorf("Path %q, PathValue(appid) %q", s.Path, s.PathAppid)
			}
		}},
		{"escaped raw path", func() events.APIGatewayV2HTTPRequest {
			return event("GET", "/wechat/a%2Fb%20c", "")
		}, func(t *testing.T, s seen) {
			if s.Path != "/wechat/a/b c" || s.EscapedPath != "/wechat/a%2Fb%20c" {
				t.Errorf("Path %q, EscapedPath %q", s.Path, s.EscapedPath)
			}
		}},
		{"rawPath missing falls back to http.path", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "", "")
			e.RequestContext.HTTP.Path = "/token"
			return e
		}, func(t *testing.T, s seen) {
			if s.Path != "/token" {
				t.Errorf("Path %q", s.Path)
			}
		}},
		{"headers, host, cookies", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "/", "")
			e.Headers = map[string]string{"host": "h.example", "accept": "text/xml, application/json", "x-forwarded-for": "1.1.1.1, 2.2.2.2", "If-Modified-Since": "Tue, 14 Nov 2023 22:13:20 GMT"}
			e.Cookies = []string{"a=1", "b=x=y", "c=%2B"}
			return e
		}, func(t *testing.T, s seen) {
			if s.Host != "h.example" || s.Header.Get("Host") != "" {
				t.Errorf("Host %q, Host header %q", s.Host, s.Header.Get("Host"))
			}
			if got := s.Header.Values("Accept"); len(got) != 1 || got[0] != "text/xml, application/json" {
				t.Errorf("Accept %q", got)
			}
			if got := s.Header.Get("If-Modified-Since"); got != "Tue, 14 Nov 2023 22:13:20 GMT" {
				t.Errorf("If-Modified-Since %q", got)
			}
			if got := s.Header.Values("Cookie"); len(got) != 1 || got[0] != "a=1; b=x=y; c=%2B" {
				t.Errorf("Cookie header %q", got)
			}
			if want := map[string]string{"a": "1", "b": "x=y", "c": "%2B"}; !reflect.DeepEqual(s.Cookies, want) {
				t.Errorf("Cookies %v, want %v", s.Cookies, want)
			}
			if s.RemoteAddr != "203.0.113.9" || s.Proto != "HTTP/1.1" {
				t.Errorf("RemoteAddr %q Proto %q", s.RemoteAddr, s.Proto)
			}
		}},
		{"same header in two spellings", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "/", "")
			e.Headers = map[string]string{"x-a": "1", "X-A": "2", "x-b": "3"}
			return e
		}, func(t *testing.T, s seen) {
			got := s.Header.Values("X-A")
			sort.Strings(got)
			if !reflect.DeepEqual(got, []string{"1", "2"}) || s.Header.Get("X-B") != "3" {
				t.Errorf("X-A %q, X-B %q", got, s.Header.Get("X-B"))
			}
		}},
		{"host from domainName", func() events.APIGatewayV2HTTPRequest {
			e := event("GET", "/", "")
			e.Headers = nil
			return e
		}, func(t *testing.T, s seen) {
			if s.Host != "api.example.com" {
				t.Errorf("Host %q", s.Host)
			}
		}},
		{"API Gateway fixture", func() events.APIGatewayV2HTTPRequest { return loadEvent(t, "httpapi-callback-post.json") },
			func(t *testing.T, s seen) {
				if s.Method != "POST" || s.Path != "/wechat/wx0123456789abcdef" || s.PathAppid != "wx0123456789abcdef" {
					t.Errorf("method %q path %q appid %q", s.Method, s.Path, s.PathAppid)
				}
				if s.Query["signature"][0] != "4f6a+9c" || s.Query["nonce"][0] != "12 34" || s.Query["openid"][0] != "o/ab" || s.Query["msg_signature"][0] != "ab+cd" {
					t.Errorf("Query %v", s.Query)
				}
				if string(s.Body) != "<xml><Encrypt>abc</Encrypt></xml>" || s.Header.Get("Content-Type") != "text/xml" {
					t.Errorf("body %q content-type %q", s.Body, s.Header.Get("Content-Type"))
				}
				if s.Cookies["session"] != "s1" || s.Cookies["theme"] != "dark" || s.Stage != "$default" {
					t.Errorf("cookies %v stage %q", s.Cookies, s.Stage)
				}
			}},
		{"Function URL fixture", func() events.APIGatewayV2HTTPRequest { return loadEvent(t, "function-url-get-token.json") },
			func(t *testing.T, s seen) {
				if s.Method != "GET" || s.Path != "/token" || s.Query["kind"][0] != "jsapi_ticket" || s.Host != "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws" {
					t.Errorf("%+v", s)
				}
				if len(s.Body) != 0 || s.ContentLength != 0 {
					t.Errorf("body %q length %d", s.Body, s.ContentLength)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seen
			var called bool
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
			resp, err := lambdahttp.Serve(ctx, record(&s, &called), tt.ev())
			if err != nil || resp.StatusCode != http.StatusNoContent || !called {
				t.Fatalf("Serve: %v, status %d, handler called %v", err, resp.StatusCode, called)
			}
			if s.RequestID != "req-1" {
				t.Errorf("handler context has Lambda request id %q, want req-1", s.RequestID)
			}
			tt.check(t, s)
		})
	}
}

func TestServeMuxRouting(t *testing.T) {
	mux := http.NewServeMux()
	var got string
	mux.HandleFunc("POST /wechat/{appid}", func(w http.ResponseWriter, r *http.Request) {
		got = r.PathValue("appid")
		io.WriteString(w, "success")
	})
	resp, err := lambdahttp.Serve(context.Background(), mux, loadEvent(t, "httpapi-callback-post.json"))
	if err != nil || resp.StatusCode != 200 || resp.Body != "success" || got != "wx0123456789abcdef" {
		t.Fatalf("err %v, status %d, body %q, appid %q", err, resp.StatusCode, resp.Body, got)
	}
	e := loadEvent(t, "httpapi-callback-post.json")
	e.RequestContext.HTTP.Method = "DELETE"
	resp, _ = lambdahttp.Serve(context.Background(), mux, e)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Headers["Allow"] == "" {
		t.Errorf("DELETE: status %d, Allow %q", resp.StatusCode, resp.Headers["Allow"])
	}
}

func TestServeBadEvent(t *testing.T) {
	tests := []struct {
		name, field string
		ev          func() events.APIGatewayV2HTTPRequest
	}{
		{"bad base64", "body", func() events.APIGatewayV2HTTPRequest {
			e := event("POST", "/", "")
			e.Body, e.IsBase64Encoded = "not base64!!", true
			return e
		}},
		{"no method", "requestContext.http.method", func() events.APIGatewayV2HTTPRequest { return event("", "/", "") }},
		{"bad method", "requestContext.http.method", func() events.APIGatewayV2HTTPRequest { return event("GET /x", "/", "") }},
		{"bad path", "rawPath", func() events.APIGatewayV2HTTPRequest { return event("GET", "/a%zz", "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			var s seen
			resp, err := lambdahttp.Serve(context.Background(), record(&s, &called), tt.ev())
			if err != nil || called || resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, tt.field) {
				t.Errorf("err %v, handler called %v, status %d, body %q (want 400 naming %s)", err, called, resp.StatusCode, resp.Body, tt.field)
			}
		})
	}
}

func TestServeResponse(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	tests := []struct {
		name        string
		method      string
		h           http.HandlerFunc
		wantStatus  int
		wantBody    []byte
		wantBase64  bool
		wantHeaders map[string]string
		wantCookies []string
	}{
		{"text as is", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "echo 你好")
		}, 200, []byte("echo 你好"), false, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, nil},
		{"xml as is", "POST", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, "<xml><A>1</A></xml>")
		}, 200, []byte("<xml><A>1</A></xml>"), false, nil, nil},
		{"json as is", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"token_unavailable"}`)
		}, 503, []byte(`{"error":"token_unavailable"}`), false, nil, nil},
		{"binary base64", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
		}, 200, png, true, map[string]string{"Content-Type": "image/png"}, nil},
		{"utf-8 octet-stream still base64", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			io.WriteString(w, "abc")
		}, 200, []byte("abc"), true, nil, nil},
		{"text type with invalid utf-8 is base64", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte{'a', 0xff})
		}, 200, []byte{'a', 0xff}, true, nil, nil},
		{"sniffed text", "GET", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "success")
		}, 200, []byte("success"), false, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, nil},
		{"sniffed binary", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte{0, 1, 2})
		}, 200, []byte{0, 1, 2}, true, map[string]string{"Content-Type": "application/octet-stream"}, nil},
		{"nothing written is 200", "GET", func(w http.ResponseWriter, r *http.Request) {}, 200, nil, false, nil, nil},
		{"not found", "GET", http.NotFound, 404, []byte("404 page not found\n"), false, nil, nil},
		{"first WriteHeader wins", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "made")
		}, 201, []byte("made"), false, nil, nil},
		{"informational status ignored", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, nil, false, nil, nil},
		{"headers frozen at WriteHeader", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Before", "1")
			w.WriteHeader(http.StatusOK)
			w.Header().Set("X-After", "1")
		}, 200, nil, false, map[string]string{"X-Before": "1"}, nil},
		{"no body on 204", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
				panic("Write on 204 did not return ErrBodyNotAllowed")
			}
		}, 204, nil, false, nil, nil},
		{"no body on HEAD", "HEAD", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hidden")
		}, 200, nil, false, nil, nil},
		{"cookies and multi-valued headers", "GET", func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/"})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", HttpOnly: true})
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Cookie")
			w.Header()["X-Suppressed"] = nil
		}, 200, nil, false, map[string]string{"Vary": "Accept,Cookie"}, []string{"a=1; Path=/", "b=2; HttpOnly"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := lambdahttp.Serve(context.Background(), tt.h, event(tt.method, "/", ""))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || resp.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("status %d base64 %v, want %d %v", resp.StatusCode, resp.IsBase64Encoded, tt.wantStatus, tt.wantBase64)
			}
			body := []byte(resp.Body)
			if resp.IsBase64Encoded {
				if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, tt.wantBody) {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			for k, v := range tt.wantHeaders {
				if resp.Headers[k] != v {
					t.Errorf("header %s = %q, want %q (all: %v)", k, resp.Headers[k], v, resp.Headers)
				}
			}
			if _, ok := resp.Headers["X-After"]; ok {
				t.Errorf("header set after WriteHeader leaked: %v", resp.Headers)
			}
			if _, ok := resp.Headers["X-Suppressed"]; ok {
				t.Errorf("nil header value emitted: %v", resp.Headers)
			}
			if _, ok := resp.Headers["Set-Cookie"]; ok {
				t.Errorf("Set-Cookie left in headers: %v", resp.Headers)
			}
			if !reflect.DeepEqual(resp.Cookies, tt.wantCookies) {
				t.Errorf("cookies %q, want %q", resp.Cookies, tt.wantCookies)
			}
			// The response must survive the JSON trip to API Gateway unchanged.
			raw, _ := json.Marshal(resp)
			var back events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(raw, &back); err != nil || back.Body != resp.Body {
				t.Errorf("JSON round trip changed the body")
			}
		})
	}
}

func TestServeInvalidStatus(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(42) })
	if _, err := lambdahttp.Serve(context.Background(), h, event("GET", "/", "")); err == nil || !strings.Contains(err.Error(), "42") {
		t.Errorf("err = %v, want one naming status 42", err)
	}
}

func TestIsHTTPEvent(t *testing.T) {
	fixture, err := os.ReadFile("testdata/httpapi-callback-post.json")
	if err != nil {
		t.Fatal(err)
	}
	furl, err := os.ReadFile("testdata/function-url-get-token.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"HTTP API event", string(fixture), true},
		{"Function URL event", string(furl), true},
		{"minimal", `{"requestContext":{"http":{"method":"GET"}}}`, true},
		{"direct invoke", `{"appid":"wx1","kind":"access_token"}`, false},
		{"invalidate", `{"action":"invalidate","appid":"wx1","kind":"access_token","token":"t"}`, false},
		{"scheduler", `{}`, false},
		{"REST API v1 event", `{"httpMethod":"GET","requestContext":{"httpMethod":"GET"}}`, false},
		{"http null", `{"requestContext":{"http":null}}`, false},
		{"http not an object", `{"requestContext":{"http":"GET"}}`, false},
		{"requestContext not an object", `{"requestContext":[1]}`, false},
		{"array", `[{"requestContext":{"http":{}}}]`, false},
		{"string", `"x"`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"broken JSON", `{"requestContext":{"http":{`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lambdahttp.IsHTTPEvent(json.RawMessage(tt.raw)); got != tt.want {
				t.Errorf("IsHTTPEvent = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	fn := lambdahttp.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Query().Get("appid")) }))
	resp, err := fn(context.Background(), loadEvent(t, "function-url-get-token.json"))
	if err != nil || resp.Body != "wx0123456789abcdef" {
		t.Errorf("err %v body %q", err, resp.Body)
	}
}

func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "success")
	})
	raw, err := os.ReadFile("testdata/httpapi-callback-post.json")
	if err != nil {
		b.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := lambdahttp.Serve(ctx, h, ev)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp.StatusCode)
		}
	}
}

func BenchmarkIsHTTPEvent(b *testing.B) {
	raw, err := os.ReadFile("testdata/httpapi-callback-post.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !lambdahttp.IsHTTPEvent(raw) {
			b.Fatal("not an HTTP event")
		}
	}
}

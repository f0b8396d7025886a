// Package lambdahttptest plays API Gateway's side of lambdahttp, as
// net/http/httptest plays the client's side of net/http: NewEvent turns an
// *http.Request into the payload-2.0 event an HTTP API (or a Function URL)
// would deliver, DecodeResponse and WriteResponse turn the function's
// payload back into what the client receives. Tests and the local stack use
// it to put a Lambda handler, or a real bootstrap binary, behind an ordinary
// HTTP server; the deployed functions do not link it.
package lambdahttptest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp/internal/textbody"
)

// MaxPayload is Lambda's limit for a synchronous invocation's request and
// response.
const MaxPayload = 6 << 20

// ErrPayloadTooLarge is returned by NewEvent for a body that would not fit
// in a synchronous invocation.
var ErrPayloadTooLarge = errors.New("lambdahttptest: request body exceeds the 6 MB Lambda payload limit")

// wildcard matches a ServeMux pattern wildcard: {name} or {name...}.
var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(?:\.\.\.)?\}`)

// NewEvent builds the payload-2.0 event API Gateway HTTP API would deliver
// for r: lower-case headers with repeated values comma-joined, cookies split
// out of the Cookie header, the raw path and query string as sent, and the
// body base64-encoded unless it is text (text/*, JSON, XML, a declared
// charset) without a Content-Encoding. When r was routed by a ServeMux
// pattern such as "POST /wechat/{appid}", the pattern becomes the route key
// and its wildcards the path parameters. It reads r.Body.
func NewEvent(r *http.Request) (events.APIGatewayV2HTTPRequest, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("lambdahttptest: read request body: %w", err)
		}
		if len(b) > MaxPayload {
			return events.APIGatewayV2HTTPRequest{}, ErrPayloadTooLarge
		}
		body = b
	}

	sourceIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		sourceIP = host
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}

	ev := events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "$default",
		RawPath:        r.URL.EscapedPath(),
		RawQueryString: r.URL.RawQuery,
		Headers:        make(map[string]string, len(r.Header)+4),
	}
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[lk] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = host
	if xff := ev.Headers["x-forwarded-for"]; xff != "" {
		ev.Headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		ev.Headers["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	}
	ev.Headers["x-forwarded-proto"] = proto
	ev.Headers["x-forwarded-port"] = port

	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = make(map[string]string, len(q))
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if r.Pattern != "" {
		ev.RouteKey = routeKey(r.Pattern)
		for _, m := range wildcard.FindAllStringSubmatch(r.Pattern, -1) {
			if ev.PathParameters == nil {
				ev.PathParameters = map[string]string{}
			}
			ev.PathParameters[m[1]] = r.PathValue(m[1])
		}
	}

	if len(body) > 0 {
		if textbody.IsText(r.Header.Get("Content-Type")) && r.Header.Get("Content-Encoding") == "" && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}

	now := time.Now()
	domainPrefix, _, _ := strings.Cut(host, ".")
	ev.RequestContext = events.APIGatewayV2HTTPRequestContext{
		RouteKey:     ev.RouteKey,
		AccountID:    "123456789012",
		Stage:        "$default",
		RequestID:    randomID(),
		APIID:        domainPrefix,
		DomainName:   host,
		DomainPrefix: domainPrefix,
		Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		TimeEpoch:    now.UnixMilli(),
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method:    r.Method,
			Path:      r.URL.Path,
			Protocol:  r.Proto,
			SourceIP:  sourceIP,
			UserAgent: r.UserAgent(),
		},
	}
	return ev, nil
}

// routeKey turns a ServeMux pattern into an HTTP API route key: "METHOD
// /path", with ANY when the pattern names no method.
func routeKey(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "ANY", pattern
	}
	path = strings.TrimSpace(path)
	if i := strings.IndexByte(path, '/'); i > 0 {
		path = path[i:] // drop a host
	}
	return method + " " + path
}

func randomID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DecodeResponse interprets a function's payload as API Gateway does for
// payload format 2.0: a JSON object with a statusCode is a response; any
// other valid JSON is the body of a 200 application/json response.
func DecodeResponse(payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	trimmed := bytes.TrimSpace(payload)
	if !json.Valid(trimmed) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("lambdahttptest: function response is not valid JSON")
	}
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var probe struct {
			StatusCode json.RawMessage `json:"statusCode"`
		}
		if err := json.Unmarshal(trimmed, &probe); err == nil && probe.StatusCode != nil {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(trimmed, &resp); err != nil {
				return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("lambdahttptest: function response: %w", err)
			}
			if resp.StatusCode < 100 || resp.StatusCode > 599 {
				return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("lambdahttptest: function response statusCode %d is not an HTTP status", resp.StatusCode)
			}
			return resp, nil
		}
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(trimmed),
	}, nil
}

// WriteResponse writes a payload-2.0 response to w as API Gateway sends it
// to the client: headers as given, each cookie as a Set-Cookie header, the
// body base64-decoded when isBase64Encoded. It writes nothing and returns an
// error when the body is not valid base64.
func WriteResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) error {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return fmt.Errorf("lambdahttptest: response body: isBase64Encoded is true but the body is not valid base64: %w", err)
		}
		body = b
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	if len(body) == 0 {
		return nil
	}
	_, err := w.Write(body)
	return err
}

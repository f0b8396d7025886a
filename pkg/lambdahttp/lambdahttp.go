// Package lambdahttp runs a net/http Handler for Lambda HTTP events in
// payload format 2.0, the shape both API Gateway HTTP APIs and Lambda
// Function URLs deliver (events.APIGatewayV2HTTPRequest).
//
// It converts the event into an *http.Request the way a net/http server
// would have built it from the wire (raw path and query string untouched,
// one Cookie header, Host moved to Request.Host), runs the handler against
// a buffering ResponseWriter with net/http's semantics (implicit 200, first
// WriteHeader wins, headers frozen at WriteHeader, Content-Type sniffing),
// and converts the result back: Set-Cookie headers become the response's
// cookies, text bodies travel as they are and anything else base64-encoded.
//
// The handler's request context is the invocation context, so
// lambdacontext.FromContext(r.Context()) works, and EventFromContext
// returns the original event (stage, route key, authorizer).
//
// It does not use aws-lambda-go-api-proxy's httpadapter, which answers a
// handler that writes nothing with an error instead of 200, splits header
// values outside a short list at commas (breaking dates and quoted values),
// lets a late WriteHeader change the status, and logs with the standard
// logger.
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp/internal/textbody"
)

// Serve runs h for one payload-2.0 request and returns the response.
//
// An event that cannot be turned into a request (no method, a path that is
// not a path, isBase64Encoded with a body that is not base64) is answered
// with 400 and a text/plain message naming the field; h does not run. The
// error is non-nil only when h misbehaves in a way net/http would panic on
// (a status code outside 100-999).
func Serve(ctx context.Context, h http.Handler, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := NewRequest(ctx, req)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			Body:       err.Error() + "\n",
		}, nil
	}
	w := &responseWriter{header: http.Header{}, head: r.Method == http.MethodHead}
	h.ServeHTTP(w, r)
	return w.response()
}

// Handler adapts h to the function signature lambda.Start accepts.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return Serve(ctx, h, req)
	}
}

// IsHTTPEvent reports whether a raw invoke payload is a payload-2.0 HTTP
// event (a JSON object whose requestContext.http is an object), as opposed
// to a direct-invoke object such as {"appid":"..."}.
func IsHTTPEvent(raw json.RawMessage) bool {
	var probe struct {
		RequestContext struct {
			HTTP json.RawMessage `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return false
	}
	h := bytes.TrimSpace(probe.RequestContext.HTTP)
	return len(h) > 0 && h[0] == '{'
}

type eventKey struct{}

// EventFromContext returns the event a request made by Serve or NewRequest
// was built from.
func EventFromContext(ctx context.Context) (*events.APIGatewayV2HTTPRequest, bool) {
	ev, ok := ctx.Value(eventKey{}).(*events.APIGatewayV2HTTPRequest)
	return ev, ok
}

// NewRequest converts a payload-2.0 event into the server-side
// *http.Request a net/http server would have passed to its handler, with
// ctx (plus the event, see EventFromContext) as its context. Path
// parameters are also available through Request.PathValue unless a
// ServeMux pattern sets the same name. Errors name the offending field.
func NewRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := req.RequestContext.HTTP.Method
	if method == "" {
		return nil, errors.New("lambdahttp: requestContext.http.method is empty")
	}
	if strings.ContainsAny(method, " \t\r\n/") {
		return nil, errors.New("lambdahttp: requestContext.http.method is not an HTTP method token")
	}

	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	if path == "" {
		path = "/"
	}
	if path[0] != '/' {
		path = "/" + path
	}
	u, err := url.ParseRequestURI(path)
	if err != nil || u.RawQuery != "" || u.Host != "" {
		return nil, errors.New("lambdahttp: rawPath is not a valid URL path")
	}
	u.RawQuery = req.RawQueryString
	if u.RawQuery == "" && len(req.QueryStringParameters) > 0 {
		q := make(url.Values, len(req.QueryStringParameters))
		for k, v := range req.QueryStringParameters {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}

	var body []byte
	if req.IsBase64Encoded {
		body, err = base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, fmt.Errorf("lambdahttp: body: isBase64Encoded is true but the body is not valid base64: %w", err)
		}
	} else if req.Body != "" {
		body = []byte(req.Body)
	}

	header := make(http.Header, len(req.Headers)+1)
	values := make([]string, 0, len(req.Headers)) // one backing array for all single values
	for k, v := range req.Headers {
		k = textproto.CanonicalMIMEHeaderKey(k)
		if prev, ok := header[k]; ok { // "Accept" and "accept" both present
			header[k] = append(prev[:len(prev):len(prev)], v)
			continue
		}
		values = append(values, v)
		header[k] = values[len(values)-1 : len(values) : len(values)]
	}
	if len(req.Cookies) > 0 {
		// RFC 6265 §5.4: one Cookie header, pairs joined by "; ".
		cookies := strings.Join(req.Cookies, "; ")
		if prev := header.Get("Cookie"); prev != "" {
			cookies = prev + "; " + cookies
		}
		header["Cookie"] = []string{cookies}
	}
	host := header.Get("Host")
	if host == "" {
		host = req.RequestContext.DomainName
	}
	delete(header, "Host") // net/http servers move it to Request.Host

	major, minor, ok := http.ParseHTTPVersion(req.RequestContext.HTTP.Protocol)
	proto := req.RequestContext.HTTP.Protocol
	if !ok {
		major, minor, proto = 1, 1, "HTTP/1.1"
	}

	r := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        header,
		Body:          http.NoBody,
		ContentLength: int64(len(body)),
		Host:          host,
		RemoteAddr:    req.RequestContext.HTTP.SourceIP,
		RequestURI:    u.RequestURI(),
	}
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	for k, v := range req.PathParameters {
		r.SetPathValue(k, v)
	}
	return r.WithContext(context.WithValue(ctx, eventKey{}, &req)), nil
}

// responseWriter buffers a response with net/http's server semantics.
type responseWriter struct {
	header      http.Header
	sent        http.Header // snapshot taken at WriteHeader
	status      int
	badStatus   int
	wroteHeader bool
	head        bool
	body        bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		if w.badStatus == 0 {
			w.badStatus = code
		}
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		return // informational responses do not end the header
	}
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.head {
		return len(p), nil
	}
	return w.body.Write(p)
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

// response converts what the handler wrote into the payload-2.0 response.
func (w *responseWriter) response() (events.APIGatewayV2HTTPResponse, error) {
	if w.badStatus != 0 && !w.wroteHeader {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("lambdahttp: handler wrote invalid status code %d", w.badStatus)
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	body := w.body.Bytes()
	if _, ok := w.sent["Content-Type"]; !ok && len(body) > 0 {
		w.sent.Set("Content-Type", http.DetectContentType(body))
	}

	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status}
	if len(w.sent) > 0 {
		resp.Headers = make(map[string]string, len(w.sent))
	}
	for k, vs := range w.sent {
		if len(vs) == 0 {
			continue // a nil value suppresses the header, as in net/http
		}
		if k == "Set-Cookie" {
			resp.Cookies = slices.Clone(vs)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	if len(body) == 0 {
		return resp, nil
	}
	if textbody.IsText(w.sent.Get("Content-Type")) && utf8.Valid(body) {
		resp.Body = string(body)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	}
	return resp, nil
}

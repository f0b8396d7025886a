package chaos

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
)

// FaultProxy is a reverse proxy in front of a DynamoDB-compatible server
// that can take the store away in two ways. Down: every request is
// answered HTTP 500 InternalServerError or the connection is closed without
// an answer, alternately, so clients see both ways an outage shows itself.
// AccessDenied: every request is answered 400 AccessDeniedException, as
// DynamoDB does when the caller's IAM role lost its permissions (a
// non-retryable client error).
type FaultProxy struct {
	URL string

	srv     *httptest.Server
	down    atomic.Bool
	denied  atomic.Bool
	refused atomic.Int64
	denials atomic.Int64
	mu      sync.Mutex
	flip    bool
}

// accessDeniedBody is DynamoDB's answer to a caller without permission.
const accessDeniedBody = `{"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/wxcentral-chaos/fn is not authorized to perform this action (chaos: access denied)"}`

// NewFaultProxy starts a proxy to the server at target on 127.0.0.1.
func NewFaultProxy(target string) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.denied.Load() {
			p.denials.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(accessDeniedBody))
			return
		}
		if !p.down.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		p.refused.Add(1)
		p.mu.Lock()
		p.flip = !p.flip
		drop := p.flip
		p.mu.Unlock()
		if drop {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"chaos: store outage"}`))
	}))
	p.URL = p.srv.URL
	return p, nil
}

// SetDown takes the store down (true) or brings it back.
func (p *FaultProxy) SetDown(down bool) { p.down.Store(down) }

// SetAccessDenied makes every request answer AccessDeniedException (true)
// or lets requests through again.
func (p *FaultProxy) SetAccessDenied(denied bool) { p.denied.Store(denied) }

// Refused is how many requests were refused while down.
func (p *FaultProxy) Refused() int64 { return p.refused.Load() }

// Denied is how many requests were answered AccessDeniedException.
func (p *FaultProxy) Denied() int64 { return p.denials.Load() }

// Close stops the proxy.
func (p *FaultProxy) Close() { p.srv.Close() }

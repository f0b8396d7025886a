package wechattest

import (
	"net"
	"net/http"
	"time"
)

// Server is a Simulator listening on a loopback port, like
// httptest.Server. Its Simulator methods (AddApp, Valid, InjectFaults, ...)
// are promoted.
type Server struct {
	*Simulator
	URL string // base URL, e.g. http://127.0.0.1:41234, for wechat.WithBaseURL

	srv *http.Server
}

// NewServer starts a simulator on 127.0.0.1 on a free port. It panics if no
// port can be opened, as httptest.NewServer does. Call Close when done.
func NewServer(opts ...Option) *Server {
	sim := NewSimulator(opts...)
	url, srv := serveLoopback(sim)
	return &Server{Simulator: sim, URL: url, srv: srv}
}

// Close stops the server and closes every open connection at once; calls
// in flight (e.g. in an injected latency) fail on the client side.
func (s *Server) Close() { s.srv.Close() }

// serveLoopback serves h on a free 127.0.0.1 port and returns its base URL
// and server; it panics if no port can be opened.
func serveLoopback(h http.Handler) (string, *http.Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("wechattest: listen on a loopback port: " + err.Error())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), srv
}

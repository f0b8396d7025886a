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
	ln  net.Listener
}

// NewServer starts a simulator on 127.0.0.1 on a free port. It panics if no
// port can be opened, as httptest.NewServer does. Call Close when done.
func NewServer(opts ...Option) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("wechattest: listen on a loopback port: " + err.Error())
	}
	sim := NewSimulator(opts...)
	s := &Server{
		Simulator: sim,
		URL:       "http://" + ln.Addr().String(),
		srv:       &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second},
		ln:        ln,
	}
	go s.srv.Serve(ln)
	return s
}

// Close stops the server and closes every open connection at once; calls
// in flight (e.g. in an injected latency) fail on the client side.
func (s *Server) Close() { s.srv.Close() }

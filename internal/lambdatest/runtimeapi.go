package lambdatest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Runtime API limits, as documented for Lambda.
const (
	maxResponsePayload = 6 << 20
	maxErrorBody       = 1 << 20
)

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	arn      string
	traceID  string
	done     chan result // buffered 1: the runtime's answer
}

type result struct {
	body []byte
	err  *FunctionError
}

// sandbox is one process of the function and the Runtime API endpoint it
// talks to. A new process gets a new endpoint, so a dying process's
// requests can never take an invocation meant for its successor.
type sandbox struct {
	ln  net.Listener
	srv *http.Server
	cmd *exec.Cmd
	pid int

	started   time.Time        // guarded by mu
	next      chan *invocation // unbuffered: handed over inside GET /next
	ready     chan struct{}    // closed at the first GET /next
	readyOnce sync.Once
	initDur   time.Duration // set before ready is closed

	initErr     chan struct{} // closed at POST /init/error
	initErrOnce sync.Once
	initErrVal  *FunctionError // set before initErr is closed

	exited  chan struct{} // closed when the process has been waited for
	exitErr error         // set before exited is closed

	mu      sync.Mutex
	current *invocation // handed to the runtime, not yet answered
}

func newSandbox() (*sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Runtime API: %w", err)
	}
	sb := &sandbox{
		ln:      ln,
		next:    make(chan *invocation),
		ready:   make(chan struct{}),
		initErr: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", sb.serveNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", sb.serveResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", sb.serveError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", sb.serveInitError)
	sb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go sb.srv.Serve(ln) //nolint:errcheck // returns when srv is closed
	return sb, nil
}

// addr is the value of AWS_LAMBDA_RUNTIME_API.
func (sb *sandbox) addr() string { return sb.ln.Addr().String() }

func (sb *sandbox) serveNext(w http.ResponseWriter, r *http.Request) {
	sb.readyOnce.Do(func() {
		sb.mu.Lock() // the write of started reaches us through another process, unseen by the race detector
		sb.initDur = time.Since(sb.started)
		sb.mu.Unlock()
		close(sb.ready)
	})
	select {
	case inv := <-sb.next:
		sb.mu.Lock()
		sb.current = inv
		sb.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
		h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	}
}

// take removes the current invocation if it has the given id.
func (sb *sandbox) take(id string) *invocation {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	inv := sb.current
	if inv == nil || inv.id != id {
		return nil
	}
	sb.current = nil
	return inv
}

func (sb *sandbox) serveResponse(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxResponsePayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "reading the response body: "+err.Error())
		return
	}
	inv := sb.take(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress with this request id")
		return
	}
	// aws-lambda-go streams the body and reports a failure while producing
	// it in trailers.
	if typ := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		payload, _ := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		inv.done <- result{err: parseFunctionError(payload, typ)}
		accepted(w)
		return
	}
	if len(body) > maxResponsePayload {
		inv.done <- result{err: newFunctionError("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxResponsePayload))}
		runtimeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response payload too large")
		return
	}
	inv.done <- result{body: body}
	accepted(w)
}

func (sb *sandbox) serveError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	inv := sb.take(r.PathValue("id"))
	if inv == nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation in progress with this request id")
		return
	}
	inv.done <- result{err: parseFunctionError(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))}
	accepted(w)
}

func (sb *sandbox) serveInitError(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	fe := parseFunctionError(body, r.Header.Get("Lambda-Runtime-Function-Error-Type"))
	sb.initErrOnce.Do(func() {
		sb.initErrVal = fe
		close(sb.initErr)
	})
	accepted(w)
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

// runtimeError answers the runtime as the Runtime API does for a bad call.
func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// parseFunctionError reads an error document ({"errorMessage","errorType",
// "stackTrace"}); typeHeader (Lambda-Runtime-Function-Error-Type) fills a
// missing errorType. A body that is not such a document becomes the
// message, as Lambda does not require one.
func parseFunctionError(body []byte, typeHeader string) *FunctionError {
	var doc struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	fe := &FunctionError{}
	if err := json.Unmarshal(body, &doc); err == nil {
		fe.Type, fe.Message = doc.Type, doc.Message
		fe.Payload = bytes.Clone(body)
	} else {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = typeHeader
	}
	if fe.Type == "" {
		fe.Type = "Runtime.Unknown"
	}
	if fe.Payload == nil {
		fe.Payload = fe.marshal()
	}
	return fe
}

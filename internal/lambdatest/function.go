package lambdatest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults for the function's environment and invocations.
const (
	// DefaultTimeout is the invocation deadline when ctx has none.
	DefaultTimeout = 30 * time.Second
	// InitTimeout bounds exec -> first GET /next. Lambda allows 10 s; test
	// machines shared by many builds get more.
	InitTimeout = 30 * time.Second
	// AccountID appears in the invoked function ARN.
	AccountID = "123456789012"
)

// FunctionError is an invocation that failed inside the function: the
// runtime posted to /invocation/{id}/error, or Lambda itself failed it
// (Sandbox.Timedout, Runtime.ExitError, Function.ResponseSizeTooLarge).
type FunctionError struct {
	Type    string // errorType
	Message string // errorMessage
	// Payload is the error document as an invoker would receive it with
	// X-Amz-Function-Error: Unhandled.
	Payload []byte
}

func newFunctionError(typ, msg string) *FunctionError {
	fe := &FunctionError{Type: typ, Message: msg}
	fe.Payload = fe.marshal()
	return fe
}

func (e *FunctionError) marshal() []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{e.Message, e.Type})
	return b
}

// Error returns "Type: Message".
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// ErrorPayload returns Payload, so fakeaws passes it through unchanged when
// a Function serves a fake Lambda Invoke.
func (e *FunctionError) ErrorPayload() []byte { return e.Payload }

// Function is a bootstrap binary running against a Runtime API served by
// the test, like one Lambda sandbox: invocations are sequential.
type Function struct {
	bootstrap string
	name      string
	env       []string // without AWS_LAMBDA_RUNTIME_API
	logs      *logFile

	invokeMu sync.Mutex // one invocation at a time

	mu      sync.Mutex
	sb      *sandbox
	closed  bool
	initDur time.Duration
	peakRSS int64
	pid     int
}

// Start runs bootstrap with the environment Lambda would give it plus env
// (which wins), waits until it asks for its first invocation, and stops it
// when t ends. It fails t, showing the binary's output, if the binary exits
// or posts /init/error first. If t fails, the binary's output is logged at
// cleanup.
func Start(t testing.TB, bootstrap string, env map[string]string) *Function {
	t.Helper()
	f, err := start(bootstrap, env)
	if err != nil {
		t.Fatalf("lambdatest.Start(%s): %v", bootstrap, err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", f.name, f.Pid(), tail(f.Logs(), 16<<10))
		}
	})
	return f
}

func start(bootstrap string, env map[string]string) (*Function, error) {
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("bootstrap %s is not a file (use Build to make one)", abs)
	}
	logs, err := newLogFile()
	if err != nil {
		return nil, err
	}
	f := &Function{bootstrap: abs, name: filepath.Base(filepath.Dir(abs)), logs: logs}
	if n := env["AWS_LAMBDA_FUNCTION_NAME"]; n != "" {
		f.name = n
	}
	f.env = lambdaEnv(f.name, filepath.Dir(abs), env)
	sb, err := f.startSandbox()
	if err != nil {
		f.logs.close()
		return nil, fmt.Errorf("%w\noutput:\n%s", err, tail(f.Logs(), 16<<10))
	}
	f.mu.Lock()
	f.sb = sb
	f.mu.Unlock()
	return f, nil
}

// lambdaEnv is the environment of a provided.al2023 function, with static
// credentials and nothing inherited from the test process, so a host
// ~/.aws or AWS_PROFILE cannot leak in.
func lambdaEnv(name, taskRoot string, extra map[string]string) []string {
	region := "us-east-1"
	if r := extra["AWS_REGION"]; r != "" {
		region = r
	}
	vars := map[string]string{
		"AWS_REGION":                      region,
		"AWS_DEFAULT_REGION":              region,
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"LAMBDA_RUNTIME_DIR":              taskRoot,
		"AWS_ACCESS_KEY_ID":               "AKIALAMBDATEST000000",
		"AWS_SECRET_ACCESS_KEY":           "lambdatest-secret-access-key",
		"AWS_SESSION_TOKEN":               "lambdatest-session-token",
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_CONFIG_FILE":                 filepath.Join(taskRoot, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE":     filepath.Join(taskRoot, "no-aws-credentials"),
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
	}
	for k, v := range extra {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// startSandbox execs the binary against a fresh Runtime API endpoint and
// waits for its first GET /next. Failures caused by the binary are
// *FunctionError (the type Lambda would report to an invoker).
func (f *Function) startSandbox() (*sandbox, error) {
	sb, err := newSandbox()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(f.bootstrap)
	cmd.Env = append(append([]string(nil), f.env...), "AWS_LAMBDA_RUNTIME_API="+sb.addr())
	cmd.Dir = filepath.Dir(f.bootstrap)
	cmd.Stdout = f.logs.f
	cmd.Stderr = f.logs.f
	sb.cmd = cmd
	sb.mu.Lock()
	sb.started = time.Now()
	sb.mu.Unlock()
	if err := cmd.Start(); err != nil {
		sb.srv.Close()
		return nil, fmt.Errorf("exec %s: %w", f.bootstrap, err)
	}
	sb.pid = cmd.Process.Pid
	go func() {
		sb.exitErr = cmd.Wait()
		close(sb.exited)
	}()

	timer := time.NewTimer(InitTimeout)
	defer timer.Stop()
	select {
	case <-sb.ready:
	case <-sb.initErr:
		sb.stop()
		return nil, fmt.Errorf("init failed (POST /runtime/init/error): %w", sb.initErrVal)
	case <-sb.exited:
		sb.stop()
		return nil, fmt.Errorf("binary exited before asking for an invocation: %w",
			newFunctionError("Runtime.ExitError", fmt.Sprintf("Runtime exited with error: %v", exitStatus(sb.exitErr))))
	case <-timer.C:
		sb.stop()
		return nil, fmt.Errorf("binary did not ask for an invocation within %v: %w",
			InitTimeout, newFunctionError("Sandbox.Timedout", "init phase timed out"))
	}
	f.mu.Lock()
	f.initDur = sb.initDur
	f.pid = sb.pid
	f.peakRSS = 0
	f.mu.Unlock()
	f.sampleRSS(sb)
	return sb, nil
}

// stop kills the process, waits for it and closes its endpoint.
func (sb *sandbox) stop() {
	if sb.cmd.Process != nil {
		_ = sb.cmd.Process.Kill()
		<-sb.exited
	}
	sb.srv.Close()
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Invoke runs one invocation and returns the function's response payload.
// The deadline is ctx's, or DefaultTimeout from now. A failure inside the
// function is a *FunctionError; cancelling ctx (before its deadline)
// returns ctx.Err() and leaves the function running.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	inv := &invocation{
		id:       newRequestID(),
		payload:  payload,
		deadline: deadline,
		arn:      fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", f.region(), AccountID, f.name),
		traceID:  newTraceID(),
		done:     make(chan result, 1),
	}
	timeout := time.Until(deadline)
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	var sb *sandbox
	timedOut := func() error {
		f.retire(sb)
		return newFunctionError("Sandbox.Timedout",
			fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, timeout.Seconds()))
	}
	exitedErr := func() error {
		f.retire(sb)
		return newFunctionError("Runtime.ExitError",
			fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", inv.id, exitStatus(sb.exitErr)))
	}

	// Hand the invocation over. A process that exits instead of asking for
	// it (aws-lambda-go exits after reporting a panic) never saw it, so a
	// new process gets it, as Lambda re-initialises a crashed sandbox.
	for handed, attempt := false, 0; !handed; attempt++ {
		var err error
		if sb, err = f.sandboxForInvoke(); err != nil {
			return nil, err
		}
		select {
		case sb.next <- inv:
			handed = true
		case <-sb.exited:
			if attempt > 0 {
				return nil, exitedErr()
			}
			f.retire(sb)
		case <-timer.C:
			return nil, timedOut()
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, timedOut()
			}
			return nil, ctx.Err()
		}
	}

	select {
	case res := <-inv.done:
		return f.finish(sb, res)
	case <-sb.exited:
		select {
		case res := <-inv.done: // answered, then exited (a panic in aws-lambda-go)
			f.retire(sb)
			return f.finish(sb, res)
		default:
		}
		return nil, exitedErr()
	case <-timer.C:
		return nil, timedOut()
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, timedOut()
		}
		return nil, ctx.Err()
	}
}

func (f *Function) finish(sb *sandbox, res result) ([]byte, error) {
	f.sampleRSS(sb)
	if res.err != nil {
		return nil, res.err
	}
	return res.body, nil
}

// InvokeJSON marshals in, invokes, and unmarshals the response into out
// (when out is not nil).
func (f *Function) InvokeJSON(ctx context.Context, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("lambdatest: marshal payload: %w", err)
	}
	resp, err := f.Invoke(ctx, payload)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("lambdatest: unmarshal response %q: %w", tail(string(resp), 512), err)
	}
	return nil
}

// sandboxForInvoke returns the live sandbox, starting a new one (a cold
// start) when the last one exited or timed out.
func (f *Function) sandboxForInvoke() (*sandbox, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, errors.New("lambdatest: Invoke after Close")
	}
	sb := f.sb
	f.mu.Unlock()
	if sb != nil {
		select {
		case <-sb.exited:
			f.retire(sb)
		default:
			return sb, nil
		}
	}
	sb, err := f.startSandbox()
	if err != nil {
		return nil, fmt.Errorf("lambdatest: cold start: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		sb.stop()
		return nil, errors.New("lambdatest: Invoke after Close")
	}
	f.sb = sb
	return sb, nil
}

// retire stops sb and forgets it, so the next Invoke starts a new process.
func (f *Function) retire(sb *sandbox) {
	f.sampleRSS(sb)
	sb.stop()
	f.mu.Lock()
	if f.sb == sb {
		f.sb = nil
	}
	f.mu.Unlock()
}

// Close stops the process; Logs stays readable. Start registers it with
// t.Cleanup.
func (f *Function) Close() {
	f.mu.Lock()
	f.closed = true
	sb := f.sb
	f.sb = nil
	f.mu.Unlock()
	if sb != nil {
		f.sampleRSS(sb)
		sb.stop()
	}
	f.logs.close()
}

// InitDuration is the time from exec to the first GET /next of the most
// recent start (cold start).
func (f *Function) InitDuration() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.initDur
}

// PeakRSS is the process's peak resident set size in bytes (VmHWM in
// /proc/<pid>/status). Once the process has stopped it is the last value
// read, which is taken after every invocation and before the process is
// stopped.
func (f *Function) PeakRSS() int64 {
	f.mu.Lock()
	sb := f.sb
	f.mu.Unlock()
	if sb != nil {
		f.sampleRSS(sb)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peakRSS
}

// Pid is the process id of the current (or last) process.
func (f *Function) Pid() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid
}

// Logs returns everything the function's processes wrote to stdout and
// stderr so far.
func (f *Function) Logs() string { return f.logs.String() }

func (f *Function) region() string {
	for _, kv := range f.env {
		if v, ok := strings.CutPrefix(kv, "AWS_REGION="); ok {
			return v
		}
	}
	return "us-east-1"
}

// sampleRSS records the process's VmHWM if it is still running.
func (f *Function) sampleRSS(sb *sandbox) {
	select {
	case <-sb.exited:
		return
	default:
	}
	hwm, err := readVmHWM(sb.pid)
	if err != nil {
		return
	}
	f.mu.Lock()
	if f.pid == sb.pid && hwm > f.peakRSS {
		f.peakRSS = hwm
	}
	f.mu.Unlock()
}

// readVmHWM reads the peak resident set size of pid in bytes.
func readVmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(v) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmHWM line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// logFile collects the output of the function's processes. It is a file,
// not a pipe, so whatever a process wrote before answering an invocation
// is in Logs by the time Invoke returns.
type logFile struct {
	mu     sync.Mutex
	f      *os.File
	closed string // the content once closed
}

func newLogFile() (*logFile, error) {
	f, err := os.CreateTemp("", "lambdatest-output-*.log")
	if err != nil {
		return nil, fmt.Errorf("create output file: %w", err)
	}
	return &logFile{f: f}, nil
}

func (l *logFile) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return l.closed
	}
	b, _ := os.ReadFile(l.f.Name())
	return string(b)
}

// close keeps the content in memory and removes the file.
func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	b, _ := os.ReadFile(l.f.Name())
	l.closed = string(b)
	l.f.Close()
	os.Remove(l.f.Name())
	l.f = nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newRequestID returns a random UUID (version 4), like Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTraceID returns an X-Ray trace header: Root=1-<epoch hex>-<96 bits>.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(24), randomHex(16))
}

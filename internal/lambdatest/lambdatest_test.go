package lambdatest

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
)

const echoPkg = "./internal/lambdatest/testdata/echo"

func startEcho(t *testing.T, env map[string]string) *Function {
	t.Helper()
	return Start(t, BuildPackage(t, echoPkg), env)
}

func invoke(t *testing.T, f *Function, payload string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	return f.Invoke(ctx, []byte(payload))
}

func wantFunctionError(t *testing.T, err error, typ, msgPart string) *FunctionError {
	t.Helper()
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v (%T), want *FunctionError %s", err, err, typ)
	}
	if fe.Type != typ || !strings.Contains(fe.Message, msgPart) {
		t.Fatalf("FunctionError{Type: %q, Message: %q}, want type %q and message containing %q", fe.Type, fe.Message, typ, msgPart)
	}
	var doc map[string]any
	if err := json.Unmarshal(fe.Payload, &doc); err != nil || doc["errorType"] != typ {
		t.Fatalf("Payload %s is not an error document of type %s", fe.Payload, typ)
	}
	return fe
}

func TestBuildUsesMakefileFlags(t *testing.T) {
	path := BuildPackage(t, echoPkg)
	if again := BuildPackage(t, echoPkg); again != path {
		t.Errorf("second build gave %s, want the cached %s", again, path)
	}
	if !strings.HasSuffix(path, "/echo/bootstrap") {
		t.Errorf("path %s, want .../echo/bootstrap", path)
	}
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF binary: %v", err)
	}
	defer ef.Close()
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if wantMachine != 0 && ef.Machine != wantMachine {
		t.Errorf("machine %v, want %v", ef.Machine, wantMachine)
	}
	// -trimpath keeps -ldflags out of the build info; check its effect.
	if ef.Section(".symtab") != nil || ef.Section(".debug_info") != nil {
		t.Error("binary has a symbol table or DWARF; -ldflags \"-s -w\" not applied")
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{"-trimpath": "true", "-tags": "lambda.norpc,nethttpomithttp2", "CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": runtime.GOARCH}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, fn := range []string{"no-such-function", "", "../x", "a/b"} {
		if _, err := functionPackage(fn); err == nil {
			t.Errorf("functionPackage(%q) succeeded", fn)
		}
	}
	if _, err := functionPackage("no-such-function"); err == nil || !strings.Contains(err.Error(), "./functions/no-such-function") {
		t.Errorf("error %v does not name the package", err)
	}
	if _, err := buildPackage("./internal/lambdatest/testdata/missing"); err == nil {
		t.Error("building a missing package succeeded")
	}
}

func TestEcho(t *testing.T) {
	f := startEcho(t, nil)
	pid := f.Pid()
	for _, payload := range []string{`{"appid":"wx0123456789abcdef"}`, `[1,2,3]`, `"你好"`, `{"nested":{"a":[true,null]}}`} {
		out, err := invoke(t, f, payload)
		if err != nil {
			t.Fatalf("Invoke(%s): %v", payload, err)
		}
		if string(out) != payload {
			t.Errorf("Invoke(%s) = %s", payload, out)
		}
	}
	if f.Pid() != pid || pid <= 0 {
		t.Errorf("pid changed from %d to %d between warm invocations", pid, f.Pid())
	}
	if f.InitDuration() <= 0 {
		t.Errorf("InitDuration = %v", f.InitDuration())
	}
	if rss := f.PeakRSS(); rss < 1<<20 {
		t.Errorf("PeakRSS = %d bytes, want a real figure", rss)
	}
	t.Logf("echo: init %v, peak RSS %.1f MiB", f.InitDuration(), float64(f.PeakRSS())/(1<<20))
}

func TestInvocationContext(t *testing.T) {
	t.Setenv("LAMBDATEST_HOST_ONLY", "leak")
	f := startEcho(t, map[string]string{"TABLE_NAME": "creds", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	keys := []string{"AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER",
		"AWS_EC2_METADATA_DISABLED", "AWS_ACCESS_KEY_ID", "TABLE_NAME", "LAMBDATEST_HOST_ONLY", "AWS_LAMBDA_RUNTIME_API"}
	var got struct {
		RequestID   string            `json:"request_id"`
		FunctionARN string            `json:"function_arn"`
		DeadlineMS  int64             `json:"deadline_ms"`
		TraceID     string            `json:"trace_id"`
		Env         map[string]string `json:"env"`
	}
	if err := f.InvokeJSON(ctx, map[string]any{"action": "context", "env": keys}, &got); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got.RequestID) {
		t.Errorf("request id %q is not a UUID", got.RequestID)
	}
	if got.FunctionARN != "arn:aws:lambda:us-east-1:123456789012:function:echo" {
		t.Errorf("function ARN %q", got.FunctionARN)
	}
	if got.DeadlineMS != deadline.UnixMilli() {
		t.Errorf("deadline %d ms, want ctx's %d", got.DeadlineMS, deadline.UnixMilli())
	}
	if !regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`).MatchString(got.TraceID) {
		t.Errorf("trace id %q", got.TraceID)
	}
	want := map[string]string{"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "echo", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"_HANDLER": "bootstrap", "AWS_EC2_METADATA_DISABLED": "true", "TABLE_NAME": "creds", "LAMBDATEST_HOST_ONLY": ""}
	for k, v := range want {
		if got.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, got.Env[k], v)
		}
	}
	if got.Env["AWS_ACCESS_KEY_ID"] == "" || !strings.HasPrefix(got.Env["AWS_LAMBDA_RUNTIME_API"], "127.0.0.1:") {
		t.Errorf("credentials %q, runtime API %q", got.Env["AWS_ACCESS_KEY_ID"], got.Env["AWS_LAMBDA_RUNTIME_API"])
	}

	// A second invocation gets its own request id and the default deadline.
	var second struct {
		RequestID  string `json:"request_id"`
		DeadlineMS int64  `json:"deadline_ms"`
	}
	before := time.Now()
	if err := f.InvokeJSON(context.Background(), map[string]any{"action": "context"}, &second); err != nil {
		t.Fatal(err)
	}
	if second.RequestID == got.RequestID {
		t.Error("request id reused")
	}
	if d := time.UnixMilli(second.DeadlineMS).Sub(before); d < DefaultTimeout-time.Second || d > DefaultTimeout+time.Second {
		t.Errorf("default deadline is %v after the call, want about %v", d, DefaultTimeout)
	}
}

func TestFunctionErrors(t *testing.T) {
	f := startEcho(t, nil)
	tests := []struct {
		name, payload, typ, msg string
		coldAfter               bool // the process exits, so the next invoke starts a new one
	}{
		{"handler error", `{"action":"fail"}`, "badInput", "bad input: appid", false},
		{"error while streaming the response", `{"action":"bad-reader"}`, "errorString", "disk gone", false},
		{"panic", `{"action":"panic"}`, "string", "handler panic on purpose", true},
		{"exit", `{"action":"exit"}`, "Runtime.ExitError", "exit status 4", true},
		{"response too large", `{"action":"big","size":7000000}`, "Function.ResponseSizeTooLarge", "6291456", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid := f.Pid()
			_, err := invoke(t, f, tt.payload)
			wantFunctionError(t, err, tt.typ, tt.msg)
			out, err := invoke(t, f, `{"after":1}`)
			if err != nil || string(out) != `{"after":1}` {
				t.Fatalf("invoke after the error: %s, %v", out, err)
			}
			if cold := f.Pid() != pid; cold != tt.coldAfter {
				t.Errorf("new process after the error: %v, want %v", cold, tt.coldAfter)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f := startEcho(t, nil)
	pid := f.Pid()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.Invoke(ctx, []byte(`{"action":"hang"}`))
	wantFunctionError(t, err, "Sandbox.Timedout", "Task timed out after")
	out, err := invoke(t, f, `{}`)
	if err != nil || string(out) != `{}` {
		t.Fatalf("invoke after timeout: %s, %v", out, err)
	}
	if f.Pid() == pid {
		t.Error("the timed-out process was reused")
	}
}

func TestCancelLeavesInvocationRunning(t *testing.T) {
	f := startEcho(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Invoke(ctx, []byte(`{"action":"hang"}`))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Invoke: %v", err)
	}
	// The sandbox is still busy with the hung invocation, so the next one
	// cannot start before its deadline and fails like a Lambda timeout.
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := f.Invoke(short, []byte(`{}`)); err == nil {
		// The cancel raced ahead of the hand-over: the hang never reached
		// the process, and this invocation ran normally.
		t.Log("cancel happened before the invocation was handed over")
	} else {
		wantFunctionError(t, err, "Sandbox.Timedout", "Task timed out")
	}
	if out, err := invoke(t, f, `{"ok":true}`); err != nil || string(out) != `{"ok":true}` {
		t.Fatalf("invoke after: %s, %v", out, err)
	}
}

func TestLogs(t *testing.T) {
	f := startEcho(t, nil)
	if _, err := invoke(t, f, `{"action":"log","text":"marker-42"}`); err != nil {
		t.Fatal(err)
	}
	logs := f.Logs()
	for _, want := range []string{"stdout: marker-42", "stderr: marker-42"} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs() lacks %q:\n%s", want, logs)
		}
	}
	f.Close()
	if !strings.Contains(f.Logs(), "marker-42") {
		t.Error("Logs() lost after Close")
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); err == nil {
		t.Error("Invoke after Close succeeded")
	}
}

func TestStartFailures(t *testing.T) {
	bootstrap := BuildPackage(t, echoPkg)
	tests := []struct {
		name      string
		bootstrap string
		env       map[string]string
		want      []string
	}{
		{"panic at init", bootstrap, map[string]string{"ECHO_MODE": "panic-init"}, []string{"Runtime.ExitError", "exit status 2", "panic: init failed on purpose"}},
		{"init error", bootstrap, map[string]string{"ECHO_MODE": "init-error"}, []string{"/runtime/init/error", "InitFailure: config missing"}},
		{"no binary", bootstrap + ".missing", nil, []string{"not a file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := start(tt.bootstrap, tt.env)
			if err == nil {
				f.Close()
				t.Fatal("start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRuntimeAPIProtocol drives the Runtime API endpoint directly, as a
// runtime other than aws-lambda-go would.
func TestRuntimeAPIProtocol(t *testing.T) {
	sb, err := newSandbox()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.srv.Close() })
	base := "http://" + sb.addr() + "/2018-06-01/runtime"
	deadline := time.UnixMilli(1700000000123)
	inv := &invocation{id: "req-1", payload: []byte(`{"k":1}`), deadline: deadline, arn: "arn:x", traceID: "Root=1-x", done: make(chan result, 1)}
	go func() { sb.next <- inv }()

	resp, err := http.Get(base + "/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantHeaders := map[string]string{"Lambda-Runtime-Aws-Request-Id": "req-1", "Lambda-Runtime-Deadline-Ms": "1700000000123",
		"Lambda-Runtime-Invoked-Function-Arn": "arn:x", "Lambda-Runtime-Trace-Id": "Root=1-x"}
	for k, v := range wantHeaders {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	if resp.StatusCode != 200 || string(body) != `{"k":1}` {
		t.Errorf("next: %d %s", resp.StatusCode, body)
	}

	post := func(path, contentType, body string, header map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/invocation/wrong-id/response", "application/json", `{}`, nil); code != http.StatusBadRequest {
		t.Errorf("response for an unknown id: %d, want 400", code)
	}
	if code := post("/invocation/req-1/error", "text/plain", "plain failure", map[string]string{"Lambda-Runtime-Function-Error-Type": "Custom.Kind"}); code != http.StatusAccepted {
		t.Errorf("error: %d, want 202", code)
	}
	res := <-inv.done
	if res.err == nil || res.err.Type != "Custom.Kind" || res.err.Message != "plain failure" {
		t.Errorf("error result %+v", res.err)
	}
	if code := post("/invocation/req-1/response", "application/json", `{}`, nil); code != http.StatusBadRequest {
		t.Errorf("second answer for the same id: %d, want 400", code)
	}
	if code := post("/init/error", "application/json", `{"errorMessage":"m","errorType":"T"}`, nil); code != http.StatusAccepted {
		t.Errorf("init/error: %d, want 202", code)
	}
	<-sb.initErr
	if sb.initErrVal.Type != "T" || sb.initErrVal.Message != "m" {
		t.Errorf("init error %+v", sb.initErrVal)
	}
}

// TestServesFakeLambdaInvoke wires a Function behind fakeaws's Lambda
// endpoint, as tests of the token function's forced refresh do.
func TestServesFakeLambdaInvoke(t *testing.T) {
	f := startEcho(t, nil)
	s := fakeaws.New(t)
	s.HandleInvoke("refresh", f.Invoke)
	client := lambda.NewFromConfig(s.AWSConfig())

	out, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("refresh"), Payload: []byte(`{"action":"sweep"}`)})
	if err != nil || out.FunctionError != nil || string(out.Payload) != `{"action":"sweep"}` {
		t.Fatalf("invoke: %v, %+v", err, out)
	}
	out, err = client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("refresh"), Payload: []byte(`{"action":"fail"}`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("invoke: %v, %+v", err, out)
	}
	var doc struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(out.Payload, &doc); err != nil || doc.ErrorType != "badInput" || doc.ErrorMessage != "bad input: appid" {
		t.Errorf("error payload %s", out.Payload)
	}
}

// BenchmarkInvokeEcho measures one warm invocation through the Runtime API
// (the overhead every function benchmark built on Function includes).
func BenchmarkInvokeEcho(b *testing.B) {
	f := Start(b, BuildPackage(b, echoPkg), nil)
	payload := []byte(`{"appid":"wx0123456789abcdef","kind":"access_token"}`)
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.PeakRSS())/(1<<20), "peak-rss-MB")
}

// BenchmarkStartEcho measures a cold start of the echo function: exec to
// its first GET /next.
func BenchmarkStartEcho(b *testing.B) {
	bootstrap := BuildPackage(b, echoPkg)
	var total time.Duration
	n := 0
	for b.Loop() {
		f, err := start(bootstrap, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += f.InitDuration()
		n++
		f.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "init-ms")
}

// TestHTTPHandler serves HTTP through the echo binary, which answers
// payload-2.0 events with lambdahttp.Serve.
func TestHTTPHandler(t *testing.T) {
	f := startEcho(t, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /hello/{name}", f.HTTPHandler())
	mux.Handle("/", f.HTTPHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name, method, path, contentType string
		body                            []byte
		wantStatus                      int
		wantBody                        []byte
		wantCookie                      string
	}{
		{"text with path parameter", "GET", "/hello/wx1?echostr=a%2Bb+c", "", nil, 200, []byte("hello wx1, echostr=a+b c"), "seen=wx1"},
		{"binary body both ways", "POST", "/echo", "application/octet-stream", []byte{0, 0xff, 0x80, 'x'}, 200, []byte{0, 0xff, 0x80, 'x'}, ""},
		{"xml body", "POST", "/echo", "text/xml", []byte("<xml><A>1</A></xml>"), 200, []byte("<xml><A>1</A></xml>"), ""},
		{"route not served", "GET", "/nothing", "", nil, 404, []byte("404 page not found\n"), ""},
		{"function error", "GET", "/fail", "", nil, 500, []byte(`{"message":"Internal Server Error"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !bytes.Equal(body, tt.wantBody) {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if got := resp.Header.Get("Set-Cookie"); got != tt.wantCookie {
				t.Errorf("Set-Cookie %q, want %q", got, tt.wantCookie)
			}
		})
	}
}

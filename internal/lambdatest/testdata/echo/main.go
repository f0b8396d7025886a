// Command echo is a test-only Lambda function for package lambdatest. Its
// behaviour at init is chosen by ECHO_MODE, per invocation by "action".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp"
)

type request struct {
	Action string   `json:"action"`
	Env    []string `json:"env"`
	Size   int      `json:"size"`
	Text   string   `json:"text"`
}

// badInput is returned for action "fail"; its type name is the errorType.
type badInput struct{ field string }

func (e *badInput) Error() string { return "bad input: " + e.field }

// failingReader fails every read; its type name is the errorType.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

// web is what the function serves for payload-2.0 HTTP events.
func web() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: r.PathValue("name")})
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello %s, echostr=%s", r.PathValue("name"), r.URL.Query().Get("echostr"))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Write(body)
	})
	return mux
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if lambdahttp.IsHTTPEvent(raw) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		if ev.RawPath == "/fail" {
			return nil, &badInput{field: "path"}
		}
		return lambdahttp.Serve(ctx, web(), ev)
	}
	var req request
	_ = json.Unmarshal(raw, &req) // non-objects are echoed
	switch req.Action {
	case "fail":
		return nil, &badInput{field: "appid"}
	case "panic":
		panic("handler panic on purpose")
	case "exit":
		os.Exit(4)
	case "hang":
		select {} // ignores its deadline, like a stuck function
	case "bad-reader":
		// aws-lambda-go streams an io.Reader response and reports a read
		// failure in HTTP trailers.
		return io.MultiReader(strings.NewReader("partial"), failingReader{}), nil
	case "big":
		return strings.Repeat("x", req.Size), nil
	case "log":
		fmt.Println("stdout:", req.Text)
		fmt.Fprintln(os.Stderr, "stderr:", req.Text)
		return "logged", nil
	case "context":
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		env := map[string]string{}
		for _, k := range req.Env {
			env[k] = os.Getenv(k)
		}
		return map[string]any{
			"request_id":   lc.AwsRequestID,
			"function_arn": lc.InvokedFunctionArn,
			"deadline_ms":  deadline.UnixMilli(),
			"trace_id":     ctx.Value("x-amzn-trace-id"),
			"env":          env,
		}, nil
	}
	return raw, nil
}

func main() {
	switch os.Getenv("ECHO_MODE") {
	case "panic-init":
		panic("init failed on purpose")
	case "init-error":
		// What a custom runtime does when its configuration is unusable.
		body := `{"errorMessage":"config missing","errorType":"InitFailure"}`
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
		if err != nil {
			panic(errors.Join(errors.New("post init error"), err))
		}
		resp.Body.Close()
		os.Exit(1)
	}
	lambda.Start(handle)
}

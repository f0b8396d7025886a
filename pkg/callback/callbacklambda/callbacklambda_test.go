package callbacklambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// CALLBACK_MAX_SKEW's bound in pkg/config is the dedupe record's life.
func TestMaxSkewBoundIsTheDedupeTTL(t *testing.T) {
	if config.MaxMaxSkew != callback.DedupeTTL {
		t.Fatalf("config.MaxMaxSkew %v, callback.DedupeTTL %v", config.MaxMaxSkew, callback.DedupeTTL)
	}
}

func TestNew(t *testing.T) {
	if _, err := callbacklambda.New(callbacklambda.Deps{}); err == nil {
		t.Fatal("New without a Config succeeded")
	}
	var out bytes.Buffer
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: "wx1", Token: "t", Mode: callback.ModePlain}}}
	h, err := callbacklambda.New(callbacklambda.Deps{Config: callback.StaticConfig(cfg), Metrics: metrics.New(&out)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wechat/wxnobody", nil))
	if rec.Code != http.StatusNotFound || !strings.Contains(out.String(), `"CallbackRequests":1`) {
		t.Fatalf("status %d, metrics %s: want 404 counted as CallbackRequests", rec.Code, out.String())
	}
	// A document that cannot be loaded fails the Lambda invocation.
	bad := errors.New("secrets manager: get secret wxcentral/callback: AccessDenied")
	h, err = callbacklambda.New(callbacklambda.Deps{Config: callback.ConfigFromJSON(func(context.Context) ([]byte, error) { return nil, bad })})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"version":"2.0","rawPath":"/wechat/wx1"}`)); !errors.Is(err, bad) {
		t.Fatalf("err = %v, want the document's error", err)
	}
}

// The callback document's load runs inside the request's one budget, which
// starts at API Gateway's arrival time (requestContext.timeEpoch), so a cold
// start counts and a hung Secrets Manager cannot hold WeChat past 5 s.
func TestConfigLoadHasTheBudgetFromArrival(t *testing.T) {
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: "wx1", Token: "t", Mode: callback.ModePlain}}}
	var mu sync.Mutex
	var deadlines []time.Time
	src := callback.ConfigFromJSON(func(ctx context.Context) ([]byte, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("secrets manager: load without a deadline")
		}
		mu.Lock()
		deadlines = append(deadlines, dl)
		mu.Unlock()
		return json.Marshal(cfg)
	})
	h, err := callbacklambda.New(callbacklambda.Deps{Config: src})
	if err != nil {
		t.Fatal(err)
	}
	arrival := time.Now().Add(-2 * time.Second).Truncate(time.Millisecond) // a cold start took 2 s
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/wechat/wxnobody",
		RequestContext: events.APIGatewayV2HTTPRequestContext{TimeEpoch: arrival.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodGet, Path: "/wechat/wxnobody"}}}
	resp, err := h.Serve(context.Background(), ev)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Serve: %d %v, want 404 (the document loaded)", resp.StatusCode, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deadlines) == 0 {
		t.Fatal("the document was never loaded")
	}
	for _, dl := range deadlines {
		if dl.After(arrival.Add(callback.DefaultBudget)) {
			t.Fatalf("config load deadline %v after arrival, want at most %v", dl.Sub(arrival), callback.DefaultBudget)
		}
	}
}

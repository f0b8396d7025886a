package callbacklambda_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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

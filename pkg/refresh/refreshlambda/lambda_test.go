package refreshlambda_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The Lambda entry point takes the payload as bytes: a payload that is not
// JSON at all is still "an event that is not a direct-invoke action" and
// sweeps (docs/refresh.md) instead of failing in the runtime library.
func TestLambdaHandlerSweepsOnAnyPayload(t *testing.T) {
	h, _, _ := newHandler(t, `{"apps":[{"appid":"`+appid+`","secret":"secret-0123"}]}`)
	tests := []struct{ name, payload, outcome string }{
		{"not JSON", `tick`, "refreshed"},
		{"truncated object", `{"action":`, "fresh"},
		{"scheduler input {}", `{}`, "fresh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			var sum struct {
				Results []struct {
					Outcome string `json:"outcome"`
				} `json:"results"`
			}
			if err := json.Unmarshal(out, &sum); err != nil || len(sum.Results) != 1 || sum.Results[0].Outcome != tc.outcome {
				t.Fatalf("answer %s (%v), want one %s result", out, err, tc.outcome)
			}
		})
	}
	out, err := h.Invoke(context.Background(), []byte(`{"action":"force","appid":"wxnone","stale_token":"x"}`))
	if err != nil || !strings.Contains(string(out), `"error":"unknown_app"`) {
		t.Fatalf("force answer %s %v", out, err)
	}
}

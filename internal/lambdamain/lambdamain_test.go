package lambdamain_test

import (
	"context"
	"errors"
	"testing"

	"github.com/wxcentral/wxcentral/internal/lambdamain"
)

func TestFailingAnswersEveryInvocationWithTheError(t *testing.T) {
	want := errors.New("TABLE_NAME: missing")
	h := lambdamain.Failing(want)
	for _, payload := range []string{`{}`, `not JSON`, ``} {
		out, err := h.Invoke(context.Background(), []byte(payload))
		if !errors.Is(err, want) || out != nil {
			t.Fatalf("%q: %s, %v; want the configuration error", payload, out, err)
		}
	}
}

package callback

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestEnvFrom(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "t", "CALLBACK_SECRET_ID": "s"}
	tests := []struct {
		set     map[string]string
		wantErr string
		check   func(Env) bool
	}{
		{nil, "", func(e Env) bool {
			return e.MaxSkew == DefaultMaxSkew && e.LogLevel == slog.LevelInfo && e.EventBusName == ""
		}},
		{map[string]string{"CALLBACK_MAX_SKEW": "0", "LOG_LEVEL": "debug", "EVENT_BUS_NAME": "b"}, "", func(e Env) bool {
			return e.MaxSkew < 0 && e.LogLevel == slog.LevelDebug && e.EventBusName == "b"
		}},
		{map[string]string{"TABLE_NAME": ""}, "TABLE_NAME", nil},
		{map[string]string{"CALLBACK_SECRET_ID": ""}, "CALLBACK_SECRET_ID", nil},
		{map[string]string{"CALLBACK_MAX_SKEW": "five"}, "CALLBACK_MAX_SKEW", nil},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL", nil},
	}
	for _, tt := range tests {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tt.set {
			env[k] = v
		}
		e, err := EnvFrom(func(k string) string { return env[k] })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err %v, want %s", tt.set, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !tt.check(e) {
			t.Errorf("%v: %+v %v", tt.set, e, err)
		}
	}
}

func TestConfigFromJSONReparsesOnChange(t *testing.T) {
	doc := `{"apps":[{"appid":"wx1","token":"t","mode":"plain"}]}`
	loads := 0
	src := ConfigFromJSON(func(context.Context) ([]byte, error) { loads++; return []byte(doc), nil })
	a, err := src(context.Background())
	b, _ := src(context.Background())
	if err != nil || a != b {
		t.Fatalf("same document parsed twice: %p %p %v", a, b, err)
	}
	doc = `{"apps":[{"appid":"wx2","token":"t","mode":"plain"}]}`
	c, _ := src(context.Background())
	if c == a || c.Apps[0].AppID != "wx2" {
		t.Fatal("changed document not reparsed")
	}
	doc = `{"apps":[{"appid":"wx2"}]}`
	if _, err := src(context.Background()); err == nil || !strings.Contains(err.Error(), "apps[0].token") {
		t.Fatalf("bad document: %v", err)
	}
}

// NewHandler validates what it can read without I/O: a document behind a
// loader (Secrets Manager) stays lazy, loaded on the first request.
func TestNewHandlerLeavesLoadedDocumentsLazy(t *testing.T) {
	loads := 0
	src := ConfigFromJSON(func(context.Context) ([]byte, error) {
		loads++
		return []byte(`{"apps":[{"appid":"wx1","token":"t","mode":"plain"}]}`), nil
	})
	if _, err := NewHandler(Options{Config: src}); err != nil || loads != 0 {
		t.Fatalf("NewHandler: %v, %d loads", err, loads)
	}
	if _, err := src(context.Background()); err != nil || loads != 1 {
		t.Fatalf("first request: %v, %d loads", err, loads)
	}
}

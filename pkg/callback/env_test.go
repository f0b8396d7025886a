package callback

import (
	"context"
	"strings"
	"testing"
)

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

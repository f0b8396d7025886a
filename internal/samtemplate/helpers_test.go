package samtemplate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// sharedFile returns a file from ../shared/ beside the repository. When the
// folder is absent the test is skipped with a message - except under CI,
// where these checks must run, so it fails instead.
func sharedFile(t testing.TB, rel string) string {
	t.Helper()
	path := filepath.Join(repoRoot(t), "..", "shared", rel)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI (clone the shared folder beside the repository): %v", path, err)
		}
		t.Skipf("%s not found: clone the shared folder beside the repository to run this check", path)
	}
	return path
}

func loadTemplate(t testing.TB) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// clone deep-copies a JSON value so a test can mutate it.
func clone(t testing.TB, v map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// path walks nested maps by keys and returns the map at the end.
func path(t testing.TB, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	cur := m
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			t.Fatalf("no mapping at %v (stopped at %q)", keys, k)
		}
		cur = next
	}
	return cur
}

package modroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirFindsThisModule(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || string(data[:len("module github.com/wxcentral/wxcentral")]) != "module github.com/wxcentral/wxcentral" {
		t.Fatalf("go.mod at %s: %v", dir, err)
	}
}

func TestDirOutsideAModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if dir, err := Dir(); err == nil {
		t.Fatalf("found %s outside the module", dir)
	}
}

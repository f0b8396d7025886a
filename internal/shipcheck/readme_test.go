package shipcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/wxcentral/wxcentral/internal/modroot"
)

// goBlock is a fenced ```go block of a Markdown file.
var goBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```")

// TestReadmeGoCompiles builds and vets every Go block of README.md as a
// package of this module: a reader can paste it as it stands.
func TestReadmeGoCompiles(t *testing.T) {
	root, err := modroot.Dir()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block; this test extracts them")
	}
	for i, b := range blocks {
		t.Run("block"+strconv.Itoa(i+1), func(t *testing.T) {
			// A directory of the module that ./... patterns skip ("_"), so a
			// concurrent `go test ./...` does not pick it up.
			dir, err := os.MkdirTemp(filepath.Join(root, "internal", "shipcheck"), "_readme")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			if err := os.WriteFile(filepath.Join(dir, "main.go"), b[1], 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"build", "-o", os.DevNull, "."},
				{"vet", "."},
			} {
				cmd := exec.Command("go", args...)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("README.md Go block %d: go %s: %v\n%s\n--- block ---\n%s", i+1, args[0], err, out, b[1])
				}
			}
		})
	}
}

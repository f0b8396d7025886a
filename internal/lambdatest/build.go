package lambdatest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wxcentral/wxcentral/internal/modroot"
)

// buildFlags are the Makefile's BUILD_FLAGS.
var buildFlags = []string{"-trimpath", "-ldflags", "-s -w", "-tags", "lambda.norpc,nethttpomithttp2"}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var (
	builds     sync.Map // package path -> *buildResult
	buildDir   string
	buildDirMu sync.Mutex
	buildSeq   int
)

// Build compiles ./functions/<function> of this module the way `make build`
// does (CGO_ENABLED=0, GOOS=linux, -trimpath, -ldflags "-s -w", -tags
// lambda.norpc,nethttpomithttp2) for the host's GOARCH, once per test process, and returns
// the path of the bootstrap binary. It fails t when the package is missing
// or does not build.
func Build(t testing.TB, function string) string {
	t.Helper()
	pkg, err := functionPackage(function)
	if err != nil {
		t.Fatalf("lambdatest.Build: %v", err)
	}
	return BuildPackage(t, pkg)
}

// functionPackage checks that ./functions/<function> exists in the module.
func functionPackage(function string) (string, error) {
	if function == "" || strings.ContainsAny(function, `/\`) || strings.HasPrefix(function, ".") {
		return "", fmt.Errorf("function %q is not a directory name under functions/", function)
	}
	root, err := modroot.Dir()
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(filepath.Join(root, "functions", function)); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("no package ./functions/%s in module %s", function, root)
	}
	return "./functions/" + function, nil
}

// BuildPackage is Build for any main package, given as a path relative to
// the module root (such as "./internal/lambdatest/testdata/echo"). The
// binary is named bootstrap in a directory named after the package's last
// element, which Start uses as the default function name.
func BuildPackage(t testing.TB, pkg string) string {
	t.Helper()
	path, err := buildPackage(pkg)
	if err != nil {
		t.Fatalf("lambdatest: %v", err)
	}
	return path
}

func buildPackage(pkg string) (string, error) {
	v, _ := builds.LoadOrStore(pkg, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() { b.path, b.err = goBuild(pkg) })
	return b.path, b.err
}

func goBuild(pkg string) (string, error) {
	root, err := modroot.Dir()
	if err != nil {
		return "", err
	}
	dir, err := outputDir(filepath.Base(pkg))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap")
	args := append([]string{"build"}, buildFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// outputDir makes a fresh directory named name inside this process's build
// directory, creating that (and removing ones left by dead processes) first.
func outputDir(name string) (string, error) {
	buildDirMu.Lock()
	defer buildDirMu.Unlock()
	if buildDir == "" {
		removeStaleBuildDirs()
		d, err := os.MkdirTemp("", fmt.Sprintf("wxcentral-lambdatest-%d-", os.Getpid()))
		if err != nil {
			return "", fmt.Errorf("create build directory: %w", err)
		}
		buildDir = d
	}
	buildSeq++
	dir := filepath.Join(buildDir, strconv.Itoa(buildSeq), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	return dir, nil
}

// removeStaleBuildDirs deletes build directories of test processes that no
// longer run, since a test binary has no hook to remove its own at exit.
func removeStaleBuildDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "wxcentral-lambdatest-*-*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), "wxcentral-lambdatest-")
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

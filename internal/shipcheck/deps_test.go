package shipcheck

import (
	"os/exec"
	"path"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/internal/modroot"
)

const module = "github.com/wxcentral/wxcentral"

// shippedTestPackages are the module's *test packages that production code
// may link: WeChat doubles published for users (as net/http/httptest is)
// and used by the local stack and `wxcentral send`. They must not import
// package testing, which the check below enforces through the deps list.
var shippedTestPackages = map[string]bool{
	module + "/pkg/wechat/wechattest":     true, // the simulator `wxcentral dev` runs
	module + "/pkg/callback/callbacktest": true, // the push sender `wxcentral send` uses
}

// testCode reports why pkg is test code, or "" when it is not: package
// testing and its subpackages, net/http/httptest, and every module package
// named *test or known as a test harness.
func testCode(pkg string) string {
	switch {
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return "the standard test framework"
	case pkg == "net/http/httptest":
		return "the standard HTTP test helper"
	case !strings.HasPrefix(pkg, module+"/"):
		return ""
	case shippedTestPackages[pkg]:
		return ""
	case strings.HasSuffix(path.Base(pkg), "test"):
		return "a test-helper package of this module"
	}
	switch strings.TrimPrefix(pkg, module+"/") {
	case "internal/fakeaws", "internal/chaos", "internal/logaudit", "internal/lambdabench":
		return "a test harness of this module"
	}
	return ""
}

// TestProductionLinksNoTestCode lists what the deployed functions and the
// wxcentral command link and fails on any test code among it.
func TestProductionLinksNoTestCode(t *testing.T) {
	root, err := modroot.Dir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "./functions/...", "./cmd/wxcentral")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; expected the functions' full graph:\n%s", len(deps), out)
	}
	for _, pkg := range deps {
		if why := testCode(pkg); why != "" {
			t.Errorf("production code links %s (%s); `go list -f '{{.ImportPath}}: {{.Imports}}' -deps ./functions/... ./cmd/wxcentral` shows who imports it", pkg, why)
		}
	}
}

func TestTestCodeClassifier(t *testing.T) {
	for pkg, want := range map[string]bool{
		"testing":                                   true,
		"testing/synctest":                          true,
		"net/http/httptest":                         true,
		"internal/synctest":                         false, // runtime support, in every binary
		module + "/internal/dynamotest":             true,
		module + "/internal/lambdatest":             true,
		module + "/pkg/lambdahttp/lambdahttptest":   true,
		module + "/pkg/tokenclient/tokenclienttest": true,
		module + "/internal/fakeaws":                true,
		module + "/pkg/wechat/wechattest":           false,
		module + "/pkg/callback/callbacktest":       false,
		module + "/internal/dynalite":               false,
		module + "/pkg/lambdahttp":                  false,
	} {
		if got := testCode(pkg) != ""; got != want {
			t.Errorf("testCode(%s) = %v, want %v", pkg, got, want)
		}
	}
}

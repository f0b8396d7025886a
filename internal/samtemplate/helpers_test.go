package samtemplate

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// requireTool returns the path of an ecosystem tool (cfn-lint, python3 with
// the SAM translator) the template checks run. Where it is absent the test
// is skipped with a message saying how to install it - except under CI,
// where these checks must run, so it fails instead.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missingTool(t, name+" not found ("+install+")")
	}
	return p
}

func missingTool(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; required when CI is set", msg)
	}
	t.Skipf("%s; skipping (set CI to make this a failure)", msg)
}

var (
	translatorOnce   sync.Once
	translatorPython string
	translatorErr    error
)

// samTranslator returns a python3 that imports samtranslator (cfn-lint
// depends on it: `pip install cfn-lint` installs both).
func samTranslator(t testing.TB) string {
	t.Helper()
	py := requireTool(t, "python3", "install Python 3 and `pip install cfn-lint`")
	translatorOnce.Do(func() {
		out, err := exec.Command(py, "-c", "import samtranslator").CombinedOutput()
		if err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			translatorErr = fmt.Errorf("python3 cannot import samtranslator (`pip install cfn-lint` installs it): %v: %s", err, lines[len(lines)-1])
		}
		translatorPython = py
	})
	if translatorErr != nil {
		missingTool(t, translatorErr.Error())
	}
	return translatorPython
}

// policyTemplates loads SAM's policy template definitions from the
// installed translator, the same data `sam deploy` expands them with.
func policyTemplates(t testing.TB) PolicyTemplates {
	t.Helper()
	py := samTranslator(t)
	policyOnce.Do(func() {
		out, err := exec.Command(py, translateScript(t), "--policy-templates").Output()
		if err != nil {
			policyErr = fmt.Errorf("samtranslate.py --policy-templates: %w", err)
			return
		}
		policyVal, policyErr = LoadPolicyTemplates(strings.TrimSpace(string(out)))
	})
	if policyErr != nil {
		t.Fatal(policyErr)
	}
	return policyVal
}

var (
	policyOnce sync.Once
	policyVal  PolicyTemplates
	policyErr  error
)

func translateScript(t testing.TB) string {
	return filepath.Join(repoRoot(t), "internal", "samtemplate", "testdata", "samtranslate.py")
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

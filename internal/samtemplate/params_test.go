package samtemplate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

func parameter(t *testing.T, tpl *Template, name string) map[string]any {
	t.Helper()
	return path(t, tpl.Doc, "Parameters", name)
}

// Every value the LogLevel parameter allows is one LOG_LEVEL accepts, and
// Lambda's own filter never goes above INFO: the EMF metric lines carry no
// level, count as INFO, and would otherwise be dropped with the alarms blind.
func TestLogLevelParameter(t *testing.T) {
	tpl := loadTemplate(t)
	p := parameter(t, tpl, "LogLevel")
	levels := path(t, tpl.Doc, "Mappings", "LogLevels")
	allowed, _ := p["AllowedValues"].([]any)
	if len(allowed) == 0 {
		t.Fatal("LogLevel has no AllowedValues")
	}
	for _, v := range append(allowed, p["Default"]) {
		s := fmt.Sprint(v)
		if _, err := config.ParseLogLevel(s); err != nil {
			t.Errorf("LogLevel %q: %v", s, err)
		}
		m, _ := levels[s].(map[string]any)
		switch m["Lambda"] {
		case "TRACE", "DEBUG", "INFO":
		default:
			t.Errorf("LogLevels[%s].Lambda = %v: Lambda would drop the metric lines", s, m["Lambda"])
		}
	}
}

func TestForceRefreshDailyLimitParameter(t *testing.T) {
	p := parameter(t, loadTemplate(t), "ForceRefreshDailyLimit")
	if p["Default"] != float64(credential.DefaultForceDailyLimit) {
		t.Errorf("Default %v, want credential.DefaultForceDailyLimit %d", p["Default"], credential.DefaultForceDailyLimit)
	}
	// The parameter's bounds are exactly what the function accepts.
	env := func(v string) func(string) string {
		return func(k string) string {
			return map[string]string{"TABLE_NAME": "t", "APPS_SECRET_ID": "s", "FORCE_REFRESH_DAILY_LIMIT": v}[k]
		}
	}
	lo, hi := p["MinValue"].(float64), p["MaxValue"].(float64)
	for _, tc := range []struct {
		v  float64
		ok bool
	}{{lo, true}, {hi, true}, {lo - 1, false}, {hi + 1, false}} {
		_, err := config.RefreshFromEnv(env(fmt.Sprint(tc.v)))
		if (err == nil) != tc.ok {
			t.Errorf("FORCE_REFRESH_DAILY_LIMIT=%v: err %v, want accepted=%v", tc.v, err, tc.ok)
		}
	}
}

// CloudFormation's AllowedPattern (a Java regex, here also valid in Go)
// admits only what CALLBACK_MAX_SKEW accepts.
func TestCallbackMaxSkewParameter(t *testing.T) {
	p := parameter(t, loadTemplate(t), "CallbackMaxSkew")
	re := regexp.MustCompile(p["AllowedPattern"].(string))
	def := fmt.Sprint(p["Default"])
	if d, err := config.ParseMaxSkew(def); err != nil || d != callback.DefaultMaxSkew {
		t.Errorf("Default %q parses to %v, %v; want DefaultMaxSkew", def, d, err)
	}
	for _, s := range []string{"0", "5m", "90s", "9m30s", "500ms", "2.5s"} {
		if !re.MatchString(s) {
			t.Errorf("AllowedPattern rejects %q", s)
		}
		if _, err := config.ParseMaxSkew(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"10m", "600s", "9.5m"} {
		if !re.MatchString(s) {
			t.Errorf("AllowedPattern rejects %q", s)
		}
	}
	// Past the dedupe TTL the function refuses to start: the stack must not deploy it.
	for _, s := range []string{"-1m", "5 minutes", "5", "m", "1d", "11m", "1h", "10m1s", "601s", "600.5s", "10.5m", "999999ms"} {
		if re.MatchString(s) {
			t.Errorf("AllowedPattern admits %q", s)
		}
		if _, err := config.ParseMaxSkew(s); err == nil {
			t.Errorf("ParseMaxSkew accepts %q, which the pattern rejects", s)
		}
	}
}

// The README's Deploy section names every alarm, and pkg/metrics' doc.go
// lists every metric: documentation that cannot silently drift.
func TestDocsNameEveryAlarmAndMetric(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range loadTemplate(t).ResourcesOfType("AWS::CloudWatch::Alarm") {
		if !strings.Contains(string(readme), "`"+a.LogicalID+"`") {
			t.Errorf("README.md does not describe %s", a.LogicalID)
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "pkg", "metrics", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range metrics.Names {
		if !regexp.MustCompile(`(?m)^//\t` + name + ` `).Match(doc) {
			t.Errorf("pkg/metrics/doc.go does not list %s", name)
		}
	}
}

package samtemplate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// dashboardBody returns the dashboard's JSON with every ${...} of its
// Fn::Sub replaced by a sample value, and the variables it used.
func dashboardBody(t *testing.T, doc map[string]any) (map[string]any, map[string]bool) {
	t.Helper()
	sub, _ := path(t, doc, "Resources", "Dashboard", "Properties")["DashboardBody"].(map[string]any)["Fn::Sub"].([]any)
	if len(sub) != 2 {
		t.Fatal("DashboardBody is not an Fn::Sub with a variable map")
	}
	text, _ := sub[0].(string)
	vars, _ := sub[1].(map[string]any)
	used := map[string]bool{}
	text = subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		used[name] = true
		if name == "ForceRefreshDailyLimit" {
			return "10" // a Number parameter lands unquoted
		}
		return "sample"
	})
	for name := range used {
		if _, declared := path(t, doc, "Parameters")[name]; declared || strings.HasPrefix(name, "AWS::") || vars[name] != nil {
			continue
		}
		if _, isResource := path(t, doc, "Resources")[name]; !isResource {
			t.Errorf("DashboardBody uses ${%s}, which is no parameter, resource or variable", name)
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(text), &body); err != nil {
		t.Fatalf("DashboardBody is not JSON once substituted: %v", err)
	}
	return body, used
}

var (
	subVar      = regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)
	searchQuery = regexp.MustCompile(`SEARCH\('\{([^}]*)\} MetricName="([A-Za-z]+)"'`)
)

// dashboardProblems checks every wxcentral metric a widget reads against
// pkg/metrics: the name exists and the dimension set of the SEARCH is one
// the emitters publish (CloudWatch matches the exact set, so any other
// set shows an empty graph).
func dashboardProblems(body map[string]any) (problems []string, shown map[string]bool) {
	sets := emittedDimensionSets()
	shown = map[string]bool{}
	widgets, _ := body["widgets"].([]any)
	for i, w := range widgets {
		wm, _ := w.(map[string]any)
		props, _ := wm["properties"].(map[string]any)
		raw, _ := json.Marshal(props["metrics"])
		for _, m := range searchQuery.FindAllStringSubmatch(strings.ReplaceAll(string(raw), `\"`, `"`), -1) {
			parts := strings.Split(m[1], ",")
			name := m[2]
			if parts[0] != metrics.Namespace {
				problems = append(problems, fmt.Sprintf("widget %d: SEARCH in namespace %q, want %q", i, parts[0], metrics.Namespace))
			}
			known, ok := sets[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("widget %d: metric %q is not defined in pkg/metrics", i, name))
				continue
			}
			shown[name] = true
			found := false
			for _, k := range known {
				if k == dimKey(parts[1:]) {
					found = true
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("widget %d: dimension set [%s] of %s is not published (published: %v)", i, dimKey(parts[1:]), name, known))
			}
		}
	}
	sort.Strings(problems)
	return problems, shown
}

// The dashboard shows every metric wxcentral publishes, each with a
// dimension set that exists, plus the gateway's callback latency and the
// logged publish failures and refreshes.
func TestDashboard(t *testing.T) {
	doc := loadTemplate(t).Doc
	body, used := dashboardBody(t, doc)
	problems, shown := dashboardProblems(body)
	for _, p := range problems {
		t.Error(p)
	}
	for _, name := range metrics.Names {
		if !shown[name] {
			t.Errorf("no widget shows %s", name)
		}
	}
	text, _ := json.Marshal(body)
	for _, want := range []string{`"AWS/ApiGateway","Latency","ApiId"`, `filter msg = 'callback publish'`, `filter msg = 'refresh'`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	for _, v := range []string{"CallbackApi", "CallbackLogGroup", "ForceRefreshDailyLimit"} {
		if !used[v] {
			t.Errorf("dashboard does not use ${%s}", v)
		}
	}
}

func TestDashboardChecksCatchMistakes(t *testing.T) {
	for _, tc := range []struct{ search, want string }{
		{`SEARCH('{wxcentral,AppId} MetricName="TokenSecondsToExpiry"', 'Minimum', 60)`, "dimension set [AppId] of TokenSecondsToExpiry is not published"},
		{`SEARCH('{wxcentral,Outcome} MetricName="RefreshOutcomes"', 'Sum', 60)`, `metric "RefreshOutcomes" is not defined`},
		{`SEARCH('{wxcentrall,Outcome} MetricName="RefreshOutcome"', 'Sum', 60)`, `namespace "wxcentrall"`},
	} {
		body := map[string]any{"widgets": []any{map[string]any{"properties": map[string]any{"metrics": []any{[]any{map[string]any{"expression": tc.search}}}}}}}
		problems, _ := dashboardProblems(body)
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s: problems %v, want %q", tc.search, problems, tc.want)
		}
	}
}

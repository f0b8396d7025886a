package samtemplate

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
)

// emittedDimensionSets returns, per metric name, the dimension sets the
// pkg/metrics helpers publish (primary set first, then rollups).
func emittedDimensionSets() map[string][]string {
	var ms []metrics.Metric
	ms = append(ms, metrics.Refresh("failed", "transient")...)
	ms = append(ms, metrics.SecondsToExpiryDueAtExpiry(string(credential.WeCom), "ww1:1", "access_token", time.Minute, time.Minute)...)
	ms = append(ms,
		metrics.SecondsToExpiry("wx1", "access_token", time.Minute),
		metrics.WeChatCall("stable_token", time.Millisecond),
		metrics.ForcedRefresh("wx1", "access_token"),
		metrics.TokenRequest(200),
		metrics.CallbackRequest(200),
		metrics.CallbackDuplicate("wx1"),
		metrics.ConfigReloadFailure(metrics.ConfigServedStale),
		metrics.ComponentAuthorization("done"),
	)
	sets := map[string][]string{}
	for _, m := range ms {
		var names []string
		for _, d := range m.Dimensions {
			names = append(names, d.Name)
		}
		sets[m.Name] = append(sets[m.Name], dimKey(names))
		for _, r := range m.Rollups {
			sets[m.Name] = append(sets[m.Name], dimKey(r))
		}
	}
	return sets
}

func dimKey(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

// refreshVocabulary is what pkg/refresh can put in its metrics: the sweep
// outcomes and the error classes of failed results, as it declares them.
type refreshVocabulary struct {
	outcomes map[string]bool
	classes  map[string]bool
}

func readRefreshVocabulary(t testing.TB) refreshVocabulary {
	t.Helper()
	v := refreshVocabulary{outcomes: map[string]bool{}, classes: map[string]bool{}}
	for _, o := range refresh.Outcomes {
		v.outcomes[string(o)] = true
	}
	for _, c := range refresh.ErrorClasses() {
		v.classes[c] = true
	}
	// The checks below would pass vacuously on an empty vocabulary.
	if !v.outcomes["failed"] || !v.classes["store"] || !v.classes["configuration"] {
		t.Fatalf("pkg/refresh declares outcomes %v and error classes %v; want at least failed, store and configuration", v.outcomes, v.classes)
	}
	return v
}

// errorClasses is every ErrorClass value RefreshFailures can carry.
func errorClasses(v refreshVocabulary) map[string]bool { return v.classes }

// validDimensionValues lists, per metric and dimension, the values the
// emitters can produce; an alarm on any other value would never fire.
func validDimensionValues(v refreshVocabulary) map[string]map[string]bool {
	classes := errorClasses(v)
	statuses := map[string]bool{}
	for code := 100; code < 700; code++ {
		statuses[metrics.StatusClass(code)] = true
	}
	kinds := map[string]bool{}
	for _, k := range credential.Kinds {
		kinds[string(k)] = true
	}
	// Only types with a credential due at expiry publish an AccountType.
	dueAtExpiry := map[string]bool{}
	for _, at := range credential.AccountTypes {
		for _, k := range credential.Kinds {
			if _, has := at.TicketKind(k.TicketType()); (has || k == credential.AccessToken) && at.Policy().Lead(k) == 0 {
				dueAtExpiry[string(at)] = true
			}
		}
	}
	outcomes := v.outcomes // docs/refresh.md: fresh, refreshed, unchanged, leased, failed
	return map[string]map[string]bool{
		metrics.RefreshOutcome + "/" + metrics.DimOutcome:           outcomes,
		metrics.RefreshFailures + "/" + metrics.DimErrorClass:       classes,
		metrics.TokenSecondsToExpiry + "/" + metrics.DimKind:        kinds,
		metrics.TokenSecondsToExpiry + "/" + metrics.DimAccountType: dueAtExpiry,
		metrics.ForcedRefreshes + "/" + metrics.DimKind:             kinds,
		metrics.TokenRequests + "/" + metrics.DimOutcome:            statuses,
		metrics.CallbackRequests + "/" + metrics.DimOutcome:         statuses,
		metrics.TokenSecondsToExpiry + "/" + metrics.DimAppID:       nil, // per-app alarms would hard-code an appid
		metrics.ForcedRefreshes + "/" + metrics.DimAppID:            nil,
		metrics.CallbackDuplicates + "/" + metrics.DimAppID:         nil,
		metrics.WeChatCallLatency + "/" + metrics.DimAPI:            {"stable_token": true, "getticket": true},
		metrics.ConfigReloadFailures + "/" + metrics.DimOutcome:     {metrics.ConfigServedStale: true, metrics.ConfigLoadFailed: true},
	}
}

// alarmProblems checks every alarm on a wxcentral metric against pkg/metrics:
// the name exists, the dimension set is one the emitters publish (CloudWatch
// matches the exact set), and each value is one they produce.
func alarmProblems(tpl *Template, v refreshVocabulary) []string {
	sets := emittedDimensionSets()
	values := validDimensionValues(v)
	var problems []string
	for _, a := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if !References(p["AlarmActions"], "AlarmTopic", "AlarmTopicArn") {
			problems = append(problems, a.LogicalID+": AlarmActions do not go to the alarm topic")
		}
		if p["Namespace"] != metrics.Namespace {
			continue
		}
		name, _ := p["MetricName"].(string)
		known, ok := sets[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: metric %q is not defined in pkg/metrics", a.LogicalID, name))
			continue
		}
		dims, _ := p["Dimensions"].([]any)
		var names []string
		for _, d := range dims {
			dm, _ := d.(map[string]any)
			dn, _ := dm["Name"].(string)
			dv, _ := dm["Value"].(string)
			names = append(names, dn)
			allowed, listed := values[name+"/"+dn]
			switch {
			case !listed:
				problems = append(problems, fmt.Sprintf("%s: %s has no dimension %s", a.LogicalID, name, dn))
			case allowed == nil:
				problems = append(problems, fmt.Sprintf("%s: alarm on %s=%s would be specific to one app", a.LogicalID, dn, dv))
			case !allowed[dv]:
				problems = append(problems, fmt.Sprintf("%s: %s=%q is never emitted", a.LogicalID, dn, dv))
			}
		}
		found := false
		for _, k := range known {
			if k == dimKey(names) {
				found = true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: dimension set [%s] of %s is not published (published: %v)", a.LogicalID, dimKey(names), name, known))
		}
	}
	sort.Strings(problems)
	return problems
}

func TestAlarmsUsePublishedMetrics(t *testing.T) {
	for _, p := range alarmProblems(loadTemplate(t), readRefreshVocabulary(t)) {
		t.Error(p)
	}
}

func TestAlarmChecksCatchMistakes(t *testing.T) {
	base := loadTemplate(t).Doc
	v := readRefreshVocabulary(t)
	tests := []struct {
		name   string
		mutate func(p map[string]any)
		want   string
	}{
		{"unknown metric", func(p map[string]any) { p["MetricName"] = "RefreshFailure" }, `metric "RefreshFailure" is not defined`},
		{"unknown class", func(p map[string]any) {
			p["Dimensions"] = []any{map[string]any{"Name": "ErrorClass", "Value": "config"}}
		}, `ErrorClass="config" is never emitted`},
		{"dimension set not published", func(p map[string]any) {
			p["Dimensions"] = []any{map[string]any{"Name": "ErrorClass", "Value": "configuration"}, map[string]any{"Name": "Outcome", "Value": "failed"}}
		}, "has no dimension Outcome"},
		{"no actions", func(p map[string]any) { delete(p, "AlarmActions") }, "AlarmActions do not go to the alarm topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := &Template{Doc: clone(t, base)}
			tt.mutate(path(t, tpl.Doc, "Resources", "RefreshConfigurationFailureAlarm", "Properties"))
			got := strings.Join(alarmProblems(tpl, v), "\n")
			if !strings.Contains(got, tt.want) {
				t.Errorf("problems %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// The alarms issue 5 asks for exist with the intended thresholds.
func TestRequiredAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	// dim and value name the alarm's whole dimension set: "A,B" and "a,b".
	type want struct{ namespace, metric, dim, value, comparison string }
	have := map[want]float64{}
	for _, a := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		dims, _ := p["Dimensions"].([]any)
		var names, values []string
		for _, d := range dims {
			dm, _ := d.(map[string]any)
			value, _ := dm["Value"].(string)
			if References(dm["Value"], "RefreshDeadLetterQueue") {
				value = "RefreshDeadLetterQueue"
			}
			names, values = append(names, fmt.Sprint(dm["Name"])), append(values, value)
		}
		th, _ := p["Threshold"].(float64)
		have[want{fmt.Sprint(p["Namespace"]), fmt.Sprint(p["MetricName"]), strings.Join(names, ","), strings.Join(values, ","), fmt.Sprint(p["ComparisonOperator"])}] = th
	}
	for _, w := range []struct {
		want
		threshold float64
	}{
		{want{"wxcentral", metrics.RefreshFailures, metrics.DimErrorClass, "configuration", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.RefreshFailures, metrics.DimErrorClass, "daily_quota", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.RefreshFailures, metrics.DimErrorClass, "transient", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.RefreshFailures, metrics.DimErrorClass, "unknown", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.TokenSecondsToExpiry, metrics.DimKind, "access_token", "LessThanThreshold"}, 180},
		{want{"wxcentral", metrics.TokenSecondsToExpiry, metrics.DimKind, "jsapi_ticket", "LessThanThreshold"}, 300},
		{want{"wxcentral", metrics.TokenSecondsToExpiry, metrics.DimKind, "wx_card_ticket", "LessThanThreshold"}, 300},
		// A WeCom token is due at expiry: its alarm fires once it stays past it.
		{want{"wxcentral", metrics.TokenSecondsToExpiry, metrics.DimAccountType + "," + metrics.DimKind, "wecom,access_token", "LessThanThreshold"}, -90},
		// Issue 11 item 8: a token-function 503 (its only 5xx) is an alarm.
		{want{"wxcentral", metrics.TokenRequests, metrics.DimOutcome, "5xx", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.RefreshFailures, metrics.DimErrorClass, "store", "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.CallbackRequests, metrics.DimOutcome, "5xx", "GreaterThanOrEqualToThreshold"}, 3},
		{want{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "RefreshDeadLetterQueue", "GreaterThanOrEqualToThreshold"}, 1},
		// Issue 11 item 16: Secrets Manager unreadable, whether or not a stale document was served.
		{want{"wxcentral", metrics.ConfigReloadFailures, metrics.DimOutcome, metrics.ConfigServedStale, "GreaterThanOrEqualToThreshold"}, 1},
		{want{"wxcentral", metrics.ConfigReloadFailures, metrics.DimOutcome, metrics.ConfigLoadFailed, "GreaterThanOrEqualToThreshold"}, 1},
	} {
		th, ok := have[w.want]
		if !ok {
			t.Errorf("no alarm %+v", w.want)
			continue
		}
		if th != w.threshold {
			t.Errorf("alarm %+v threshold %v, want %v", w.want, th, w.threshold)
		}
	}
}

// emitters maps each metric to the pkg/metrics identifiers that publish it.
var emitters = map[string][]string{
	metrics.RefreshOutcome:          {"metrics.Refresh(", "metrics.RefreshOutcome"},
	metrics.RefreshFailures:         {"metrics.Refresh(", "metrics.RefreshFailures"},
	metrics.TokenSecondsToExpiry:    {"metrics.SecondsToExpiry(", "metrics.TokenSecondsToExpiry"},
	metrics.WeChatCallLatency:       {"metrics.WeChatCall(", "metrics.WeChatCallLatency"},
	metrics.ForcedRefreshes:         {"metrics.ForcedRefresh(", "metrics.ForcedRefreshes"},
	metrics.TokenRequests:           {"metrics.TokenRequest(", "metrics.TokenRequests"},
	metrics.CallbackRequests:        {"metrics.CallbackRequest(", "metrics.CallbackRequests"},
	metrics.CallbackDuplicates:      {"metrics.CallbackDuplicate(", "metrics.CallbackDuplicates"},
	metrics.ConfigReloadFailures:    {"metrics.ConfigReloadFailure(", "metrics.ConfigReloadFailures"},
	metrics.ComponentAuthorizations: {"metrics.ComponentAuthorization(", "metrics.ComponentAuthorizations"},
}

// An alarm on a metric that no production code publishes would never fire:
// some non-test Go file outside pkg/metrics must use its helper or name.
func TestAlarmedMetricsAreEmitted(t *testing.T) {
	root := repoRoot(t)
	var sources []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == "tools" || rel == filepath.Join("pkg", "metrics") || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sources = append(sources, string(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(sources, "\n")
	for _, a := range loadTemplate(t).ResourcesOfType("AWS::CloudWatch::Alarm") {
		if a.Properties["Namespace"] != metrics.Namespace {
			continue
		}
		name, _ := a.Properties["MetricName"].(string)
		used := false
		for _, ident := range emitters[name] {
			if strings.Contains(all, ident) {
				used = true
			}
		}
		if !used {
			t.Errorf("%s alarms on %s, which no production code emits (%v)", a.LogicalID, name, emitters[name])
		}
	}
	for _, name := range metrics.Names {
		if _, ok := emitters[name]; !ok {
			t.Errorf("metric %s has no entry in emitters", name)
		}
	}
}

// alarmsOn returns the wxcentral alarms on metric whose only dimension is
// dim=value.
func alarmsOn(tpl *Template, metric, dim, value string) []Resource {
	var out []Resource
	for _, a := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if p["Namespace"] != metrics.Namespace || p["MetricName"] != metric {
			continue
		}
		dims, _ := p["Dimensions"].([]any)
		if len(dims) != 1 {
			continue
		}
		dm, _ := dims[0].(map[string]any)
		if dm["Name"] == dim && dm["Value"] == value {
			out = append(out, a)
		}
	}
	return out
}

// Issue 11 item 8: every sweep outcome other than fresh, refreshed,
// unchanged and leased raises an alarm. A failed outcome always carries an
// error class, so each class RefreshFailures can carry - every WeChat class
// and every label pkg/refresh gives its own failures (store, ...) - has an
// alarm; any further outcome pkg/refresh declares needs one on
// RefreshOutcome.
func TestEveryRefreshFailureClassHasAnAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	v := readRefreshVocabulary(t)
	var classes []string
	for c := range errorClasses(v) {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		if len(alarmsOn(tpl, metrics.RefreshFailures, metrics.DimErrorClass, c)) == 0 {
			t.Errorf("no alarm on %s{%s=%s}", metrics.RefreshFailures, metrics.DimErrorClass, c)
		}
	}
	healthy := map[string]bool{"fresh": true, "refreshed": true, "unchanged": true, "leased": true, "failed": true}
	for o := range v.outcomes {
		if !healthy[o] && len(alarmsOn(tpl, metrics.RefreshOutcome, metrics.DimOutcome, o)) == 0 {
			t.Errorf("no alarm on %s{%s=%s}", metrics.RefreshOutcome, metrics.DimOutcome, o)
		}
	}
}

// Every credential due only at expiry (no lead in its type's policy) has
// an expiry alarm of its own on [AccountType Kind], below zero: it runs
// down to zero by design, so it is not in the [Kind] alarms (see
// metrics.SecondsToExpiryDueAtExpiry).
func TestEveryDueAtExpiryCredentialHasAnExpiryAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	checked := 0
	for _, at := range credential.AccountTypes {
		for _, k := range credential.Kinds {
			if _, has := at.TicketKind(k.TicketType()); !has && k != credential.AccessToken || at.Policy().Lead(k) > 0 {
				continue
			}
			checked++
			var found []Resource
			for _, a := range tpl.ResourcesOfType("AWS::CloudWatch::Alarm") {
				p := a.Properties
				if p["Namespace"] != metrics.Namespace || p["MetricName"] != metrics.TokenSecondsToExpiry {
					continue
				}
				dims, _ := p["Dimensions"].([]any)
				set := map[string]any{}
				for _, d := range dims {
					dm, _ := d.(map[string]any)
					set[fmt.Sprint(dm["Name"])] = dm["Value"]
				}
				if len(set) == 2 && set[metrics.DimAccountType] == string(at) && set[metrics.DimKind] == string(k) {
					found = append(found, a)
				}
			}
			if len(found) == 0 {
				t.Errorf("no expiry alarm for %s %s (due at expiry)", at, k)
			}
			for _, a := range found {
				p := a.Properties
				th, _ := p["Threshold"].(float64)
				if p["ComparisonOperator"] != "LessThanThreshold" || p["Statistic"] != "Minimum" || th >= 0 {
					t.Errorf("%s: want Minimum LessThanThreshold below 0 (past expiry), got %v %v %v", a.LogicalID, p["Statistic"], p["ComparisonOperator"], th)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no account type has a credential due at expiry; the check is vacuous (drop it with the metric)")
	}
}

// Issue 11 item 8: every kind has an expiry alarm; the access_token's treats
// missing data as breaching, because a refresher that cannot read the store
// reports no expiry at all.
func TestEveryKindHasAnExpiryAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	for _, k := range credential.Kinds {
		as := alarmsOn(tpl, metrics.TokenSecondsToExpiry, metrics.DimKind, string(k))
		if len(as) == 0 {
			t.Errorf("no expiry alarm for %s", k)
			continue
		}
		for _, a := range as {
			p := a.Properties
			if p["ComparisonOperator"] != "LessThanThreshold" || p["Statistic"] != "Minimum" {
				t.Errorf("%s: want Minimum LessThanThreshold, got %v %v", a.LogicalID, p["Statistic"], p["ComparisonOperator"])
			}
			if k == credential.AccessToken && p["TreatMissingData"] != "breaching" {
				t.Errorf("%s: TreatMissingData %v, want breaching", a.LogicalID, p["TreatMissingData"])
			}
		}
	}
}

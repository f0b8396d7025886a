package samtemplate

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// lintRegions are the regions issue 13 deploys to: a commercial region, Hong
// Kong, Singapore and both China regions (partition aws-cn).
var lintRegions = []string{"us-east-1", "ap-east-1", "ap-southeast-1", "cn-north-1", "cn-northwest-1"}

// combination is one setting of the parameters that change the stack's
// shape (which resources exist), named for the test output.
type combination struct {
	name     string
	params   map[string]string
	pairwise bool // in the covering set cfn-lint checks by default
}

// combinations is the full product of the shape parameters: the token
// endpoint (2), the callback's custom domain (2), the event bus and its
// archive (none, an existing bus, a created one) and production versus a
// staging stack reading production (2): 24 stacks per region. The other
// parameters only fill values into resources that exist in every stack.
//
// The example ARNs name one region per partition, so that regions whose
// renderings are identical share one cfn-lint run and one translation.
func combinations(region string) []combination {
	partition := Partition(region)
	region = map[string]string{"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}[partition]
	if region == "" {
		region = "us-east-1"
	}
	var out []combination
	for _, endpoint := range []string{"FunctionUrl", "HttpApi"} {
		for _, domain := range []string{"", "wechat.example.com"} {
			for _, bus := range []string{"none", "existing", "created"} {
				for _, staging := range []bool{false, true} {
					p := map[string]string{"TokenEndpoint": endpoint}
					name := endpoint
					if domain != "" {
						p["CallbackDomainName"] = domain
						p["CallbackCertificateArn"] = fmt.Sprintf("arn:%s:acm:%s:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789", partition, region)
						name += "+domain"
					}
					switch bus {
					case "existing":
						p["EventBusName"] = "default"
						p["EventArchiveRetentionDays"] = "30"
					case "created":
						p["CreateEventBus"] = "true"
						p["EventArchiveRetentionDays"] = "0"
					}
					name += "+bus-" + bus
					if staging {
						p["RefreshEnabled"] = "false"
						p["ExternalTableArn"] = fmt.Sprintf("arn:%s:dynamodb:%s:210987654321:table/wxcentral-prod-Table", partition, region)
						p["ExternalRefreshFunctionArn"] = fmt.Sprintf("arn:%s:lambda:%s:210987654321:function:wxcentral-prod-RefreshFunction", partition, region)
						name += "+staging"
					}
					if !testing.Short() || pairwise[name] {
						out = append(out, combination{name: name, params: p, pairwise: pairwise[name]})
					}
				}
			}
		}
	}
	return out
}

// pairwise is a covering set: every pair of values of any two parameters
// occurs in one of these six. A reference from a resource one parameter
// controls to one another controls is thus rendered in every pairing,
// which is what a per-combination lint can catch beyond linting
// template.yaml itself (cfn-lint explores the conditions there). cfn-lint
// checks these six by default (about 1 s of CPU per file and region group)
// and all 24 with -lint-all; every combination is translated and checked.
// `go test -short` keeps only these six altogether.
var pairwise = map[string]bool{
	"FunctionUrl+bus-none":                    true,
	"HttpApi+domain+bus-none+staging":         true,
	"FunctionUrl+domain+bus-existing+staging": true,
	"HttpApi+bus-existing":                    true,
	"FunctionUrl+bus-created+staging":         true,
	"HttpApi+domain+bus-created":              true,
}

var lintAll = flag.Bool("lint-all", false, "cfn-lint every parameter combination, not only the pairwise covering set")

// rendered is one combination rendered for one region, and its files.
type rendered struct {
	combination
	region     string
	tpl        *Template
	file       string // rendered SAM template (JSON)
	translated string // the SAM translator's CloudFormation output
}

// TestRulesRejectBrokenCombinations: the template's Rules stop the parameter
// combinations that would deploy a broken or dangerous stack.
func TestRulesRejectBrokenCombinations(t *testing.T) {
	tpl := loadTemplate(t)
	const table, fn = "arn:aws:dynamodb:us-east-1:210987654321:table/t", "arn:aws:lambda:us-east-1:210987654321:function:f"
	for _, tc := range []struct {
		params map[string]string
		rule   string
	}{
		{map[string]string{"RefreshEnabled": "false"}, "StagingNeedsProductionStack"},
		{map[string]string{"RefreshEnabled": "false", "ExternalTableArn": table}, "StagingNeedsProductionStack"},
		{map[string]string{"ExternalTableArn": table, "ExternalRefreshFunctionArn": fn}, "ExternalStackMeansNoRefresh"},
		{map[string]string{"ExternalRefreshFunctionArn": fn}, "ExternalStackMeansNoRefresh"},
		{map[string]string{"CallbackDomainName": "wechat.example.com"}, "CallbackDomainNeedsCertificate"},
	} {
		_, err := tpl.Render(tc.params, "us-east-1")
		if !errors.Is(err, ErrRuleViolated) || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%v: err %v, want rule %s", tc.params, err, tc.rule)
		}
	}
	if _, err := tpl.Render(nil, "us-east-1"); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestEveryParameterCombination renders each combination for each region
// (Render: rules, conditions, Fn::If as CloudFormation evaluates them), runs
// cfn-lint on the renderings in their regions (the covering set, or all with
// -lint-all), translates each with the SAM
// translator as `sam deploy` does, validates the translated resources
// against the CloudFormation specification, and runs the least-privilege
// and endpoint invariants on the translated IAM - what is deployed, not
// only what the source says.
func TestEveryParameterCombination(t *testing.T) {
	cfnLint := requireTool(t, "cfn-lint", "`pip install cfn-lint`")
	py := samTranslator(t)
	src := loadTemplate(t)
	dir := t.TempDir()

	var all []*rendered
	byRegionContent := map[string][]string{} // content hash -> regions
	for _, region := range lintRegions {
		h := sha256.New()
		for i, c := range combinations(region) {
			r, err := src.Render(c.params, region)
			if err != nil {
				t.Fatalf("%s in %s: %v", c.name, region, err)
			}
			data, err := json.MarshalIndent(r.Doc, "", " ")
			if err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("%s-%02d", region, i)
			rd := &rendered{combination: c, region: region, tpl: r,
				file: filepath.Join(dir, base+".json"), translated: filepath.Join(dir, base+".cfn.json")}
			if err := os.WriteFile(rd.file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			h.Write(data)
			all = append(all, rd)
		}
		sum := fmt.Sprintf("%x", h.Sum(nil))
		byRegionContent[sum] = append(byRegionContent[sum], region)
	}

	// Regions whose renderings are identical share them: one cfn-lint run per
	// group (with all its regions), one translation, one set of checks.
	first := map[string]bool{}
	for _, regions := range byRegionContent {
		first[regions[0]] = true
	}
	kept := all[:0]
	for _, rd := range all {
		if first[rd.region] {
			kept = append(kept, rd)
		}
	}
	all = kept

	// The cfn-lint groups and the translation run in parallel.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lintFailures []string
	for _, regions := range byRegionContent {
		var files []string
		for _, rd := range all {
			if rd.region == regions[0] && (rd.pairwise || *lintAll) {
				files = append(files, rd.file)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := append(append([]string{"--format", "parseable", "--regions"}, regions...), "--")
			out, err := exec.Command(cfnLint, append(args, files...)...).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				mu.Lock()
				lintFailures = append(lintFailures, fmt.Sprintf("cfn-lint --regions %s: %v\n%s", strings.Join(regions, " "), err, nameFiles(out, all)))
				mu.Unlock()
			}
		}()
	}
	var translateOut []byte
	var translateErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		args := []string{translateScript(t)}
		for _, rd := range all {
			args = append(args, rd.region+":"+rd.file+":"+rd.translated)
		}
		cmd := exec.Command(py, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		translateErr = cmd.Run()
		translateOut = stderr.Bytes()
	}()
	wg.Wait()
	for _, f := range lintFailures {
		t.Error(f)
	}
	if translateErr != nil {
		t.Fatalf("SAM translation failed: %v\n%s", translateErr, nameFiles(translateOut, all))
	}
	var groups []string
	for _, regions := range byRegionContent {
		groups = append(groups, strings.Join(regions, " "))
	}
	sort.Strings(groups)
	linted := 0
	for _, rd := range all {
		if rd.pairwise || *lintAll {
			linted++
		}
	}
	t.Logf("%d combinations x %d regions: %d distinct renderings translated and checked, %d cfn-linted in region groups %q", len(combinations(lintRegions[0])), len(lintRegions), len(all), linted, groups)

	rs := resourceSchema(t)
	for _, rd := range all {
		t.Run(rd.region+"/"+rd.name, func(t *testing.T) {
			data, err := os.ReadFile(rd.translated)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			cfn := &Template{Doc: doc}
			for _, p := range rs.ValidateResources(cfn) {
				t.Error(p)
			}
			for _, p := range translatedProblems(rd, cfn) {
				t.Error(p)
			}
		})
	}
}

// nameFiles replaces the temporary file names in tool output by the
// combination and region they hold.
func nameFiles(out []byte, all []*rendered) string {
	s := string(out)
	for _, rd := range all {
		s = strings.ReplaceAll(s, rd.file, rd.region+"/"+rd.name)
	}
	return s
}

// translatedProblems runs the invariants on one translated combination.
func translatedProblems(rd *rendered, cfn *Template) []string {
	present := map[string]bool{}
	for id := range functions {
		if r, ok := cfn.Resource(id); ok && r.Type == "AWS::Lambda::Function" {
			present[id] = true
		}
	}
	staging := rd.params["RefreshEnabled"] == "false"
	var problems []string
	if present["RefreshFunction"] == staging || !present["TokenFunction"] || !present["CallbackFunction"] {
		problems = append(problems, fmt.Sprintf("functions %v (staging=%v)", keys(present), staging))
	}

	stmts := cfn.IAMResourceStatements()
	managed := cfn.RoleManagedPolicies()
	for who, arns := range managed {
		// SAM gives every function role the AWS managed policy for its own
		// log streams; anything else attached by name is reported.
		var rest []any
		for _, a := range arns {
			if !strings.Contains(fmt.Sprint(a), "iam::aws:policy/service-role/AWSLambdaBasicExecutionRole") {
				rest = append(rest, a)
			}
		}
		managed[who] = rest
	}
	problems = append(problems, wildcardProblems(stmts, managed)...)
	problems = append(problems, secretReaderProblems(stmts, present)...)
	problems = append(problems, dynamoProblems(stmts, present)...)
	problems = append(problems, tokenEndpointProblems(cfn)...)

	// The endpoint the combination asked for, and a caller policy for it.
	wantURL := rd.params["TokenEndpoint"] == "FunctionUrl" && !strings.HasPrefix(rd.region, "cn-")
	urls, apis := cfn.ResourcesOfType("AWS::Lambda::Url"), 0
	for _, a := range cfn.ResourcesOfType("AWS::ApiGatewayV2::Api") {
		if a.LogicalID == "TokenHttpApi" {
			apis++
		}
	}
	if wantURL && (len(urls) != 1 || apis != 0) || !wantURL && (len(urls) != 0 || apis != 1) {
		problems = append(problems, fmt.Sprintf("%d Function URLs and %d token HTTP APIs, want the Function URL=%v", len(urls), apis, wantURL))
	}
	var callerActions []string
	for _, s := range stmts {
		if s.Source != "TokenUrlCallerPolicy" {
			continue
		}
		for _, a := range s.Actions() {
			callerActions = append(callerActions, a)
			if a == "execute-api:Invoke" {
				for _, r := range s.Resources() {
					if !References(r, "TokenHttpApi") || !strings.Contains(fmt.Sprint(r), "/token") {
						problems = append(problems, fmt.Sprintf("TokenUrlCallerPolicy: execute-api:Invoke on %v, want the token routes", r))
					}
				}
			}
		}
	}
	sort.Strings(callerActions)
	wantCaller := "[execute-api:Invoke lambda:InvokeFunction]"
	if wantURL {
		wantCaller = "[lambda:InvokeFunction lambda:InvokeFunctionUrl]"
	}
	if fmt.Sprint(callerActions) != wantCaller {
		problems = append(problems, fmt.Sprintf("TokenUrlCallerPolicy actions %v, want %s", callerActions, wantCaller))
	}

	if staging && len(cfn.ResourcesOfType("AWS::Scheduler::Schedule")) != 0 {
		problems = append(problems, "a staging stack schedules sweeps")
	}
	if staging {
		problems = append(problems, stagingAlarmProblems(cfn)...)
	}
	_, hasArchive := cfn.Resource("WeChatEventArchive")
	if wantArchive := rd.params["EventBusName"] != "" || rd.params["CreateEventBus"] == "true"; hasArchive != wantArchive {
		problems = append(problems, fmt.Sprintf("archive present=%v, want %v", hasArchive, wantArchive))
	}
	_, hasDomain := cfn.Resource("CallbackApiMapping")
	if hasDomain != (rd.params["CallbackDomainName"] != "") {
		problems = append(problems, fmt.Sprintf("custom domain mapping present=%v for CallbackDomainName %q", hasDomain, rd.params["CallbackDomainName"]))
	}
	outputs, _ := cfn.Doc["Outputs"].(map[string]any)
	for _, name := range []string{"TokenUrl", "CallbackUrl", "TableName", "RefreshFunctionName", "DashboardName"} {
		if _, ok := outputs[name]; !ok {
			problems = append(problems, "output "+name+" missing")
		}
	}
	return problems
}

// The check issue 13 names, on the template as written: cfn-lint (with its
// SAM translation) in the five regions, every condition left to it.
func TestCfnLintTemplate(t *testing.T) {
	t.Parallel()
	cfnLint := requireTool(t, "cfn-lint", "`pip install cfn-lint`")
	args := append(append([]string{"--format", "parseable", "--regions"}, lintRegions...), "--", filepath.Join(repoRoot(t), "template.yaml"))
	out, err := exec.Command(cfnLint, args...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("cfn-lint %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// No ARN or AWS domain is spelled out: ${AWS::Partition} and
// ${AWS::URLSuffix} keep the stack deployable in every partition. Service
// principals (one name in every partition) and parameter documentation are
// the exceptions.
func TestNoHardCodedPartition(t *testing.T) {
	doc := loadTemplate(t).Doc
	var problems []string
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "Principal" || k == "Description" || k == "AllowedPattern" {
					continue
				}
				walk(where+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		case string:
			for _, bad := range []string{"arn:aws:", "arn:aws-cn:", "amazonaws.com"} {
				if strings.Contains(x, bad) {
					problems = append(problems, fmt.Sprintf("%s: %q spells out %q", where, x, bad))
				}
			}
		}
	}
	for _, section := range []string{"Resources", "Outputs", "Conditions"} {
		walk(section, doc[section])
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// refreshMetrics are the metrics only the refresh function emits.
var refreshMetrics = map[string]bool{
	metrics.RefreshOutcome: true, metrics.RefreshFailures: true, metrics.TokenSecondsToExpiry: true,
	metrics.ForcedRefreshes: true, metrics.WeChatCallLatency: true,
}

// stagingAlarmProblems: a staging stack runs no refresh, so an alarm that
// treats the refresh metrics' absence as breaching would stay in ALARM.
func stagingAlarmProblems(cfn *Template) []string {
	var problems []string
	for _, a := range cfn.ResourcesOfType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if p["TreatMissingData"] != "breaching" {
			continue
		}
		name, _ := p["MetricName"].(string)
		if p["Namespace"] == metrics.Namespace && refreshMetrics[name] || References(p["Dimensions"], "RefreshFunction") {
			problems = append(problems, fmt.Sprintf("%s: breaching on missing %s in a stack without refresh (give it Condition: RunRefresh)", a.LogicalID, name))
		}
	}
	sort.Strings(problems)
	return problems
}

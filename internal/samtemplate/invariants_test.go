package samtemplate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The three functions and their source directories (functions/<dir>).
var functions = map[string]string{
	"RefreshFunction":  "refresh",
	"TokenFunction":    "token",
	"CallbackFunction": "callback",
}

// wantEnv is the environment table of docs/architecture.md by function ("all" rows go to
// every function). TestEnvironmentMatchesDesign cross-checks it against the
// design document when ../shared is present.
var wantEnv = map[string][]string{
	"RefreshFunction":  {"APPS_SECRET_ID", "FORCE_REFRESH_DAILY_LIMIT", "LOG_LEVEL", "TABLE_NAME", "WECHAT_API_BASE", "WECOM_API_BASE"},
	"TokenFunction":    {"LOG_LEVEL", "REFRESH_FUNCTION_NAME", "TABLE_NAME"},
	"CallbackFunction": {"CALLBACK_MAX_SKEW", "CALLBACK_SECRET_ID", "EVENT_BUS_NAME", "LOG_LEVEL", "REFRESH_FUNCTION_NAME", "TABLE_NAME"},
}

func TestFunctionsBuildAndRuntime(t *testing.T) {
	tpl := loadTemplate(t)
	makefile, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	fns := tpl.ResourcesOfType("AWS::Serverless::Function")
	if len(fns) != len(functions) {
		t.Errorf("%d functions in template.yaml, want %d", len(fns), len(functions))
	}
	for _, fn := range fns {
		dir, known := functions[fn.LogicalID]
		if !known {
			t.Errorf("unexpected function %s", fn.LogicalID)
			continue
		}
		if v, _ := tpl.FunctionProperty(fn, "Runtime"); v != "provided.al2023" {
			t.Errorf("%s: Runtime = %v, want provided.al2023", fn.LogicalID, v)
		}
		if v, _ := tpl.FunctionProperty(fn, "Architectures"); !equalJSON(v, []any{"arm64"}) {
			t.Errorf("%s: Architectures = %v, want [arm64]", fn.LogicalID, v)
		}
		if v, _ := tpl.FunctionProperty(fn, "Handler"); v != "bootstrap" {
			t.Errorf("%s: Handler = %v, want bootstrap", fn.LogicalID, v)
		}
		if fn.Metadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", fn.LogicalID, fn.Metadata["BuildMethod"])
		}
		// SAM runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
		target := regexp.MustCompile(`(?m)^build-` + fn.LogicalID + `:.*\n\t(.*)$`).FindSubmatch(makefile)
		if target == nil {
			t.Errorf("%s: Makefile has no build-%s target", fn.LogicalID, fn.LogicalID)
			continue
		}
		recipe := string(target[1])
		if !strings.Contains(recipe, "-o $(ARTIFACTS_DIR)/bootstrap") || !strings.Contains(recipe, "./functions/"+dir) {
			t.Errorf("%s: build-%s recipe %q does not build ./functions/%s into $(ARTIFACTS_DIR)/bootstrap", fn.LogicalID, fn.LogicalID, recipe, dir)
		}
		lc, _ := tpl.FunctionProperty(fn, "LoggingConfig")
		lcm, _ := lc.(map[string]any)
		if lcm["LogFormat"] != "JSON" || lcm["ApplicationLogLevel"] == nil {
			t.Errorf("%s: LoggingConfig = %v, want LogFormat JSON and an ApplicationLogLevel", fn.LogicalID, lc)
		}
	}
}

func TestTableSettings(t *testing.T) {
	tpl := loadTemplate(t)
	tables := tpl.ResourcesOfType("AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("%d DynamoDB tables, want 1", len(tables))
	}
	p := tables[0].Properties
	if p["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %v", p["BillingMode"])
	}
	ttl, _ := p["TimeToLiveSpecification"].(map[string]any)
	if ttl["AttributeName"] != "ttl" || ttl["Enabled"] != true {
		t.Errorf("TimeToLiveSpecification = %v, want ttl enabled", ttl)
	}
	sse, _ := p["SSESpecification"].(map[string]any)
	if sse["SSEEnabled"] != true || sse["SSEType"] != "KMS" {
		t.Errorf("SSESpecification = %v, want KMS", sse)
	}
	pitr, _ := p["PointInTimeRecoverySpecification"].(map[string]any)
	if pitr["PointInTimeRecoveryEnabled"] != true {
		t.Errorf("PointInTimeRecoverySpecification = %v, want enabled", pitr)
	}
	if !References(p["DeletionProtectionEnabled"], "TableDeletionProtection") {
		t.Errorf("DeletionProtectionEnabled = %v, want the TableDeletionProtection parameter", p["DeletionProtectionEnabled"])
	}
}

// Both token endpoints require SigV4: the Function URL's AuthType and each
// HTTP API route's AuthorizationType are AWS_IAM, and nothing grants a
// public invoke. The endpoint resources are written out (not the function's
// FunctionUrlConfig) so that their conditions keep them out of the regions
// that lack them.
func TestTokenEndpointsUseIAM(t *testing.T) {
	tpl := loadTemplate(t)
	for _, p := range tokenEndpointProblems(tpl) {
		t.Error(p)
	}
	for _, fn := range tpl.ResourcesOfType("AWS::Serverless::Function") {
		if _, ok := fn.Properties["FunctionUrlConfig"]; ok {
			t.Errorf("%s: FunctionUrlConfig creates an AWS::Lambda::Url no condition can keep out of the China regions", fn.LogicalID)
		}
	}
	urls, routes := tpl.ResourcesOfType("AWS::Lambda::Url"), tpl.ResourcesOfType("AWS::ApiGatewayV2::Route")
	if len(urls) != 1 || urls[0].Condition != "UseTokenFunctionUrl" {
		t.Errorf("Function URLs %v, want one under condition UseTokenFunctionUrl", urls)
	}
	if len(routes) != 2 {
		t.Errorf("%d HTTP API routes, want the two token routes", len(routes))
	}
	for _, r := range routes {
		if r.Condition != "UseTokenHttpApi" {
			t.Errorf("%s: condition %q, want UseTokenHttpApi", r.LogicalID, r.Condition)
		}
	}
}

// tokenEndpointProblems checks a source or rendered template: every Function
// URL and every API Gateway V2 route of the token API demands AWS_IAM, the
// routes are exactly the token function's two, and no permission is public.
func tokenEndpointProblems(tpl *Template) []string {
	var problems []string
	for _, r := range tpl.ResourcesOfType("AWS::Lambda::Url") {
		if r.Properties["AuthType"] != "AWS_IAM" {
			problems = append(problems, fmt.Sprintf("%s: AuthType %v, want AWS_IAM", r.LogicalID, r.Properties["AuthType"]))
		}
	}
	routes := map[string]bool{}
	for _, r := range tpl.ResourcesOfType("AWS::ApiGatewayV2::Route") {
		if !References(r.Properties["ApiId"], "TokenHttpApi") {
			continue
		}
		routes[fmt.Sprint(r.Properties["RouteKey"])] = true
		if r.Properties["AuthorizationType"] != "AWS_IAM" {
			problems = append(problems, fmt.Sprintf("%s: AuthorizationType %v, want AWS_IAM", r.LogicalID, r.Properties["AuthorizationType"]))
		}
	}
	if len(routes) > 0 && (len(routes) != 2 || !routes["GET /token"] || !routes["POST /token/invalidate"]) {
		problems = append(problems, fmt.Sprintf("token API routes %v, want GET /token and POST /token/invalidate", keys(routes)))
	}
	for _, r := range tpl.ResourcesOfType("AWS::ApiGatewayV2::Integration") {
		if References(r.Properties["ApiId"], "TokenHttpApi") && (r.Properties["PayloadFormatVersion"] != "2.0" || !References(r.Properties["IntegrationUri"], "TokenFunction")) {
			problems = append(problems, fmt.Sprintf("%s: want payload 2.0 to TokenFunction, got %v", r.LogicalID, r.Properties))
		}
	}
	for _, r := range tpl.ResourcesOfType("AWS::Lambda::Permission") {
		if r.Properties["Principal"] == "*" {
			problems = append(problems, r.LogicalID+": public invoke permission")
		}
		if r.Properties["FunctionUrlAuthType"] == "NONE" {
			problems = append(problems, r.LogicalID+": permission for an unauthenticated Function URL")
		}
	}
	sort.Strings(problems)
	return problems
}

// allStatements returns every statement granted by the template, with SAM
// policy templates expanded, and the managed policies functions attach.
func allStatements(t *testing.T, tpl *Template) ([]Statement, map[string][]any) {
	t.Helper()
	pt := policyTemplates(t)
	_, stmts, managed, err := tpl.FunctionPolicies(pt)
	if err != nil {
		t.Fatal(err)
	}
	return append(stmts, tpl.IAMResourceStatements()...), managed
}

func TestNoWildcardActions(t *testing.T) {
	stmts, managed := allStatements(t, loadTemplate(t))
	if len(stmts) == 0 {
		t.Fatal("no IAM statements found")
	}
	for _, p := range wildcardProblems(stmts, managed) {
		t.Error(p)
	}
}

func wildcardProblems(stmts []Statement, managed map[string][]any) []string {
	var problems []string
	for _, s := range stmts {
		for _, a := range s.Actions() {
			if strings.HasPrefix(a, "Not:") {
				problems = append(problems, fmt.Sprintf("%s: NotAction %q grants everything else", s.Source, a))
			}
			if a == "*" {
				problems = append(problems, s.Source+": Action *")
			}
		}
		for _, svc := range []string{"dynamodb", "secretsmanager"} {
			for _, a := range s.ServiceActions(svc) {
				if a != "*" && strings.Contains(a, "*") {
					problems = append(problems, fmt.Sprintf("%s: wildcard action %q", s.Source, a))
				}
			}
		}
	}
	// AWS managed policies by name would bypass these checks entirely.
	for fn, m := range managed {
		if len(m) > 0 {
			problems = append(problems, fmt.Sprintf("%s attaches managed policies %v; use inline statements or policy templates", fn, m))
		}
	}
	sort.Strings(problems)
	return problems
}

// grants reports whether s allows action on a resource that refers to one
// of names, or on "*" / a wildcard ARN of the service.
func grants(s Statement, action, service string, names ...string) bool {
	if s.Effect() != "Allow" {
		return false
	}
	has := false
	for _, a := range s.Actions() {
		if strings.EqualFold(a, action) || a == "*" || strings.EqualFold(a, service+":*") {
			has = true
		}
	}
	if !has {
		return false
	}
	for _, r := range s.Resources() {
		if str, ok := r.(string); ok && (str == "*" || strings.Contains(str, ":"+service+":") && strings.HasSuffix(str, "*")) {
			return true
		}
		if References(r, names...) {
			return true
		}
	}
	return false
}

func TestOnlyRefreshReadsAppSecrets(t *testing.T) {
	stmts, _ := allStatements(t, loadTemplate(t))
	for _, p := range secretReaderProblems(stmts, allFunctions()) {
		t.Error(p)
	}
}

// allFunctions is the set of the three functions (a full stack).
func allFunctions() map[string]bool {
	m := map[string]bool{}
	for id := range functions {
		m[id] = true
	}
	return m
}

// secretReaderProblems checks that the AppSecrets secret is readable by the
// refresh function alone, and the callback secret by the callback alone;
// present names the functions the stack has (a staging stack has no
// refresh function, and then nobody may read the AppSecrets).
func secretReaderProblems(stmts []Statement, present map[string]bool) []string {
	var problems []string
	for _, secret := range []struct {
		names []string
		only  string
	}{
		{[]string{"AppsSecret", "AppsSecretArn"}, "RefreshFunction"},
		{[]string{"CallbackSecret", "CallbackSecretArn"}, "CallbackFunction"},
	} {
		readers := map[string]bool{}
		for _, s := range stmts {
			if grants(s, "secretsmanager:GetSecretValue", "secretsmanager", secret.names...) {
				who := s.Principal
				if who == "" {
					who = s.Source
				}
				readers[who] = true
			}
		}
		want := 1
		if !present[secret.only] {
			want = 0
		}
		if len(readers) != want || want == 1 && !readers[secret.only] {
			problems = append(problems, fmt.Sprintf("%s readable by %v, want only %s", secret.names[0], keys(readers), secret.only))
		}
	}
	return problems
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDynamoDBGrantsAreItemScoped(t *testing.T) {
	stmts, _ := allStatements(t, loadTemplate(t))
	for _, p := range dynamoProblems(stmts, allFunctions()) {
		t.Error(p)
	}
}

// dynamoProblems checks that every DynamoDB grant is item-level on the one
// table (or, on a staging stack, the production table it reads), restricted
// by dynamodb:LeadingKeys to the item families its principal owns (the
// callback writes only msg# items, the refresh function cred#, a
// platform's authorizers' auth# items and its meta#sweep item, readers only
// cred#), that the one non-item action is the refresh function's Query of
// the due index, and that no one but the refresh function reaches an auth#
// item (authItemProblems).
// present names the functions the stack has.
func dynamoProblems(stmts []Statement, present map[string]bool) []string {
	wantPrefix := map[string][]any{
		"RefreshFunction":   {"cred#*", "auth#*", "meta#sweep"},
		"TokenFunction":     {"cred#*"},
		"CallbackFunction":  {"msg#*"},
		"TokenReaderPolicy": {"cred#*"},
	}
	// Further statements a principal may have, each with its own keys: the
	// callback writes a platform's pushed ticket and reads an authorizer's
	// access_token item for its platform (callbackCredentialProblems).
	alsoPrefix := map[string][][]any{
		"CallbackFunction": {{"cred#*#component_verify_ticket"}, {"cred#*#access_token"}},
	}
	allowed := map[string]bool{"dynamodb:GetItem": true, "dynamodb:PutItem": true, "dynamodb:UpdateItem": true, "dynamodb:DeleteItem": true}
	readOnly := map[string]bool{"TokenFunction": true, "TokenReaderPolicy": true}
	// Exactly the calls each principal's code makes (pkg/dynamo
	// CredentialStore for refresh, DedupeStore for callback, GetItem for
	// readers): a store that starts using another call fails here first.
	wantActions := map[string]string{
		"RefreshFunction":   "[dynamodb:DeleteItem dynamodb:GetItem dynamodb:Query dynamodb:UpdateItem]",
		"TokenFunction":     "[dynamodb:GetItem]",
		"CallbackFunction":  "[dynamodb:DeleteItem dynamodb:GetItem dynamodb:PutItem dynamodb:UpdateItem]",
		"TokenReaderPolicy": "[dynamodb:GetItem]",
	}
	granted := map[string][]string{}
	seen := map[string]bool{}
	var problems []string
	for _, s := range stmts {
		actions := s.ServiceActions("dynamodb")
		if len(actions) == 0 {
			continue
		}
		who := s.Principal
		if who == "" {
			who = s.Source
		}
		seen[who] = true
		granted[who] = append(granted[who], actions...)
		if indexQuery(s) {
			// The sweep's Query of the due index: the refresh function's
			// only non-item action, on the index alone (it holds keys and
			// due times, never a value).
			if who != "RefreshFunction" {
				problems = append(problems, fmt.Sprintf("%s: queries the due index; only the refresh function may", s.Source))
			}
			continue
		}
		for _, a := range actions {
			if !allowed[a] {
				problems = append(problems, fmt.Sprintf("%s: %s is not an item-level action (LeadingKeys cannot scope it)", s.Source, a))
			}
			if readOnly[who] && a != "dynamodb:GetItem" {
				problems = append(problems, fmt.Sprintf("%s: %s, want read-only GetItem", s.Source, a))
			}
		}
		for _, r := range s.Resources() {
			if !References(r, "Table", "ExternalTableArn") {
				problems = append(problems, fmt.Sprintf("%s: resource %v is not the table", s.Source, r))
			}
		}
		cond, _ := s.Doc["Condition"].(map[string]any)
		like, _ := cond["ForAllValues:StringLike"].(map[string]any)
		got := like["dynamodb:LeadingKeys"]
		ok := wantPrefix[who] != nil && equalJSON(got, wantPrefix[who])
		for _, also := range alsoPrefix[who] {
			ok = ok || equalJSON(got, also)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: LeadingKeys condition %v, want %v", s.Source, got, wantPrefix[who]))
		}
	}
	problems = append(problems, authItemProblems(stmts, present)...)
	if present["CallbackFunction"] {
		problems = append(problems, callbackCredentialProblems(stmts)...)
	}
	for who := range wantPrefix {
		if _, isFn := functions[who]; isFn && !present[who] {
			continue
		}
		if !seen[who] {
			problems = append(problems, who+" has no DynamoDB grant")
		}
	}
	for who, acts := range granted {
		sort.Strings(acts)
		acts = slices.Compact(acts) // one action may be granted on several key families
		if want, ok := wantActions[who]; ok && fmt.Sprint(acts) != want {
			problems = append(problems, fmt.Sprintf("%s: DynamoDB actions %v, want %s", who, acts, want))
		}
	}
	sort.Strings(problems)
	return problems
}

// indexQuery reports whether s grants exactly dynamodb:Query on the table's
// due index (Fn::Sub "${Table.Arn}/index/due") and nothing else.
func indexQuery(s Statement) bool {
	acts := s.ServiceActions("dynamodb")
	if len(acts) != 1 || acts[0] != "dynamodb:Query" {
		return false
	}
	res := s.Resources()
	if len(res) != 1 {
		return false
	}
	m, _ := res[0].(map[string]any)
	sub, _ := m["Fn::Sub"].(string)
	return sub == "${Table.Arn}/index/due"
}

// An authorizer's refresh token (auth#<component_appid>#<authorizer_appid>,
// docs/platform.md) buys its access tokens for as long as the authorisation
// lasts: the refresh function alone may read or write it. The token
// readers (the token function, TokenReaderPolicy) and the callback must not
// reach one by any action, and the refresh function must reach it with the
// calls its store makes.
func TestAuthItemsOnlyForTheRefreshFunction(t *testing.T) {
	stmts, _ := allStatements(t, loadTemplate(t))
	for _, p := range authItemProblems(stmts, allFunctions()) {
		t.Error(p)
	}
}

// authKey is a concrete auth# partition key the grants are evaluated on.
const authKey = "auth#wxc0mp0nent0000001#wxauth0rizer000001"

// authItemProblems evaluates every DynamoDB grant on authKey and on a
// cred# key: which principal may call which action on each.
func authItemProblems(stmts []Statement, present map[string]bool) []string {
	var problems []string
	reach := map[string]map[string]bool{} // principal → actions allowed on authKey
	credReach := map[string]map[string]bool{}
	for _, s := range stmts {
		actions := s.ServiceActions("dynamodb")
		if len(actions) == 0 || s.Effect() != "Allow" {
			continue
		}
		who := s.Principal
		if who == "" {
			who = s.Source
		}
		for key, m := range map[string]map[string]map[string]bool{authKey: reach, "cred#wxc0mp0nent0000001#component_access_token": credReach} {
			if !leadingKeysAllow(s, key) {
				continue
			}
			if m[who] == nil {
				m[who] = map[string]bool{}
			}
			for _, a := range actions {
				m[who][a] = true
			}
		}
	}
	for who, acts := range reach {
		if who != "RefreshFunction" {
			problems = append(problems, fmt.Sprintf("%s can reach auth# items (%v): only the refresh function may", who, keys(acts)))
		}
	}
	if present["RefreshFunction"] {
		for _, a := range []string{"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} {
			if !reach["RefreshFunction"][a] {
				problems = append(problems, "RefreshFunction cannot "+a+" auth# items")
			}
			if !credReach["RefreshFunction"][a] {
				problems = append(problems, "RefreshFunction cannot "+a+" cred# items")
			}
		}
	}
	return problems
}

// The callback reaches the credential table for third-party platforms
// only: it writes a platform's pushed component_verify_ticket and reads an
// authorizer's access_token item (its component_appid), and nothing else
// of cred#: no fetched credential is written outside the refresh function.
func TestCallbackCredentialReach(t *testing.T) {
	stmts, _ := allStatements(t, loadTemplate(t))
	for _, p := range callbackCredentialProblems(stmts) {
		t.Error(p)
	}
}

func callbackCredentialProblems(stmts []Statement) []string {
	want := map[string]string{
		"cred#wxc0mp0nent0000001#component_verify_ticket": "[dynamodb:GetItem dynamodb:UpdateItem]",
		"cred#wxauth0rizer000001#access_token":            "[dynamodb:GetItem]",
		"cred#wxc0mp0nent0000001#component_access_token":  "[]",
		"cred#wxauth0rizer000001#jsapi_ticket":            "[]",
		authKey:                                           "[]",
	}
	var problems []string
	for key, w := range want {
		got := map[string]bool{}
		for _, s := range stmts {
			if s.Principal != "CallbackFunction" || s.Effect() != "Allow" || !leadingKeysAllow(s, key) {
				continue
			}
			for _, a := range s.ServiceActions("dynamodb") {
				got[a] = true
			}
		}
		if g := fmt.Sprint(keys(got)); g != w {
			problems = append(problems, fmt.Sprintf("CallbackFunction on %s: %s, want %s", key, g, w))
		}
	}
	sort.Strings(problems)
	return problems
}

// leadingKeysAllow reports whether the statement's dynamodb:LeadingKeys
// condition (ForAllValues:StringLike, IAM's * and ? wildcards) admits key;
// a statement without one admits every key.
func leadingKeysAllow(s Statement, key string) bool {
	cond, _ := s.Doc["Condition"].(map[string]any)
	if len(cond) == 0 {
		return true
	}
	like, _ := cond["ForAllValues:StringLike"].(map[string]any)
	pats := like["dynamodb:LeadingKeys"]
	if pats == nil {
		return true // a condition on something else does not restrict the key
	}
	var list []any
	switch p := pats.(type) {
	case string:
		list = []any{p}
	case []any:
		list = p
	}
	for _, p := range list {
		ps, ok := p.(string)
		if !ok {
			return true // an intrinsic: cannot be evaluated, assume the worst
		}
		re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(ps)) + "$"
		if regexp.MustCompile(re).MatchString(key) {
			return true
		}
	}
	return false
}

// The security checks must be able to fail: each mutation of the real
// template introduces one violation.
func TestSecurityChecksCatchViolations(t *testing.T) {
	pt := policyTemplates(t)
	base := loadTemplate(t).Doc
	addPolicy := func(t *testing.T, doc map[string]any, fn string, p any) {
		props := path(t, doc, "Resources", fn, "Properties")
		props["Policies"] = append(props["Policies"].([]any), p)
	}
	stmt := func(action, resource any, cond map[string]any) map[string]any {
		s := map[string]any{"Effect": "Allow", "Action": action, "Resource": resource}
		if cond != nil {
			s["Condition"] = cond
		}
		return map[string]any{"Statement": []any{s}}
	}
	credOnly := map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"cred#*"}}}
	tableArn := map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}}
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
		want   string
	}{
		{"token reads the AppSecrets secret through a policy template", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", map[string]any{"AWSSecretsManagerGetSecretValuePolicy": map[string]any{"SecretArn": map[string]any{"Ref": "AppsSecret"}}})
		}, "AppsSecret readable by [RefreshFunction TokenFunction]"},
		{"callback reads every secret", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", stmt("secretsmanager:GetSecretValue", "*", nil))
		}, "AppsSecret readable by [CallbackFunction RefreshFunction]"},
		{"managed policy grants the secret", func(t *testing.T, doc map[string]any) {
			docm := path(t, doc, "Resources", "TokenReaderPolicy", "Properties", "PolicyDocument")
			docm["Statement"] = append(docm["Statement"].([]any), map[string]any{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": map[string]any{"Ref": "AppsSecretArn"}})
		}, "AppsSecret readable by [RefreshFunction TokenReaderPolicy]"},
		{"dynamodb star", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "RefreshFunction", stmt("dynamodb:*", tableArn, credOnly))
		}, `wildcard action "dynamodb:*"`},
		{"secretsmanager wildcard verb", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "RefreshFunction", stmt([]any{"secretsmanager:Get*"}, "arn:aws:secretsmanager:*:*:secret:x", nil))
		}, `wildcard action "secretsmanager:Get*"`},
		{"bare star", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", stmt("*", "*", nil))
		}, "Action *"},
		{"managed policy by name", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", "AmazonDynamoDBFullAccess")
		}, "CallbackFunction attaches managed policies"},
		{"policy template that scans", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", map[string]any{"DynamoDBReadPolicy": map[string]any{"TableName": map[string]any{"Ref": "Table"}}})
		}, "dynamodb:Scan is not an item-level action"},
		{"callback writes credentials", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", stmt("dynamodb:PutItem", tableArn, credOnly))
		}, "LeadingKeys condition [cred#*], want [msg#*]"},
		{"callback writes access tokens", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", stmt("dynamodb:UpdateItem", tableArn,
				map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"cred#*#access_token"}}}))
		}, "CallbackFunction on cred#wxauth0rizer000001#access_token: [dynamodb:GetItem dynamodb:UpdateItem], want [dynamodb:GetItem]"},
		{"callback reads platform tokens", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", stmt("dynamodb:GetItem", tableArn,
				map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"cred#*#access_token", "cred#*_token"}}}))
		}, "CallbackFunction on cred#wxc0mp0nent0000001#component_access_token: [dynamodb:GetItem], want []"},
		{"token writes", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", stmt("dynamodb:UpdateItem", tableArn, credOnly))
		}, "dynamodb:UpdateItem, want read-only GetItem"},
		{"grant without LeadingKeys", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "RefreshFunction", stmt("dynamodb:GetItem", tableArn, nil))
		}, "LeadingKeys condition <nil>, want [cred#* auth#* meta#sweep]"},
		{"token queries the due index", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", stmt("dynamodb:Query", map[string]any{"Fn::Sub": "${Table.Arn}/index/due"}, nil))
		}, "queries the due index; only the refresh function may"},
		{"token function reads auth# items", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "TokenFunction", stmt("dynamodb:GetItem", tableArn, map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"auth#*"}}}))
		}, "TokenFunction can reach auth# items"},
		{"reader policy reads every key", func(t *testing.T, doc map[string]any) {
			docm := path(t, doc, "Resources", "TokenReaderPolicy", "Properties", "PolicyDocument")
			docm["Statement"] = append(docm["Statement"].([]any), map[string]any{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": tableArn,
				"Condition": map[string]any{"ForAllValues:StringLike": map[string]any{"dynamodb:LeadingKeys": []any{"*#*"}}}})
		}, "TokenReaderPolicy can reach auth# items"},
		{"callback reaches auth# items without a key condition", func(t *testing.T, doc map[string]any) {
			addPolicy(t, doc, "CallbackFunction", stmt("dynamodb:PutItem", tableArn, nil))
		}, "CallbackFunction can reach auth# items"},
		{"refresh loses auth# items", func(t *testing.T, doc map[string]any) {
			pols := path(t, doc, "Resources", "RefreshFunction", "Properties")["Policies"].([]any)
			for _, p := range pols {
				if m, ok := p.(map[string]any); ok && m["Statement"] != nil {
					st := m["Statement"].([]any)[0].(map[string]any)
					st["Condition"] = credOnly
				}
			}
		}, "RefreshFunction cannot dynamodb:GetItem auth# items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := &Template{Doc: clone(t, base)}
			tt.mutate(t, tpl.Doc)
			_, stmts, managed, err := tpl.FunctionPolicies(pt)
			if err != nil {
				t.Fatal(err)
			}
			stmts = append(stmts, tpl.IAMResourceStatements()...)
			var all []string
			all = append(all, wildcardProblems(stmts, managed)...)
			all = append(all, secretReaderProblems(stmts, allFunctions())...)
			all = append(all, dynamoProblems(stmts, allFunctions())...)
			joined := strings.Join(all, "\n")
			if !strings.Contains(joined, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", joined, tt.want)
			}
		})
	}
}

func TestTokenInvokesRefreshAndCallbackPublishes(t *testing.T) {
	stmts, _ := allStatements(t, loadTemplate(t))
	var tokenInvokes, callbackPuts, callbackInvokes bool
	for _, s := range stmts {
		if s.Principal == "TokenFunction" && grants(s, "lambda:InvokeFunction", "lambda", "RefreshFunction") {
			tokenInvokes = true
		}
		// A platform's authorization events go to the refresh function.
		if s.Principal == "CallbackFunction" && grants(s, "lambda:InvokeFunction", "lambda", "RefreshFunction") {
			callbackInvokes = true
		}
		if s.Principal == "CallbackFunction" && grants(s, "events:PutEvents", "events", "WeChatEventBus", "EventBusName") {
			callbackPuts = true
		}
		if grants(s, "events:PutEvents", "events") && s.Principal != "CallbackFunction" {
			t.Errorf("%s: only the callback function publishes events", s.Source)
		}
	}
	if !tokenInvokes {
		t.Error("TokenFunction cannot invoke RefreshFunction")
	}
	if !callbackPuts {
		t.Error("CallbackFunction cannot put events on its bus")
	}
	if !callbackInvokes {
		t.Error("CallbackFunction cannot invoke RefreshFunction")
	}
}

func TestEnvironmentVariables(t *testing.T) {
	tpl := loadTemplate(t)
	for id, want := range wantEnv {
		fn, ok := tpl.Resource(id)
		if !ok {
			t.Errorf("%s missing", id)
			continue
		}
		env, _ := tpl.FunctionProperty(fn, "Environment")
		envm, _ := env.(map[string]any)
		vars, _ := envm["Variables"].(map[string]any)
		var got []string
		for k := range vars {
			got = append(got, k)
		}
		sort.Strings(got)
		if !equalJSON(toAny(got), toAny(want)) {
			t.Errorf("%s environment = %v, want %v", id, got, want)
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

var envRow = regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([a-z, ]+) \\|")

// envTable returns the documented environment table of docs/architecture.md,
// the project's own contract.
func envTable(t *testing.T) (string, [][]string) {
	t.Helper()
	f := filepath.Join(repoRoot(t), "docs", "architecture.md")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	rows := envRow.FindAllStringSubmatch(string(data), -1)
	if len(rows) == 0 {
		t.Fatalf("%s: no environment table (| `VAR` | functions |)", f)
	}
	return f, rows
}

// The hard-coded table above is the documented one, row for row.
func TestEnvironmentMatchesDesign(t *testing.T) {
	source, rows := envTable(t)
	fromDesign := map[string][]string{}
	for _, row := range rows {
		for _, user := range strings.Split(row[2], ",") {
			user = strings.TrimSpace(user)
			for id, dir := range functions {
				if user == "all" || user == dir {
					fromDesign[id] = append(fromDesign[id], row[1])
				}
			}
		}
	}
	for id := range functions {
		got := fromDesign[id]
		sort.Strings(got)
		if fmt.Sprint(got) != fmt.Sprint(wantEnv[id]) {
			t.Errorf("%s gives %s %v, the test expects %v", source, id, got, wantEnv[id])
		}
	}
}

func TestTriggers(t *testing.T) {
	tpl := loadTemplate(t)
	refresh, _ := tpl.Resource("RefreshFunction")
	events, _ := refresh.Properties["Events"].(map[string]any)
	var schedule map[string]any
	for _, e := range events {
		em, _ := e.(map[string]any)
		if em["Type"] == "ScheduleV2" {
			schedule, _ = em["Properties"].(map[string]any)
		}
	}
	if schedule == nil {
		t.Fatal("RefreshFunction has no ScheduleV2 event")
	}
	if schedule["ScheduleExpression"] != "rate(1 minute)" {
		t.Errorf("ScheduleExpression = %v", schedule["ScheduleExpression"])
	}
	if rp, _ := schedule["RetryPolicy"].(map[string]any); rp["MaximumRetryAttempts"] == nil {
		t.Errorf("RetryPolicy = %v, want an explicit MaximumRetryAttempts", schedule["RetryPolicy"])
	}
	if dlq, _ := schedule["DeadLetterConfig"].(map[string]any); !References(dlq["Arn"], "RefreshDeadLetterQueue") {
		t.Errorf("DeadLetterConfig = %v, want the RefreshDeadLetterQueue", schedule["DeadLetterConfig"])
	}

	callback, _ := tpl.Resource("CallbackFunction")
	routes := map[string]bool{}
	cevents, _ := callback.Properties["Events"].(map[string]any)
	for name, e := range cevents {
		em, _ := e.(map[string]any)
		p, _ := em["Properties"].(map[string]any)
		if em["Type"] != "HttpApi" {
			continue
		}
		routes[fmt.Sprintf("%v %v", p["Method"], p["Path"])] = true
		if !References(p["ApiId"], "CallbackApi") {
			t.Errorf("%s: ApiId %v, want CallbackApi", name, p["ApiId"])
		}
		if p["PayloadFormatVersion"] != "2.0" {
			t.Errorf("%s: PayloadFormatVersion %v, want 2.0", name, p["PayloadFormatVersion"])
		}
		rs, _ := p["RouteSettings"].(map[string]any)
		if rs["ThrottlingBurstLimit"] == nil || rs["ThrottlingRateLimit"] == nil {
			t.Errorf("%s: route without throttling", name)
		}
	}
	if !routes["GET /wechat/{appid}"] || !routes["POST /wechat/{appid}"] || !routes["POST /component/{component_appid}"] || len(routes) != 3 {
		t.Errorf("callback routes = %v, want GET and POST /wechat/{appid}, POST /component/{component_appid}", routes)
	}
}

func TestOutputs(t *testing.T) {
	outputs, _ := loadTemplate(t).Doc["Outputs"].(map[string]any)
	for _, name := range []string{"CallbackUrl", "TokenUrl", "TableName", "AppsSecretArn", "CallbackSecretArn", "EventBusName"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
}

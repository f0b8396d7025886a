package samtemplate

import (
	"strings"
	"sync"
	"testing"
)

// The CloudFormation resources written in template.yaml validate against
// goformation's resource specification (the AWS::Serverless::* ones are the
// SAM translator's to judge: TestEveryParameterCombination translates them
// and validates what comes out).
func TestTemplateResourcesValidateAgainstSpec(t *testing.T) {
	rs := resourceSchema(t)
	tpl := loadTemplate(t)
	checked := 0
	for _, r := range tpl.Resources() {
		if !strings.HasPrefix(r.Type, "AWS::Serverless::") {
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d CloudFormation resources to check", checked)
	}
	for _, p := range rs.ValidateResources(tpl, "AWS::Serverless::") {
		t.Error(p)
	}
}

// The validation must be able to fail: each mutation breaks one rule of the
// specification, including ones inside nested property types and next to
// intrinsic functions.
func TestSchemaRejectsBrokenResources(t *testing.T) {
	rs := resourceSchema(t)
	base := loadTemplate(t).Doc
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
	}{
		{"unknown table property", func(t *testing.T, doc map[string]any) {
			path(t, doc, "Resources", "Table", "Properties")["BillingModes"] = "PAY_PER_REQUEST"
		}},
		{"misspelt nested property", func(t *testing.T, doc map[string]any) {
			path(t, doc, "Resources", "Table", "Properties")["PointInTimeRecoverySpecification"] = map[string]any{"PointInTimeRecoveryEnabld": true}
		}},
		{"literal of the wrong type", func(t *testing.T, doc map[string]any) {
			path(t, doc, "Resources", "RefreshDeadLetterQueue", "Properties")["MessageRetentionPeriod"] = map[string]any{"days": 14}
		}},
		{"missing required property", func(t *testing.T, doc map[string]any) {
			delete(path(t, doc, "Resources", "Dashboard", "Properties"), "DashboardBody")
		}},
		{"route without RouteKey", func(t *testing.T, doc map[string]any) {
			delete(path(t, doc, "Resources", "TokenGetRoute", "Properties"), "RouteKey")
		}},
		{"unknown resource type", func(t *testing.T, doc map[string]any) {
			path(t, doc, "Resources", "Table")["Type"] = "AWS::DynamoDB::Tabel"
		}},
		{"object that is no intrinsic", func(t *testing.T, doc map[string]any) {
			path(t, doc, "Resources", "TokenHttpApi", "Properties")["Name"] = map[string]any{"Fn::Sub": "x", "Ref": "y"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := clone(t, base)
			tt.mutate(t, doc)
			if p := rs.ValidateResources(&Template{Doc: doc}, "AWS::Serverless::"); len(p) == 0 {
				t.Fatal("mutated template validated; the schema check cannot fail")
			}
		})
	}
}

var (
	resourceSchemaOnce sync.Once
	resourceSchemaVal  *ResourceSchema
	resourceSchemaErr  error
)

// resourceSchema compiles the specification once per test binary.
func resourceSchema(t testing.TB) *ResourceSchema {
	t.Helper()
	resourceSchemaOnce.Do(func() { resourceSchemaVal, resourceSchemaErr = NewResourceSchema() })
	if resourceSchemaErr != nil {
		t.Fatal(resourceSchemaErr)
	}
	return resourceSchemaVal
}

func TestRegexpEngine(t *testing.T) {
	re, err := RegexpEngine("^(?!AWS::Serverless::).+$")
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		"AWS::DynamoDB::Table":      true,
		"Custom::Thing":             true,
		"AWS::Serverless::Function": false,
		"AWS::Serverless::":         false,
		"AWS::Serverless":           true,
		"":                          false,
		"AWS::SQS::Queue\nX":        false,
	} {
		if got := re.MatchString(s); got != want {
			t.Errorf("MatchString(%q) = %v, want %v", s, got, want)
		}
	}
	if re.String() != "^(?!AWS::Serverless::).+$" {
		t.Errorf("String() = %q", re.String())
	}
	// Ordinary patterns use Go's regexp.
	plain, err := RegexpEngine("^[a-z]+$")
	if err != nil || !plain.MatchString("abc") || plain.MatchString("ab1") {
		t.Errorf("plain pattern: err=%v", err)
	}
	// Other constructs RE2 lacks are errors, never silently accepted.
	for _, p := range []string{"^(?=a).+$", "(a)\\1", "^(?!a|b).+$"} {
		if _, err := RegexpEngine(p); err == nil {
			t.Errorf("RegexpEngine(%q) accepted a pattern it cannot evaluate", p)
		}
	}
}

func TestParseShortFormTags(t *testing.T) {
	src := `
A: !Ref Foo
B: !GetAtt Table.Arn
C: !Sub "${AWS::StackName}-x"
D: !If [Cond, !Ref X, !Ref AWS::NoValue]
E: !Join ["", !Ref List]
F: !Equals [!Ref P, ""]
G: !FindInMap [M, !Ref K, V]
H: !GetAtt [Res, Attr.Nested]
I: !Condition C1
J: 5xx
K: 10
L: "true"
M: !Sub
  - "${x}"
  - x: !GetAtt Fn.Arn
`
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Doc
	want := map[string]any{
		"A": map[string]any{"Ref": "Foo"},
		"B": map[string]any{"Fn::GetAtt": []any{"Table", "Arn"}},
		"C": map[string]any{"Fn::Sub": "${AWS::StackName}-x"},
		"D": map[string]any{"Fn::If": []any{"Cond", map[string]any{"Ref": "X"}, map[string]any{"Ref": "AWS::NoValue"}}},
		"E": map[string]any{"Fn::Join": []any{"", map[string]any{"Ref": "List"}}},
		"F": map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "P"}, ""}},
		"G": map[string]any{"Fn::FindInMap": []any{"M", map[string]any{"Ref": "K"}, "V"}},
		"H": map[string]any{"Fn::GetAtt": []any{"Res", "Attr.Nested"}},
		"I": map[string]any{"Condition": "C1"},
		"J": "5xx",
		"K": float64(10),
		"L": "true",
		"M": map[string]any{"Fn::Sub": []any{"${x}", map[string]any{"x": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}}}}},
	}
	for k, w := range want {
		if !equalJSON(got[k], w) {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}
	for _, bad := range []string{"A: !Unknown x", "A: !GetAtt NoDot", "A: 1\nA: 2"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equalJSON(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

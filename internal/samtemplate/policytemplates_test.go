package samtemplate

import (
	"sort"
	"strings"
	"testing"
)

// checkTemplateUses reports every policy template use whose name is not a
// published SAM policy template or whose parameters differ from the
// template's (SAM requires every parameter; anything else is a typo).
func checkTemplateUses(uses []TemplateUse, pt PolicyTemplates) []string {
	var problems []string
	for _, u := range uses {
		tmpl, ok := pt[u.Name]
		if !ok {
			problems = append(problems, u.Function+": unknown policy template "+u.Name)
			continue
		}
		for p := range tmpl.Parameters {
			if _, ok := u.Params[p]; !ok {
				problems = append(problems, u.Function+": "+u.Name+": missing parameter "+p)
			}
		}
		for p := range u.Params {
			if _, ok := tmpl.Parameters[p]; !ok {
				problems = append(problems, u.Function+": "+u.Name+": unknown parameter "+p)
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func TestPolicyTemplateNamesAndParameters(t *testing.T) {
	pt := policyTemplates(t)
	uses, _, _, err := loadTemplate(t).FunctionPolicies(pt)
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) == 0 {
		t.Fatal("template.yaml uses no policy template; this check would prove nothing")
	}
	for _, p := range checkTemplateUses(uses, pt) {
		t.Error(p)
	}
}

func TestPolicyTemplateCheckCatchesMistakes(t *testing.T) {
	pt := policyTemplates(t)
	src := `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBReedPolicy: {TableName: t}
        - !If
          - C
          - AWSSecretsManagerGetSecretValuePolicy: {SecretArn: a, Extra: b}
          - !Ref AWS::NoValue
        - EventBridgePutEventsPolicy: {}
`
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	uses, _, _, err := tpl.FunctionPolicies(pt)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkTemplateUses(uses, pt), "\n")
	for _, want := range []string{
		"unknown policy template DynamoDBReedPolicy",
		"AWSSecretsManagerGetSecretValuePolicy: unknown parameter Extra",
		"EventBridgePutEventsPolicy: missing parameter EventBusName",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q do not mention %q", got, want)
		}
	}
}

package samtemplate

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// PolicyTemplate is one entry of SAM's policy_templates.json.
type PolicyTemplate struct {
	Definition  map[string]any
	Description string
	Parameters  map[string]any
}

// PolicyTemplates is the published SAM policy template list, by name.
type PolicyTemplates map[string]PolicyTemplate

// LoadPolicyTemplates reads SAM's policy template list (the file
// sam-policy-templates.json, {"Templates": {name: {...}}}).
func LoadPolicyTemplates(path string) (PolicyTemplates, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Templates PolicyTemplates
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Templates) == 0 {
		return nil, fmt.Errorf("%s: no Templates", path)
	}
	return doc.Templates, nil
}

// Expand returns the template's statements with each parameter reference
// ({"Ref": Param}) replaced by its value, as SAM does.
func (p PolicyTemplate) Expand(params map[string]any) []map[string]any {
	def := substituteRefs(p.Definition, params).(map[string]any)
	return statementList(def["Statement"])
}

func substituteRefs(v any, params map[string]any) any {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			if val, ok := params[ref]; ok {
				return val
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = substituteRefs(e, params)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = substituteRefs(e, params)
		}
		return out
	}
	return v
}

// TemplateUse is one use of a SAM policy template in a function's Policies.
type TemplateUse struct {
	Function string
	Name     string
	Params   map[string]any
}

// Statement is one IAM statement and where it comes from.
type Statement struct {
	// Principal is the logical ID of the AWS::Serverless::Function whose role
	// receives the statement, or "" for a standalone IAM policy resource.
	Principal string
	Source    string // e.g. "RefreshFunction.Policies[0] (AWSSecretsManagerGetSecretValuePolicy)"
	Doc       map[string]any
}

// Effect returns the statement's Effect.
func (s Statement) Effect() string { e, _ := s.Doc["Effect"].(string); return e }

// Actions returns Action (and NotAction, prefixed with "Not:") as a list.
func (s Statement) Actions() []string {
	var out []string
	for _, key := range []string{"Action", "NotAction"} {
		prefix := ""
		if key == "NotAction" {
			prefix = "Not:"
		}
		switch a := s.Doc[key].(type) {
		case string:
			out = append(out, prefix+a)
		case []any:
			for _, e := range a {
				if str, ok := e.(string); ok {
					out = append(out, prefix+str)
				} else {
					out = append(out, prefix+fmt.Sprint(e))
				}
			}
		}
	}
	return out
}

// Resources returns Resource as a list (a single value becomes one element).
func (s Statement) Resources() []any {
	switch r := s.Doc["Resource"].(type) {
	case []any:
		return r
	case nil:
		return nil
	default:
		return []any{r}
	}
}

// FunctionPolicies walks the Policies property of every
// AWS::Serverless::Function: it returns each policy template use, the
// statements granted (templates expanded with pt, both branches of every
// Fn::If), and the managed policies attached by name or ARN.
func (t *Template) FunctionPolicies(pt PolicyTemplates) (uses []TemplateUse, stmts []Statement, managed map[string][]any, err error) {
	managed = map[string][]any{}
	for _, fn := range t.ResourcesOfType("AWS::Serverless::Function") {
		policies, ok := t.FunctionProperty(fn, "Policies")
		if !ok {
			continue
		}
		w := policyWalker{fn: fn.LogicalID, pt: pt}
		items, isList := policies.([]any)
		if !isList {
			items = []any{policies}
		}
		for i, p := range items {
			if err := w.walk(fmt.Sprintf("%s.Policies[%d]", fn.LogicalID, i), p); err != nil {
				return nil, nil, nil, err
			}
		}
		uses = append(uses, w.uses...)
		stmts = append(stmts, w.stmts...)
		managed[fn.LogicalID] = w.managed
	}
	return uses, stmts, managed, nil
}

type policyWalker struct {
	fn      string
	pt      PolicyTemplates
	uses    []TemplateUse
	stmts   []Statement
	managed []any
}

func (w *policyWalker) walk(src string, p any) error {
	switch x := p.(type) {
	case string:
		w.managed = append(w.managed, x)
		return nil
	case map[string]any:
		if isNoValue(x) {
			return nil
		}
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if len(args) != 3 {
				return fmt.Errorf("%s: Fn::If needs 3 arguments", src)
			}
			if err := w.walk(src+" (if true)", args[1]); err != nil {
				return err
			}
			return w.walk(src+" (if false)", args[2])
		}
		if _, ok := x["Ref"]; ok && len(x) == 1 {
			w.managed = append(w.managed, x)
			return nil
		}
		if st, ok := x["Statement"]; ok {
			for _, s := range statementList(st) {
				w.stmts = append(w.stmts, Statement{Principal: w.fn, Source: src, Doc: s})
			}
			return nil
		}
		if len(x) != 1 {
			return fmt.Errorf("%s: neither a policy document nor a single policy template", src)
		}
		for name, params := range x {
			pm, ok := params.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: policy template %s: parameters must be a mapping", src, name)
			}
			w.uses = append(w.uses, TemplateUse{Function: w.fn, Name: name, Params: pm})
			tmpl, known := w.pt[name]
			if !known {
				// Reported by the template-name check; nothing to expand.
				continue
			}
			for _, s := range tmpl.Expand(pm) {
				w.stmts = append(w.stmts, Statement{Principal: w.fn, Source: src + " (" + name + ")", Doc: s})
			}
		}
		return nil
	}
	return fmt.Errorf("%s: unsupported policy entry %T", src, p)
}

// IAMResourceStatements returns the statements of standalone IAM resources
// (AWS::IAM::ManagedPolicy, AWS::IAM::Policy and AWS::IAM::Role inline
// policies), both branches of a statement chosen by Fn::If. A role's
// statements carry as Principal the AWS::Lambda::Function that assumes it
// (as in a translated template, where SAM wrote <Function>Role); the other
// statements have an empty Principal.
func (t *Template) IAMResourceStatements() []Statement {
	var out []Statement
	users := t.roleUsers()
	for _, r := range t.Resources() {
		switch r.Type {
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			doc, _ := r.Properties["PolicyDocument"].(map[string]any)
			for _, s := range statementList(doc["Statement"]) {
				out = append(out, Statement{Source: r.LogicalID, Doc: s})
			}
		case "AWS::IAM::Role":
			pols, _ := r.Properties["Policies"].([]any)
			for i, p := range pols {
				pm, _ := p.(map[string]any)
				doc, _ := pm["PolicyDocument"].(map[string]any)
				for _, s := range statementList(doc["Statement"]) {
					out = append(out, Statement{Principal: users[r.LogicalID], Source: fmt.Sprintf("%s.Policies[%d]", r.LogicalID, i), Doc: s})
				}
			}
		}
	}
	return out
}

// RoleManagedPolicies returns, per principal (the function using the role,
// else the role), the ManagedPolicyArns of each AWS::IAM::Role.
func (t *Template) RoleManagedPolicies() map[string][]any {
	users := t.roleUsers()
	out := map[string][]any{}
	for _, r := range t.ResourcesOfType("AWS::IAM::Role") {
		who := users[r.LogicalID]
		if who == "" {
			who = r.LogicalID
		}
		arns, _ := r.Properties["ManagedPolicyArns"].([]any)
		out[who] = append(out[who], arns...)
	}
	return out
}

// roleUsers maps a role's logical ID to the AWS::Lambda::Function whose Role
// is that role's Arn.
func (t *Template) roleUsers() map[string]string {
	users := map[string]string{}
	for _, fn := range t.ResourcesOfType("AWS::Lambda::Function") {
		if ga, ok := fn.Properties["Role"].(map[string]any)["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			if role, _ := ga[0].(string); role != "" {
				users[role] = fn.LogicalID
			}
		}
	}
	return users
}

// statementList returns the statements of a Statement value; an element
// chosen by Fn::If contributes both branches (AWS::NoValue none).
func statementList(v any) []map[string]any {
	switch s := v.(type) {
	case map[string]any:
		if isNoValue(s) {
			return nil
		}
		if args, ok := s["Fn::If"].([]any); ok && len(s) == 1 && len(args) == 3 {
			return append(statementList(args[1]), statementList(args[2])...)
		}
		return []map[string]any{s}
	case []any:
		var out []map[string]any
		for _, e := range s {
			out = append(out, statementList(e)...)
		}
		return out
	}
	return nil
}

func isNoValue(m map[string]any) bool {
	ref, ok := m["Ref"].(string)
	return ok && len(m) == 1 && ref == "AWS::NoValue"
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z0-9.]+)?\}`)

// References reports whether v refers to any of the named resources or
// parameters through Ref, Fn::GetAtt or a ${Name} in Fn::Sub.
func References(v any, names ...string) bool {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	return refersTo(v, want)
}

func refersTo(v any, want map[string]bool) bool {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && want[ref] {
			return true
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
			if s, _ := ga[0].(string); want[s] {
				return true
			}
		}
		if sub, ok := x["Fn::Sub"]; ok {
			var text string
			switch s := sub.(type) {
			case string:
				text = s
			case []any:
				if len(s) > 0 {
					text, _ = s[0].(string)
				}
			}
			for _, m := range subRef.FindAllStringSubmatch(text, -1) {
				if want[m[1]] {
					return true
				}
			}
		}
		for _, e := range x {
			if refersTo(e, want) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if refersTo(e, want) {
				return true
			}
		}
	}
	return false
}

// ServiceActions returns the statement's actions (and NotActions) for one
// service prefix ("dynamodb", "secretsmanager"), including a bare "*".
func (s Statement) ServiceActions(service string) []string {
	var out []string
	for _, a := range s.Actions() {
		bare := strings.TrimPrefix(a, "Not:")
		if bare == "*" || strings.HasPrefix(strings.ToLower(bare), strings.ToLower(service)+":") {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

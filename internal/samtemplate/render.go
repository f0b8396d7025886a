package samtemplate

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrRuleViolated is returned by Render when the parameter values fail one
// of the template's Rules, as CloudFormation would before creating anything.
var ErrRuleViolated = errors.New("template rule violated")

// Partition returns the AWS partition of a region name.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	}
	return "aws"
}

// Render returns the template as CloudFormation would see it in region with
// the given parameter values (others keep their Default): Rules checked,
// every condition evaluated, resources and outputs whose condition is false
// removed, each Fn::If replaced by its chosen branch and AWS::NoValue
// dropped. Parameters stay parameters (their Default set to the value), so
// tools that read the rendered template still see every Ref.
func (t *Template) Render(params map[string]string, region string) (*Template, error) {
	doc := cloneJSON(t.Doc).(map[string]any)
	declared, _ := doc["Parameters"].(map[string]any)
	values := map[string]string{
		"AWS::Region": region, "AWS::Partition": Partition(region),
		"AWS::URLSuffix": urlSuffix(region),
	}
	for name, p := range declared {
		pm, _ := p.(map[string]any)
		if d, ok := pm["Default"]; ok {
			values[name] = scalarString(d)
		}
	}
	for name, v := range params {
		p, ok := declared[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parameter %s: not declared", name)
		}
		values[name] = v
		p["Default"] = v
	}
	r := &renderer{values: values, conditions: map[string]any{}, known: map[string]bool{}}
	r.conditions, _ = doc["Conditions"].(map[string]any)
	if err := r.checkRules(doc["Rules"]); err != nil {
		return nil, err
	}
	delete(doc, "Rules")
	for _, section := range []string{"Resources", "Outputs"} {
		entries, _ := doc[section].(map[string]any)
		for id, e := range entries {
			em, _ := e.(map[string]any)
			if c, ok := em["Condition"].(string); ok {
				on, err := r.condition(c)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", section, id, err)
				}
				if !on {
					delete(entries, id)
					continue
				}
				delete(em, "Condition")
			}
			v, keep, err := r.resolve(em)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", section, id, err)
			}
			if keep {
				entries[id] = v
			}
		}
	}
	delete(doc, "Conditions")
	return &Template{Doc: doc}, nil
}

type renderer struct {
	values     map[string]string
	conditions map[string]any
	known      map[string]bool
	evaluating []string
}

func (r *renderer) checkRules(rules any) error {
	rm, _ := rules.(map[string]any)
	names := make([]string, 0, len(rm))
	for n := range rm {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rule, _ := rm[name].(map[string]any)
		if rc, ok := rule["RuleCondition"]; ok {
			applies, err := r.eval(rc)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !applies {
				continue
			}
		}
		asserts, _ := rule["Assertions"].([]any)
		for _, a := range asserts {
			am, _ := a.(map[string]any)
			ok, err := r.eval(am["Assert"])
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !ok {
				return fmt.Errorf("%w: %s: %v", ErrRuleViolated, name, am["AssertDescription"])
			}
		}
	}
	return nil
}

func (r *renderer) condition(name string) (bool, error) {
	if v, ok := r.known[name]; ok {
		return v, nil
	}
	for _, n := range r.evaluating {
		if n == name {
			return false, fmt.Errorf("condition %s refers to itself", name)
		}
	}
	def, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s: not declared", name)
	}
	r.evaluating = append(r.evaluating, name)
	v, err := r.eval(def)
	r.evaluating = r.evaluating[:len(r.evaluating)-1]
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	r.known[name] = v
	return v, nil
}

// eval evaluates a condition function (Fn::Equals, Fn::And, Fn::Or,
// Fn::Not, Condition; in Rules also Fn::Contains-free assertions of the
// same functions).
func (r *renderer) eval(v any) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("not a condition function: %v", v)
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return r.condition(name)
		case "Fn::Equals":
			args, _ := arg.([]any)
			if len(args) != 2 {
				return false, errors.New("want 2 arguments to Fn::Equals")
			}
			a, err := r.value(args[0])
			if err != nil {
				return false, err
			}
			b, err := r.value(args[1])
			if err != nil {
				return false, err
			}
			return a == b, nil
		case "Fn::Not":
			args, _ := arg.([]any)
			if len(args) != 1 {
				return false, errors.New("want 1 argument to Fn::Not")
			}
			b, err := r.eval(args[0])
			return !b, err
		case "Fn::And", "Fn::Or":
			args, _ := arg.([]any)
			if len(args) < 2 || len(args) > 10 {
				return false, fmt.Errorf("%s needs 2 to 10 arguments, has %d", fn, len(args))
			}
			and := fn == "Fn::And"
			for _, a := range args {
				b, err := r.eval(a)
				if err != nil {
					return false, err
				}
				if b != and {
					return b, nil
				}
			}
			return and, nil
		}
		return false, fmt.Errorf("unsupported condition function %s", fn)
	}
	panic("unreachable")
}

// value resolves a literal, a Ref to a parameter or pseudo parameter, or an
// Fn::Join of those (a CommaDelimitedList Ref joins its items).
func (r *renderer) value(v any) (string, error) {
	if m, ok := v.(map[string]any); ok {
		if args, isJoin := m["Fn::Join"].([]any); isJoin && len(m) == 1 && len(args) == 2 {
			delim, _ := args[0].(string)
			if list, isList := args[1].([]any); isList {
				parts := make([]string, len(list))
				for i, e := range list {
					s, err := r.value(e)
					if err != nil {
						return "", err
					}
					parts[i] = s
				}
				return strings.Join(parts, delim), nil
			}
			s, err := r.value(args[1])
			if err != nil {
				return "", err
			}
			return strings.Join(strings.Split(s, ","), delim), nil
		}
		ref, isRef := m["Ref"].(string)
		if !isRef || len(m) != 1 {
			return "", fmt.Errorf("only literals and Ref can be compared, not %v", v)
		}
		val, known := r.values[ref]
		if !known {
			return "", fmt.Errorf("no value for Ref %s", ref)
		}
		return val, nil
	}
	return scalarString(v), nil
}

// resolve replaces each Fn::If by its branch; keep is false for AWS::NoValue.
func (r *renderer) resolve(v any) (out any, keep bool, err error) {
	switch x := v.(type) {
	case map[string]any:
		if isNoValue(x) {
			return nil, false, nil
		}
		if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 {
			if len(args) != 3 {
				return nil, false, errors.New("want 3 arguments to Fn::If")
			}
			name, _ := args[0].(string)
			on, err := r.condition(name)
			if err != nil {
				return nil, false, err
			}
			if on {
				return r.resolve(args[1])
			}
			return r.resolve(args[2])
		}
		for k, e := range x {
			v, keep, err := r.resolve(e)
			if err != nil {
				return nil, false, fmt.Errorf("%s: %w", k, err)
			}
			if keep {
				x[k] = v
			} else {
				delete(x, k)
			}
		}
		return x, true, nil
	case []any:
		out := x[:0]
		for i, e := range x {
			v, keep, err := r.resolve(e)
			if err != nil {
				return nil, false, fmt.Errorf("[%d]: %w", i, err)
			}
			if keep {
				out = append(out, v)
			}
		}
		return out, true, nil
	}
	return v, true, nil
}

func urlSuffix(region string) string {
	if Partition(region) == "aws-cn" {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return fmt.Sprint(x)
	case bool:
		return fmt.Sprint(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = cloneJSON(e)
		}
		return s
	}
	return v
}

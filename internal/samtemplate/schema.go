package samtemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/awslabs/goformation/v7/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// negativePrefix matches the one kind of lookahead pattern SAM's schema
// uses: ^(?!PREFIX).+$ with a literal PREFIX.
var negativePrefix = regexp.MustCompile(`^\^\(\?!([A-Za-z0-9:_-]+)\)\.\+\$$`)

// RegexpEngine compiles JSON-Schema patterns with Go's regexp, except the
// negative-lookahead form ^(?!PREFIX).+$, which RE2 cannot express (SAM's
// schema types its catch-all resource with it); it is rewritten into an
// equivalent matcher rather than skipped. Any other pattern Go cannot
// compile is an error, never silently ignored.
func RegexpEngine(pattern string) (jsonschema.Regexp, error) {
	if m := negativePrefix.FindStringSubmatch(pattern); m != nil {
		return notPrefix{pattern: pattern, prefix: m[1]}, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return re, nil
}

// notPrefix is ^(?!prefix).+$ with ECMA-262 semantics: at least one
// character, none of them a line terminator, not starting with prefix.
type notPrefix struct{ pattern, prefix string }

func (n notPrefix) String() string { return n.pattern }

func (n notPrefix) MatchString(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\n\r\u2028\u2029") && !strings.HasPrefix(s, n.prefix)
}

// ResourceSchema validates CloudFormation resources against the resource
// specification goformation publishes (github.com/awslabs/goformation/v7/schema,
// a module dependency: no file outside the repository is read). That schema
// describes resolved values, so every property also admits an intrinsic
// function ({"Ref": ...}, {"Fn::...": ...}) in its place, as CloudFormation
// does; unknown properties, missing required ones and wrong types of
// literal values still fail.
type ResourceSchema struct {
	mu     sync.Mutex
	defs   map[string]any // definitions, intrinsics admitted
	byType map[string]*jsonschema.Schema
}

// intrinsicDef is the schema of any intrinsic function or Condition object.
const intrinsicDef = "wxcentralIntrinsic"

// NewResourceSchema reads goformation's CloudFormation schema.
func NewResourceSchema() (*ResourceSchema, error) {
	var root struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal([]byte(schema.CloudformationSchema), &root); err != nil {
		return nil, fmt.Errorf("goformation cloudformation schema: %w", err)
	}
	if len(root.Definitions) == 0 {
		return nil, fmt.Errorf("goformation cloudformation schema: no definitions")
	}
	for _, d := range root.Definitions {
		admitIntrinsics(d)
	}
	root.Definitions[intrinsicDef] = map[string]any{
		"type": "object", "minProperties": 1, "maxProperties": 1,
		"patternProperties":    map[string]any{"^(Ref|Condition|Fn::[A-Za-z0-9]+)$": map[string]any{}},
		"additionalProperties": false,
	}
	return &ResourceSchema{defs: root.Definitions, byType: map[string]*jsonschema.Schema{}}, nil
}

// admitIntrinsics rewrites a definition so that each property value and
// array item may also be an intrinsic function.
func admitIntrinsics(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for k, p := range props {
			admitIntrinsics(p)
			props[k] = orIntrinsic(p)
		}
	}
	if items, ok := m["items"].(map[string]any); ok {
		admitIntrinsics(items)
		m["items"] = orIntrinsic(items)
	}
	if ap, ok := m["additionalProperties"].(map[string]any); ok {
		admitIntrinsics(ap)
		m["additionalProperties"] = orIntrinsic(ap)
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		if list, ok := m[key].([]any); ok {
			for _, e := range list {
				admitIntrinsics(e)
			}
		}
	}
}

func orIntrinsic(s any) any {
	return map[string]any{"anyOf": []any{s, map[string]any{"$ref": "#/definitions/" + intrinsicDef}}}
}

// HasType reports whether the specification knows a resource type.
func (s *ResourceSchema) HasType(typ string) bool {
	_, ok := s.defs[typ]
	return ok && !strings.Contains(typ, ".") && strings.Contains(typ, "::")
}

// forType compiles the definition of one resource type together with the
// definitions it refers to (the whole specification is far too large to
// compile for the dozen types a template uses).
func (s *ResourceSchema) forType(typ string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.byType[typ]; ok {
		return sch, nil
	}
	if !s.HasType(typ) {
		return nil, fmt.Errorf("unknown resource type %s", typ)
	}
	defs := map[string]any{}
	var collect func(name string)
	collect = func(name string) {
		if _, done := defs[name]; done {
			return
		}
		d, ok := s.defs[name]
		if !ok {
			return
		}
		defs[name] = d
		for _, ref := range refsIn(d, nil) {
			collect(strings.TrimPrefix(ref, "#/definitions/"))
		}
	}
	collect(typ)
	doc := map[string]any{"definitions": defs, "$ref": "#/definitions/" + typ}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.UseRegexpEngine(RegexpEngine)
	url := "file:///" + strings.ReplaceAll(typ, "::", "-") + ".schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", typ, err)
	}
	s.byType[typ] = sch
	return sch, nil
}

func refsIn(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["$ref"].(string); ok {
			out = append(out, r)
		}
		for _, e := range x {
			out = refsIn(e, out)
		}
	case []any:
		for _, e := range x {
			out = refsIn(e, out)
		}
	}
	return out
}

// ValidateResources validates every resource of t whose type does not start
// with one of skipPrefixes (e.g. "AWS::Serverless::", validated by the SAM
// translator instead) and returns one problem per invalid resource, sorted.
func (s *ResourceSchema) ValidateResources(t *Template, skipPrefixes ...string) []string {
	var problems []string
	rs, _ := t.Doc["Resources"].(map[string]any)
next:
	for id, r := range rs {
		rm, _ := r.(map[string]any)
		typ, _ := rm["Type"].(string)
		for _, p := range skipPrefixes {
			if strings.HasPrefix(typ, p) {
				continue next
			}
		}
		if strings.HasPrefix(typ, "Custom::") {
			continue
		}
		sch, err := s.forType(typ)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		data, err := json.Marshal(rm)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		if err := sch.Validate(inst); err != nil {
			problems = append(problems, fmt.Sprintf("%s (%s): %v", id, typ, err))
		}
	}
	sort.Strings(problems)
	return problems
}

package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed CloudFormation/SAM template in its JSON form: maps,
// slices, strings, float64, bool and nil, as encoding/json would produce.
type Template struct {
	Doc map[string]any
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	LogicalID  string
	Type       string
	Condition  string
	Metadata   map[string]any
	Properties map[string]any
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return t, nil
}

// Parse parses a YAML (or JSON) template, converting short-form intrinsic
// function tags to their long form ({"Ref": ...}, {"Fn::Sub": ...}).
func Parse(data []byte) (*Template, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	v, err := toJSON(&root)
	if err != nil {
		return nil, err
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	return &Template{Doc: doc}, nil
}

// Resources returns every resource, sorted by logical ID.
func (t *Template) Resources() []Resource {
	rs, _ := t.Doc["Resources"].(map[string]any)
	out := make([]Resource, 0, len(rs))
	for id, v := range rs {
		m, _ := v.(map[string]any)
		r := Resource{LogicalID: id}
		r.Type, _ = m["Type"].(string)
		r.Condition, _ = m["Condition"].(string)
		r.Metadata, _ = m["Metadata"].(map[string]any)
		r.Properties, _ = m["Properties"].(map[string]any)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LogicalID < out[j].LogicalID })
	return out
}

// Resource returns the resource with the given logical ID.
func (t *Template) Resource(id string) (Resource, bool) {
	for _, r := range t.Resources() {
		if r.LogicalID == id {
			return r, true
		}
	}
	return Resource{}, false
}

// ResourcesOfType returns the resources of one type, sorted by logical ID.
func (t *Template) ResourcesOfType(typ string) []Resource {
	var out []Resource
	for _, r := range t.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// FunctionProperty returns a property of an AWS::Serverless::Function,
// falling back to Globals.Function as SAM does for a property the function
// does not set.
func (t *Template) FunctionProperty(r Resource, name string) (any, bool) {
	if v, ok := r.Properties[name]; ok {
		return v, true
	}
	globals, _ := t.Doc["Globals"].(map[string]any)
	fn, _ := globals["Function"].(map[string]any)
	v, ok := fn[name]
	return v, ok
}

// intrinsicTags maps the short-form tags CloudFormation accepts to their
// long-form keys. !GetAtt and !Ref are special-cased in wrapTag.
var intrinsicTags = map[string]string{
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!FindInMap": "Fn::FindInMap",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub",
	"!Transform": "Fn::Transform", "!And": "Fn::And", "!Equals": "Fn::Equals",
	"!If": "Fn::If", "!Not": "Fn::Not", "!Or": "Fn::Or", "!ToJsonString": "Fn::ToJsonString",
	"!Length": "Fn::Length", "!GetAtt": "Fn::GetAtt", "!Ref": "Ref", "!Condition": "Condition",
}

func toJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty document")
		}
		return toJSON(n.Content[0])
	case yaml.AliasNode:
		return toJSON(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := toJSON(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return wrapTag(n, m)
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := toJSON(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return wrapTag(n, s)
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			return wrapTag(n, n.Value)
		}
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// wrapTag turns the value of a node tagged with a short-form intrinsic into
// its long form; untagged values pass through.
func wrapTag(n *yaml.Node, v any) (any, error) {
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	key, ok := intrinsicTags[n.Tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	if n.Tag == "!GetAtt" {
		if s, isStr := v.(string); isStr {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
	}
	return map[string]any{key: v}, nil
}

func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return float64(i), nil
	case "!!float":
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return f, nil
	}
	// !!str, !!timestamp, !!binary: CloudFormation sees the text.
	return n.Value, nil
}

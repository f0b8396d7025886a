package samtemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// negativePrefix matches the one kind of lookahead pattern the SAM schema
// uses: ^(?!PREFIX).+$ with a literal PREFIX.
var negativePrefix = regexp.MustCompile(`^\^\(\?!([A-Za-z0-9:_-]+)\)\.\+\$$`)

// RegexpEngine compiles JSON-Schema patterns with Go's regexp, except the
// negative-lookahead form ^(?!PREFIX).+$, which RE2 cannot express. The SAM
// schema uses it on the Type of its catch-all "any CloudFormation resource"
// definition; that pattern is what makes a malformed AWS::Serverless::*
// resource fail validation instead of matching the catch-all, so it is
// rewritten into an equivalent matcher rather than skipped. Any other
// pattern Go cannot compile is an error, never silently ignored.
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

// CompileSchema compiles the JSON schema at path with RegexpEngine.
func CompileSchema(path string) (*jsonschema.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(RegexpEngine)
	const url = "file:///sam.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// Validate checks the template against a compiled schema. The template is
// passed through encoding/json so numbers reach the validator as it expects.
func (t *Template) Validate(s *jsonschema.Schema) error {
	data, err := json.Marshal(t.Doc)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

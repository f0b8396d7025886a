package callback

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/wxcentral/wxcentral/pkg/callback/internal/xmlscan"
)

// A mini-program configured with data_format json gets its pushes, and
// the envelope of an encrypted push, as JSON objects instead of XML. They
// are read into the same []Field form as XML, so verification, dedupe,
// routing and the published detail are one code path for both.

// errNotJSON is a JSON push that is not one JSON object.
var errNotJSON = fmt.Errorf("%w: body is not a single JSON object", ErrMalformed)

// parseJSONMessage parses a JSON plaintext push.
func parseJSONMessage(raw string) (*Message, error) {
	m := &Message{Raw: raw}
	fields, err := parseJSON(raw, m.fieldsBuf[:0])
	if err != nil {
		return nil, err
	}
	if err := m.decode(fields); err != nil {
		return nil, err
	}
	return m, nil
}

// parseJSON reads a JSON object into buf (reused from its start) the way
// the XML form of the same push reads: Fields[0] is a root named "xml",
// every member is an element under its name, a string is its text, a
// number keeps its JSON text (a 64-bit MsgId stays exact), true, false and
// null are "true", "false" and "", an object's members are child elements,
// and an array repeats its element once per item.
func parseJSON(s string, buf []Field) ([]Field, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotJSON
	}
	out := append(buf[:0], Field{Name: "xml"})
	out, err := jsonMembers(d, out, 1)
	if err != nil {
		return nil, err
	}
	out[0].End = len(out)
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w (data after the object)", errNotJSON)
	}
	return out, nil
}

// jsonMembers reads the members of an object whose '{' was read, and its '}'.
func jsonMembers(d *json.Decoder, out []Field, depth int) ([]Field, error) {
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, errNotJSON
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errNotJSON
		}
		if out, err = jsonValue(d, out, name, depth); err != nil {
			return nil, err
		}
	}
	if _, err := d.Token(); err != nil { // '}'
		return nil, errNotJSON
	}
	return out, nil
}

// jsonValue reads one value as the element(s) name at depth.
func jsonValue(d *json.Decoder, out []Field, name string, depth int) ([]Field, error) {
	if depth > xmlscan.MaxDepth {
		return nil, fmt.Errorf("%w (nested deeper than %d)", errNotJSON, xmlscan.MaxDepth)
	}
	tok, err := d.Token()
	if err != nil {
		return nil, errNotJSON
	}
	value := ""
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			idx := len(out)
			out = append(out, Field{Name: name, Depth: depth})
			if out, err = jsonMembers(d, out, depth+1); err != nil {
				return nil, err
			}
			out[idx].End = len(out)
			return out, nil
		case '[':
			for d.More() {
				if out, err = jsonValue(d, out, name, depth); err != nil {
					return nil, err
				}
			}
			if _, err := d.Token(); err != nil { // ']'
				return nil, errNotJSON
			}
			return out, nil
		}
		return nil, errNotJSON
	case string:
		value = t
	case json.Number:
		value = t.String()
	case bool:
		value = "false"
		if t {
			value = "true"
		}
	case nil:
	}
	return append(out, Field{Name: name, Value: value, Depth: depth, End: len(out) + 1}), nil
}

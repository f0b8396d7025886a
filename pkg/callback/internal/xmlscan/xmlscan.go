// Package xmlscan parses the XML of WeChat pushes into a flat list of
// elements. A small scanner handles the shape WeChat sends (elements, text,
// CDATA, the five predefined entities); anything else goes to encoding/xml.
// Whenever the scanner accepts an input its result equals encoding/xml's,
// which FuzzXMLDifferential checks; it exists only because a push is parsed
// twice (envelope, plaintext) and encoding/xml costs most of a push's CPU.
package xmlscan

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Errors for XML that is not a WeChat push.
var (
	ErrNotXML  = errors.New("body is not a single XML element")
	ErrDoctype = errors.New("XML directives (DOCTYPE, ENTITY) are not accepted")
)

// MaxDepth bounds element nesting; WeChat pushes nest three levels at most.
const MaxDepth = 32

// Field is one element of a document. A parsed document is a []Field in
// document order: index 0 is the root (`<xml>`, Depth 0), its children have
// Depth 1, and the descendants of element i are the fields i+1 .. End-1.
type Field struct {
	Name  string // the element's name as written (no namespace prefix)
	Value string // its character data, CDATA included, entities decoded; "" when it has child elements
	Depth int    // 0 for the root
	End   int    // index just past this element's last descendant
}

// Parse parses a push document into buf (reused from its start; nil is
// fine). The common shape is scanned directly; anything else (attributes,
// comments, processing instructions, character references, CR line ends,
// non-ASCII names, many text pieces) goes to encoding/xml through
// Reference. DOCTYPE and entity declarations are rejected either way.
// Errors wrap ErrNotXML or ErrDoctype. The fields alias s.
func Parse(s string, buf []Field) ([]Field, error) {
	fields, err := scanFast(s, buf[:0])
	if err == errFallback {
		return Reference([]byte(s))
	}
	return fields, err
}

// Top returns the value of the first top-level element named name.
func Top(fields []Field, name string) (string, bool) {
	for i := 1; i < len(fields); i++ {
		if fields[i].Depth == 1 && fields[i].Name == name {
			return fields[i].Value, true
		}
	}
	return "", false
}

// errFallback means "not in the subset the fast scanner handles".
var errFallback = errors.New("xmlscan: fast path declined")

// scanFast parses s into out, or returns errFallback for anything outside
// its subset; it never rejects on its own, so the verdict on malformed
// input is always encoding/xml's.
func scanFast(s string, out []Field) ([]Field, error) {
	if strings.IndexByte(s, '\r') >= 0 {
		return nil, errFallback // encoding/xml rewrites CR and CRLF
	}
	if fields, ok := scanFlat(s, out); ok {
		return fields, nil
	}
	return scanNested(s, out)
}

// scanFlat parses the shape of nearly every push: a root whose children
// are leaves, each `<Name>` with one CDATA section or plain text (no
// entities) and `</Name>`, whitespace between elements. ok is false for
// anything else, which scanNested then handles. s has no CR.
func scanFlat(s string, out []Field) ([]Field, bool) {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '<' {
		return nil, false
	}
	root, j := scanName(s, i+1)
	if root == "" || j >= len(s) || s[j] != '>' {
		return nil, false
	}
	out = append(out, Field{Name: root})
	i = j + 1
	for {
		i = skipSpace(s, i)
		if i+1 >= len(s) || s[i] != '<' {
			return nil, false
		}
		if s[i+1] == '/' { // the root's end tag: it must have had children
			end, ok := endTag(s, i, root)
			if len(out) == 1 || !ok || !allSpace(s[end:]) {
				return nil, false
			}
			out[0].End = len(out)
			return out, true
		}
		name, j := scanName(s, i+1)
		if name == "" || j >= len(s) || s[j] != '>' {
			return nil, false
		}
		i = j + 1
		var value string
		if strings.HasPrefix(s[i:], "<![CDATA[") {
			k, ok := scanCDATA(s[i+9:])
			if !ok {
				return nil, false
			}
			value = s[i+9 : i+9+k]
			i += 9 + k + 3
		} else {
			end := strings.IndexByte(s[i:], '<')
			if end < 0 {
				return nil, false
			}
			value = s[i : i+end]
			if strings.IndexByte(value, '&') >= 0 || strings.Contains(value, "]]>") || !validChars(value) {
				return nil, false
			}
			i += end
		}
		next, ok := endTag(s, i, name)
		if !ok {
			return nil, false
		}
		i = next
		out = append(out, Field{Name: name, Value: value, Depth: 1, End: len(out) + 1})
	}
}

// endTag reports whether s[i:] starts with exactly `</name>`, and the
// index just past it.
func endTag(s string, i int, name string) (int, bool) {
	end := i + 3 + len(name)
	if end > len(s) || s[i] != '<' || s[i+1] != '/' || s[end-1] != '>' || s[i+2:end-1] != name {
		return 0, false
	}
	return end, true
}

// scanNested is scanFast's general case: any nesting, text in several
// pieces, entities, self-closing elements.
func scanNested(s string, out []Field) ([]Field, error) {
	var stack [MaxDepth]int
	var chunks [MaxDepth]uint8 // text pieces joined per open element
	depth := 0
	rootDone := false
	i := 0
	for i < len(s) {
		if s[i] != '<' {
			end := strings.IndexByte(s[i:], '<')
			if end < 0 {
				end = len(s)
			} else {
				end += i
			}
			raw := s[i:end]
			i = end
			if depth == 0 {
				if !allSpace(raw) {
					return nil, errFallback
				}
				continue
			}
			top := stack[depth-1]
			if allSpace(raw) {
				// Layout between elements: always valid, and dropped when
				// the element already has children.
				if len(out) > top+1 {
					continue
				}
			} else if strings.Contains(raw, "]]>") || !validChars(raw) {
				return nil, errFallback
			}
			if err := addText(out, top, raw, true, &chunks[depth-1]); err != nil {
				return nil, err
			}
			continue
		}
		if rootDone || i+1 >= len(s) {
			return nil, errFallback
		}
		switch c := s[i+1]; {
		case c == '/':
			if depth == 0 {
				return nil, errFallback
			}
			// The end tag must repeat the open element's name exactly.
			top := stack[depth-1]
			name := out[top].Name
			j := i + 2 + len(name)
			if !strings.HasPrefix(s[i+2:], name) || j < len(s) && (nameByte[s[j]] || s[j] >= utf8.RuneSelf) {
				return nil, errFallback
			}
			j = skipSpace(s, j)
			if j >= len(s) || s[j] != '>' {
				return nil, errFallback
			}
			closeField(out, top)
			depth--
			rootDone = depth == 0
			i = j + 1
		case c == '!':
			if depth == 0 || !strings.HasPrefix(s[i:], "<![CDATA[") {
				return nil, errFallback
			}
			k, ok := scanCDATA(s[i+9:])
			if !ok {
				return nil, errFallback
			}
			data := s[i+9 : i+9+k]
			if err := addText(out, stack[depth-1], data, false, &chunks[depth-1]); err != nil {
				return nil, err
			}
			i += 9 + k + 3
		default:
			name, j := scanName(s, i+1)
			if name == "" || depth == MaxDepth {
				return nil, errFallback
			}
			j = skipSpace(s, j)
			selfClose := false
			switch {
			case j < len(s) && s[j] == '>':
				j++
			case j+1 < len(s) && s[j] == '/' && s[j+1] == '>':
				selfClose = true
				j += 2
			default:
				return nil, errFallback
			}
			if depth > 0 {
				if p := &out[stack[depth-1]]; p.Value != "" {
					p.Value = "" // a container's own text is not kept
				}
			}
			// Field by field rather than append(out, Field{…}): a pooled
			// out holds stale fields, and this avoids a bulk write barrier.
			idx := len(out)
			if idx < cap(out) {
				out = out[:idx+1]
				f := &out[idx]
				f.Name, f.Value, f.Depth, f.End = name, "", depth, 0
			} else {
				out = append(out, Field{Name: name, Depth: depth})
			}
			if selfClose {
				closeField(out, idx)
				rootDone = depth == 0
			} else {
				stack[depth], chunks[depth] = idx, 0
				depth++
			}
			i = j
		}
	}
	if !rootDone {
		return nil, errFallback
	}
	return out, nil
}

func closeField(out []Field, idx int) {
	out[idx].End = len(out)
	if len(out) > idx+1 {
		out[idx].Value = ""
	}
}

// addText appends character data to element idx unless it already has
// children. raw text has its predefined entities decoded.
func addText(out []Field, idx int, data string, raw bool, chunks *uint8) error {
	if raw && strings.IndexByte(data, '&') >= 0 {
		// Even text a container drops: a bad entity in it still makes
		// the document malformed.
		var ok bool
		if data, ok = decodeEntities(data); !ok {
			return errFallback
		}
	}
	if len(out) > idx+1 {
		return nil
	}
	if *chunks++; *chunks > 4 {
		return errFallback // many pieces: encoding/xml joins them in linear time
	}
	if out[idx].Value == "" {
		out[idx].Value = data
	} else if data != "" {
		out[idx].Value += data
	}
	return nil
}

func decodeEntities(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for {
		amp := strings.IndexByte(s, '&')
		if amp < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:amp])
		s = s[amp:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 {
			return "", false
		}
		switch s[1:semi] {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "apos":
			b.WriteByte('\'')
		case "quot":
			b.WriteByte('"')
		default:
			return "", false // character references and others: encoding/xml decides
		}
		s = s[semi+1:]
	}
}

// nameStart and nameByte are the ASCII bytes that may start and continue
// a name the fast path accepts (no ':' prefixes, no non-ASCII letters).
var nameStart, nameByte = func() (start, rest [256]bool) {
	for c := 0; c < 256; c++ {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		start[c] = letter
		rest[c] = letter || '0' <= c && c <= '9' || c == '-' || c == '.'
	}
	return
}()

// scanName reads an ASCII XML name without a namespace prefix at s[i:].
func scanName(s string, i int) (string, int) {
	if i >= len(s) || !nameStart[s[i]] {
		return "", i
	}
	j := i + 1
	for j < len(s) && nameByte[s[j]] {
		j++
	}
	if j < len(s) && s[j] >= utf8.RuneSelf {
		return "", j // non-ASCII name characters: encoding/xml decides
	}
	return s[i:j], j
}

// scanCDATA finds the "]]>" that ends a CDATA section starting at s[0]
// and checks the content's characters in the same pass, like validChars.
// ok is false when there is no end or a character is not allowed.
func scanCDATA(s string) (end int, ok bool) {
	const ones, highs, brackets = 0x0101010101010101, 0x8080808080808080, 0x5D5D5D5D5D5D5D5D
	i := 0
	for {
		// Eight printable ASCII bytes with no ']' at a time. A high bit of m
		// marks a byte >= 0x80, one below 0x20, or a ']' (zero after the
		// XOR); borrows only spill upwards, so the lowest mark is exact.
		for i+8 <= len(s) {
			x := load64(s[i : i+8])
			b := x ^ brackets
			if m := (x | (x - 0x2020202020202020) | ((b - ones) &^ b)) & highs; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			return 0, false
		}
		c := s[i]
		switch {
		case c == ']':
			if strings.HasPrefix(s[i:], "]]>") {
				return i, true
			}
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || !xmlChar(r) {
				return 0, false
			}
			i += size
		case c < 0x20 && c != '\t' && c != '\n':
			return 0, false
		default:
			i++
		}
	}
}

// load64 reads 8 bytes little-endian. Its argument's length is known to be
// 8, so the compiler drops the bounds checks and emits one 64-bit load.
func load64(t string) uint64 {
	_ = t[7]
	return uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	return i
}

func allSpace(s string) bool { return skipSpace(s, 0) == len(s) }

// validChars reports whether s is UTF-8 made of XML characters (the CR
// case is handled by the caller).
func validChars(s string) bool {
	for i := 0; i < len(s); {
		// Skip printable ASCII (0x20..0x7F) eight bytes at a time: no byte
		// has its high bit set and none is below 0x20.
		for i+8 <= len(s) {
			x := load64(s[i : i+8])
			if m := (x | (x - 0x2020202020202020)) & 0x8080808080808080; m != 0 {
				i += bits.TrailingZeros64(m) >> 3 // the first such byte (see scanCDATA)
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !xmlChar(r) {
			return false
		}
		i += size
	}
	return true
}

func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// Reference parses data with encoding/xml into the same []Field form. It
// is the fallback of Parse and the oracle of its differential test.
func Reference(data []byte) ([]Field, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	var out []Field
	var stack []int
	var text []byte
	rootDone := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if rootDone {
				return nil, fmt.Errorf("%w: content after the root element", ErrNotXML)
			}
			if t.Name.Space != "" {
				return nil, fmt.Errorf("%w: namespaced element", ErrNotXML)
			}
			if len(stack) == MaxDepth {
				return nil, fmt.Errorf("%w: nested deeper than %d", ErrNotXML, MaxDepth)
			}
			if n := len(stack); n > 0 {
				out[stack[n-1]].Value = ""
			}
			out = append(out, Field{Name: t.Name.Local, Depth: len(stack)})
			stack = append(stack, len(out)-1)
			text = text[:0]
		case xml.EndElement:
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if len(out) == top+1 {
				out[top].Value = string(text)
			}
			closeField(out, top)
			text = text[:0]
			rootDone = len(stack) == 0
		case xml.CharData:
			if len(stack) == 0 {
				if strings.Trim(string(t), " \t\r\n") != "" {
					return nil, fmt.Errorf("%w: text outside the root element", ErrNotXML)
				}
				continue
			}
			if len(out) == stack[len(stack)-1]+1 {
				text = append(text, t...)
			}
		case xml.Directive:
			return nil, ErrDoctype
		}
	}
	if !rootDone {
		return nil, fmt.Errorf("%w: no root element", ErrNotXML)
	}
	return out, nil
}

// Package logaudit proves that logs carry no secrets: a Capture gathers
// every line the components under test write, and a Scanner that knows the
// secret values of the run (AppSecrets, every token and ticket WeChat
// issued, EncodingAESKeys, callback tokens, message contents) reports each
// line that contains one, naming the kind of secret and never its value.
//
// Values are matched verbatim and in the forms a log line could carry
// them: JSON-escaped (slog's JSON handler), URL-query-escaped and, for an
// EncodingAESKey, the raw AES key in standard base64 and hex.
package logaudit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Capture is a concurrency-safe io.Writer that keeps everything written to
// it, for a slog handler or a process's output.
type Capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// String returns everything written so far.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Lines returns the number of complete lines written so far.
func (c *Capture) Lines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Count(c.buf.Bytes(), []byte{'\n'})
}

// MinSecretLen is the shortest value a Scanner accepts: shorter strings
// (a 3-letter word) would match innocent text and prove nothing.
const MinSecretLen = 8

// Scanner finds known secret values in text.
type Scanner struct {
	// byPrefix indexes every form of every value by its first MinSecretLen
	// bytes, so a scan is one map lookup per byte of text.
	byPrefix map[string][]needle
	kinds    map[string]int // values added per kind
	patterns []pattern
}

type pattern struct {
	kind string
	re   *regexp.Regexp
}

// TokenShape matches a credential shaped like the ones WeChat (and
// wechattest) issue: a two-digit prefix, an underscore and 134 URL-safe
// base64 characters. It finds tokens and tickets whose values a scan
// does not know, e.g. in the output of a whole test suite.
var TokenShape = regexp.MustCompile(`[0-9]{2}_[A-Za-z0-9_-]{134}`)

// AddPattern makes the scanner also report lines matching re, as kind.
func (s *Scanner) AddPattern(kind string, re *regexp.Regexp) {
	s.patterns = append(s.patterns, pattern{kind, re})
	s.kinds[kind]++
}

type needle struct {
	form string
	kind string
	id   int // index of the value within its kind, for reports
}

// NewScanner returns an empty Scanner.
func NewScanner() *Scanner {
	return &Scanner{byPrefix: map[string][]needle{}, kinds: map[string]int{}}
}

// Add registers values of a kind ("AppSecret", "access_token", ...).
// Empty values are ignored; a value shorter than MinSecretLen is an error
// (it cannot be told apart from ordinary text).
func (s *Scanner) Add(kind string, values ...string) error {
	for _, v := range values {
		if v == "" {
			continue
		}
		if len(v) < MinSecretLen {
			return fmt.Errorf("logaudit: a %s value is shorter than %d bytes", kind, MinSecretLen)
		}
		id := s.kinds[kind]
		s.kinds[kind]++
		for _, f := range forms(v) {
			p := f[:MinSecretLen]
			s.byPrefix[p] = append(s.byPrefix[p], needle{form: f, kind: kind, id: id})
		}
	}
	return nil
}

// AddEncodingAESKey registers an EncodingAESKey: the 43 characters and the
// 32-byte AES key they encode, in standard base64 and hex.
func (s *Scanner) AddEncodingAESKey(key string) error {
	if err := s.Add("EncodingAESKey", key); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(key + "=")
	if err != nil {
		return fmt.Errorf("logaudit: EncodingAESKey is not base64: %w", err)
	}
	return s.Add("AES key", base64.StdEncoding.EncodeToString(raw), hex.EncodeToString(raw))
}

// Counts returns how many values of each kind the scanner knows.
func (s *Scanner) Counts() map[string]int {
	out := make(map[string]int, len(s.kinds))
	for k, n := range s.kinds {
		out[k] = n
	}
	return out
}

// forms returns v and the escaped forms a log line could hold it in
// (each at least MinSecretLen long, as v is).
func forms(v string) []string {
	out := []string{v}
	add := func(f string) {
		for _, x := range out {
			if x == f {
				return
			}
		}
		out = append(out, f)
	}
	if j, err := json.Marshal(v); err == nil {
		add(string(j[1 : len(j)-1]))
	}
	add(url.QueryEscape(v))
	return out
}

// Finding is one line that contains a secret. It never holds the value.
type Finding struct {
	Source string // where the line came from, e.g. "chaos" or "bootstrap refresh"
	Line   int    // 1-based line number within Source
	Kind   string // the kind of secret
	ID     int    // which value of that kind (order of Add)
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: contains %s #%d", f.Source, f.Line, f.Kind, f.ID)
}

// Scan reports every (line, secret) pair of text that matches.
func (s *Scanner) Scan(source, text string) []Finding {
	var out []Finding
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for i, p := range s.patterns {
			if p.re.MatchString(line) {
				out = append(out, Finding{Source: source, Line: n, Kind: p.kind, ID: i})
			}
		}
		seen := map[needle]bool{}
		for i := 0; i+MinSecretLen <= len(line); i++ {
			for _, nd := range s.byPrefix[line[i:i+MinSecretLen]] {
				key := needle{kind: nd.kind, id: nd.id}
				if !seen[key] && strings.HasPrefix(line[i:], nd.form) {
					seen[key] = true
					out = append(out, Finding{Source: source, Line: n, Kind: nd.kind, ID: nd.id})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Line < out[j].Line
	})
	return out
}

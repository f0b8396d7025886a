package logaudit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// testEvent is one line of `go test -json` (cmd/test2json).
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// TestJSONResult is what AuditTestJSON saw.
type TestJSONResult struct {
	Lines    int       // output lines scanned
	Failed   bool      // a test or package failed
	Findings []Finding // Source is "<package> <test>"
}

// AuditTestJSON reads `go test -json` from r, writes to w what a plain
// `go test` would show (package results and the output of failed tests),
// and scans every output line of every test, passed or failed, with sc.
func AuditTestJSON(r io.Reader, w io.Writer, sc *Scanner) (TestJSONResult, error) {
	var res TestJSONResult
	held := map[string][]string{} // output of running tests, shown if they fail
	dec := bufio.NewScanner(r)
	dec.Buffer(make([]byte, 1<<20), 64<<20)
	for dec.Scan() {
		var ev testEvent
		if err := json.Unmarshal(dec.Bytes(), &ev); err != nil {
			// Not an event (e.g. a build error printed by go): show and scan it.
			fmt.Fprintln(w, dec.Text())
			res.Findings = append(res.Findings, sc.Scan("go test", dec.Text())...)
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			res.Lines++
			for _, f := range sc.Scan(key, ev.Output) {
				f.Line = 0 // an event holds one line; its number means nothing
				res.Findings = append(res.Findings, f)
			}
			if ev.Test != "" {
				held[key] = append(held[key], ev.Output)
			} else if !strings.HasPrefix(ev.Output, "=== ") && ev.Output != "PASS\n" {
				fmt.Fprint(w, ev.Output)
			}
		case "fail":
			res.Failed = true
			if ev.Test != "" {
				for _, o := range held[key] {
					fmt.Fprint(w, o)
				}
			}
			delete(held, key)
		case "pass", "skip":
			delete(held, key)
		}
	}
	return res, dec.Err()
}

package logaudit

import (
	"bytes"
	"strings"
	"testing"
)

func TestAuditTestJSON(t *testing.T) {
	tok := "84_" + strings.Repeat("aB3-_", 26) + "xyzw" // 134 characters after the prefix
	events := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: token ` + tok + `\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: secret s3cr3t-value-A\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}`,
		`{"Action":"fail","Package":"p"}`,
		`# a build error line`,
	}, "\n")
	sc := NewScanner()
	sc.AddPattern("token shape", TokenShape)
	if err := sc.Add("AppSecret", "s3cr3t-value-A"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := AuditTestJSON(strings.NewReader(events), &out, sc)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed || res.Lines != 7 {
		t.Errorf("failed %v, lines %d; want true, 7", res.Failed, res.Lines)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Source+": "+f.Kind)
	}
	if strings.Join(got, "; ") != "p TestA: token shape; p TestB: AppSecret" {
		t.Errorf("findings %v", got)
	}
	shown := out.String()
	for _, want := range []string{"b_test.go:3", "--- FAIL: TestB", "FAIL\tp\t0.01s", "# a build error line"} {
		if !strings.Contains(shown, want) {
			t.Errorf("output lacks %q:\n%s", want, shown)
		}
	}
	for _, hide := range []string{"TestA", "=== RUN"} {
		if strings.Contains(shown, hide) {
			t.Errorf("output shows %q of a passing test:\n%s", hide, shown)
		}
	}
}

func TestTokenShape(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"82_" + strings.Repeat("A", 134), true},
		{`"token":"80_` + strings.Repeat("x-_9", 33) + `ab"`, true},
		{"82_" + strings.Repeat("A", 133), false},
		{"msg#wx0123456789abcdef#7000000001", false},
		{strings.Repeat("f", 200), false},
	} {
		if got := TokenShape.MatchString(tt.s); got != tt.want {
			t.Errorf("%.20q…: %v, want %v", tt.s, got, tt.want)
		}
	}
}

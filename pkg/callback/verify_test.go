package callback

import "testing"

func TestParseUnix(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1714112445": 1714112445, "999999999999999999": 999999999999999999} {
		if got, ok := parseUnix(in); !ok || got != want {
			t.Errorf("%q: %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.5", "12a", "1234567890123456789", " 1"} {
		if _, ok := parseUnix(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

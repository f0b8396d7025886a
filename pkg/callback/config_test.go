package callback

import (
	"strings"
	"testing"
)

// A misspelt or unknown field is an error naming it and its app, not a
// setting silently ignored (issue 12, item 3): `auto_reply` for
// `auto_replies` used to turn the replies off without a word.
func TestParseConfigRejectsUnknownFields(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	app := `"appid":"a","token":"t","encoding_aes_key":"` + key + `"`
	for _, tt := range []struct{ doc, want string }{
		{`{"apps":[{` + app + `,"auto_reply":[{"match":"a","reply":"b"}]}]}`, `apps[0]: unknown field "auto_reply"`},
		{`{"apps":[{` + app + `},{"appid":"b","token":"t","mode":"plain","welcom":"hi"}]}`, `apps[1]: unknown field "welcom"`},
		{`{"apps":[{` + app + `,"auto_replies":[{"match":"a","reply":"b","replay":"c"}]}]}`, `apps[0]: unknown field "replay"`},
		{`{"apps":[{` + app + `}],"app":[]}`, `unknown field "app"`},
		{`{"apps":[{` + app + `}]} {"apps":[]}`, "trailing data"},
	} {
		_, err := ParseConfig([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one containing %q", tt.doc, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("error shows the key: %v", err)
		}
	}
}

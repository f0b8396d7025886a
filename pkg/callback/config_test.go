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

// Account types: each is validated for the fields it needs and refuses the
// ones it does not use, naming them (issue 14).
func TestParseConfigAccountTypes(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	ok := `{"apps":[
		{"appid":"wx0123456789abcdef","token":"t","encoding_aes_key":"` + key + `"},
		{"type":"official_account","appid":"wx1","token":"t","mode":"plain"},
		{"type":"miniprogram","appid":"wxmini","token":"t","encoding_aes_key":"` + key + `","data_format":"json"},
		{"type":"miniprogram","appid":"wxmini2","token":"t","mode":"plain"},
		{"type":"wecom","corpid":"ww0123","agent":"1000002","token":"t","encoding_aes_key":"` + key + `","welcome":"hi"},
		{"type":"wecom","corpid":"ww0123","agent":"contacts","token":"t","encoding_aes_key":"` + key + `","previous_encoding_aes_key":"` + key + `"},
		{"type":"component","appid":"wxc0mp0nent0000001","token":"t","encoding_aes_key":"` + key + `","previous_encoding_aes_key":"` + key + `"}]}`
	c, err := ParseConfig([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if a, found := c.App("wxc0mp0nent0000001"); !found || a.Type != TypeComponent || a.ReceiveID() != "wxc0mp0nent0000001" || a.Mode != ModeSafe {
		t.Fatalf("App(wxc0mp0nent0000001) = %+v %v", a, found)
	}
	if a, found := c.App("ww0123:1000002"); !found || a.ReceiveID() != "ww0123" || a.Mode != ModeSafe {
		t.Fatalf("App(ww0123:1000002) = %+v %v", a, found)
	}
	if a, found := c.App("wxmini"); !found || a.ID() != "wxmini" || a.ReceiveID() != "wxmini" {
		t.Fatalf("App(wxmini) = %+v %v", a, found)
	}
	if _, err := NewHandler(Options{Config: StaticConfig(c)}); err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	wecom := `"type":"wecom","corpid":"ww0123","agent":"1","token":"t","encoding_aes_key":"` + key + `"`
	mini := `"type":"miniprogram","appid":"wxmini","token":"t","encoding_aes_key":"` + key + `"`
	for _, tt := range []struct{ doc, want string }{
		{`{"type":"service_account","appid":"wx1","token":"t","mode":"plain"}`, "apps[0].type: must be official_account, miniprogram, wecom or component"},
		{`{"type":"component","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].appid: missing"},
		{`{"type":"component","appid":"wxc","encoding_aes_key":"` + key + `"}`, "apps[0].token: missing"},
		{`{"type":"component","appid":"wxc","token":"t"}`, "apps[0].encoding_aes_key: missing"},
		{`{"type":"component","appid":"wxc","token":"t","encoding_aes_key":"short"}`, "apps[0].encoding_aes_key: must be 43 base64 characters"},
		{`{"type":"component","appid":"wxc","token":"t","encoding_aes_key":"` + key + `","previous_encoding_aes_key":"x"}`, "apps[0].previous_encoding_aes_key: must be 43"},
		{`{"type":"component","appid":"wxc","token":"t","mode":"plain"}`, "apps[0].mode: a component is always encrypted"},
		{`{"type":"component","appid":"wxc","token":"t","encoding_aes_key":"` + key + `","welcome":"hi"}`, "apps[0].welcome: not used by type component"},
		{`{"type":"component","appid":"wxc","token":"t","encoding_aes_key":"` + key + `","data_format":"json"}`, "apps[0].data_format: not used by type component"},
		{`{"type":"component","appid":"wx/c","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].appid: must not contain"},
		{`{"appid":"wxc","token":"t","mode":"plain"},{"type":"component","appid":"wxc","token":"t","encoding_aes_key":"` + key + `"}`, "apps[1].appid: duplicate of apps[0]"},
		{`{"type":"wecom","agent":"1","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].corpid: missing"},
		{`{"type":"wecom","corpid":"ww0123","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].agent: missing"},
		{`{` + wecom + `,"appid":"wx1"}`, "apps[0].appid: not used by type wecom"},
		{`{` + wecom + `,"mode":"plain"}`, "apps[0].mode: a WeCom app is always encrypted"},
		{`{` + wecom + `,"data_format":"json"}`, "apps[0].data_format: not used by type wecom"},
		{`{"type":"wecom","corpid":"ww:0123","agent":"1","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].corpid: must not contain"},
		{`{"type":"wecom","corpid":"ww0123","agent":"a/b","token":"t","encoding_aes_key":"` + key + `"}`, "apps[0].agent: must not contain"},
		{`{"type":"wecom","corpid":"ww0123","agent":"1","token":"t"}`, "apps[0].encoding_aes_key: missing"},
		{`{` + mini + `,"data_format":"yaml"}`, "apps[0].data_format: must be xml or json"},
		{`{` + mini + `,"welcome":"hi"}`, "apps[0].welcome: not used by type miniprogram"},
		{`{` + mini + `,"auto_replies":[{"match":"a","reply":"b"}]}`, "apps[0].auto_replies: not used by type miniprogram"},
		{`{` + mini + `,"corpid":"ww1"}`, "apps[0].corpid: not used by type miniprogram"},
		{`{"type":"miniprogram","token":"t","mode":"plain"}`, "apps[0].appid: missing"},
		{`{"appid":"wx1","token":"t","mode":"plain","data_format":"json"}`, "apps[0].data_format: not used by type official_account"},
		{`{"appid":"wx1","token":"t","mode":"plain","agent":"1"}`, "apps[0].agent: not used by type official_account"},
	} {
		_, err := ParseConfig([]byte(`{"apps":[` + tt.doc + `]}`))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want one containing %q", tt.doc, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("error shows the key: %v", err)
		}
	}
	// The credential id is what must be unique: two agents of one corp are
	// two apps, the same agent twice is a duplicate.
	dup := `{"apps":[{` + wecom + `},{` + wecom + `}]}`
	if _, err := ParseConfig([]byte(dup)); err == nil || !strings.Contains(err.Error(), "apps[1].corpid: duplicate of apps[0] (credential id ww0123:1)") {
		t.Fatalf("duplicate WeCom app: %v", err)
	}
}

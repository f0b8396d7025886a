package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
)

// Seeds shared by both targets: valid documents, near misses and junk.
// More seeds live in testdata/fuzz/<Target>/.
var fuzzSeeds = []string{
	`{"apps":[{"appid":"wx0123456789abcdef","secret":"Sec-0123456789abcdef0123456789ABCD","tickets":["jsapi","wx_card"]}]}`,
	`{"apps":[{"appid":"wx0123456789abcdef","token":"Tok-ABCdef123","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","mode":"safe",
		"welcome":"Welcome!","auto_replies":[{"match":"hi","reply":"Hello there"},{"prefix":"help","reply":"Ask Us"}]}]}`,
	`{"apps":[{"appid":"wxa","token":"T0k-Plain","mode":"plain"},{"appid":"wxb","token":"T0k-Compat","mode":"compat","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","previous_encoding_aes_key":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"}]}`,
	`{"apps":[{"appid":"wx1","secret":"S1-Secret-Value"},{"appid":"wx1","secret":"S2-Secret-Value"}]}`,
	`{"apps":[{"appid":"wx1","secret":"S1-Secret-Value","tickets":["jsapi","jsapi"]}]}`,
	`{"apps":[{"appid":"wx 1","secret":"S1-Secret-Value","extra":true}]}`,
	`{"apps":[]}`,
	`{"apps":null}`,
	`{"apps":[{"appid":7,"secret":["X-Secret-Value"]}]}`,
	`{"apps":[{"appid":"wx1","secret":"S1-Secret-Value"}]} {"apps":[]}`,
	`{"apps":[{"appid":"wx1","token":"Tok-Value-1","encoding_aes_key":"short-Key-Value"}]}`,
	`{"apps":[{"type":"miniprogram","appid":"wxmini","secret":"S1-Secret-Value"},{"type":"wecom","corpid":"ww1","agent":"1000002","secret":"S2-Secret","tickets":["jsapi","agent_config"]}]}`,
	`{"apps":[{"type":"wecom","corpid":"ww1","agent":"contacts","secret":"S2-Secret"},{"type":"wecom","corpid":"ww1","agent":"contacts","secret":"S3"}]}`,
	`{"apps":[{"type":"miniprogram","appid":"wxmini","secret":"S1","tickets":[]},{"type":"component","appid":"wxc","secret":"S4"}]}`,
	`{"apps":[{"type":"component","appid":"wxc0mp0nent0000001","secret":"S5-Component-Secret"},{"type":"component","appid":"wxc2","secret":"S6","tickets":["jsapi"]}]}`,
	`{"apps":[{"type":"component","appid":"wxc0mp0nent0000001","token":"Tok-Component","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","previous_encoding_aes_key":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"}]}`,
	`{"apps":[{"type":"component","appid":"wxc1","token":"Tok-C","encoding_aes_key":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG","mode":"plain","welcome":"Hi-There"}]}`,
	`[]`, `null`, ``, `{`, "\x00\xff",
}

// FuzzParseApps: ParseApps never panics; a rejected document's error
// never holds one of its string values; an accepted one is well formed,
// hides its secrets from %v, and survives a round trip.
func FuzzParseApps(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		apps, err := config.ParseApps(data)
		if err != nil {
			if apps != nil {
				t.Fatal("error with a result")
			}
			checkNoValueInError(t, data, err)
			return
		}
		if len(apps.Apps) == 0 {
			t.Fatal("accepted a document without apps")
		}
		seen := map[string]bool{}
		type doc struct {
			Type    string   `json:"type"`
			AppID   string   `json:"appid,omitempty"`
			CorpID  string   `json:"corpid,omitempty"`
			Agent   string   `json:"agent,omitempty"`
			Secret  string   `json:"secret"`
			Tickets []string `json:"tickets,omitempty"`
		}
		var again struct {
			Apps []doc `json:"apps"`
		}
		for _, a := range apps.Apps {
			id := a.ID()
			wecom := a.Type == config.TypeWeCom
			if id == "" || a.Secret == "" || seen[id] || strings.ContainsAny(id, "# \t\r\n") ||
				wecom != (a.AppID == "") || wecom != (a.CorpID != "" && a.Agent != "" && id == a.CorpID+":"+a.Agent) ||
				(!wecom && strings.Contains(id, ":")) || (a.Type == config.TypeMiniProgram && len(a.Tickets) > 0) {
				t.Fatalf("accepted an invalid app (type %q, id %q)", a.Type, id)
			}
			seen[id] = true
			if distinctive(a.Secret) && !strings.Contains(id, a.Secret) && !strings.Contains(a.Type, a.Secret) && !strings.Contains(fmt.Sprint(a.Tickets), a.Secret) &&
				(strings.Contains(fmt.Sprint(a), a.Secret) || strings.Contains(fmt.Sprintf("%+v %#v", a, a), a.Secret)) {
				t.Fatalf("%s: formatting an App shows its secret", id)
			}
			kinds := a.Kinds()
			if a.Type == config.TypeComponent {
				if len(a.Tickets) > 0 || len(kinds) != 2 || kinds[0] != "component_access_token" || kinds[1] != "component_verify_ticket" {
					t.Fatalf("%s: component kinds %v, tickets %v", id, kinds, a.Tickets)
				}
			} else if len(kinds) != 1+len(a.Tickets) || kinds[0] != "access_token" {
				t.Fatalf("%s: kinds %v for tickets %v", id, kinds, a.Tickets)
			}
			again.Apps = append(again.Apps, doc{a.Type, a.AppID, a.CorpID, a.Agent, a.Secret, a.Tickets})
		}
		b, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		round, err := config.ParseApps(b)
		if err != nil {
			t.Fatalf("round trip rejected: %v", err)
		}
		if !reflect.DeepEqual(round, apps) {
			t.Fatal("round trip changed the document")
		}
	})
}

// FuzzParseCallbackConfig: the same for the callback document
// (callback.ParseConfig); an accepted document's keys make ciphers.
func FuzzParseCallbackConfig(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := callback.ParseConfig(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("error with a result")
			}
			checkNoValueInError(t, data, err)
			return
		}
		if len(cfg.Apps) == 0 {
			t.Fatal("accepted a document without apps")
		}
		for _, a := range cfg.Apps {
			if a.ID() == "" || a.ReceiveID() == "" || a.Token == "" {
				t.Fatalf("accepted an app without its id or token")
			}
			switch a.Mode {
			case callback.ModeSafe, callback.ModeCompat:
				if _, err := callback.NewCipher(a.EncodingAESKey, a.ReceiveID()); err != nil {
					t.Fatalf("%s: accepted key makes no cipher: %v", a.AppID, err)
				}
			case callback.ModePlain:
			default:
				t.Fatalf("%s: accepted mode %q", a.AppID, a.Mode)
			}
			if a.PreviousEncodingAESKey != "" {
				if _, err := callback.NewCipher(a.PreviousEncodingAESKey, a.ReceiveID()); err != nil {
					t.Fatalf("%s: accepted previous key makes no cipher: %v", a.AppID, err)
				}
			}
			if _, ok := cfg.App(a.ID()); !ok {
				t.Fatalf("App(%q) does not find it", a.ID())
			}
		}
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		round, err := callback.ParseConfig(b)
		if err != nil {
			t.Fatalf("round trip rejected: %v", err)
		}
		// Compared as JSON: an empty list and an absent one are the same
		// document (omitempty).
		if b2, _ := json.Marshal(round); !bytes.Equal(b, b2) {
			t.Fatal("round trip changed the document")
		}
	})
}

// checkNoValueInError fails when err quotes one of the document's string
// values. Only values that could not be mistaken for the error's own
// words are checked: at least 6 bytes with a character other than a
// lowercase letter, digit, space or the punctuation of field paths.
func checkNoValueInError(t *testing.T, data []byte, err error) {
	t.Helper()
	var v any
	if json.Unmarshal(data, &v) != nil {
		return // not JSON: no values to leak (the error names an offset)
	}
	msg := err.Error()
	// Errors may name a key (`unknown field "x"`); a value that is also
	// part of a key is not checked.
	var keys []string
	var values []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			values = append(values, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				keys = append(keys, k)
				walk(e)
			}
		}
	}
	walk(v)
	for _, x := range values {
		if !distinctive(x) || strings.ContainsRune(x, unicode.ReplacementChar) || !strings.Contains(msg, x) {
			continue
		}
		inKey := false
		for _, k := range keys {
			inKey = inKey || strings.Contains(k, x)
		}
		if !inKey {
			t.Fatalf("error quotes a value of the document: %v", err)
		}
	}
}

func distinctive(s string) bool {
	if len(s) < 6 {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLower(r) && r < unicode.MaxASCII || unicode.IsDigit(r) || strings.ContainsRune(" _.[]:,()'\"#-/", r)) {
			return true
		}
	}
	return false
}

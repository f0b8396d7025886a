package config_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
)

const secretValue = "s3cr3t-VALUE-never-printed"

func TestParseAppsValid(t *testing.T) {
	doc := `{"apps":[{"appid":"wx0123456789abcdef","secret":"` + secretValue + `","tickets":["jsapi","wx_card"]},
	                 {"appid":"wxfedcba9876543210","secret":"other"},
	                 {"appid":"wx3","secret":"x","tickets":[]}]}`
	apps, err := config.ParseApps([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.App{
		{AppID: "wx0123456789abcdef", Secret: secretValue, Tickets: []string{"jsapi", "wx_card"}},
		{AppID: "wxfedcba9876543210", Secret: "other"},
		{AppID: "wx3", Secret: "x"},
	}
	if !reflect.DeepEqual(apps.Apps, want) {
		t.Fatalf("got %#v", apps.Apps)
	}
	if k := apps.Apps[0].Kinds(); !reflect.DeepEqual(k, []credential.Kind{credential.AccessToken, credential.JSAPITicket, credential.WXCardTicket}) {
		t.Fatalf("kinds %v", k)
	}
	if k := apps.Apps[1].Kinds(); !reflect.DeepEqual(k, []credential.Kind{credential.AccessToken}) {
		t.Fatalf("kinds %v", k)
	}
	if a, ok := apps.Lookup("wxfedcba9876543210"); !ok || a.Secret != "other" {
		t.Fatalf("lookup: %v %v", a, ok)
	}
	if _, ok := apps.Lookup("wxnone"); ok {
		t.Fatal("lookup of an unknown app succeeded")
	}
	if !apps.Apps[0].Has(credential.WXCardTicket) || apps.Apps[1].Has(credential.JSAPITicket) {
		t.Fatal("Has disagrees with tickets")
	}
	for _, s := range []string{fmt.Sprint(apps.Apps[0]), fmt.Sprintf("%+v", apps.Apps[0]), fmt.Sprintf("%#v", apps.Apps[0]), fmt.Sprintf("%v", apps)} {
		if strings.Contains(s, secretValue) {
			t.Fatalf("formatting shows the secret: %s", s)
		}
	}
}

func TestParseAppsErrors(t *testing.T) {
	s := secretValue
	tests := []struct {
		name, doc, want string
	}{
		{"empty document", ``, "apps document: malformed JSON: empty or truncated document"},
		{"truncated", `{"apps":[{"appid":"wxa","secret":"` + s, "apps document: malformed JSON"},
		{"syntax error", `{"apps":[{"appid":"wxa" "secret":"` + s + `"}]}`, "apps document: malformed JSON at byte"},
		{"not an object", `["` + s + `"]`, "apps document: malformed JSON: must be an object"},
		{"trailing data", `{"apps":[{"appid":"wxa","secret":"` + s + `"}]} {"x":1}`, "apps document: malformed JSON: trailing data"},
		{"apps missing", `{}`, "apps document: apps: missing"},
		{"apps null", `{"apps":null}`, "apps document: apps: missing"},
		{"apps empty", `{"apps":[]}`, "apps document: apps: empty"},
		{"apps not a list", `{"apps":{"appid":"wxa"}}`, "apps document: apps: must be a list"},
		{"unknown top-level field", `{"apps":[{"appid":"wxa","secret":"x"}],"extra":1}`, `apps document: unknown field "extra"`},
		{"app not an object", `{"apps":["` + s + `"]}`, "apps document: apps[0]: malformed JSON: must be an object"},
		{"appid missing", `{"apps":[{"appid":"wxa","secret":"x"},{"secret":"` + s + `"}]}`, "apps document: apps[1].appid: missing"},
		{"appid empty", `{"apps":[{"appid":"","secret":"` + s + `"}]}`, "apps document: apps[0].appid: missing"},
		{"appid with #", `{"apps":[{"appid":"wx#a","secret":"` + s + `"}]}`, "apps document: apps[0].appid: must not contain"},
		{"appid not a string", `{"apps":[{"appid":12,"secret":"` + s + `"}]}`, "apps document: apps[0]: appid: must be a string"},
		{"secret missing", `{"apps":[{"appid":"wxa","secret":"x"},{"appid":"wxb"}]}`, "apps document: apps[1].secret: missing"},
		{"secret empty", `{"apps":[{"appid":"wxa","secret":""}]}`, "apps document: apps[0].secret: missing"},
		{"secret not a string", `{"apps":[{"appid":"wxa","secret":123456}]}`, "apps document: apps[0]: secret: must be a string"},
		{"duplicate appid", `{"apps":[{"appid":"wxa","secret":"x"},{"appid":"wxb","secret":"y"},{"appid":"wxa","secret":"` + s + `"}]}`,
			"apps document: apps[2].appid: duplicate of apps[0].appid"},
		{"unknown ticket type", `{"apps":[{"appid":"wxa","secret":"` + s + `","tickets":["jsapi","card"]}]}`,
			"apps document: apps[0].tickets[1]: unknown ticket type (want jsapi or wx_card)"},
		{"duplicate ticket type", `{"apps":[{"appid":"wxa","secret":"` + s + `","tickets":["wx_card","wx_card"]}]}`,
			"apps document: apps[0].tickets[1]: duplicate of apps[0].tickets[0]"},
		{"tickets not a list", `{"apps":[{"appid":"wxa","secret":"` + s + `","tickets":"jsapi"}]}`, "apps document: apps[0]: tickets: must be a list"},
		{"unknown app field", `{"apps":[{"appid":"wxa","secrte":"` + s + `"}]}`, `apps document: apps[0]: unknown field "secrte"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			apps, err := config.ParseApps([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %v", apps)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q, want prefix %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Fatalf("error shows the secret: %q", err)
			}
		})
	}
}

func TestLoadApps(t *testing.T) {
	ctx := context.Background()
	ok := config.SourceFunc(func(context.Context) ([]byte, error) {
		return []byte(`{"apps":[{"appid":"wxa","secret":"x"}]}`), nil
	})
	apps, err := config.LoadApps(ctx, ok)
	if err != nil || len(apps.Apps) != 1 {
		t.Fatalf("LoadApps: %v %v", apps, err)
	}
	boom := errors.New("unreachable")
	_, err = config.LoadApps(ctx, config.SourceFunc(func(context.Context) ([]byte, error) { return nil, boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("source error not wrapped: %v", err)
	}
}

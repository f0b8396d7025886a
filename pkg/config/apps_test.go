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
		{Type: config.TypeOfficialAccount, AppID: "wx0123456789abcdef", Secret: secretValue, Tickets: []string{"jsapi", "wx_card"}},
		{Type: config.TypeOfficialAccount, AppID: "wxfedcba9876543210", Secret: "other"},
		{Type: config.TypeOfficialAccount, AppID: "wx3", Secret: "x"},
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

// Mini-programs and WeCom apps beside Official Accounts: the credential
// id is the appid, or <corpid>:<agent>; WeCom tickets are jsapi and
// agent_config.
func TestParseAppsAccountTypes(t *testing.T) {
	doc := `{"apps":[{"type":"official_account","appid":"wx0123456789abcdef","secret":"a","tickets":["jsapi"]},
	                 {"type":"miniprogram","appid":"wxminiprogram00001","secret":"` + secretValue + `"},
	                 {"type":"wecom","corpid":"ww0123456789abcdef","agent":"1000002","secret":"` + secretValue + `","tickets":["jsapi","agent_config"]},
	                 {"type":"wecom","corpid":"ww0123456789abcdef","agent":"contacts","secret":"c"},
	                 {"type":"component","appid":"wxc0mp0nent0000001","secret":"` + secretValue + `"}]}`
	apps, err := config.ParseApps([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.App{
		{Type: config.TypeOfficialAccount, AppID: "wx0123456789abcdef", Secret: "a", Tickets: []string{"jsapi"}},
		{Type: config.TypeMiniProgram, AppID: "wxminiprogram00001", Secret: secretValue},
		{Type: config.TypeWeCom, CorpID: "ww0123456789abcdef", Agent: "1000002", Secret: secretValue, Tickets: []string{"jsapi", "agent_config"}},
		{Type: config.TypeWeCom, CorpID: "ww0123456789abcdef", Agent: "contacts", Secret: "c"},
		{Type: config.TypeComponent, AppID: "wxc0mp0nent0000001", Secret: secretValue},
	}
	if !reflect.DeepEqual(apps.Apps, want) {
		t.Fatalf("got %#v", apps.Apps)
	}
	ids := []string{"wx0123456789abcdef", "wxminiprogram00001", "ww0123456789abcdef:1000002", "ww0123456789abcdef:contacts", "wxc0mp0nent0000001"}
	for i, id := range ids {
		if got := apps.Apps[i].ID(); got != id {
			t.Errorf("apps[%d].ID() = %q, want %q", i, got, id)
		}
		if a, ok := apps.Lookup(id); !ok || a.ID() != id {
			t.Errorf("Lookup(%q) = %v, %v", id, a, ok)
		}
	}
	if k := apps.Apps[1].Kinds(); !reflect.DeepEqual(k, []credential.Kind{credential.AccessToken}) {
		t.Fatalf("miniprogram kinds %v", k)
	}
	if k := apps.Apps[2].Kinds(); len(k) != 3 || k[0] != credential.AccessToken || k[1] != credential.JSAPITicket || k[2] != "agent_config_ticket" {
		t.Fatalf("wecom kinds %v", k)
	}
	if k := apps.Apps[4].Kinds(); !reflect.DeepEqual(k, []credential.Kind{credential.ComponentAccessToken, credential.ComponentVerifyTicket}) {
		t.Fatalf("component kinds %v", k)
	}
	for _, a := range apps.Apps {
		if s := fmt.Sprintf("%v %+v %#v", a, a, a); strings.Contains(s, secretValue) {
			t.Fatalf("formatting shows the secret: %s", s)
		}
	}
}

// A third-party platform: its kinds are exactly what the refresher keeps
// for a platform (pkg/refresh's component tests build the same App).
func TestParseAppsComponent(t *testing.T) {
	doc := `{"apps":[{"appid":"wx0123456789abcdef","secret":"a"},
	                 {"type":"component","appid":"wxc0mp0nent0000001","secret":"` + secretValue + `"}]}`
	apps, err := config.ParseApps([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := config.App{Type: config.TypeComponent, AppID: "wxc0mp0nent0000001", Secret: secretValue}
	if !reflect.DeepEqual(apps.Apps[1], want) {
		t.Fatalf("got %#v", apps.Apps[1])
	}
	if got := apps.Apps[1].ID(); got != "wxc0mp0nent0000001" {
		t.Fatalf("ID() = %q", got)
	}
	if k := apps.Apps[1].Kinds(); !reflect.DeepEqual(k, []credential.Kind{credential.ComponentAccessToken, credential.ComponentVerifyTicket}) {
		t.Fatalf("component kinds %v", k)
	}
	if apps.Apps[1].Has(credential.AccessToken) || !apps.Apps[1].Has(credential.ComponentVerifyTicket) {
		t.Fatal("Has disagrees with the component's kinds")
	}
	if string(credential.Component) != apps.Apps[1].Type {
		t.Fatalf("type %q is not credential.Component", apps.Apps[1].Type)
	}
	if s := fmt.Sprintf("%v %+v %#v", apps.Apps[1], apps.Apps[1], apps.Apps[1]); strings.Contains(s, secretValue) {
		t.Fatalf("formatting shows the secret: %s", s)
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
		{"appid with :", `{"apps":[{"appid":"ww1:1000002","secret":"` + s + `"}]}`, "apps document: apps[0].appid: must not contain '#', ':' or whitespace"},
		// Account types.
		{"unknown type", `{"apps":[{"type":"service_account","appid":"wxa","secret":"` + s + `"}]}`,
			"apps document: apps[0].type: must be official_account, miniprogram, wecom or component"},
		{"type not a string", `{"apps":[{"type":1,"appid":"wxa","secret":"` + s + `"}]}`, "apps document: apps[0]: type: must be a string"},
		{"component tickets", `{"apps":[{"type":"component","appid":"wxa","secret":"` + s + `","tickets":["jsapi"]}]}`,
			"apps document: apps[0].tickets: a component has no tickets"},
		{"component secret missing", `{"apps":[{"type":"component","appid":"wxa"}]}`, "apps document: apps[0].secret: missing"},
		{"component appid missing", `{"apps":[{"type":"component","secret":"` + s + `"}]}`, "apps document: apps[0].appid: missing"},
		{"component corpid", `{"apps":[{"type":"component","appid":"wxa","corpid":"ww1","secret":"` + s + `"}]}`,
			"apps document: apps[0].corpid: not a field of a component entry"},
		{"duplicate component and official account", `{"apps":[{"appid":"wxa","secret":"x"},{"type":"component","appid":"wxa","secret":"` + s + `"}]}`,
			"apps document: apps[1].appid: duplicate of apps[0].appid"},
		{"miniprogram tickets", `{"apps":[{"appid":"wxa","secret":"x"},{"type":"miniprogram","appid":"wxb","secret":"` + s + `","tickets":["jsapi"]}]}`,
			"apps document: apps[1].tickets: a miniprogram has no tickets"},
		{"miniprogram empty tickets", `{"apps":[{"type":"miniprogram","appid":"wxb","secret":"` + s + `","tickets":[]}]}`,
			"apps document: apps[0].tickets: a miniprogram has no tickets"},
		{"miniprogram appid missing", `{"apps":[{"type":"miniprogram","secret":"` + s + `"}]}`, "apps document: apps[0].appid: missing"},
		{"miniprogram corpid", `{"apps":[{"type":"miniprogram","appid":"wxb","corpid":"ww1","secret":"` + s + `"}]}`,
			"apps document: apps[0].corpid: not a field of a miniprogram entry"},
		{"official account agent", `{"apps":[{"appid":"wxb","agent":"1000002","secret":"` + s + `"}]}`,
			"apps document: apps[0].agent: not a field of a official_account entry"},
		{"wecom corpid missing", `{"apps":[{"appid":"wxa","secret":"x"},{"appid":"wxb","secret":"x"},{"type":"wecom","agent":"1000002","secret":"` + s + `"}]}`,
			"apps document: apps[2].corpid: missing"},
		{"wecom agent missing", `{"apps":[{"type":"wecom","corpid":"ww1","secret":"` + s + `"}]}`, "apps document: apps[0].agent: missing"},
		{"wecom agent empty", `{"apps":[{"type":"wecom","corpid":"ww1","agent":"","secret":"` + s + `"}]}`, "apps document: apps[0].agent: missing"},
		{"wecom agent not a string", `{"apps":[{"type":"wecom","corpid":"ww1","agent":1000002,"secret":"` + s + `"}]}`,
			"apps document: apps[0]: agent: must be a string"},
		{"wecom corpid with :", `{"apps":[{"type":"wecom","corpid":"ww1:x","agent":"1","secret":"` + s + `"}]}`,
			"apps document: apps[0].corpid: must not contain '#', ':' or whitespace"},
		{"wecom agent with space", `{"apps":[{"type":"wecom","corpid":"ww1","agent":"my app","secret":"` + s + `"}]}`,
			"apps document: apps[0].agent: must not contain '#', ':' or whitespace"},
		{"wecom appid", `{"apps":[{"type":"wecom","appid":"wxa","corpid":"ww1","agent":"1","secret":"` + s + `"}]}`,
			"apps document: apps[0].appid: not a field of a wecom entry"},
		{"wecom secret missing", `{"apps":[{"type":"wecom","corpid":"ww1","agent":"1"}]}`, "apps document: apps[0].secret: missing"},
		{"wecom wx_card", `{"apps":[{"type":"wecom","corpid":"ww1","agent":"1","secret":"` + s + `","tickets":["wx_card"]}]}`,
			"apps document: apps[0].tickets[0]: unknown ticket type (want jsapi or agent_config)"},
		{"official account agent_config", `{"apps":[{"appid":"wxa","secret":"` + s + `","tickets":["agent_config"]}]}`,
			"apps document: apps[0].tickets[0]: unknown ticket type (want jsapi or wx_card)"},
		{"duplicate wecom agent", `{"apps":[{"type":"wecom","corpid":"ww1","agent":"1","secret":"x"},{"type":"wecom","corpid":"ww1","agent":"1","secret":"` + s + `"}]}`,
			"apps document: apps[1].agent: duplicate of apps[0].agent"},
		{"duplicate miniprogram and official account", `{"apps":[{"appid":"wxa","secret":"x"},{"type":"miniprogram","appid":"wxa","secret":"` + s + `"}]}`,
			"apps document: apps[1].appid: duplicate of apps[0].appid"},
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

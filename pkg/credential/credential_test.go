package credential_test

import (
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

var exp = time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC)

func TestParseKind(t *testing.T) {
	for in, want := range map[string]credential.Kind{"": credential.AccessToken, "access_token": credential.AccessToken,
		"jsapi_ticket": credential.JSAPITicket, "wx_card_ticket": credential.WXCardTicket} {
		if got, err := credential.ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"jsapi", "ACCESS_TOKEN", "refresh_token"} {
		if _, err := credential.ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
	}
}

func TestKindMapping(t *testing.T) {
	tests := []struct {
		kind   credential.Kind
		ticket string
		is     bool
	}{{credential.AccessToken, "", false}, {credential.JSAPITicket, "jsapi", true}, {credential.WXCardTicket, "wx_card", true}}
	for _, tc := range tests {
		if tc.kind.IsTicket() != tc.is || tc.kind.TicketType() != tc.ticket {
			t.Errorf("%s: IsTicket %v TicketType %q", tc.kind, tc.kind.IsTicket(), tc.kind.TicketType())
		}
		if tc.ticket != "" {
			if k, ok := credential.KindForTicketType(tc.ticket); !ok || k != tc.kind {
				t.Errorf("KindForTicketType(%q) = %q %v", tc.ticket, k, ok)
			}
		}
	}
	if _, ok := credential.KindForTicketType("card"); ok {
		t.Error("unknown ticket type mapped")
	}
	if got := credential.Key("wxa", credential.JSAPITicket); got != "cred#wxa#jsapi_ticket" {
		t.Errorf("Key = %q", got)
	}
}

// The policy at the seconds where it changes its answer.
func TestTimingPolicy(t *testing.T) {
	tok := credential.Credential{Kind: credential.AccessToken, Value: "T", ExpiresAt: exp}
	tk := credential.Credential{Kind: credential.JSAPITicket, Value: "K", ExpiresAt: exp}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"token fresh 291 s before expiry", tok.Fresh(exp.Add(-291 * time.Second)), true},
		{"token due 290 s before expiry", tok.Fresh(exp.Add(-290 * time.Second)), false},
		{"ticket fresh 601 s before expiry", tk.Fresh(exp.Add(-601 * time.Second)), true},
		{"ticket due 600 s before expiry", tk.Fresh(exp.Add(-600 * time.Second)), false},
		{"empty value is never fresh", credential.Credential{Kind: credential.AccessToken, ExpiresAt: exp}.Fresh(exp.Add(-time.Hour)), false},
		{"usable 11 s before expiry", tok.Usable(exp.Add(-11 * time.Second)), true},
		{"unusable 10 s before expiry", tok.Usable(exp.Add(-10 * time.Second)), false},
		{"unusable after expiry", tok.Usable(exp.Add(time.Second)), false},
		{"empty value unusable", credential.Credential{ExpiresAt: exp}.Usable(exp.Add(-time.Hour)), false},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v", tc.name, tc.got)
		}
	}
	if !tok.DueAt().Equal(exp.Add(-290*time.Second)) || !tk.DueAt().Equal(exp.Add(-600*time.Second)) {
		t.Error("DueAt")
	}
	loaded := exp.Add(-time.Hour)
	if got := tok.CacheUntil(loaded); !got.Equal(loaded.Add(60 * time.Second)) {
		t.Errorf("CacheUntil far from expiry = %v", got)
	}
	loaded = exp.Add(-30 * time.Second)
	if got := tok.CacheUntil(loaded); !got.Equal(exp.Add(-10 * time.Second)) {
		t.Errorf("CacheUntil near expiry = %v", got)
	}
}

func TestLeaseAndForceBudget(t *testing.T) {
	r := credential.Record{LeaseOwner: "a", LeaseUntil: exp}
	if !r.LeaseHeld(exp.Add(-time.Millisecond)) || r.LeaseHeld(exp) || (credential.Record{LeaseUntil: exp}).LeaseHeld(exp.Add(-time.Hour)) {
		t.Error("LeaseHeld")
	}
	// 15:59:59 UTC is 23:59:59 in Shanghai; 16:00 UTC is the next day there.
	before := time.Date(2027, 1, 15, 15, 59, 59, 0, time.UTC)
	after := before.Add(time.Second)
	if credential.ForceDay(before) != "2027-01-15" || credential.ForceDay(after) != "2027-01-16" {
		t.Errorf("ForceDay %s %s", credential.ForceDay(before), credential.ForceDay(after))
	}
	b := credential.Record{ForceDay: "2027-01-15", ForceCount: 7}
	if b.ForceUsed(before) != 7 || b.ForceUsed(after) != 0 {
		t.Errorf("ForceUsed %d %d", b.ForceUsed(before), b.ForceUsed(after))
	}
}

func TestAgentConfigTicketKind(t *testing.T) {
	k, err := credential.ParseKind("agent_config_ticket")
	if err != nil || k != credential.AgentConfigTicket || !k.IsTicket() || k.TicketType() != "agent_config" {
		t.Fatalf("ParseKind(agent_config_ticket) = %q, %v; IsTicket %v, TicketType %q", k, err, k.IsTicket(), k.TicketType())
	}
	longest := 0
	for _, k := range credential.Kinds {
		longest = max(longest, len(k))
	}
	if got := len(credential.Key(string(make([]byte, credential.MaxAppIDBytes)), credential.Kind(make([]byte, longest)))); got != 2048 {
		t.Errorf("the longest key of the longest appid is %d bytes, want 2048", got)
	}
}

func TestAccountTypes(t *testing.T) {
	for in, want := range map[string]credential.AccountType{"": credential.OfficialAccount, "official_account": credential.OfficialAccount,
		"miniprogram": credential.MiniProgram, "wecom": credential.WeCom, "component": credential.Component} {
		if got, err := credential.ParseAccountType(in); err != nil || got != want {
			t.Errorf("ParseAccountType(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := credential.ParseAccountType("component_x"); err == nil {
		t.Error("unknown type accepted")
	}
	tickets := []struct {
		typ    credential.AccountType
		ticket string
		want   credential.Kind // "" = not a ticket of that type
	}{
		{credential.OfficialAccount, "jsapi", credential.JSAPITicket},
		{credential.OfficialAccount, "wx_card", credential.WXCardTicket},
		{credential.OfficialAccount, "agent_config", ""},
		{credential.MiniProgram, "jsapi", ""},
		{credential.WeCom, "jsapi", credential.JSAPITicket},
		{credential.WeCom, "agent_config", credential.AgentConfigTicket},
		{credential.WeCom, "wx_card", ""},
	}
	for _, tc := range tickets {
		if k, ok := tc.typ.TicketKind(tc.ticket); k != tc.want || ok != (tc.want != "") {
			t.Errorf("%s.TicketKind(%q) = %q %v, want %q", tc.typ, tc.ticket, k, ok, tc.want)
		}
	}
	if credential.WeComID("ww0123", "1000002") != "ww0123:1000002" {
		t.Error("WeComID")
	}
}

// WeChat types are due 290 s before expiry and spend a force budget; WeCom
// hands out the same token until expiry, so it is due at expiry, no budget.
func TestPolicyByType(t *testing.T) {
	for _, typ := range []credential.AccountType{credential.OfficialAccount, credential.MiniProgram} {
		p := typ.Policy()
		if !p.ForceBudget || !p.DueAt(credential.AccessToken, exp).Equal(exp.Add(-290*time.Second)) ||
			!p.DueAt(credential.JSAPITicket, exp).Equal(exp.Add(-600*time.Second)) {
			t.Errorf("%s policy %+v", typ, p)
		}
	}
	p := credential.WeCom.Policy()
	if p.ForceBudget || !p.DueAt(credential.AccessToken, exp).Equal(exp) ||
		!p.DueAt(credential.AgentConfigTicket, exp).Equal(exp.Add(-600*time.Second)) {
		t.Errorf("wecom policy %+v", p)
	}
}

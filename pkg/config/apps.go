package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// Account types of an apps document entry (`type`).
const (
	TypeOfficialAccount = string(credential.OfficialAccount) // the default
	TypeMiniProgram     = string(credential.MiniProgram)     // mini-programs and mini-games: stable_token, no tickets
	TypeWeCom           = string(credential.WeCom)           // a WeCom (企业微信) app: gettoken by corpid and the app's secret
	// TypeComponent is a third-party platform (开放平台第三方平台): appid
	// is the component appid, secret its AppSecret; no tickets. Its
	// authorizers are never listed: they appear when they authorise it.
	TypeComponent = string(credential.Component)
)

// App is one account of the APPS_SECRET_ID document.
type App struct {
	Type    string   // TypeOfficialAccount, TypeMiniProgram or TypeWeCom; never empty
	AppID   string   // official_account, miniprogram: the appid
	CorpID  string   // wecom: the corp id
	Agent   string   // wecom: the agent id, or a name such as "contacts"
	Secret  string   // the AppSecret or the WeCom app's secret: never log it
	Tickets []string // official_account: "jsapi", "wx_card"; wecom: "jsapi", "agent_config"
}

// ID is the credential id of a, the <appid> of every key and of
// GET /token?appid=: the appid, or "<corpid>:<agent>" for a WeCom app.
func (a App) ID() string {
	if a.Type == TypeWeCom {
		return credential.WeComID(a.CorpID, a.Agent)
	}
	return a.AppID
}

// String hides the secret from %v and friends.
func (a App) String() string {
	return fmt.Sprintf("App{Type:%s ID:%s Tickets:%v}", a.Type, a.ID(), a.Tickets)
}

// GoString hides the secret from %#v.
func (a App) GoString() string { return a.String() }

// Kinds lists the credentials wxcentral keeps for a: access_token first,
// then the configured tickets in document order; for a platform its
// component_access_token and the pushed component_verify_ticket.
func (a App) Kinds() []credential.Kind {
	if a.Type == TypeComponent {
		return []credential.Kind{credential.ComponentAccessToken, credential.ComponentVerifyTicket}
	}
	kinds := []credential.Kind{credential.AccessToken}
	for _, t := range a.Tickets {
		if k, ok := ticketKind(a.Type, t); ok {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// ticketKind maps a `tickets` entry of an account of type typ to its kind.
func ticketKind(typ, ticket string) (credential.Kind, bool) {
	return credential.AccountType(typ).TicketKind(ticket)
}

// Has reports whether kind is configured for a.
func (a App) Has(kind credential.Kind) bool {
	for _, k := range a.Kinds() {
		if k == kind {
			return true
		}
	}
	return false
}

// Apps is the validated APPS_SECRET_ID document.
type Apps struct {
	Apps []App
}

// Lookup returns the app whose credential id (App.ID) is id.
func (a *Apps) Lookup(id string) (App, bool) {
	for _, app := range a.Apps {
		if app.ID() == id {
			return app, true
		}
	}
	return App{}, false
}

// LoadApps loads and validates the apps document from src.
func LoadApps(ctx context.Context, src Source) (*Apps, error) {
	data, err := src.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("apps document: %w", err)
	}
	return ParseApps(data)
}

// ParseApps validates an APPS_SECRET_ID document:
//
//	{"apps": [{"appid": "wx…", "secret": "…", "tickets": ["jsapi", "wx_card"]},
//	          {"type": "miniprogram", "appid": "wx…", "secret": "…"},
//	          {"type": "wecom", "corpid": "ww…", "agent": "1000002", "secret": "…", "tickets": ["jsapi", "agent_config"]}]}
//
// Errors name the field (`apps[1].secret: missing`, `apps[2].corpid:
// missing`), never a value. Two entries with one credential id (App.ID) are
// an error.
func ParseApps(data []byte) (*Apps, error) {
	var doc struct {
		Apps *[]json.RawMessage `json:"apps"`
	}
	if err := decodeStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("apps document: %w", err)
	}
	if doc.Apps == nil {
		return nil, errors.New("apps document: apps: missing")
	}
	if len(*doc.Apps) == 0 {
		return nil, errors.New("apps document: apps: empty")
	}
	out := &Apps{}
	type first struct {
		index   int
		idField string
	}
	seen := map[string]first{}
	for i, raw := range *doc.Apps {
		field := fmt.Sprintf("apps[%d]", i)
		app, idField, err := parseApp(field, raw)
		if err != nil {
			return nil, fmt.Errorf("apps document: %w", err)
		}
		if f, dup := seen[app.ID()]; dup {
			return nil, fmt.Errorf("apps document: %s.%s: duplicate of apps[%d].%s", field, idField, f.index, f.idField)
		}
		seen[app.ID()] = first{i, idField}
		out.Apps = append(out.Apps, app)
	}
	return out, nil
}

// appEntry is every field an apps document entry may have; which ones
// belong depends on its type.
type appEntry struct {
	Type    *string   `json:"type"`
	AppID   *string   `json:"appid"`
	CorpID  *string   `json:"corpid"`
	Agent   *string   `json:"agent"`
	Secret  *string   `json:"secret"`
	Tickets *[]string `json:"tickets"`
}

// parseApp validates one entry named field; idField is the field that
// makes its credential id unique (appid, or agent for WeCom).
func parseApp(field string, raw json.RawMessage) (App, string, error) {
	var e appEntry
	if err := decodeStrict(raw, &e); err != nil {
		return App{}, "", fmt.Errorf("%s: %w", field, err)
	}
	app := App{Type: TypeOfficialAccount}
	if e.Type != nil {
		switch *e.Type {
		case TypeOfficialAccount, TypeMiniProgram, TypeWeCom, TypeComponent:
			app.Type = *e.Type
		default:
			return App{}, "", fmt.Errorf("%s.type: must be official_account, miniprogram, wecom or component", field)
		}
	}
	// id checks a name that becomes part of a DynamoDB key and of a
	// credential id: ':' separates a WeCom corpid from its agent.
	id := func(name string, v *string) (string, error) {
		switch {
		case v == nil || *v == "":
			return "", fmt.Errorf("%s.%s: missing", field, name)
		}
		if err := credential.CheckIDPart(*v); err != nil {
			return "", fmt.Errorf("%s.%s: %w", field, name, err)
		}
		return *v, nil
	}
	// absent rejects a field of another account type.
	absent := func(name string, set bool) error {
		if set {
			return fmt.Errorf("%s.%s: not a field of a %s entry", field, name, app.Type)
		}
		return nil
	}
	var err error
	idField := "appid"
	if app.Type == TypeWeCom {
		idField = "agent"
		if err = absent("appid", e.AppID != nil); err != nil {
			return App{}, "", err
		}
		if app.CorpID, err = id("corpid", e.CorpID); err != nil {
			return App{}, "", err
		}
		if app.Agent, err = id("agent", e.Agent); err != nil {
			return App{}, "", err
		}
	} else {
		for _, f := range []struct {
			name string
			set  bool
		}{{"corpid", e.CorpID != nil}, {"agent", e.Agent != nil}} {
			if err := absent(f.name, f.set); err != nil {
				return App{}, "", err
			}
		}
		if app.AppID, err = id("appid", e.AppID); err != nil {
			return App{}, "", err
		}
	}
	if e.Secret == nil || *e.Secret == "" {
		return App{}, "", fmt.Errorf("%s.secret: missing", field)
	}
	app.Secret = *e.Secret
	if e.Tickets != nil {
		if app.Type == TypeMiniProgram || app.Type == TypeComponent {
			return App{}, "", fmt.Errorf("%s.tickets: a %s has no tickets (JS-SDK tickets belong to Official Accounts and WeCom apps)", field, app.Type)
		}
		want := "jsapi or wx_card"
		if app.Type == TypeWeCom {
			want = "jsapi or agent_config"
		}
		kinds := map[string]int{}
		for j, t := range *e.Tickets {
			if _, ok := ticketKind(app.Type, t); !ok {
				return App{}, "", fmt.Errorf("%s.tickets[%d]: unknown ticket type (want %s)", field, j, want)
			}
			if k, dup := kinds[t]; dup {
				return App{}, "", fmt.Errorf("%s.tickets[%d]: duplicate of %s.tickets[%d]", field, j, field, k)
			}
			kinds[t] = j
			app.Tickets = append(app.Tickets, t)
		}
	}
	return app, idField, nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data. Its errors carry positions and field names, never the
// document's text.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if dec.More() {
		return errors.New("malformed JSON: trailing data after the document")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("malformed JSON: trailing data after the document")
	}
	return nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("malformed JSON: must be %s", jsonKind(typ.Type.Kind().String()))
		}
		return fmt.Errorf("%s: must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: empty or truncated document")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errors.New("malformed JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "a " + goKind
}

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

// App is one account of the APPS_SECRET_ID document.
type App struct {
	AppID   string
	Secret  string   // the AppSecret: never log it
	Tickets []string // "jsapi", "wx_card"
}

// String hides the secret from %v and friends.
func (a App) String() string { return fmt.Sprintf("App{AppID:%s Tickets:%v}", a.AppID, a.Tickets) }

// GoString hides the secret from %#v.
func (a App) GoString() string { return a.String() }

// Kinds lists the credentials wxcentral keeps for a: access_token first,
// then the configured tickets in document order.
func (a App) Kinds() []credential.Kind {
	kinds := []credential.Kind{credential.AccessToken}
	for _, t := range a.Tickets {
		if k, ok := credential.KindForTicketType(t); ok {
			kinds = append(kinds, k)
		}
	}
	return kinds
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

// Lookup returns the app with appid.
func (a *Apps) Lookup(appid string) (App, bool) {
	for _, app := range a.Apps {
		if app.AppID == appid {
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
//	{"apps": [{"appid": "wx…", "secret": "…", "tickets": ["jsapi", "wx_card"]}]}
//
// Errors name the field (`apps[1].secret: missing`), never a value.
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
	seen := map[string]int{}
	for i, raw := range *doc.Apps {
		field := fmt.Sprintf("apps[%d]", i)
		var a struct {
			AppID   *string   `json:"appid"`
			Secret  *string   `json:"secret"`
			Tickets *[]string `json:"tickets"`
		}
		if err := decodeStrict(raw, &a); err != nil {
			return nil, fmt.Errorf("apps document: %s: %w", field, err)
		}
		switch {
		case a.AppID == nil || *a.AppID == "":
			return nil, fmt.Errorf("apps document: %s.appid: missing", field)
		case strings.ContainsAny(*a.AppID, "# \t\r\n"):
			return nil, fmt.Errorf("apps document: %s.appid: must not contain '#' or whitespace", field)
		case a.Secret == nil || *a.Secret == "":
			return nil, fmt.Errorf("apps document: %s.secret: missing", field)
		}
		if j, dup := seen[*a.AppID]; dup {
			return nil, fmt.Errorf("apps document: %s.appid: duplicate of apps[%d].appid", field, j)
		}
		seen[*a.AppID] = i
		app := App{AppID: *a.AppID, Secret: *a.Secret}
		if a.Tickets != nil {
			kinds := map[string]int{}
			for j, t := range *a.Tickets {
				if _, ok := credential.KindForTicketType(t); !ok {
					return nil, fmt.Errorf("apps document: %s.tickets[%d]: unknown ticket type (want jsapi or wx_card)", field, j)
				}
				if k, dup := kinds[t]; dup {
					return nil, fmt.Errorf("apps document: %s.tickets[%d]: duplicate of %s.tickets[%d]", field, j, field, k)
				}
				kinds[t] = j
				app.Tickets = append(app.Tickets, t)
			}
		}
		out.Apps = append(out.Apps, app)
	}
	return out, nil
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

package callback

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Mode is how an account's pushes are protected, decided by configuration
// only, never by request parameters.
type Mode string

// Modes (docs/callback.md#modes).
const (
	ModeSafe   Mode = "safe"   // encrypted only (the default)
	ModeCompat Mode = "compat" // encrypted when encrypt_type=aes, plaintext otherwise
	ModePlain  Mode = "plain"  // plaintext only
)

// DefaultMaxSkew is the default replay window for `timestamp`.
const DefaultMaxSkew = 5 * time.Minute

// DedupeTTL is how long a dedupe record lives (docs/dynamodb.md: `ttl` is 10
// minutes on). The replay window must not exceed it, or a replayed push
// would find no record and run again.
const DedupeTTL = 10 * time.Minute

// Config is the callback document stored under CALLBACK_SECRET_ID.
type Config struct {
	Apps []AppConfig `json:"apps"`
}

// AppType is the kind of account an entry configures.
type AppType string

// Account types (docs/secrets.md, account types).
const (
	TypeOfficialAccount AppType = "official_account" // the default
	TypeMiniProgram     AppType = "miniprogram"      // mini-programs and mini-games: pushes in XML or JSON, answered `success`
	TypeWeCom           AppType = "wecom"            // a WeCom (企业微信) app: always encrypted, receive id = corpid
	// TypeComponent is a third-party platform (开放平台第三方平台): its token
	// and key verify the platform's authorization events
	// (/component/{component_appid}, pkg/component) and the messages of
	// every authorizer (/wechat/{authorizer_appid}, receive id = the
	// component appid); the entry itself is no /wechat route.
	TypeComponent AppType = "component"
)

// Data formats of a mini-program's pushes.
const (
	FormatXML  = "xml" // the default
	FormatJSON = "json"
)

// AppConfig is one account's callback settings.
type AppConfig struct {
	Type                   AppType     `json:"type,omitempty"` // "": official_account
	AppID                  string      `json:"appid,omitempty"`
	CorpID                 string      `json:"corpid,omitempty"` // wecom only
	Agent                  string      `json:"agent,omitempty"`  // wecom only: an agent id or a name such as contacts
	Token                  string      `json:"token"`
	EncodingAESKey         string      `json:"encoding_aes_key"`
	PreviousEncodingAESKey string      `json:"previous_encoding_aes_key,omitempty"`
	Mode                   Mode        `json:"mode,omitempty"`
	DataFormat             string      `json:"data_format,omitempty"` // miniprogram only: xml (default) or json
	Welcome                string      `json:"welcome,omitempty"`
	AutoReplies            []AutoReply `json:"auto_replies,omitempty"`
}

// ID is the entry's credential id, the {appid} of its route
// /wechat/{appid}: the appid, or `<corpid>:<agent>` for a WeCom app.
func (a *AppConfig) ID() string {
	if a.Type == TypeWeCom {
		return a.CorpID + ":" + a.Agent
	}
	return a.AppID
}

// ReceiveID is the id embedded in encrypted messages and checked on
// decryption: the appid, or the corpid for a WeCom app.
func (a *AppConfig) ReceiveID() string {
	if a.Type == TypeWeCom {
		return a.CorpID
	}
	return a.AppID
}

// AutoReply answers a text message whose Content equals Match or starts
// with Prefix (exactly one of them is set) with the text Reply.
type AutoReply struct {
	Match  string `json:"match,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Reply  string `json:"reply"`
}

// ConfigSource returns the current configuration. Implementations cache
// (docs/secrets.md: at most 5 minutes); the Handler compiles a configuration
// once per distinct *Config it is given.
type ConfigSource func(ctx context.Context) (*Config, error)

// StaticConfig is a ConfigSource that always returns c.
func StaticConfig(c *Config) ConfigSource {
	return func(context.Context) (*Config, error) { return c, nil }
}

// ParseConfig decodes and validates a callback document. Unknown fields and
// trailing data are rejected (a misspelt `auto_reply` must not silently turn
// the replies off). Errors name the field (apps[1].encoding_aes_key), never
// its value.
func ParseConfig(data []byte) (*Config, error) {
	var doc struct {
		Apps []json.RawMessage `json:"apps"`
	}
	if err := decodeStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("callback config: %w", err)
	}
	c := &Config{Apps: make([]AppConfig, len(doc.Apps))}
	for i, raw := range doc.Apps {
		if err := decodeStrict(raw, &c.Apps[i]); err != nil {
			return nil, fmt.Errorf("callback config: apps[%d]: %w", i, err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data. Its errors name fields and offsets, never the text.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil {
		if _, terr := d.Token(); terr != io.EOF {
			return errors.New("not a JSON document (trailing data after it)")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Errorf("%s: wrong JSON type %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("wrong JSON type %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not a JSON document (syntax error at offset %d)", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json names the field but not its path.
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errors.New("not a JSON document")
	}
}

// Validate checks every app and fills in the default mode.
func (c *Config) Validate() error {
	if err := c.check(); err != nil {
		return err
	}
	for i := range c.Apps {
		if c.Apps[i].Mode == "" {
			c.Apps[i].Mode = ModeSafe
		}
	}
	return nil
}

// check is Validate without filling in defaults: the Handler checks every
// configuration it compiles, including ones built in code and shared.
func (c *Config) check() error {
	if len(c.Apps) == 0 {
		return errors.New("callback config: apps: at least one app is required")
	}
	seen := make(map[string]int, len(c.Apps))
	for i := range c.Apps {
		a := &c.Apps[i]
		if err := a.check(); err != nil {
			return fmt.Errorf("callback config: apps[%d].%w", i, err)
		}
		if j, dup := seen[a.ID()]; dup {
			name := "appid"
			if a.Type == TypeWeCom {
				name = "corpid"
			}
			return fmt.Errorf("callback config: apps[%d].%s: duplicate of apps[%d] (credential id %s)", i, name, j, a.ID())
		}
		seen[a.ID()] = i
	}
	return nil
}

// check validates one entry; its errors start with the field's name, so
// that the caller prefixes them with apps[i].
func (a *AppConfig) check() error {
	// notFor names the first field set that the type does not use.
	notFor := func(fields ...string) error {
		set := map[string]bool{"corpid": a.CorpID != "", "agent": a.Agent != "", "data_format": a.DataFormat != "",
			"welcome": a.Welcome != "", "auto_replies": len(a.AutoReplies) > 0}
		for _, f := range fields {
			if set[f] {
				return fmt.Errorf("%s: not used by type %s", f, cmp.Or(a.Type, TypeOfficialAccount))
			}
		}
		return nil
	}
	switch a.Type {
	case "", TypeOfficialAccount:
		if err := notFor("corpid", "agent", "data_format"); err != nil {
			return err
		}
	case TypeMiniProgram:
		// Mini-programs take no passive reply: a welcome or auto reply would
		// never be seen.
		if err := notFor("corpid", "agent", "welcome", "auto_replies"); err != nil {
			return err
		}
		if a.DataFormat != "" && a.DataFormat != FormatXML && a.DataFormat != FormatJSON {
			return errors.New("data_format: must be xml or json")
		}
	case TypeWeCom:
		if err := notFor("data_format"); err != nil {
			return err
		}
		if a.AppID != "" {
			return errors.New("appid: not used by type wecom (its id is corpid:agent)")
		}
		for _, f := range []struct{ name, v string }{{"corpid", a.CorpID}, {"agent", a.Agent}} {
			if f.v == "" {
				return fmt.Errorf("%s: missing", f.name)
			}
			// Both become part of a URL path segment and of DynamoDB keys.
			if strings.ContainsAny(f.v, "#:/?% \t\r\n") {
				return fmt.Errorf("%s: must not contain '#', ':', '/', '?', '%%' or whitespace", f.name)
			}
		}
		if a.Mode != "" && a.Mode != ModeSafe {
			return errors.New("mode: a WeCom app is always encrypted (safe)")
		}
	case TypeComponent:
		// Its pushes are always encrypted and answered by the platform's
		// event intake or for its authorizers, never by built-in replies.
		if err := notFor("corpid", "agent", "data_format", "welcome", "auto_replies"); err != nil {
			return err
		}
		if a.Mode != "" && a.Mode != ModeSafe {
			return errors.New("mode: a component is always encrypted (safe)")
		}
		if strings.ContainsAny(a.AppID, "#:/?% \t\r\n") {
			return errors.New("appid: must not contain '#', ':', '/', '?', '%' or whitespace")
		}
	default:
		return errors.New("type: must be official_account, miniprogram, wecom or component")
	}
	if a.Type != TypeWeCom && a.AppID == "" {
		return errors.New("appid: missing")
	}
	if a.Token == "" {
		return errors.New("token: missing")
	}
	mode := a.Mode
	switch mode {
	case "":
		mode = ModeSafe
	case ModeSafe, ModeCompat, ModePlain:
	default:
		return errors.New("mode: must be safe, compat or plain")
	}
	if a.EncodingAESKey == "" && mode != ModePlain {
		return fmt.Errorf("encoding_aes_key: missing (required in %s mode)", mode)
	}
	if a.EncodingAESKey != "" {
		if _, err := DecodeAESKey(a.EncodingAESKey); err != nil {
			return errors.New("encoding_aes_key: must be 43 base64 characters")
		}
	}
	if a.PreviousEncodingAESKey != "" {
		if _, err := DecodeAESKey(a.PreviousEncodingAESKey); err != nil {
			return errors.New("previous_encoding_aes_key: must be 43 base64 characters")
		}
	}
	for j, r := range a.AutoReplies {
		if (r.Match == "") == (r.Prefix == "") {
			return fmt.Errorf("auto_replies[%d]: exactly one of match and prefix is required", j)
		}
		if r.Reply == "" {
			return fmt.Errorf("auto_replies[%d].reply: missing", j)
		}
	}
	return nil
}

// App returns the configuration whose credential id (AppConfig.ID) is id.
func (c *Config) App(id string) (*AppConfig, bool) {
	for i := range c.Apps {
		if c.Apps[i].ID() == id {
			return &c.Apps[i], true
		}
	}
	return nil, false
}

// ErrNotLoaded is what a ConfigSource answers, under a context for which
// LoadDeferred is true, when it has no configuration in memory.
var ErrNotLoaded = errors.New("callback config: not loaded yet")

type deferLoadKey struct{}

// LoadDeferred reports whether ctx asks a ConfigSource to answer without
// I/O: NewHandler validates the configuration it can get this way (a
// StaticConfig) and leaves lazily loaded documents to the first request.
func LoadDeferred(ctx context.Context) bool { return ctx.Value(deferLoadKey{}) != nil }

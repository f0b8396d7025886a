package callback

import (
	"bytes"
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

// Modes of DESIGN.md §3.
const (
	ModeSafe   Mode = "safe"   // encrypted only (the default)
	ModeCompat Mode = "compat" // encrypted when encrypt_type=aes, plaintext otherwise
	ModePlain  Mode = "plain"  // plaintext only
)

// DefaultMaxSkew is the default replay window for `timestamp`.
const DefaultMaxSkew = 5 * time.Minute

// DedupeTTL is how long a dedupe record lives (DESIGN.md §4: `ttl` is 10
// minutes on). The replay window must not exceed it, or a replayed push
// would find no record and run again.
const DedupeTTL = 10 * time.Minute

// Config is the callback document stored under CALLBACK_SECRET_ID.
type Config struct {
	Apps []AppConfig `json:"apps"`
}

// AppConfig is one account's callback settings.
type AppConfig struct {
	AppID                  string      `json:"appid"`
	Token                  string      `json:"token"`
	EncodingAESKey         string      `json:"encoding_aes_key"`
	PreviousEncodingAESKey string      `json:"previous_encoding_aes_key,omitempty"`
	Mode                   Mode        `json:"mode,omitempty"`
	Welcome                string      `json:"welcome,omitempty"`
	AutoReplies            []AutoReply `json:"auto_replies,omitempty"`
}

// AutoReply answers a text message whose Content equals Match or starts
// with Prefix (exactly one of them is set) with the text Reply.
type AutoReply struct {
	Match  string `json:"match,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Reply  string `json:"reply"`
}

// ConfigSource returns the current configuration. Implementations cache
// (DESIGN.md §3: at most 5 minutes); the Handler compiles a configuration
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
		field := func(name string) string { return fmt.Sprintf("apps[%d].%s", i, name) }
		if a.AppID == "" {
			return fmt.Errorf("callback config: %s: missing", field("appid"))
		}
		if j, dup := seen[a.AppID]; dup {
			return fmt.Errorf("callback config: %s: duplicate of apps[%d].appid", field("appid"), j)
		}
		seen[a.AppID] = i
		if a.Token == "" {
			return fmt.Errorf("callback config: %s: missing", field("token"))
		}
		mode := a.Mode
		switch mode {
		case "":
			mode = ModeSafe
		case ModeSafe, ModeCompat, ModePlain:
		default:
			return fmt.Errorf("callback config: %s: must be safe, compat or plain", field("mode"))
		}
		if a.EncodingAESKey == "" && mode != ModePlain {
			return fmt.Errorf("callback config: %s: missing (required in %s mode)", field("encoding_aes_key"), mode)
		}
		if a.EncodingAESKey != "" {
			if _, err := DecodeAESKey(a.EncodingAESKey); err != nil {
				return fmt.Errorf("callback config: %s: must be 43 base64 characters", field("encoding_aes_key"))
			}
		}
		if a.PreviousEncodingAESKey != "" {
			if _, err := DecodeAESKey(a.PreviousEncodingAESKey); err != nil {
				return fmt.Errorf("callback config: %s: must be 43 base64 characters", field("previous_encoding_aes_key"))
			}
		}
		for j, r := range a.AutoReplies {
			f := fmt.Sprintf("apps[%d].auto_replies[%d]", i, j)
			if (r.Match == "") == (r.Prefix == "") {
				return fmt.Errorf("callback config: %s: exactly one of match and prefix is required", f)
			}
			if r.Reply == "" {
				return fmt.Errorf("callback config: %s.reply: missing", f)
			}
		}
	}
	return nil
}

// App returns the configuration of appid.
func (c *Config) App(appid string) (*AppConfig, bool) {
	for i := range c.Apps {
		if c.Apps[i].AppID == appid {
			return &c.Apps[i], true
		}
	}
	return nil, false
}

// ParseMaxSkew reads CALLBACK_MAX_SKEW: empty means DefaultMaxSkew, "0"
// disables the check (returned as a negative duration, see Options.MaxSkew);
// otherwise at most DedupeTTL.
func ParseMaxSkew(s string) (time.Duration, error) {
	if s == "" {
		return DefaultMaxSkew, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("CALLBACK_MAX_SKEW: not a non-negative Go duration")
	}
	if d == 0 {
		return -1, nil
	}
	if d > DedupeTTL {
		return 0, fmt.Errorf("CALLBACK_MAX_SKEW: %v exceeds the dedupe record's life (%v)", d, DedupeTTL)
	}
	return d, nil
}

// ErrNotLoaded is what a ConfigSource answers, under a context for which
// LoadDeferred is true, when it has no configuration in memory.
var ErrNotLoaded = errors.New("callback config: not loaded yet")

type deferLoadKey struct{}

// LoadDeferred reports whether ctx asks a ConfigSource to answer without
// I/O: NewHandler validates the configuration it can get this way (a
// StaticConfig) and leaves lazily loaded documents to the first request.
func LoadDeferred(ctx context.Context) bool { return ctx.Value(deferLoadKey{}) != nil }

package callback

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Env is the callback function's environment (DESIGN.md §3).
type Env struct {
	TableName    string        // TABLE_NAME, required: the dedupe items live there
	SecretID     string        // CALLBACK_SECRET_ID, required
	EventBusName string        // EVENT_BUS_NAME, optional
	MaxSkew      time.Duration // CALLBACK_MAX_SKEW as Options.MaxSkew (negative: disabled)
	LogLevel     slog.Level    // LOG_LEVEL
}

// EnvFrom reads the environment through getenv (os.Getenv in production).
// Errors name the variable.
func EnvFrom(getenv func(string) string) (Env, error) {
	e := Env{TableName: getenv("TABLE_NAME"), SecretID: getenv("CALLBACK_SECRET_ID"), EventBusName: getenv("EVENT_BUS_NAME")}
	if e.TableName == "" {
		return e, errors.New("TABLE_NAME: missing")
	}
	if e.SecretID == "" {
		return e, errors.New("CALLBACK_SECRET_ID: missing")
	}
	var err error
	if e.MaxSkew, err = ParseMaxSkew(getenv("CALLBACK_MAX_SKEW")); err != nil {
		return e, err
	}
	if lv := strings.TrimSpace(getenv("LOG_LEVEL")); lv != "" {
		if e.LogLevel.UnmarshalText([]byte(lv)) != nil {
			return e, errors.New("LOG_LEVEL: must be debug, info, warn or error")
		}
	}
	return e, nil
}

// ConfigFromJSON is a ConfigSource over a loader of the JSON document (a
// cached Secrets Manager read in production). The document is parsed again
// only when its bytes change, so the Handler's compiled form is reused.
// It loads nothing for NewHandler (see LoadDeferred).
func ConfigFromJSON(load func(ctx context.Context) ([]byte, error)) ConfigSource {
	var mu sync.Mutex
	var lastDoc []byte
	var last *Config
	return func(ctx context.Context) (*Config, error) {
		if LoadDeferred(ctx) {
			mu.Lock()
			defer mu.Unlock()
			if last == nil {
				return nil, ErrNotLoaded
			}
			return last, nil
		}
		doc, err := load(ctx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if last != nil && bytes.Equal(doc, lastDoc) {
			return last, nil
		}
		c, err := ParseConfig(doc)
		if err != nil {
			return nil, err
		}
		last, lastDoc = c, bytes.Clone(doc)
		return c, nil
	}
}

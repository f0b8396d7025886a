package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// The environment of the three functions (docs/architecture.md#environment).
// Each parser reads through getenv (os.Getenv in production); every error
// names the variable, never its value. Values are trimmed of surrounding
// space.

// ParseLogLevel parses LOG_LEVEL: exactly debug, info, warn or error, in any
// case; "" is info. Anything else ("warning", "info+2", a number) is an
// error, so all three functions accept and reject the same values as the
// template's LogLevel parameter.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error")
}

// Refresh is the environment of the refresh function.
type Refresh struct {
	TableName       string     // TABLE_NAME, required
	AppsSecretID    string     // APPS_SECRET_ID, required
	WeChatAPIBase   string     // WECHAT_API_BASE: "" means the WeChat defaults with fallback
	WeComAPIBase    string     // WECOM_API_BASE: "" means https://qyapi.weixin.qq.com; set, the only base
	ForceDailyLimit int        // FORCE_REFRESH_DAILY_LIMIT, default 10
	LogLevel        slog.Level // LOG_LEVEL
}

// RefreshFromEnv reads the refresh function's environment.
func RefreshFromEnv(getenv func(string) string) (Refresh, error) {
	r := Refresh{ForceDailyLimit: credential.DefaultForceDailyLimit}
	var err error
	if r.TableName, err = required(getenv, "TABLE_NAME"); err != nil {
		return r, err
	}
	if r.AppsSecretID, err = required(getenv, "APPS_SECRET_ID"); err != nil {
		return r, err
	}
	if r.WeChatAPIBase, err = apiBase(getenv, "WECHAT_API_BASE"); err != nil {
		return r, err
	}
	if r.WeComAPIBase, err = apiBase(getenv, "WECOM_API_BASE"); err != nil {
		return r, err
	}
	if s := strings.TrimSpace(getenv("FORCE_REFRESH_DAILY_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 20 {
			return r, fmt.Errorf("FORCE_REFRESH_DAILY_LIMIT: must be an integer from 0 to 20 (WeChat allows 20 per day)")
		}
		r.ForceDailyLimit = n
	}
	r.LogLevel, err = ParseLogLevel(getenv("LOG_LEVEL"))
	return r, err
}

// Token is the environment of the token function.
type Token struct {
	TableName           string     // TABLE_NAME, required
	RefreshFunctionName string     // REFRESH_FUNCTION_NAME, required: invoked for forced refreshes
	LogLevel            slog.Level // LOG_LEVEL
}

// TokenFromEnv reads the token function's environment.
func TokenFromEnv(getenv func(string) string) (Token, error) {
	var t Token
	var err error
	if t.TableName, err = required(getenv, "TABLE_NAME"); err != nil {
		return t, err
	}
	if t.RefreshFunctionName, err = required(getenv, "REFRESH_FUNCTION_NAME"); err != nil {
		return t, err
	}
	t.LogLevel, err = ParseLogLevel(getenv("LOG_LEVEL"))
	return t, err
}

// Callback is the environment of the callback function.
type Callback struct {
	TableName        string // TABLE_NAME, required: the dedupe items live there
	CallbackSecretID string // CALLBACK_SECRET_ID, required
	EventBusName     string // EVENT_BUS_NAME, optional
	// RefreshFunctionName is REFRESH_FUNCTION_NAME, optional: the function a
	// third-party platform's authorization events are handed to. Unset,
	// those events answer 503 (the callback document's component entries
	// need it; docs/platform.md).
	RefreshFunctionName string
	MaxSkew             time.Duration // CALLBACK_MAX_SKEW as callback.Options.MaxSkew (see ParseMaxSkew)
	LogLevel            slog.Level    // LOG_LEVEL
}

// CallbackFromEnv reads the callback function's environment.
func CallbackFromEnv(getenv func(string) string) (Callback, error) {
	c := Callback{EventBusName: strings.TrimSpace(getenv("EVENT_BUS_NAME")),
		RefreshFunctionName: strings.TrimSpace(getenv("REFRESH_FUNCTION_NAME"))}
	var err error
	if c.TableName, err = required(getenv, "TABLE_NAME"); err != nil {
		return c, err
	}
	if c.CallbackSecretID, err = required(getenv, "CALLBACK_SECRET_ID"); err != nil {
		return c, err
	}
	if c.MaxSkew, err = ParseMaxSkew(getenv("CALLBACK_MAX_SKEW")); err != nil {
		return c, err
	}
	c.LogLevel, err = ParseLogLevel(getenv("LOG_LEVEL"))
	return c, err
}

// MaxMaxSkew bounds CALLBACK_MAX_SKEW: it is the dedupe record's life
// (callback.DedupeTTL; a test keeps them equal), and a replay older than its
// record would run again.
const MaxMaxSkew = 10 * time.Minute

// ParseMaxSkew reads CALLBACK_MAX_SKEW, a Go duration, as
// callback.Options.MaxSkew takes it: "" is 0 (the handler's default, 5m),
// "0" disables the check (returned negative); at most MaxMaxSkew.
func ParseMaxSkew(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("CALLBACK_MAX_SKEW: not a non-negative Go duration")
	}
	if d == 0 {
		return -1, nil
	}
	if d > MaxMaxSkew {
		return 0, fmt.Errorf("CALLBACK_MAX_SKEW: %v exceeds the dedupe record's life (%v)", d, MaxMaxSkew)
	}
	return d, nil
}

func required(getenv func(string) string, name string) (string, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return "", fmt.Errorf("%s: missing", name)
	}
	return v, nil
}

// apiBase reads an optional http(s) base URL without its trailing slash.
func apiBase(getenv func(string) string, name string) (string, error) {
	v := strings.TrimRight(strings.TrimSpace(getenv(name)), "/")
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: must be an http or https URL", name)
	}
	return v, nil
}

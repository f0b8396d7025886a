package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// ParseLogLevel parses LOG_LEVEL: debug, info (the default for ""), warn
// or error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error")
}

// Refresh is the environment of the refresh function (DESIGN.md §3).
type Refresh struct {
	TableName       string     // TABLE_NAME, required
	AppsSecretID    string     // APPS_SECRET_ID, required
	WeChatAPIBase   string     // WECHAT_API_BASE: "" means the WeChat defaults with fallback
	ForceDailyLimit int        // FORCE_REFRESH_DAILY_LIMIT, default 10
	LogLevel        slog.Level // LOG_LEVEL
}

// RefreshFromEnv reads the refresh function's environment through getenv
// (os.Getenv in production). Errors name the variable.
func RefreshFromEnv(getenv func(string) string) (Refresh, error) {
	r := Refresh{
		TableName:       strings.TrimSpace(getenv("TABLE_NAME")),
		AppsSecretID:    strings.TrimSpace(getenv("APPS_SECRET_ID")),
		WeChatAPIBase:   strings.TrimRight(strings.TrimSpace(getenv("WECHAT_API_BASE")), "/"),
		ForceDailyLimit: credential.DefaultForceDailyLimit,
	}
	if r.TableName == "" {
		return r, fmt.Errorf("TABLE_NAME: missing")
	}
	if r.AppsSecretID == "" {
		return r, fmt.Errorf("APPS_SECRET_ID: missing")
	}
	if r.WeChatAPIBase != "" {
		u, err := url.Parse(r.WeChatAPIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return r, fmt.Errorf("WECHAT_API_BASE: must be an http or https URL")
		}
	}
	if s := strings.TrimSpace(getenv("FORCE_REFRESH_DAILY_LIMIT")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 20 {
			return r, fmt.Errorf("FORCE_REFRESH_DAILY_LIMIT: must be an integer from 0 to 20 (WeChat allows 20 per day)")
		}
		r.ForceDailyLimit = n
	}
	lvl, err := ParseLogLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return r, err
	}
	r.LogLevel = lvl
	return r, nil
}

package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/config"
)

func TestRefreshFromEnv(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "t", "APPS_SECRET_ID": "wxcentral/apps"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    config.Refresh
		wantErr string
	}{
		{"defaults", base, config.Refresh{TableName: "t", AppsSecretID: "wxcentral/apps", ForceDailyLimit: 10, LogLevel: slog.LevelInfo}, ""},
		{"everything set", with("WECHAT_API_BASE", "http://127.0.0.1:9000/", "WECOM_API_BASE", "https://127.0.0.1:9001", "FORCE_REFRESH_DAILY_LIMIT", "3", "LOG_LEVEL", "DEBUG"),
			config.Refresh{TableName: "t", AppsSecretID: "wxcentral/apps", WeChatAPIBase: "http://127.0.0.1:9000", WeComAPIBase: "https://127.0.0.1:9001",
				ForceDailyLimit: 3, LogLevel: slog.LevelDebug}, ""},
		{"limit zero disables forcing", with("FORCE_REFRESH_DAILY_LIMIT", "0"),
			config.Refresh{TableName: "t", AppsSecretID: "wxcentral/apps", ForceDailyLimit: 0}, ""},
		{"table missing", with("TABLE_NAME", ""), config.Refresh{}, "TABLE_NAME: missing"},
		{"secret id missing", with("APPS_SECRET_ID", " "), config.Refresh{}, "APPS_SECRET_ID: missing"},
		{"base not a URL", with("WECHAT_API_BASE", "api.weixin.qq.com"), config.Refresh{}, "WECHAT_API_BASE: must be an http or https URL"},
		{"WeCom base not a URL", with("WECOM_API_BASE", "ftp://qyapi.weixin.qq.com"), config.Refresh{}, "WECOM_API_BASE: must be an http or https URL"},
		{"limit not a number", with("FORCE_REFRESH_DAILY_LIMIT", "ten"), config.Refresh{}, "FORCE_REFRESH_DAILY_LIMIT: must be an integer"},
		{"limit over WeChat's", with("FORCE_REFRESH_DAILY_LIMIT", "21"), config.Refresh{}, "FORCE_REFRESH_DAILY_LIMIT: must be an integer"},
		{"limit negative", with("FORCE_REFRESH_DAILY_LIMIT", "-1"), config.Refresh{}, "FORCE_REFRESH_DAILY_LIMIT: must be an integer"},
		{"bad log level", with("LOG_LEVEL", "verbose"), config.Refresh{}, "LOG_LEVEL: must be debug, info, warn or error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.RefreshFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// LOG_LEVEL takes exactly the four names, in any case, with surrounding
// space trimmed; "warning" and slog's offset syntax ("info+2") are errors,
// the same in every function (functions' bootstraps are checked alike in
// internal/logaudit).
func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug,
		"Warn": slog.LevelWarn, "ERROR": slog.LevelError, " debug ": slog.LevelDebug} {
		if got, err := config.ParseLogLevel(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"warning", "info+2", "INFO-4", "0", "-4", "trace", "verbose", "fatal"} {
		if _, err := config.ParseLogLevel(in); err == nil || err.Error() != "LOG_LEVEL: must be debug, info, warn or error" {
			t.Errorf("%q: err %v, want the LOG_LEVEL error", in, err)
		}
	}
}

func TestTokenFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"TABLE_NAME": "t", "REFRESH_FUNCTION_NAME": "wxcentral-refresh"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	got, err := config.TokenFromEnv(env("LOG_LEVEL", "warn"))
	if err != nil || got != (config.Token{TableName: "t", RefreshFunctionName: "wxcentral-refresh", LogLevel: slog.LevelWarn}) {
		t.Fatalf("%+v %v", got, err)
	}
	for _, tc := range []struct{ kv []string }{{[]string{"TABLE_NAME", ""}}, {[]string{"REFRESH_FUNCTION_NAME", " "}}, {[]string{"LOG_LEVEL", "loud"}}} {
		if _, err := config.TokenFromEnv(env(tc.kv...)); err == nil || !strings.HasPrefix(err.Error(), tc.kv[0]+": ") {
			t.Errorf("%v: err %v, want one naming %s", tc.kv, err, tc.kv[0])
		}
	}
}

func TestCallbackFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"TABLE_NAME": "t", "CALLBACK_SECRET_ID": "s"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	got, err := config.CallbackFromEnv(env())
	if err != nil || got != (config.Callback{TableName: "t", CallbackSecretID: "s"}) {
		t.Fatalf("defaults: %+v %v", got, err)
	}
	got, err = config.CallbackFromEnv(env("CALLBACK_MAX_SKEW", "0", "LOG_LEVEL", "debug", "EVENT_BUS_NAME", "b", "REFRESH_FUNCTION_NAME", " wxcentral-refresh "))
	if err != nil || got.MaxSkew >= 0 || got.LogLevel != slog.LevelDebug || got.EventBusName != "b" || got.RefreshFunctionName != "wxcentral-refresh" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, kv := range [][]string{{"TABLE_NAME", ""}, {"CALLBACK_SECRET_ID", ""}, {"CALLBACK_MAX_SKEW", "five"}, {"LOG_LEVEL", "loud"}} {
		if _, err := config.CallbackFromEnv(env(kv...)); err == nil || !strings.HasPrefix(err.Error(), kv[0]+": ") {
			t.Errorf("%v: err %v, want one naming %s", kv, err, kv[0])
		}
	}
}

func TestParseMaxSkew(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "0": -1, "0s": -1, "30s": 30 * time.Second, "1m": time.Minute, "10m": config.MaxMaxSkew} {
		got, err := config.ParseMaxSkew(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	// Negative, not a duration, or longer than the dedupe record lives (a
	// replay would then find no record and run again).
	for _, in := range []string{"-1s", "soon", "10m1s", "1h"} {
		if _, err := config.ParseMaxSkew(in); err == nil || !strings.Contains(err.Error(), "CALLBACK_MAX_SKEW") {
			t.Errorf("%q: err %v, want one naming CALLBACK_MAX_SKEW", in, err)
		}
	}
}

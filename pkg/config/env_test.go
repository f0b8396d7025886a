package config_test

import (
	"log/slog"
	"strings"
	"testing"

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
		{"everything set", with("WECHAT_API_BASE", "http://127.0.0.1:9000/", "FORCE_REFRESH_DAILY_LIMIT", "3", "LOG_LEVEL", "DEBUG"),
			config.Refresh{TableName: "t", AppsSecretID: "wxcentral/apps", WeChatAPIBase: "http://127.0.0.1:9000", ForceDailyLimit: 3, LogLevel: slog.LevelDebug}, ""},
		{"limit zero disables forcing", with("FORCE_REFRESH_DAILY_LIMIT", "0"),
			config.Refresh{TableName: "t", AppsSecretID: "wxcentral/apps", ForceDailyLimit: 0}, ""},
		{"table missing", with("TABLE_NAME", ""), config.Refresh{}, "TABLE_NAME: missing"},
		{"secret id missing", with("APPS_SECRET_ID", " "), config.Refresh{}, "APPS_SECRET_ID: missing"},
		{"base not a URL", with("WECHAT_API_BASE", "api.weixin.qq.com"), config.Refresh{}, "WECHAT_API_BASE: must be an http or https URL"},
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

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug,
		"Warn": slog.LevelWarn, "warning": slog.LevelWarn, "ERROR": slog.LevelError} {
		if got, err := config.ParseLogLevel(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
}

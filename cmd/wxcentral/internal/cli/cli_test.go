package cli

import (
	"bytes"
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// testEnv is an environment with only the given variables.
func testEnv(vars map[string]string) (Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return vars[k] }}, &out, &errOut
}

func TestMainCommandLine(t *testing.T) {
	noStack := map[string]string{"WXCENTRAL_STATE": filepath.Join(t.TempDir(), "none.json")}
	cases := []struct {
		name      string
		args      []string
		code      int
		stdout    string // substring expected on stdout
		stderr    string // substring expected on stderr
		notStderr string
	}{
		{"no command", nil, ExitUsage, "", "Commands:", ""},
		{"unknown command", []string{"deploy"}, ExitUsage, "", `unknown command "deploy"`, ""},
		{"help", []string{"help"}, ExitOK, "Commands:", "", ""},
		{"--help", []string{"--help"}, ExitOK, "Commands:", "", ""},
		{"help of a command", []string{"help", "send"}, ExitOK, "usage: wxcentral send", "", ""},
		{"help lists flags with two dashes", []string{"help", "dev"}, ExitOK, "--token-lifetime", "", ""},
		{"help of unknown command", []string{"help", "nope"}, ExitUsage, "", `unknown command "nope"`, ""},
		{"-h on a command", []string{"status", "-h"}, ExitOK, "usage: wxcentral status", "", ""},
		{"--help on a command", []string{"refresh", "--help"}, ExitOK, "usage: wxcentral refresh", "", ""},
		{"unknown flag", []string{"status", "--bogus"}, ExitUsage, "", "unknown flag --bogus", ""},
		{"unknown flag, one dash", []string{"status", "-bogus"}, ExitUsage, "", "unknown flag --bogus", ""},
		{"flag without value", []string{"token", "--appid"}, ExitUsage, "", "flag --appid needs a value", ""},
		{"unknown flag shows usage line", []string{"token", "--nope"}, ExitUsage, "", "usage: wxcentral token", ""},
		{"positional argument", []string{"status", "extra"}, ExitUsage, "", `unexpected argument "extra"`, ""},
		{"bad bool value", []string{"status", "--json=maybe"}, ExitUsage, "", "invalid boolean value", ""},
		{"bad kind", []string{"token", "--kind", "refresh_token"}, ExitUsage, "", "--kind", ""},
		{"send needs text or event", []string{"send"}, ExitUsage, "", "exactly one of --text, --event, --ticket", ""},
		{"send not both", []string{"send", "--text", "a", "--event", "subscribe"}, ExitUsage, "", "exactly one of --text, --event, --ticket", ""},
		{"send event key needs event", []string{"send", "--text", "a", "--event-key", "k"}, ExitUsage, "", "--event-key needs --event", ""},
		{"send bad timeout", []string{"send", "--text", "a", "--timeout", "soon"}, ExitUsage, "", "invalid value \"soon\"", ""},
		{"refresh appid without force", []string{"refresh", "--appid", "wx1"}, ExitUsage, "", "--force only", ""},
		{"refresh kind without force", []string{"refresh", "--kind", "jsapi_ticket"}, ExitUsage, "", "--force only", ""},
		{"dev short lifetime", []string{"dev", "--token-lifetime", "1m"}, ExitUsage, "", "--token-lifetime: must be at least 6m0s", ""},
		{"dev bad log format", []string{"dev", "--log-format", "xml"}, ExitUsage, "", "--log-format", ""},
		{"dev bad addr", []string{"dev", "--addr", "8080"}, ExitUsage, "", "--addr", ""},
		{"dev bad sweep period", []string{"dev", "--sweep-every", "10ms"}, ExitUsage, "", "--sweep-every", ""},
		{"status without a stack", []string{"status"}, ExitError, "", "no local stack is running", "usage:"},
		{"token without a stack", []string{"token"}, ExitError, "", "set TABLE_NAME", ""},
		{"refresh without a stack", []string{"refresh"}, ExitError, "", "no state file", ""},
		{"send without a stack needs --url", []string{"send", "--text", "ping"}, ExitUsage, "", "--url: required", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, out, errOut := testEnv(noStack)
			code := Main(context.Background(), tc.args, env)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", out, tc.stdout)
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.stderr)
			}
			if tc.notStderr != "" && strings.Contains(errOut.String(), tc.notStderr) {
				t.Errorf("stderr %q contains %q", errOut, tc.notStderr)
			}
		})
	}
}

func TestDevOptions(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		vars     map[string]string
		wantAddr string
		wantErr  string
	}{
		{"default", nil, nil, "127.0.0.1:8080", ""},
		{"env", nil, map[string]string{"WXCENTRAL_ADDR": "127.0.0.1:9090"}, "127.0.0.1:9090", ""},
		{"flag beats env", []string{"--addr", "127.0.0.1:0"}, map[string]string{"WXCENTRAL_ADDR": "127.0.0.1:9090"}, "127.0.0.1:0", ""},
		{"bad LOG_LEVEL", nil, map[string]string{"LOG_LEVEL": "loud"}, "", "LOG_LEVEL"},
		{"bad force limit", nil, map[string]string{"FORCE_REFRESH_DAILY_LIMIT": "50"}, "", "FORCE_REFRESH_DAILY_LIMIT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"WXCENTRAL_STATE": "/tmp/x.json", "WECHAT_API_BASE": "http://127.0.0.1:1/"}
			for k, v := range tc.vars {
				vars[k] = v
			}
			env, _, _ := testEnv(vars)
			o := &devFlags{}
			fs := flag.NewFlagSet("dev", flag.ContinueOnError)
			o.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			opt, err := o.options(env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opt.Addr != tc.wantAddr {
				t.Errorf("Addr = %q, want %q", opt.Addr, tc.wantAddr)
			}
			if opt.StatePath != "/tmp/x.json" || opt.WeChatAPIBase != "http://127.0.0.1:1" {
				t.Errorf("StatePath %q, WeChatAPIBase %q", opt.StatePath, opt.WeChatAPIBase)
			}
			if opt.TokenLifetime != 2*time.Hour || opt.SweepEvery != time.Minute || opt.ForceDailyLimit != credential.DefaultForceDailyLimit {
				t.Errorf("defaults: %+v", opt)
			}
		})
	}
}

func TestMask(t *testing.T) {
	cases := map[string]string{
		"":                 "****** (0 chars)",
		"short":            "****** (5 chars)",
		"ACCESS_TOKEN_XYZ": "ACCE****** (16 chars)",
	}
	for in, want := range cases {
		if got := mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHuman(t *testing.T) {
	cases := map[time.Duration]string{
		0:                            "0s",
		12 * time.Second:             "12s",
		245 * time.Second:            "4m05s",
		7199 * time.Second:           "1h59m",
		-30 * time.Second:            "30s",
		50*time.Hour + 3*time.Minute: "2d02h",
	}
	for in, want := range cases {
		if got := human(in); got != want {
			t.Errorf("human(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusTable(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	recs := []credential.Record{
		{Credential: credential.Credential{AppID: "wxb", Kind: credential.JSAPITicket, Value: "T", Version: 2,
			ExpiresAt: now.Add(-time.Minute), RefreshedAt: now.Add(-2 * time.Hour)},
			LastErrorCode: 45009, LastError: "daily_quota: errcode 45009: reach max api daily quota limit", LastErrorAt: now.Add(-90 * time.Second)},
		{Credential: credential.Credential{AppID: "wxb", Kind: credential.AccessToken, Value: "SECRET_VALUE_1", Version: 7,
			ExpiresAt: now.Add(7000 * time.Second), RefreshedAt: now.Add(-200 * time.Second)},
			ForceDay: credential.ForceDay(now), ForceCount: 3, LeaseOwner: "x", LeaseUntil: now.Add(10 * time.Second)},
		{Credential: credential.Credential{AppID: "wxa", Kind: credential.AccessToken, Value: "SECRET_VALUE_2", Version: 1,
			ExpiresAt: now.Add(time.Hour), RefreshedAt: now.Add(-time.Hour)},
			ForceDay: "2000-01-01", ForceCount: 9},
	}
	rows := statusRows(recs, 10, now)
	var b bytes.Buffer
	if err := writeStatusTable(&b, rows, now); err != nil {
		t.Fatal(err)
	}
	want := `APPID  KIND          VERSION  AGE    EXPIRES IN         LEASE  FORCED TODAY  LAST ERROR
wxa    access_token  1        1h00m  1h00m              -      0/10          -
wxb    access_token  7        3m20s  1h56m              held   3/10          -
wxb    jsapi_ticket  2        2h00m  expired 1m00s ago  -      0/10          daily_quota: errcode 45009: reach max api daily quota limit (1m30s ago)
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "SECRET_VALUE") {
		t.Error("status printed a credential value")
	}
	if rows[2].Usable || !rows[1].Usable || rows[2].ExpiresInSeconds != -60 {
		t.Errorf("rows: %+v", rows)
	}
}

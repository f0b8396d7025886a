package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// TestAgainstAWS runs status, token and refresh the way an operator does
// against a deployed stack: TABLE_NAME and REFRESH_FUNCTION_NAME, endpoints
// from the SDK's standard AWS_ENDPOINT_URL_* variables (dynalite for
// DynamoDB, the fake Lambda Invoke API running the real refresh handler).
func TestAgainstAWS(t *testing.T) {
	client, table := dynamotest.NewTable(t)
	fake := fakeaws.New(t)
	sim := wechattest.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp("wxaaaaaaaaaaaaaaaa", "secret-a")
	sim.AddApp("wxbbbbbbbbbbbbbbbb", "secret-b")
	store := dynamo.NewCredentialStore(client, table)
	h, err := refreshlambda.New(refreshlambda.Deps{
		Store: store, WeChat: wechat.NewClient(wechat.WithBaseURL(sim.URL)),
		Apps: config.SourceFunc(func(context.Context) ([]byte, error) {
			return []byte(`{"apps":[{"appid":"wxaaaaaaaaaaaaaaaa","secret":"secret-a"},
				{"appid":"wxbbbbbbbbbbbbbbbb","secret":"secret-b","tickets":["jsapi"]}]}`), nil
		}),
		ForceDailyLimit: 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	fake.HandleInvoke("wxcentral-refresh", h.Invoke)

	// The SDK's default configuration, isolated from the machine's files.
	dir := t.TempDir()
	for k, v := range fake.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamotest.Shared(t).Endpoint)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	vars := map[string]string{"TABLE_NAME": table, "REFRESH_FUNCTION_NAME": "wxcentral-refresh",
		"WXCENTRAL_STATE": filepath.Join(dir, "no-local-stack.json")}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		env, out, errOut := testEnv(vars)
		if code := Main(context.Background(), args, env); code != wantCode {
			t.Fatalf("wxcentral %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out.String(), errOut.String()
	}

	if out, _ := run(ExitOK, "status"); !strings.Contains(out, "no credentials in the table "+table) {
		t.Errorf("status of an empty table:\n%s", out)
	}
	// A sweep through the Lambda Invoke API fills the table.
	out, _ := run(ExitOK, "refresh")
	if strings.Count(out, " refreshed ") != 3 {
		t.Errorf("first sweep:\n%s", out)
	}
	out, _ = run(ExitOK, "status")
	for _, want := range []string{"wxaaaaaaaaaaaaaaaa  access_token  1", "wxbbbbbbbbbbbbbbbb  access_token  1", "wxbbbbbbbbbbbbbbbb  jsapi_ticket  1"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// Two apps: token needs --appid.
	if _, errOut := run(ExitUsage, "token"); !strings.Contains(errOut, "--appid: required") {
		t.Errorf("token without --appid: %s", errOut)
	}
	out, _ = run(ExitOK, "token", "--appid", "wxbbbbbbbbbbbbbbbb", "--show")
	rec, err := store.Get(context.Background(), "wxbbbbbbbbbbbbbbbb", credential.AccessToken, true)
	if err != nil || out != rec.Value+"\n" || !sim.Valid("wxbbbbbbbbbbbbbbbb", rec.Value, time.Now()) {
		t.Errorf("token --show = %q, stored %q (%v)", out, rec.Value, err)
	}
	out, _ = run(ExitOK, "refresh", "--force", "--appid", "wxbbbbbbbbbbbbbbbb")
	if !strings.Contains(out, "version 1 -> 2, a new value") {
		t.Errorf("refresh --force:\n%s", out)
	}
	if _, errOut := run(ExitError, "refresh", "--force", "--appid", "wxbbbbbbbbbbbbbbbb"); !strings.Contains(errOut, "force_too_soon") {
		t.Errorf("second forced refresh: %s", errOut)
	}
	if n := fake.Invocations("wxcentral-refresh"); n != 3 {
		t.Errorf("refresh function invoked %d times, want 3", n)
	}
	out, _ = run(ExitOK, "status", "--json")
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 || rows[1].Version != 2 || rows[1].ForceUsedToday != 1 {
		t.Errorf("status --json after a forced refresh: %v\n%s", err, out)
	}

	delete(vars, "REFRESH_FUNCTION_NAME")
	if _, errOut := run(ExitError, "refresh"); !strings.Contains(errOut, "REFRESH_FUNCTION_NAME: missing") {
		t.Errorf("refresh without REFRESH_FUNCTION_NAME: %s", errOut)
	}
}

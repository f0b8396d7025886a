package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/devstack"
	"github.com/wxcentral/wxcentral/internal/dynalite"
	"github.com/wxcentral/wxcentral/internal/logaudit"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// devRun is a dev command started by startDev.
type devRun struct {
	stack          *devstack.Stack
	stdout, stderr *logaudit.Capture // safe for the dev goroutine's writes
	env            Env
	ctx            context.Context
	cancel         context.CancelFunc // Ctrl-C
	done           chan error         // runDev's result
}

// startDev runs the dev command on a free port with vars as its
// environment and args as further flags, and returns once it serves.
// Without dynalite it skips the test, or fails it under CI.
func startDev(t *testing.T, vars map[string]string, args ...string) *devRun {
	t.Helper()
	if _, err := dynalite.Bin(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("%v (skipping; CI fails instead)", err)
	}
	d := &devRun{stdout: &logaudit.Capture{}, stderr: &logaudit.Capture{}, done: make(chan error, 1)}
	d.env = Env{Stdout: d.stdout, Stderr: d.stderr, Getenv: func(k string) string { return vars[k] }}
	o := &devFlags{}
	if err := newDevFlagSet(o).Parse(append([]string{"--addr", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	opt, err := o.options(d.env)
	if err != nil {
		t.Fatal(err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	t.Cleanup(d.cancel)
	readyc := make(chan *devstack.Stack, 1)
	go func() { d.done <- runDev(d.ctx, d.env, opt, func(s *devstack.Stack) { readyc <- s }) }()
	select {
	case d.stack = <-readyc:
	case err := <-d.done:
		t.Fatalf("dev stopped before serving: %v\n%s", err, d.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("dev did not serve within 60 s\n%s", d.stderr.String())
	}
	return d
}

// TestLocalStack runs what `make run` runs — the dev command with the
// committed sample configuration, dynalite and the simulator — on a free
// port, then uses it the way the README says: curl the printed token URL,
// `wxcentral send --text ping`, `wxcentral status`, `token`, `refresh`.
func TestLocalStack(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "dev.json")
	d := startDev(t, map[string]string{"WXCENTRAL_STATE": statePath, "LOG_LEVEL": "debug"})
	stack, ctx, env, stderr := d.stack, d.ctx, d.env, d.stderr
	banner := d.stdout.String()
	t.Logf("banner:\n%s", banner)

	// 1. curl the printed token URL: a token the simulator accepts.
	m := regexp.MustCompile(`curl '([^']+)'`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no token URL in the banner")
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok tokenapi.Answer
	if resp.StatusCode != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("GET %s: %d %s", m[1], resp.StatusCode, body)
	}
	if tok.AppID != "wx0123456789abcdef" || tok.Kind != "access_token" || tok.Version != 1 || tok.ExpiresIn < 7000 {
		t.Errorf("token answer: %s", body)
	}
	if !stack.Simulator.Valid(tok.AppID, tok.Token, time.Now()) {
		t.Errorf("the simulator does not accept the served token")
	}

	run := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut logaudit.Capture
		e := Env{Stdout: &out, Stderr: &errOut, Getenv: env.Getenv}
		if code := Main(ctx, args, e); code != ExitOK {
			t.Fatalf("wxcentral %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}

	// 2. send --text ping: the decrypted reply is pong.
	if out, _ := run("send", "--text", "ping"); out != "pong\n" {
		t.Errorf("send --text ping printed %q, want pong", out)
	}
	if out, _ := run("send", "--event", "subscribe"); !strings.HasPrefix(out, "Welcome to the wxcentral sample account") {
		t.Errorf("send --event subscribe printed %q", out)
	}
	if out, _ := run("send", "--text", "no rule matches this"); out != "(no reply)\n" {
		t.Errorf("send of an unmatched text printed %q", out)
	}

	// The sample WeCom app: sealed for the corpid, signed by msg_signature
	// only, its encrypted reply opened.
	if out, _ := run("send", "--appid", "ww0123456789abcdef:1000002", "--text", "ping"); out != "pong\n" {
		t.Errorf("send --appid <the sample WeCom app> --text ping printed %q, want pong", out)
	}
	// The sample mini-program takes JSON pushes and answers success.
	if out, errOut := run("send", "--appid", "wx1a2b3c4d5e6f7a8b", "--event", "debug_demo", "--verbose"); out != "(no reply)\n" ||
		!strings.Contains(errOut, `{"ToUserName":"gh_wxcentral00","FromUserName":"o_wxcentral_cli_user"`) {
		t.Errorf("send --appid <the sample mini-program> printed %q\n%s", out, errOut)
	}

	// Explicit --url and --config, as against a deployed callback.
	if out, _ := run("send", "--text", "ping", "--url", stack.State.CallbackURL("wx0123456789abcdef"), "--config", stack.State.CallbackFile); out != "pong\n" {
		t.Errorf("send with --url and --config printed %q", out)
	}
	var out2, errOut2 logaudit.Capture
	if code := Main(ctx, []string{"send", "--text", "ping", "--url", stack.URL + "/wechat/wxffffffffffffffff", "--appid", "wx0123456789abcdef"},
		Env{Stdout: &out2, Stderr: &errOut2, Getenv: env.Getenv}); code != ExitError || !strings.Contains(errOut2.String(), "HTTP 404") {
		t.Errorf("send to an unknown appid's URL: exit %d, %s", code, errOut2.String())
	}

	// 3. status lists the credential rows.
	out, _ := run("status")
	// The sample's Official Account with its ticket, its mini-program, its
	// WeCom app with its ticket and its platform: the token fetched with the
	// ticket the platform simulator pushed to the component route.
	for _, want := range []string{"APPID", "wx0123456789abcdef  access_token", "wx0123456789abcdef  jsapi_ticket", "wx1a2b3c4d5e6f7a8b  access_token",
		"ww0123456789abcdef:1000002  access_token", "ww0123456789abcdef:1000002  jsapi_ticket",
		"wxc0mp0nent0000001  component_access_token", "wxc0mp0nent0000001  component_verify_ticket"} {
		// Columns are padded to the longest appid.
		if !regexp.MustCompile(strings.ReplaceAll(regexp.QuoteMeta(want), "  ", ` +`)).MatchString(out) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, tok.Token) {
		t.Error("status printed the token")
	}
	out, _ = run("status", "--json")
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 7 || rows[0].Version != 1 || !rows[0].Usable {
		t.Errorf("status --json: %v %s", err, out)
	}

	// token --show prints the value the token function served.
	if out, _ := run("token", "--show"); out != tok.Token+"\n" {
		t.Errorf("token --show = %q", out)
	}
	if out, _ := run("token"); strings.Contains(out, tok.Token) || !strings.Contains(out, "version     1") {
		t.Errorf("token (masked):\n%s", out)
	}

	if out, _ := run("token", "--appid", "wx1a2b3c4d5e6f7a8b", "--show"); !stack.Simulator.Valid("wx1a2b3c4d5e6f7a8b", strings.TrimSpace(out), time.Now()) {
		t.Error("token --appid <the sample mini-program> --show: not a token the simulator accepts")
	}

	// refresh: a sweep right after start finds everything fresh.
	if out, _ := run("refresh"); strings.Count(out, " fresh ") != 7 {
		t.Errorf("refresh:\n%s", out)
	}
	// The sample platform: a ticket pushed to its authorization-event URL
	// is stored (newer than the simulator's); an authorizer's message
	// through the platform for an appid that authorised nothing is 404.
	// The newest CreateTime wins: a push in the second of the simulator's
	// first one would be dropped as a repeat.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	if out, _ := run("send", "--ticket", "ticket@@@wxcentral-cli"); out != "(no reply)\n" {
		t.Errorf("send --ticket printed %q", out)
	}
	if rec, err := stack.Store.Get(ctx, "wxc0mp0nent0000001", "component_verify_ticket", true); err != nil || rec.Value != "ticket@@@wxcentral-cli" {
		t.Errorf("after send --ticket the stored ticket is not the pushed one: %v", err)
	}
	// An authorized event with a code WeChat never issued: the refresh
	// function's exchange is refused (bad_request), which a retry cannot
	// fix, so the push is acknowledged and the refusal logged.
	if out, _ := run("send", "--authorized", "wxauth0rizer000001", "--code", "queryauthcode@@@made-up"); out != "(no reply)\n" {
		t.Errorf("send --authorized printed %q", out)
	}
	if !strings.Contains(stderr.String(), `"outcome":"refused"`) && !strings.Contains(stderr.String(), "outcome=refused") {
		t.Errorf("no refused authorization in the stack's log:\n%s", stderr.String())
	}
	var out3, errOut3 logaudit.Capture
	if code := Main(ctx, []string{"send", "--platform", "wxc0mp0nent0000001", "--appid", "wxauth0rizer000001", "--text", "hi"},
		Env{Stdout: &out3, Stderr: &errOut3, Getenv: env.Getenv}); code != ExitError || !strings.Contains(errOut3.String(), "HTTP 404") {
		t.Errorf("send for an appid that authorised nothing: exit %d, %s", code, errOut3.String())
	}
	// refresh --force reports the stored token as rejected.
	// WeChat (the simulator) still returns the same token in normal mode, so
	// the refresher spends one forced refresh and WeChat issues a new token.
	if out, _ := run("refresh", "--force"); !strings.Contains(out, "forced refresh of wx0123456789abcdef/access_token: version 1 -> 2, a new value") {
		t.Errorf("refresh --force:\n%s", out)
	}
	cred, err := stack.Store.Get(ctx, tok.AppID, "access_token", true)
	if err != nil || cred.Value == tok.Token || !stack.Simulator.Valid(tok.AppID, cred.Value, time.Now()) {
		t.Errorf("after a forced refresh the stored token is not a new accepted one: %v", err)
	}
	if out, _ := run("status"); !strings.Contains(out, "1/10") {
		t.Errorf("status does not count the forced refresh:\n%s", out)
	}

	// Ctrl-C: everything stops and the state file goes away.
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("dev returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30 s")
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file left behind: %v", err)
	}
	if _, err := http.Get(m[1]); err == nil {
		t.Error("the stack still serves after stopping")
	}
	if strings.Contains(stderr.String(), tok.Token) {
		t.Error("a log line contains the token")
	}
}

// With WECHAT_API_BASE set the stack starts no simulator and the refresher
// talks to that base only.
func TestLocalStackWithWeChatAPIBase(t *testing.T) {
	apps, err := os.ReadFile(filepath.Join("..", "..", "..", "..", devstack.DefaultAppsFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps []struct{ AppID, Secret string } `json:"apps"`
	}
	if err := json.Unmarshal(apps, &doc); err != nil || len(doc.Apps) == 0 {
		t.Fatalf("sample apps document: %v", err)
	}
	wechat := wechattest.NewServer()
	defer wechat.Close()
	wechat.AddApp(doc.Apps[0].AppID, doc.Apps[0].Secret)

	d := startDev(t, map[string]string{"WXCENTRAL_STATE": filepath.Join(t.TempDir(), "dev.json"), "WECHAT_API_BASE": wechat.URL + "/"})
	stack, ctx, stdout := d.stack, d.ctx, d.stdout
	if stack.Simulator != nil || !strings.Contains(stdout.String(), "WECHAT_API_BASE "+wechat.URL+" (no simulator)") {
		t.Errorf("a simulator started despite WECHAT_API_BASE:\n%s", stdout.String())
	}
	rec, err := stack.Store.Get(ctx, doc.Apps[0].AppID, "access_token", true)
	if err != nil || !wechat.Valid(doc.Apps[0].AppID, rec.Value, time.Now()) {
		t.Errorf("the stored token does not come from WECHAT_API_BASE: %v", err)
	}
	d.cancel()
	if err := <-d.done; err != nil {
		t.Errorf("dev returned %v", err)
	}
}

// The stack starts the WeCom simulator with the apps document's WeCom apps
// and points the refresher's WeCom client at it; with WECOM_API_BASE set it
// starts none.
func TestLocalStackWeComSimulator(t *testing.T) {
	const corpid, agent, secret = "ww0123456789abcdef", "1000002", "wecom-dev-secret-0123456789"
	apps := filepath.Join(t.TempDir(), "apps.json")
	doc := `{"apps":[{"appid":"wx0123456789abcdef","secret":"s"},{"type":"wecom","corpid":"` + corpid + `","agent":"` + agent + `","secret":"` + secret + `"}]}`
	if err := os.WriteFile(apps, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDev(t, map[string]string{"WXCENTRAL_STATE": filepath.Join(t.TempDir(), "dev.json")}, "--apps", apps)
	if d.stack.WeCom == nil || d.stack.State.WeComAPIBase != d.stack.WeCom.URL ||
		!strings.Contains(d.stdout.String(), "WeCom     simulator "+d.stack.WeCom.URL) {
		t.Fatalf("no WeCom simulator in the stack or its banner:\n%s", d.stdout.String())
	}
	tok, err := wechat.NewWeComClient(wechat.WithBaseURL(d.stack.WeCom.URL)).GetToken(d.ctx, corpid, secret)
	if err != nil {
		t.Fatalf("the WeCom simulator does not know the configured app: %v", err)
	}
	// status and token take the credential id <corpid>:<agent>.
	id := corpid + ":" + agent
	if err := d.stack.Store.Put(d.ctx, credential.Record{Credential: credential.Credential{AppID: id, Kind: credential.AccessToken,
		Value: tok.AccessToken, ExpiresAt: tok.ExpiresAt(), RefreshedAt: tok.ReceivedAt, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		var out, errOut logaudit.Capture
		if code := Main(d.ctx, args, Env{Stdout: &out, Stderr: &errOut, Getenv: d.env.Getenv}); code != ExitOK {
			t.Fatalf("wxcentral %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	if out := run("token", "--appid", id, "--show"); out != tok.AccessToken+"\n" {
		t.Errorf("token --appid %s --show printed another value", id)
	}
	if out := run("status"); !strings.Contains(out, id+"  access_token") {
		t.Errorf("status lacks the WeCom row:\n%s", out)
	}
	d.cancel()
	if err := <-d.done; err != nil {
		t.Errorf("dev returned %v", err)
	}

	d = startDev(t, map[string]string{"WXCENTRAL_STATE": filepath.Join(t.TempDir(), "dev.json"), "WECOM_API_BASE": "http://127.0.0.1:9/"}, "--apps", apps)
	if d.stack.WeCom != nil || d.stack.State.WeComAPIBase != "http://127.0.0.1:9" ||
		!strings.Contains(d.stdout.String(), "WECOM_API_BASE http://127.0.0.1:9 (no simulator)") {
		t.Errorf("a WeCom simulator started despite WECOM_API_BASE:\n%s", d.stdout.String())
	}
	d.cancel()
	if err := <-d.done; err != nil {
		t.Errorf("dev returned %v", err)
	}
}

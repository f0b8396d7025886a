package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/internal/devstack"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
)

var devCommand = &command{
	name:    "dev",
	summary: "run the local stack: dynalite, the WeChat simulator and every handler on one port",
	usage:   "dev [--addr HOST:PORT] [--apps FILE] [--callback FILE] [--token-lifetime D] [--sweep-every D] [--table NAME] [--log-format text|json] [--state FILE]",
	help: `
Starts dynalite (installed by ` + "`make tools`" + `) and creates the table, starts the
WeChat simulator with the Official Accounts and mini-programs of the apps
document (unless WECHAT_API_BASE is set, in which case the refresher calls
that base instead) and the WeCom simulator with its WeCom apps (unless
WECOM_API_BASE is set), the third-party platform simulator with the
apps document's platforms (unless WECHAT_API_BASE is set), whose
component_verify_ticket pushes reach the callback before each sweep, runs a first
sweep so a token exists at once, and serves on one loopback port:

  GET  /token?appid=…&kind=…   the token function
  POST /token/invalidate       forced refresh through the token function
  GET|POST /wechat/{appid}     the callback function
  POST /component/{appid}      the callback function: a platform's events
  POST /dev/refresh            the refresh function's invoke payload

The sweep then runs every --sweep-every. --token-lifetime shortens the
simulator's expires_in to watch rotations: a token is refreshed 290 s before
it expires. It writes a state file so that status, token, refresh and send
find the stack with no flags, and Ctrl-C stops everything, dynalite too.

Environment: WXCENTRAL_ADDR (default for --addr), WECHAT_API_BASE,
WECOM_API_BASE, FORCE_REFRESH_DAILY_LIMIT, LOG_LEVEL, WXCENTRAL_STATE.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		o := &devFlags{}
		o.register(fs)
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			opt, err := o.options(env)
			if err != nil {
				return err
			}
			return runDev(ctx, env, opt, nil)
		}
	},
}

type devFlags struct {
	addr, apps, callback, table, logFormat, state string
	lifetime, sweepEvery                          time.Duration
}

func (o *devFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "", "listen address (default $WXCENTRAL_ADDR or "+devstack.DefaultAddr+"; port 0 picks one)")
	fs.StringVar(&o.apps, "apps", devstack.DefaultAppsFile, "apps document (APPS_SECRET_ID shape): appids, secrets, tickets")
	fs.StringVar(&o.callback, "callback", devstack.DefaultCallbackFile, "callback document (CALLBACK_SECRET_ID shape)")
	fs.DurationVar(&o.lifetime, "token-lifetime", devstack.DefaultTokenLifetime, "the simulator's access_token lifetime (min 6m; e.g. 10m to watch rotations; tickets below 20m get 10m more)")
	fs.DurationVar(&o.sweepEvery, "sweep-every", devstack.DefaultSweepEvery, "sweep period")
	fs.StringVar(&o.table, "table", devstack.DefaultTable, "table name in dynalite")
	fs.StringVar(&o.logFormat, "log-format", "text", "log lines as text (readable) or json (as in Lambda)")
	fs.StringVar(&o.state, "state", "", "state file to write (default: .wxcentral/dev.json in the checkout, or under $XDG_RUNTIME_DIR)")
}

// minTokenLifetime leaves an access_token fresh for at least a minute
// after each refresh (it is due 290 s before expiry). Tickets, due 600 s
// before, are simply fetched on every sweep below 10 minutes.
const minTokenLifetime = 6 * time.Minute

func (o *devFlags) options(env Env) (devstack.Options, error) {
	addr := o.addr
	if addr == "" {
		addr = strings.TrimSpace(env.Getenv("WXCENTRAL_ADDR"))
	}
	if addr == "" {
		addr = devstack.DefaultAddr
	}
	if !strings.Contains(addr, ":") {
		return devstack.Options{}, usagef("--addr: %q is not host:port", addr)
	}
	if o.lifetime < minTokenLifetime {
		return devstack.Options{}, usagef("--token-lifetime: must be at least %s (an access_token is refreshed 290 s before it expires)", minTokenLifetime)
	}
	if o.sweepEvery < time.Second {
		return devstack.Options{}, usagef("--sweep-every: must be at least 1s")
	}
	if o.table == "" {
		return devstack.Options{}, usagef("--table: must not be empty")
	}
	level, err := config.ParseLogLevel(env.Getenv("LOG_LEVEL"))
	if err != nil {
		return devstack.Options{}, err
	}
	var h slog.Handler
	switch o.logFormat {
	case "text":
		h = slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	case "json":
		h = slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	default:
		return devstack.Options{}, usagef("--log-format: must be text or json")
	}
	limit := credential.DefaultForceDailyLimit
	if s := strings.TrimSpace(env.Getenv("FORCE_REFRESH_DAILY_LIMIT")); s != "" {
		if _, err := fmt.Sscanf(s, "%d", &limit); err != nil || limit < 0 || limit > 20 {
			return devstack.Options{}, fmt.Errorf("FORCE_REFRESH_DAILY_LIMIT: must be an integer from 0 to 20")
		}
	}
	statePath := o.state
	if statePath == "" {
		statePath = devstack.StatePath(env.Getenv)
	}
	return devstack.Options{
		Addr: addr, AppsFile: o.apps, CallbackFile: o.callback, Table: o.table,
		SweepEvery: o.sweepEvery, TokenLifetime: o.lifetime,
		WeChatAPIBase:   strings.TrimRight(strings.TrimSpace(env.Getenv("WECHAT_API_BASE")), "/"),
		WeComAPIBase:    strings.TrimRight(strings.TrimSpace(env.Getenv("WECOM_API_BASE")), "/"),
		ForceDailyLimit: limit, StatePath: statePath, Logger: slog.New(h),
	}, nil
}

// runDev starts the stack, prints the banner and serves until ctx ends.
// ready, when set, is called with the running stack (tests use it).
func runDev(ctx context.Context, env Env, opt devstack.Options, ready func(*devstack.Stack)) error {
	start := time.Now()
	st, err := devstack.Start(ctx, opt)
	if err != nil {
		return err
	}
	defer st.Close()
	writeBanner(env.Stdout, st, time.Since(start))
	if ready != nil {
		ready(st)
	}
	select {
	case <-ctx.Done():
		opt.Logger.Info("stopping the local stack")
		return st.Close()
	case err := <-st.Done():
		if err != nil {
			return fmt.Errorf("HTTP server: %w", err)
		}
		return nil
	}
}

func writeBanner(w io.Writer, st *devstack.Stack, took time.Duration) {
	s := st.State
	self := selfCommand()
	wechat := fmt.Sprintf("simulator %s, access_token lifetime %s", s.WeChatAPIBase, st.TokenLifetime())
	if st.Simulator == nil {
		wechat = "WECHAT_API_BASE " + s.WeChatAPIBase + " (no simulator)"
	}
	wecom := "simulator " + s.WeComAPIBase
	if st.WeCom == nil {
		wecom = "WECOM_API_BASE " + s.WeComAPIBase + " (no simulator)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nwxcentral local stack is up on %s (started in %s)\n", s.URL, took.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "  DynamoDB  dynalite %s, table %s\n", s.DynamoDBEndpoint, s.Table)
	fmt.Fprintf(&b, "  WeChat    %s\n", wechat)
	fmt.Fprintf(&b, "  WeCom     %s\n", wecom)
	fmt.Fprintf(&b, "  sample    %s, callback URL %s\n", s.AppID, s.CallbackURL(s.AppID))
	fmt.Fprintf(&b, "  state     %s\n\n", st.StatePath())
	b.WriteString("Try it from another shell:\n")
	fmt.Fprintf(&b, "  curl '%s'\n", s.TokenURL(s.AppID))
	fmt.Fprintf(&b, "  %s send --text ping      # acts as WeChat; prints the decrypted reply: pong\n", self)
	fmt.Fprintf(&b, "  %s status                # every credential: version, age, expiry, errors\n", self)
	fmt.Fprintf(&b, "  %s token --show          # the access_token itself\n", self)
	fmt.Fprintf(&b, "  %s refresh --force       # report the token as rejected (forced refresh)\n", self)
	b.WriteString("Ctrl-C stops everything.\n\n")
	io.WriteString(w, b.String())
}

// selfCommand is how the user runs this program: `go run ./cmd/wxcentral`
// under `make run`, else the name it was started with.
func selfCommand() string {
	exe := os.Args[0]
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run ./cmd/wxcentral"
	}
	if filepath.Base(exe) == exe {
		return exe
	}
	if rel, err := filepath.Rel(mustGetwd(), exe); err == nil && !strings.HasPrefix(rel, "..") {
		return "./" + rel
	}
	return exe
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

func newDevFlagSet(o *devFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("wxcentral dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.register(fs)
	return fs
}

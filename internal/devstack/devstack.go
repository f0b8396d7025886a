package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynalite"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver/tokenlambda"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// Defaults of Options.
const (
	DefaultAddr          = "127.0.0.1:8080"
	DefaultTable         = "wxcentral-dev"
	DefaultSweepEvery    = time.Minute
	DefaultTokenLifetime = 7200 * time.Second // what WeChat grants
	DefaultAppsFile      = "examples/local/apps.json"
	DefaultCallbackFile  = "examples/local/callback.json"
	// Region is the AWS region name the local clients sign with; dynalite
	// ignores it.
	Region = "us-east-1"
)

// PathRefresh is the local-only route that takes the refresh function's
// invoke payload.
const PathRefresh = "/dev/refresh"

// Options configure a Stack. Zero values take the defaults above.
type Options struct {
	Addr          string        // listen address; port 0 picks a free port
	AppsFile      string        // the APPS_SECRET_ID document
	CallbackFile  string        // the CALLBACK_SECRET_ID document
	Table         string        // table created in dynalite
	SweepEvery    time.Duration // sweep period (one sweep also runs at start)
	TokenLifetime time.Duration // the simulator's expires_in; shorter shows rotations
	// WeChatAPIBase, when set, replaces the simulator: the refresher talks
	// to that base only (WECHAT_API_BASE in docs/architecture.md#environment).
	WeChatAPIBase string
	// WeComAPIBase, when set, replaces the WeCom simulator (WECOM_API_BASE).
	WeComAPIBase    string
	ForceDailyLimit int    // 0: credential.DefaultForceDailyLimit
	StatePath       string // where to write the state file; "" writes none
	Logger          *slog.Logger
}

// Stack is a running local stack.
type Stack struct {
	// URL is the base URL of the handlers, e.g. http://127.0.0.1:8080.
	URL string
	// State is what was written to the state file.
	State State
	// Simulator is the in-process WeChat simulator (nil with WeChatAPIBase);
	// its oracle Valid tells whether WeChat would accept a token.
	Simulator *wechattest.Server
	// WeCom is the in-process WeCom simulator (nil with WeComAPIBase).
	WeCom *wechattest.WeComServer
	// Component is the in-process third-party platform simulator: nil
	// without a platform in the apps document, or with WeChatAPIBase. Its
	// ticket pushes are delivered to the callback before every sweep.
	Component *wechattest.ComponentServer
	// Store reads the credential items.
	Store *dynamo.CredentialStore
	// Refresh is the refresh function's handler (sweep and forced refresh).
	Refresh *refreshlambda.Handler

	opt      Options
	log      *slog.Logger
	cb       http.Handler
	dynalite *dynalite.Server
	server   *http.Server
	served   chan error
	cancel   context.CancelFunc
	sweeper  sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// Start brings the stack up: it validates the configuration, starts
// dynalite and creates the table, starts the simulator, runs a first sweep
// (so a token exists at once), listens, starts the sweep ticker and writes
// the state file. Close stops everything.
func Start(ctx context.Context, opt Options) (st *Stack, err error) {
	opt = withDefaults(opt)
	log := opt.Logger
	apps, err := loadApps(ctx, opt.AppsFile)
	if err != nil {
		return nil, err
	}
	cbFile, err := newCallbackFile(opt.CallbackFile, log)
	if err != nil {
		return nil, err
	}
	if opt.StatePath != "" {
		if prev, err := ReadState(opt.StatePath); err == nil && prev.PID != os.Getpid() {
			return nil, fmt.Errorf("another local stack (pid %d) is running at %s (state file %s): stop it first, or use another --state",
				prev.PID, prev.URL, opt.StatePath)
		}
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (choose another with --addr or WXCENTRAL_ADDR)", opt.Addr, err)
	}
	s := &Stack{opt: opt, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			ln.Close()
			s.Close()
		}
	}()

	if _, ok := RepoRoot(); !ok {
		return nil, errors.New("run wxcentral dev inside the wxcentral checkout: it runs dynalite from tools/dynalite (installed by `make tools`)")
	}
	if _, err := dynalite.Bin(); err != nil {
		return nil, fmt.Errorf("%w (the local stack runs dynalite as its DynamoDB)", err)
	}
	s.dynalite, err = dynalite.Start()
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	client, err := s.dynalite.CreateTable(tctx, opt.Table)
	cancel()
	if err != nil {
		return nil, err
	}
	log.Info("dynalite ready", "endpoint", s.dynalite.Endpoint, "table", opt.Table)

	base := opt.WeChatAPIBase
	if base == "" {
		s.Simulator = startSimulator(apps, opt.TokenLifetime)
		base = s.Simulator.URL
		log.Info("WeChat simulator ready", "url", base, "apps", len(apps.Apps), "token_lifetime", opt.TokenLifetime.String())
	} else {
		log.Info("using a real WeChat API base instead of the simulator", "wechat_api_base", base)
	}
	wecomBase := opt.WeComAPIBase
	if wecomBase == "" {
		if s.WeCom, err = startWeComSimulator(apps, opt.TokenLifetime); err != nil {
			return nil, err
		}
		wecomBase = s.WeCom.URL
		log.Info("WeCom simulator ready", "url", wecomBase)
	} else {
		log.Info("using a real WeCom API base instead of the simulator", "wecom_api_base", wecomBase)
	}

	componentBase := base
	if opt.WeChatAPIBase == "" && hasPlatform(apps) {
		cfg, err := cbFile.Load(ctx)
		if err != nil {
			return nil, err
		}
		if s.Component, err = startComponentSimulator(apps, cfg, opt.TokenLifetime); err != nil {
			return nil, err
		}
		componentBase = s.Component.URL
		log.Info("third-party platform simulator ready", "url", componentBase)
	}

	// The three functions, built by their own constructors as in Lambda.
	s.Store = dynamo.NewCredentialStore(client, opt.Table)
	if s.Refresh, err = refreshlambda.New(refreshlambda.Deps{
		Store:           s.Store,
		WeChat:          wechat.NewClient(wechat.WithBaseURL(base)),
		WeCom:           wechat.NewWeComClient(wechat.WithBaseURL(wecomBase)),
		Component:       wechat.NewClient(wechat.WithBaseURL(componentBase)),
		Authorizations:  s.Store,
		Apps:            config.NewFileSource(opt.AppsFile),
		ForceDailyLimit: opt.ForceDailyLimit,
		Logger:          log,
	}); err != nil {
		return nil, err
	}
	tokens, err := tokenlambda.New(tokenlambda.Deps{
		Reader:      tokenclient.NewStoreReader(s.Store),
		Invalidator: tokenclient.NewDirectInvalidator(s.Refresh.Invoke),
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	// A platform's authorization events go to the refresh function in
	// process, as the token function's forced refreshes do.
	cb, err := callbacklambda.New(callbacklambda.Deps{Config: cbFile.Load, Store: dynamo.NewDedupeStore(client, opt.Table),
		Credentials: s.Store, Refresh: s.Refresh.Invoke, Logger: log})
	if err != nil {
		return nil, err
	}
	refresher := s.Refresh.Refresher
	s.cb = cb
	s.deliverTickets(ctx)

	// One sweep before serving, so GET /token answers as soon as the
	// banner is printed.
	sum, err := refresher.Sweep(ctx)
	if err != nil {
		return nil, fmt.Errorf("first sweep: %w", err)
	}
	for _, r := range sum.Results {
		if r.Outcome == refresh.OutcomeFailed {
			log.Warn("first sweep: a credential could not be fetched; the stack serves anyway, see `wxcentral status`",
				"appid", r.AppID, "kind", string(r.Kind), "error", r.Error)
		}
	}

	s.URL = "http://" + ln.Addr().String()
	s.server = &http.Server{
		Handler:           accessLog(log, routes(tokens, cb, s.Refresh.Invoke)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		err := s.server.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()

	sweepCtx, cancelSweep := context.WithCancel(context.Background())
	s.cancel = cancelSweep
	s.sweeper.Add(1)
	go s.sweepLoop(sweepCtx, refresher)

	appid := apps.Apps[0].ID()
	s.State = State{
		PID: os.Getpid(), URL: s.URL, DynamoDBEndpoint: s.dynalite.Endpoint, Region: Region,
		Table: opt.Table, AppID: appid, AppsFile: opt.AppsFile, CallbackFile: opt.CallbackFile,
		WeChatAPIBase: base, WeComAPIBase: wecomBase, ForceDailyLimit: opt.ForceDailyLimit, StartedAt: time.Now().UTC(),
	}
	if opt.StatePath != "" {
		if err := WriteState(opt.StatePath, s.State); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.AppsFile == "" {
		o.AppsFile = DefaultAppsFile
	}
	if o.CallbackFile == "" {
		o.CallbackFile = DefaultCallbackFile
	}
	o.AppsFile, o.CallbackFile = absPath(o.AppsFile), absPath(o.CallbackFile)
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = DefaultSweepEvery
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if o.ForceDailyLimit <= 0 {
		o.ForceDailyLimit = credential.DefaultForceDailyLimit
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// absPath resolves a relative path against the working directory, or
// against the repository root when it does not exist there (so the default
// examples/local files are found from any directory of the checkout).
func absPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err != nil {
		if root, ok := RepoRoot(); ok {
			if _, err := os.Stat(filepath.Join(root, p)); err == nil {
				return filepath.Join(root, p)
			}
		}
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (s *Stack) sweepLoop(ctx context.Context, r *refresh.Refresher) {
	defer s.sweeper.Done()
	t := time.NewTicker(s.opt.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.deliverTickets(ctx)
		sctx, cancel := context.WithTimeout(ctx, 50*time.Second)
		if _, err := r.Sweep(sctx); err != nil && ctx.Err() == nil {
			s.log.Error("sweep failed", "error", err.Error())
		}
		cancel()
	}
}

// deliverTickets hands the platform simulator's due ticket pushes to the
// callback (WeChat pushes one every 10 minutes).
func (s *Stack) deliverTickets(ctx context.Context) {
	if s.Component == nil {
		return
	}
	if n := deliverTicketPushes(ctx, s.Component, s.cb, s.log); n > 0 {
		s.log.Info("platform simulator: component_verify_ticket pushed", "pushes", n)
	}
}

// Done delivers the HTTP server's end: nil after Close, or the error it
// failed with.
func (s *Stack) Done() <-chan error { return s.served }

// Close stops the sweep, the HTTP server (letting requests in flight end),
// the simulator and dynalite, and removes the state file. It is safe to
// call more than once.
func (s *Stack) Close() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.cancel != nil {
			s.cancel()
		}
		if s.server != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
			}
			cancel()
		}
		s.sweeper.Wait()
		if s.Simulator != nil {
			s.Simulator.Close()
		}
		if s.WeCom != nil {
			s.WeCom.Close()
		}
		if s.Component != nil {
			s.Component.Close()
		}
		if s.dynalite != nil {
			s.dynalite.Stop()
		}
		if s.opt.StatePath != "" && s.State.PID != 0 {
			if err := RemoveState(s.opt.StatePath, s.State.PID); err != nil {
				errs = append(errs, err)
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// StatePath is the state file the stack wrote ("" when none).
func (s *Stack) StatePath() string { return s.opt.StatePath }

// TokenLifetime is the simulator's access_token lifetime.
func (s *Stack) TokenLifetime() time.Duration { return s.opt.TokenLifetime }

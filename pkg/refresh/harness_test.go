package refresh_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/logaudit"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// start is a fixed instant: 18:00 in Shanghai.
var start = time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)

const (
	appA    = "wx0123456789abcdef"
	secretA = "secret-A-0123456789abcdef0123456"
	appB    = "wxfedcba9876543210"
	secretB = "secret-B-fedcba9876543210fedcba9"
)

// env is one test's world: a virtual clock shared by the WeChat simulator
// and the refresher, dynalite, and a log buffer checked for leaked secrets.
type env struct {
	t     *testing.T
	clock *wechattest.Clock
	sim   *wechattest.Simulator
	url   string
	store *dynamo.CredentialStore
	db    *dynamodb.Client // the store's table, for reads by key
	table string
	wecom *wechattest.WeComServer // nil until withWeCom
	apps  []refresh.App
	logs  *logaudit.Capture
	emf   *logaudit.Capture // EMF metric lines
}

func appWith(appid, secret string, kinds ...credential.Kind) refresh.App {
	return refresh.App{AppID: appid, Secret: secret, Kinds: append([]credential.Kind{credential.AccessToken}, kinds...)}
}

func newEnv(t *testing.T, simOpts []wechattest.Option, apps ...refresh.App) *env {
	t.Helper()
	clock := wechattest.NewClock(start)
	sim := wechattest.NewSimulator(append([]wechattest.Option{wechattest.WithClock(clock.Now)}, simOpts...)...)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client, table := dynamotest.NewTable(t)
	e := &env{t: t, clock: clock, sim: sim, url: srv.URL, store: dynamo.NewCredentialStore(client, table), db: client, table: table, apps: apps, logs: &logaudit.Capture{}, emf: &logaudit.Capture{}}
	t.Cleanup(e.checkLogs)
	return e
}

// register adds every app to the simulator with its secret.
func (e *env) register() *env {
	for _, a := range e.apps {
		e.sim.AddApp(a.AppID, a.Secret)
	}
	return e
}

func (e *env) refresher(mod ...func(*refresh.Options)) *refresh.Refresher {
	o := refresh.Options{
		Store:           e.store,
		WeChat:          wechat.NewClient(wechat.WithBaseURL(e.url), wechat.WithClock(e.clock.Now)),
		Apps:            func(context.Context) ([]refresh.App, error) { return e.apps, nil },
		WeCom:           e.wecomClient(),
		Now:             e.clock.Now,
		ForceDailyLimit: credential.DefaultForceDailyLimit,
		Backoff:         time.Millisecond,
		WaitPoll:        5 * time.Millisecond,
		MaxWait:         20 * time.Second,
		Logger:          slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:         metrics.New(e.emf, metrics.WithClock(e.clock.Now)),
	}
	for _, m := range mod {
		m(&o)
	}
	return refresh.New(o)
}

func (e *env) get(appid string, kind credential.Kind) credential.Record {
	e.t.Helper()
	rec, err := e.store.Get(context.Background(), appid, kind, true)
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", appid, kind, err)
	}
	return rec
}

func (e *env) sweep(r *refresh.Refresher) map[string]refresh.Result {
	e.t.Helper()
	sum, err := r.Sweep(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]refresh.Result{}
	for _, res := range sum.Results {
		out[res.AppID+"/"+string(res.Kind)] = res
	}
	return out
}

// sweepConcurrently runs one Sweep on every refresher at once and returns
// all their results.
func sweepConcurrently(t *testing.T, rs []*refresh.Refresher) []refresh.Result {
	t.Helper()
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		all []refresh.Result
	)
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum, err := r.Sweep(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			all = append(all, sum.Results...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}

// checkLogs fails the test when a secret, token or ticket ever issued to
// the apps appears in the logs.
func (e *env) checkLogs() {
	logs := e.logs.String() + e.emf.String()
	for _, a := range e.apps {
		if a.Secret != "" && strings.Contains(logs, a.Secret) { // an authorizer has none
			e.t.Errorf("logs contain the AppSecret of %s", a.AppID)
		}
		for _, k := range credential.Kinds {
			rec, err := e.store.Get(context.Background(), a.AppID, k, true)
			if err == nil && rec.Value != "" && strings.Contains(logs, rec.Value) {
				e.t.Errorf("logs contain the %s of %s", k, a.AppID)
			}
		}
		if tok, _ := e.sim.CurrentToken(a.AppID); tok != "" && strings.Contains(logs, tok) {
			e.t.Errorf("logs contain WeChat's current token of %s", a.AppID)
		}
	}
	if e.wecom != nil {
		for _, v := range e.wecom.IssuedValues() {
			if strings.Contains(logs, v) {
				e.t.Error("logs contain a token or ticket WeCom issued")
			}
		}
	}
}

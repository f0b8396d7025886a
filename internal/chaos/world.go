package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacklambda"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/eventbus"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/refresh/refreshlambda"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver/tokenlambda"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// Config sizes a run. Zero fields take the full-day values of issue 6.
type Config struct {
	Duration      time.Duration // simulated time; default 24h
	Apps          int           // default 3
	Sweepers      int           // concurrent sweepers per scheduled tick; default 5
	MaxSkew       time.Duration // sweeper clocks spread over ±MaxSkew; default 2s
	Consumers     int           // tokenclient consumers; default 50
	Callers       int           // token function callers; default 5
	Messages      int           // callback pushes, each delivered 3 times; default 1000
	Step          time.Duration // clock step; default 5s
	ConsumerEvery time.Duration // each consumer calls WeChat this often; default 30s
	CallerEvery   time.Duration // each caller asks the token function this often; default 60s
	Seed          uint64        // fault and data randomness; default 1
	Logs          io.Writer     // every component logs here at debug level; default io.Discard
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defD(&c.Duration, 24*time.Hour)
	def(&c.Apps, 3)
	def(&c.Sweepers, 5)
	defD(&c.MaxSkew, 2*time.Second)
	def(&c.Consumers, 50)
	def(&c.Callers, 5)
	def(&c.Messages, 1000)
	defD(&c.Step, 5*time.Second)
	defD(&c.ConsumerEvery, 30*time.Second)
	defD(&c.CallerEvery, 60*time.Second)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logs == nil {
		c.Logs = io.Discard
	}
	return c
}

// Start is the first instant of every run: midnight in Shanghai, so the
// forced-refresh day (Asia/Shanghai) turns over at the end of a full day.
var Start = time.Date(2027, 1, 15, 0, 0, 0, 0, time.FixedZone("Asia/Shanghai", 8*3600))

// Fault rates of issue 6: 10% errcode -1 and 2% timeouts on every WeChat
// endpoint wxcentral or its consumers call.
const (
	rateSystemBusy = 0.10
	rateTimeout    = 0.02
	// refresherTimeout is the refreshers' HTTP timeout; an injected
	// timeout on stable_token or getticket answers after timeoutLatency,
	// so the client really times out (in wall time: these endpoints see a
	// few dozen calls a day).
	refresherTimeout = 150 * time.Millisecond
	timeoutLatency   = 250 * time.Millisecond
	// ticketApp is the index of the app that also keeps a jsapi_ticket.
	ticketApp = 0
	// putFailureRate is the share of pushes whose first publish fails.
	putFailureRate = 0.03
	// handlerFailureRate is the share of pushes whose handler fails on its
	// first run.
	handlerFailureRate = 0.05
)

// The account types beside Official Accounts (the apps document's type).
const (
	typeMiniProgram = "miniprogram"
	typeWeCom       = "wecom"
	// wecomConsumers read the WeCom app's token through tokenclient.
	wecomConsumers = 2
)

// wecomFaults installs the day-long random faults on WeCom: errcode -1
// and dropped connections (before or after WeCom acted) at the rates of
// WeChat's.
func wecomFaults(sim *wechattest.WeComServer) {
	var choices []wechattest.Fault
	for range 10 {
		choices = append(choices, wechattest.ErrcodeFault(wechat.CodeSystemBusy))
	}
	choices = append(choices, wechattest.DropFault(), wechattest.Fault{Drop: true, AfterProcessing: true})
	for _, ep := range []wechattest.Endpoint{wechattest.EndpointWeComGetToken, wechattest.EndpointWeComAgentConfigTicket} {
		sim.SetFaultRate(ep, rateSystemBusy+rateTimeout, choices...)
	}
}

// valid is the oracle of the API that issued appid's tokens.
func (w *world) valid(appid, token string, at time.Time) bool {
	if appid == w.wecomApp.ID {
		return w.wecom.Valid(appid, token, at)
	}
	return w.sim.Valid(appid, token, at)
}

// backgroundFaults installs the day-long random faults.
func backgroundFaults(sim *wechattest.Server) {
	busy := wechattest.ErrcodeFault(wechat.CodeSystemBusy)
	// Weighted by repetition: 10 parts -1, 2 parts timeout.
	weighted := func(timeouts ...wechattest.Fault) []wechattest.Fault {
		var out []wechattest.Fault
		for range 10 {
			out = append(out, busy)
		}
		for i := range 2 {
			out = append(out, timeouts[i%len(timeouts)])
		}
		return out
	}
	rate := rateSystemBusy + rateTimeout
	// Refresher endpoints: a real client timeout, the answer either lost
	// before or after WeChat acted on the call.
	slow := wechattest.Fault{Latency: timeoutLatency, Drop: true}
	slowAfter := wechattest.Fault{Latency: timeoutLatency, Drop: true, AfterProcessing: true}
	for _, ep := range []wechattest.Endpoint{wechattest.EndpointStableToken, wechattest.EndpointGetTicket} {
		sim.SetFaultRate(ep, rate, weighted(slow, slowAfter)...)
	}
	// Consumer endpoints see tens of thousands of calls: their timeouts
	// are the connection dropped without an answer, before or after WeChat
	// acted, which is what a timeout is to the caller, without spending
	// wall time.
	drop := wechattest.DropFault()
	dropAfter := wechattest.Fault{Drop: true, AfterProcessing: true}
	for _, ep := range []wechattest.Endpoint{wechattest.EndpointCustomSend, wechattest.EndpointUserInfo} {
		sim.SetFaultRate(ep, rate, weighted(drop, dropAfter)...)
	}
}

// app is one configured account: an Official Account, the mini-program,
// or the WeCom app (ID <corpid>:<agent>).
type app struct {
	Type     string // "", "miniprogram" or "wecom" (the apps document's type)
	ID       string
	CorpID   string // wecom
	Agent    string // wecom
	Secret   string
	Token    string // callback token
	AESKey   string // EncodingAESKey
	Kinds    []credential.Kind
	Follower string
}

// world is everything one run drives.
type world struct {
	cfg   Config
	t     testing.TB
	clock *wechattest.Clock
	// handlerClock is the callback handlers' view of clock (see stepClock).
	handlerClock *stepClock
	end          time.Time
	rng          *rand.Rand // the scenario's own randomness (data, which pushes fail)

	sim   *wechattest.Server
	wecom *wechattest.WeComServer // the WeCom app's API
	proxy *FaultProxy
	aws   *fakeaws.Server
	table string
	creds *dynamo.CredentialStore
	log   *slog.Logger
	// metrics is where every component's EMF lines go (and the log
	// writer, for the audit); emf is the emitter they share.
	metrics *metricLog
	emf     *metrics.Emitter

	// apps are the Official Accounts (cfg.Apps) and the mini-program, all
	// on sim; wecomApp is on wecom.
	apps       []app
	wecomApp   app
	refreshFns []*refreshlambda.Handler // the refresh function, one per sweeper
	refreshers []*refresh.Refresher     // their refreshers
	calls      *tokenCallLog
	nextForce  atomic.Int64

	consumers []*consumer
	callers   []*caller
	callbacks []*callbacklambda.Handler
	msgs      []*message

	incidents incidents
	acct      accounting
	secrets   secrets
}

// secrets are every value the log audit looks for.
type secrets struct {
	mu       sync.Mutex
	contents []string // message contents sent and received
}

func (s *secrets) addContent(c string) {
	s.mu.Lock()
	s.contents = append(s.contents, c)
	s.mu.Unlock()
}

// noBackoff retries at once: the virtual clock does not move during a
// step, so waiting in wall time would only slow the run.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// fastRetryer is the SDK's standard retryer with two attempts, no backoff
// and no retry quota.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.Backoff = noBackoff{}
		o.RateLimiter = ratelimit.None
	})
}

func newWorld(t testing.TB, cfg Config) *world {
	cfg = cfg.withDefaults()
	w := &world{
		cfg:   cfg,
		t:     t,
		clock: wechattest.NewClock(Start),
		end:   Start.Add(cfg.Duration),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+1)),
		log:   slog.New(slog.NewJSONHandler(cfg.Logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	w.handlerClock = &stepClock{virtual: w.clock, began: time.Now()}
	w.metrics = &metricLog{}
	w.emf = metrics.New(io.MultiWriter(w.metrics, cfg.Logs), metrics.WithClock(w.clock.Now))
	w.sim = wechattest.NewServer(wechattest.WithClock(w.clock.Now), wechattest.WithSeed(cfg.Seed))
	t.Cleanup(w.sim.Close)
	backgroundFaults(w.sim)
	w.wecom = wechattest.NewWeComServer(wechattest.WithClock(w.clock.Now), wechattest.WithSeed(cfg.Seed+2))
	t.Cleanup(w.wecom.Close)
	wecomFaults(w.wecom)

	// DynamoDB: dynalite behind the fault proxy.
	db := dynamotest.Shared(t)
	_, w.table = db.NewTable(t)
	proxy, err := NewFaultProxy(db.Endpoint)
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	t.Cleanup(proxy.Close)
	w.proxy = proxy
	dcfg := dynamotest.AWSConfig()
	dcfg.Retryer = fastRetryer
	ddb := dynamodb.NewFromConfig(dcfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(proxy.URL) })
	w.creds = dynamo.NewCredentialStore(ddb, w.table)

	// EventBridge: fakeaws.
	w.aws = fakeaws.New(t)
	acfg := w.aws.AWSConfig()
	acfg.Retryer = fastRetryer
	publisher := eventbus.New(eventbridge.NewFromConfig(acfg), "wxcentral-chaos")

	for i := range cfg.Apps {
		a := app{
			ID:       fmt.Sprintf("wxc4a05%09d", i),
			Secret:   w.randomText(32),
			Token:    w.randomText(24),
			AESKey:   base64.StdEncoding.EncodeToString(w.randomBytes(32))[:43],
			Kinds:    []credential.Kind{credential.AccessToken},
			Follower: fmt.Sprintf("oChaosFollower%02d", i),
		}
		if i == ticketApp {
			a.Kinds = append(a.Kinds, credential.JSAPITicket)
		}
		w.apps = append(w.apps, a)
		w.sim.AddApp(a.ID, a.Secret)
		if err := w.sim.AddUser(a.ID, wechat.UserInfo{Subscribe: 1, OpenID: a.Follower, Language: "en"}); err != nil {
			t.Fatalf("chaos: %v", err)
		}
	}
	// One mini-program beside them: stable_token like an Official
	// Account, pushes answered success, no tickets.
	mini := app{Type: typeMiniProgram, ID: "wxc4a05mini00000", Secret: w.randomText(32), Token: w.randomText(24),
		AESKey: base64.StdEncoding.EncodeToString(w.randomBytes(32))[:43], Kinds: []credential.Kind{credential.AccessToken},
		Follower: "oChaosMiniUser00"}
	w.apps = append(w.apps, mini)
	w.sim.AddMiniProgram(mini.ID, mini.Secret)
	if err := w.sim.AddUser(mini.ID, wechat.UserInfo{Subscribe: 1, OpenID: mini.Follower, Language: "en"}); err != nil {
		t.Fatalf("chaos: %v", err)
	}
	// One WeCom app: gettoken at expiry, revoked early mid-run.
	w.wecomApp = app{Type: typeWeCom, CorpID: "wwc4a05c0000000001", Agent: "1000002", Secret: w.randomText(43),
		Kinds: []credential.Kind{credential.AccessToken}}
	w.wecomApp.ID = wechattest.WeComCredentialID(w.wecomApp.CorpID, w.wecomApp.Agent)
	if err := w.wecom.AddApp(w.wecomApp.CorpID, w.wecomApp.Agent, w.wecomApp.Secret); err != nil {
		t.Fatalf("chaos: %v", err)
	}

	// Refreshers: one per sweeper, each with its own skewed clock.
	w.calls = &tokenCallLog{base: http.DefaultTransport.(*http.Transport).Clone(), now: w.clock.Now,
		wecomIDs: map[string]string{w.wecomApp.CorpID + "\x00" + w.wecomApp.Secret: w.wecomApp.ID}}
	appsDoc := w.appsDocument()
	for i := range cfg.Sweepers {
		skew := time.Duration(0)
		if cfg.Sweepers > 1 {
			skew = -cfg.MaxSkew + time.Duration(i)*2*cfg.MaxSkew/time.Duration(cfg.Sweepers-1)
		}
		now := func() time.Time { return w.clock.Now().Add(skew) }
		wc := wechat.NewClient(wechat.WithBaseURL(w.sim.URL), wechat.WithClock(now),
			wechat.WithHTTPClient(&http.Client{Timeout: refresherTimeout, Transport: w.calls}))
		wcc := wechat.NewWeComClient(wechat.WithBaseURL(w.wecom.URL), wechat.WithClock(now),
			wechat.WithHTTPClient(&http.Client{Timeout: refresherTimeout, Transport: w.calls}))
		fn, err := refreshlambda.New(refreshlambda.Deps{
			Store: w.creds, WeChat: wc, WeCom: wcc, Apps: appsDoc,
			ForceDailyLimit: credential.DefaultForceDailyLimit,
			Logger:          w.log.With("component", "refresh", "sweeper", i, "skew", skew.String()),
			Metrics:         w.emf,
			Tune: func(o *refresh.Options) {
				o.Now, o.Backoff, o.WaitPoll, o.MaxWait = now, time.Millisecond, 5*time.Millisecond, 5*time.Second
			},
		})
		if err != nil {
			t.Fatalf("chaos: %v", err)
		}
		w.refreshFns = append(w.refreshFns, fn)
		w.refreshers = append(w.refreshers, fn.Refresher)
	}

	// Consumers and token-function callers: each a separate service with
	// its own cache, forced refreshes going to the refresh "function".
	consumerHTTP := &http.Client{Timeout: 5 * time.Second}
	for i := range cfg.Consumers {
		a := w.apps[i%len(w.apps)]
		wc := wechat.NewClient(wechat.WithBaseURL(w.sim.URL), wechat.WithClock(w.clock.Now), wechat.WithHTTPClient(consumerHTTP))
		w.consumers = append(w.consumers, &consumer{
			id: i, app: a, wc: wc, userInfo: i%2 == 0,
			tc: w.tokenClient(wc, w.log.With("component", "consumer", "consumer", i)),
		})
	}
	// WeCom consumers: calls WeCom authenticates with the token (the
	// agent_config ticket), reporting 40014/42001 through Do.
	wecomClient := wechat.NewWeComClient(wechat.WithBaseURL(w.wecom.URL), wechat.WithClock(w.clock.Now), wechat.WithHTTPClient(consumerHTTP))
	for i := range wecomConsumers {
		id := cfg.Consumers + i
		wc := wechat.NewClient(wechat.WithBaseURL(w.sim.URL), wechat.WithClock(w.clock.Now), wechat.WithHTTPClient(consumerHTTP))
		w.consumers = append(w.consumers, &consumer{
			id: id, app: w.wecomApp, wc: wc, wecom: wecomClient,
			tc: w.tokenClient(wc, w.log.With("component", "consumer", "consumer", id)),
		})
	}
	for i := range cfg.Callers + 1 {
		a := w.wecomApp // the last caller asks for the WeCom app's token
		if i < cfg.Callers {
			a = w.apps[i%len(w.apps)]
		}
		wc := wechat.NewClient(wechat.WithBaseURL(w.sim.URL), wechat.WithClock(w.clock.Now), wechat.WithHTTPClient(consumerHTTP))
		fn, err := tokenlambda.New(tokenlambda.Deps{
			Reader: tokenclient.NewStoreReader(w.creds), Invalidator: w.invalidator(),
			Logger: w.log.With("component", "token", "instance", i), Clock: w.clock.Now,
			Metrics: w.emf,
			Client:  []tokenclient.Option{tokenclient.WithReadTimeout(5 * time.Second)},
		})
		if err != nil {
			t.Fatalf("chaos: %v", err)
		}
		c := &caller{id: i, app: a, wc: wc, srv: fn.Server}
		if a.Type == typeWeCom {
			c.wecom = wecomClient
		}
		w.callers = append(w.callers, c)
	}

	// Callback handler instances sharing the dedupe table and the bus.
	cbcfg := &callback.Config{}
	for _, a := range w.apps {
		cbcfg.Apps = append(cbcfg.Apps, callback.AppConfig{Type: callback.AppType(a.Type), AppID: a.ID, Token: a.Token, EncodingAESKey: a.AESKey, Mode: callback.ModeSafe})
	}
	if err := cbcfg.Validate(); err != nil {
		t.Fatalf("chaos: callback config: %v", err)
	}
	dedupe := dynamo.NewDedupeStore(ddb, w.table)
	for i := range 3 {
		mux := callback.NewMux()
		mux.HandleFunc(callback.Match{}, w.runHandler)
		h, err := callbacklambda.New(callbacklambda.Deps{
			Config: callback.StaticConfig(cbcfg), Routes: mux, Store: dedupe, Publisher: publisher,
			Logger: w.log.With("component", "callback", "instance", i), Metrics: w.emf,
			Tune: func(o *callback.Options) { o.Clock, o.PollInterval = w.handlerClock.Now, 2*time.Millisecond },
		})
		if err != nil {
			t.Fatalf("chaos: %v", err)
		}
		w.callbacks = append(w.callbacks, h)
	}
	w.planMessages()
	w.acct.init(w)
	return w
}

// tokenClient is a consumer's reader with its own cache.
func (w *world) tokenClient(wc *wechat.Client, l *slog.Logger) *tokenclient.Client {
	return tokenclient.New(tokenclient.NewStoreReader(w.creds),
		tokenclient.WithClock(w.clock.Now), tokenclient.WithInvalidator(w.invalidator()),
		tokenclient.WithWeChat(wc), tokenclient.WithLogger(l), tokenclient.WithReadTimeout(5*time.Second))
}

// invalidator sends forced refreshes to the refresh function's instances,
// round robin, as direct invokes.
func (w *world) invalidator() tokenclient.Invalidator {
	return tokenclient.NewDirectInvalidator(func(ctx context.Context, payload []byte) ([]byte, error) {
		return w.refreshFns[int(w.nextForce.Add(1))%len(w.refreshFns)].Invoke(ctx, payload)
	})
}

// appsDocument is the apps document of the run's accounts.
func (w *world) appsDocument() config.Source {
	type entry struct {
		Type    string   `json:"type,omitempty"`
		AppID   string   `json:"appid,omitempty"`
		CorpID  string   `json:"corpid,omitempty"`
		Agent   string   `json:"agent,omitempty"`
		Secret  string   `json:"secret"`
		Tickets []string `json:"tickets,omitempty"`
	}
	var doc struct {
		Apps []entry `json:"apps"`
	}
	for _, a := range append(slices.Clone(w.apps), w.wecomApp) {
		e := entry{Type: a.Type, Secret: a.Secret}
		if a.Type == typeWeCom {
			e.CorpID, e.Agent = a.CorpID, a.Agent
		} else {
			e.AppID = a.ID
		}
		for _, k := range a.Kinds {
			if k.IsTicket() {
				e.Tickets = append(e.Tickets, k.TicketType())
			}
		}
		doc.Apps = append(doc.Apps, e)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		w.t.Fatalf("chaos: apps document: %v", err)
	}
	return config.SourceFunc(func(context.Context) ([]byte, error) { return data, nil })
}

func (w *world) randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return b
}

// randomText is n characters of URL-safe base64.
func (w *world) randomText(n int) string {
	return base64.RawURLEncoding.EncodeToString(w.randomBytes(n))[:n]
}

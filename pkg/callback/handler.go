package callback

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// Options configure a Handler. Config is required.
type Options struct {
	Config ConfigSource
	// Routes is the application's handler. A *Mux is consulted first and the
	// built-ins (welcome, auto_replies) answer what it does not match; any
	// other MessageHandler receives every push and the built-ins are unused.
	Routes    MessageHandler
	Store     DedupeStore // nil: no de-duplication
	Publisher Publisher   // nil: nothing is published
	Clock     func() time.Time
	// MaxSkew is the replay window for `timestamp`, either direction: zero
	// means DefaultMaxSkew, a negative value disables the check; at most
	// DedupeTTL.
	MaxSkew        time.Duration
	Budget         time.Duration // a request's time from arrival; zero: DefaultBudget
	HandlerTimeout time.Duration // at most this for the handler, within the budget; zero: DefaultHandlerTimeout
	InProgressWait time.Duration // zero: DefaultInProgressWait
	ClaimLease     time.Duration // how long a claim blocks other deliveries; zero: DefaultClaimLease
	StoreTimeout   time.Duration // bound on one store call; zero: DefaultStoreTimeout
	PublishTimeout time.Duration // bound on one Publish, within the budget; zero: DefaultPublishTimeout
	PollInterval   time.Duration // dedupe polling while in progress; zero: 100 ms
	Random         io.Reader     // nonce source for reply encryption; nil: crypto/rand
	Logger         *slog.Logger  // nil: slog.Default()
	// Metrics counts WeChat's repeated deliveries (CallbackDuplicates by
	// AppId, answered from the stored reply or while in progress); nil: none.
	Metrics *metrics.Emitter
	// Authorizers finds the platform of an appid without an entry of its
	// own, whose pushes are then served with that platform's entry
	// (type component); nil: such an appid is unknown. Its answers are
	// cached (DefaultAuthorizerTTL, DefaultUnknownTTL).
	Authorizers AuthorizerLookup
}

// Handler is the http.Handler for `GET|POST /wechat/{appid}`: it applies
// docs/callback.md rule by rule. Create it with NewHandler.
type Handler struct {
	opt         Options
	compiled    atomic.Pointer[compiled]
	pool        sync.Pool
	authorizers *authorizerCache // nil without Options.Authorizers
}

type compiled struct {
	cfg  *Config
	apps map[string]*app
	// platforms are the component entries by component appid: no route of
	// their own, the settings their authorizers' pushes are served with.
	platforms map[string]*app
}

type app struct {
	id      string // the credential id: appid, or corpid:agent
	kind    AppType
	agent   string // wecom: the agent its pushes must name
	token   string
	mode    Mode
	json    bool      // pushes and envelopes are JSON (a mini-program's data_format json)
	noReply bool      // answered `success` whatever the handler replies (mini-programs)
	ciphers []*Cipher // current, then previous
	builtin *Mux
}

// NewHandler returns a Handler. It validates the configuration it can read
// without I/O (a StaticConfig, see LoadDeferred) and refuses an invalid
// one; a configuration loaded later is validated when first compiled, and
// an invalid one answers 503 to every request.
func NewHandler(opt Options) (*Handler, error) {
	if opt.Config == nil {
		return nil, errors.New("callback: Options.Config is required")
	}
	if opt.MaxSkew > DedupeTTL {
		return nil, fmt.Errorf("callback: Options.MaxSkew %v exceeds the dedupe record's life (%v)", opt.MaxSkew, DedupeTTL)
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.MaxSkew == 0 {
		opt.MaxSkew = DefaultMaxSkew
	}
	if opt.Budget <= 0 {
		opt.Budget = DefaultBudget
	}
	if opt.HandlerTimeout <= 0 {
		opt.HandlerTimeout = DefaultHandlerTimeout
	}
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = DefaultStoreTimeout
	}
	if opt.InProgressWait <= 0 {
		opt.InProgressWait = DefaultInProgressWait
	}
	if opt.ClaimLease <= 0 {
		opt.ClaimLease = DefaultClaimLease
	}
	if opt.PublishTimeout <= 0 {
		opt.PublishTimeout = DefaultPublishTimeout
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 100 * time.Millisecond
	}
	if opt.Random == nil {
		opt.Random = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := &Handler{opt: opt}
	if opt.Authorizers != nil {
		h.authorizers = newAuthorizerCache(opt.Authorizers, opt.Clock, DefaultAuthorizerCacheSize)
	}
	h.pool.New = func() any { return new(scratch) }
	if _, err := h.apps(context.WithValue(context.Background(), deferLoadKey{}, true)); err != nil && !errors.Is(err, ErrNotLoaded) {
		return nil, err
	}
	return h, nil
}

// scratch holds per-request buffers, pooled.
type scratch struct {
	body, dec, plain, seal, out []byte
	env                         []Field
	random                      [16]byte
	ts                          [20]byte // reply TimeStamp digits
}

func (h *Handler) apps(ctx context.Context) (*compiled, error) {
	cfg, err := h.opt.Config(ctx)
	if err != nil {
		return nil, err
	}
	if c := h.compiled.Load(); c != nil && c.cfg == cfg {
		return c, nil
	}
	if cfg == nil {
		return nil, errors.New("callback config: the source returned no configuration")
	}
	// Checked here, not only in ParseConfig: a Config built in code must not
	// fail open (an unknown mode read as plaintext, an empty token).
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &compiled{cfg: cfg, apps: make(map[string]*app, len(cfg.Apps)), platforms: map[string]*app{}}
	for i := range cfg.Apps {
		a, err := compileApp(&cfg.Apps[i])
		if err != nil {
			return nil, fmt.Errorf("callback config: apps[%d]: %w", i, err)
		}
		if a.kind == TypeComponent {
			c.platforms[a.id] = a
			continue
		}
		c.apps[a.id] = a
	}
	h.compiled.Store(c)
	return c, nil
}

func compileApp(ac *AppConfig) (*app, error) {
	a := &app{id: ac.ID(), kind: cmp.Or(ac.Type, TypeOfficialAccount), agent: ac.Agent, token: ac.Token, mode: cmp.Or(ac.Mode, ModeSafe),
		json: ac.DataFormat == FormatJSON, noReply: ac.Type == TypeMiniProgram, builtin: NewMux()}
	for _, k := range []string{ac.EncodingAESKey, ac.PreviousEncodingAESKey} {
		if k == "" {
			continue
		}
		c, err := NewCipher(k, ac.ReceiveID())
		if err != nil {
			return nil, err
		}
		a.ciphers = append(a.ciphers, c)
	}
	if a.mode != ModePlain && len(a.ciphers) == 0 {
		return nil, errors.New("encoding_aes_key: missing")
	}
	if ac.Welcome != "" {
		a.builtin.Handle(Match{MsgType: MsgTypeEvent, Event: EventSubscribe}, replyWith(TextReply{Content: ac.Welcome}))
	}
	for _, r := range ac.AutoReplies {
		a.builtin.Handle(Match{MsgType: MsgTypeText, Content: r.Match, ContentPrefix: r.Prefix}, replyWith(TextReply{Content: r.Reply}))
	}
	return a, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	due := h.due(r.Context()) // one budget from arrival
	s := h.pool.Get().(*scratch)
	appid, o, msg := h.serve(r, s, due)
	wh := w.Header()
	wh["Content-Type"] = o.ctype
	if o.name == "handshake" {
		wh["X-Content-Type-Options"] = nosniff // echostr is reflected
	}
	w.WriteHeader(o.status)
	w.Write(o.body)
	h.pool.Put(s)
	if o.name == "duplicate" || o.name == "in_progress" {
		_ = h.opt.Metrics.Emit(metrics.CallbackDuplicate(appid))
	}
	attrs := [5]slog.Attr{slog.String("appid", appid), slog.String("outcome", o.name), slog.Int("status", o.status)}
	n := 3
	if msg != nil {
		attrs[3], attrs[4] = slog.String("msg_type", msg.MsgType), slog.String("event", msg.Event)
		n = 5
	}
	level := slog.LevelInfo
	if o.status >= 500 {
		level = slog.LevelError
	} else if o.status >= 400 {
		level = slog.LevelWarn
	}
	if h.opt.Logger.Enabled(r.Context(), level) {
		h.opt.Logger.LogAttrs(r.Context(), level, "callback", attrs[:n]...)
	}
}

// serve runs the protocol's steps in order (docs/callback.md, order of
// checks); the first step that decides the answer ends the request.
func (h *Handler) serve(r *http.Request, s *scratch, due time.Time) (string, outcome, *Message) {
	ctx := r.Context()
	appid := pathAppID(r)
	c, err := h.loadApps(ctx, due)
	if err != nil {
		h.opt.Logger.ErrorContext(ctx, "callback configuration", slog.String("error", err.Error()))
		return appid, reject(http.StatusServiceUnavailable, "config_error"), nil
	}
	a := c.apps[appid]
	if a == nil {
		var o outcome
		if a, o = h.authorizerApp(ctx, due, c, appid); o.decided() {
			return appid, o, nil
		}
	}
	if a == nil {
		return appid, reject(http.StatusNotFound, "unknown_app"), nil
	}
	body, o := receive(r, s)
	if o.decided() {
		return appid, o, nil
	}
	q := parseParams(r.URL.RawQuery)
	if o := h.authenticate(a, &q); o.decided() {
		return appid, o, nil
	}
	if r.Method == http.MethodGet {
		return appid, h.handshake(a, s, &q), nil
	}
	msg, cipher, o := h.open(a, s, &q, body)
	if o.decided() {
		return appid, o, nil
	}
	msg.AppID = appid
	return appid, h.dispatch(ctx, due, a, s, msg, cipher, q.nonce), msg
}

// dispatch de-duplicates, publishes, routes and answers an accepted push
// by due: each step gets what is left, less what the steps after it need.
func (h *Handler) dispatch(ctx context.Context, due time.Time, a *app, s *scratch, msg *Message, c *Cipher, nonce string) outcome {
	var cl *claimed
	var reserve time.Duration // kept back for recording the reply
	if h.opt.Store != nil {
		reserve = h.opt.StoreTimeout
		got, o := h.claim(ctx, due, reserve, a, s, msg, c, nonce)
		if o.decided() {
			return o
		}
		cl = &got
	}
	if h.opt.Publisher != nil {
		p, err := NewPush(msg)
		if err == nil {
			pctx, cancel := stepContext(ctx, due, reserve, h.opt.PublishTimeout)
			err = h.opt.Publisher.Publish(pctx, p)
			cancel()
		}
		if err != nil {
			return h.release(ctx, due, a, cl, "publish", err)
		}
	}
	reply, err, timedOut := h.route(ctx, a, msg, min(h.opt.HandlerTimeout, time.Until(due)-reserve))
	if err != nil {
		return h.release(ctx, due, a, cl, "handler", err)
	}
	if a.noReply {
		reply = nil
	}
	name := "replied"
	s.plain = AppendReply(s.plain[:0], reply, msg, h.opt.Clock().Unix())
	if timedOut {
		name, s.plain = "handler_timeout", s.plain[:0]
	} else if len(s.plain) == 0 {
		name = "success"
	}
	if cl != nil {
		if err := h.complete(ctx, due, a, *cl, s.plain); err != nil {
			return h.release(ctx, due, a, cl, "store", err)
		}
	}
	return h.answer(a, s, s.plain, c, nonce, name)
}

func (h *Handler) logError(ctx context.Context, appid, stage string, err error) {
	h.opt.Logger.LogAttrs(ctx, slog.LevelError, "callback "+stage, slog.String("appid", appid), slog.String("error", err.Error()))
}

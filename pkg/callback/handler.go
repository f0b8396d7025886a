package callback

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// MaxBodyBytes is the largest accepted push body (64 KiB).
const MaxBodyBytes = 64 << 10

// Defaults of Options.
const (
	// DefaultBudget is the time a request has from arrival: claim, publish,
	// handler and complete each get what is left of it, and the rest of the
	// 5 s WeChat waits covers writing the answer (DESIGN.md §7).
	DefaultBudget         = 4500 * time.Millisecond
	DefaultHandlerTimeout = 4 * time.Second
	DefaultInProgressWait = 3 * time.Second
	// DefaultClaimLease is how long a claim holds off other deliveries. It
	// covers the whole budget, and stays short so that a retry after a
	// crashed instance (WeChat retries about 5 s apart) takes the stale
	// claim over instead of answering `success` for a push nobody handled:
	// a duplicate run is preferred to a lost push.
	DefaultClaimLease = 6 * time.Second
	// DefaultStoreTimeout bounds one dedupe store call (DynamoDB answers in
	// milliseconds); it is also what publish and the handler leave for
	// recording the reply.
	DefaultStoreTimeout = 500 * time.Millisecond
	// DefaultPublishTimeout bounds one Publish, within what is left of the
	// budget: a slow EventBridge (seconds) still succeeds.
	DefaultPublishTimeout = 3 * time.Second
)

// minReleaseTimeout is the least a claim release gets after a failure,
// even when the budget is spent: an unreleased claim delays WeChat's retry.
const minReleaseTimeout = 100 * time.Millisecond

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
}

// Handler is the http.Handler for `GET|POST /wechat/{appid}`: it applies
// DESIGN.md §7 rule by rule. Create it with NewHandler.
type Handler struct {
	opt       Options
	compiled  atomic.Pointer[compiled]
	pool      sync.Pool
	deadlines deadlines // of application handlers
	// randomBuffered: Options.Random is the default crypto/rand, read in
	// batches; a caller's reader is read 16 bytes per reply.
	randomBuffered bool
}

type compiled struct {
	cfg  *Config
	apps map[string]*app
}

type app struct {
	id      string
	token   string
	mode    Mode
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
	buffered := opt.Random == nil
	if buffered {
		opt.Random = rand.Reader
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	h := &Handler{opt: opt, randomBuffered: buffered}
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
	rnd                         [256]byte // batch of crypto/rand for random
	sha                         digest    // SHA-1 state for msg_signature and the reply's
	rndUsed                     int       // bytes of rnd already used
	ts                          [20]byte  // reply TimeStamp digits
}

// envelope parses the outer XML of an encrypted push into s.env. The
// result aliases body and s: it must not outlive the request.
func (s *scratch) envelope(body string) ([]Field, error) {
	env, err := scanFast(body, s.env[:0])
	if err == errFallback {
		return parseReference([]byte(body))
	}
	if err == nil {
		s.env = env
	}
	return env, err
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
	c := &compiled{cfg: cfg, apps: make(map[string]*app, len(cfg.Apps))}
	for i := range cfg.Apps {
		a, err := compileApp(&cfg.Apps[i])
		if err != nil {
			return nil, fmt.Errorf("callback config: apps[%d]: %w", i, err)
		}
		c.apps[a.id] = a
	}
	h.compiled.Store(c)
	return c, nil
}

func compileApp(ac *AppConfig) (*app, error) {
	a := &app{id: ac.AppID, token: ac.Token, mode: ac.Mode, builtin: NewMux()}
	if a.mode == "" {
		a.mode = ModeSafe
	}
	for _, k := range []string{ac.EncodingAESKey, ac.PreviousEncodingAESKey} {
		if k == "" {
			continue
		}
		c, err := NewCipher(k, ac.AppID)
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

// Content-Type header values of responses, shared between responses (a
// written header value is not modified in place).
var (
	ctypeText = []string{"text/plain; charset=utf-8"}
	ctypeXML  = []string{"text/xml; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)

// outcome is the result of one request, for the response and the log line.
type outcome struct {
	status int
	name   string // log outcome
	body   []byte
	ctype  []string
}

var successBody = []byte("success")

func reject(status int, name string) outcome {
	return outcome{status: status, name: name, body: []byte(http.StatusText(status)), ctype: ctypeText}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	due := monotonic() + h.opt.Budget // one budget from arrival
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

func (h *Handler) serve(r *http.Request, s *scratch, due time.Duration) (string, outcome, *Message) {
	ctx := r.Context()
	appid := pathAppID(r)
	c, err := h.apps(ctx)
	if err != nil {
		h.opt.Logger.ErrorContext(ctx, "callback configuration", slog.String("error", err.Error()))
		return appid, reject(http.StatusServiceUnavailable, "config_error"), nil
	}
	a := c.apps[appid]
	if a == nil {
		return appid, reject(http.StatusNotFound, "unknown_app"), nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return appid, reject(http.StatusMethodNotAllowed, "bad_method"), nil
	}
	if r.ContentLength > MaxBodyBytes { // every request, before the signature (DESIGN §7)
		return appid, reject(http.StatusRequestEntityTooLarge, "too_large"), nil
	}
	var body []byte
	if r.Method == http.MethodPost {
		if body, err = readBody(r.Body, s.body[:0]); err != nil {
			if err == errTooLarge {
				return appid, reject(http.StatusRequestEntityTooLarge, "too_large"), nil
			}
			return appid, reject(http.StatusBadRequest, "unreadable_body"), nil
		}
		s.body = body
	}
	q := parseParams(r.URL.RawQuery)
	timestamp, nonce := q.timestamp, q.nonce
	if !VerifySignature(q.signature, a.token, timestamp, nonce) {
		return appid, reject(http.StatusForbidden, "bad_signature"), nil
	}
	if !h.fresh(timestamp) {
		return appid, reject(http.StatusForbidden, "stale_timestamp"), nil
	}
	if r.Method == http.MethodGet {
		echostr, ok := q.echostr, q.hasEchostr
		if !ok {
			return appid, reject(http.StatusBadRequest, "missing_echostr"), nil
		}
		return appid, outcome{status: 200, name: "handshake", body: []byte(echostr), ctype: ctypeText}, nil
	}

	encrypted := false
	var env []Field
	switch et := q.encryptType; {
	case a.mode == ModeSafe:
		if et != "aes" {
			return appid, reject(http.StatusForbidden, "not_encrypted"), nil
		}
		encrypted = true
	case a.mode == ModeCompat:
		// Encrypted when encrypt_type=aes (DESIGN §7), and whenever the body
		// carries <Encrypt>: a captured (timestamp, nonce, signature) replayed
		// without encrypt_type must not be answered in clear.
		encrypted = et == "aes"
		if !encrypted {
			if env, err = s.envelope(unsafe.String(unsafe.SliceData(body), len(body))); err != nil {
				return appid, reject(http.StatusBadRequest, "malformed"), nil
			}
			_, encrypted = topField(env, "Encrypt")
		}
	}
	var cipher *Cipher
	if encrypted {
		// The envelope is only read during this request, so it is parsed
		// from a view of the pooled body rather than a copy.
		if env == nil {
			if env, err = s.envelope(unsafe.String(unsafe.SliceData(body), len(body))); err != nil {
				return appid, reject(http.StatusBadRequest, "malformed"), nil
			}
		}
		encrypt, ok := topField(env, "Encrypt")
		if !ok {
			return appid, reject(http.StatusForbidden, "not_encrypted"), nil
		}
		if !verifyMsgSignature(&s.sha, q.msgSignature, a.token, timestamp, nonce, encrypt) {
			return appid, reject(http.StatusForbidden, "bad_msg_signature"), nil
		}
		plain, c, err := a.decrypt(s, encrypt)
		if err != nil {
			if errors.Is(err, ErrAppIDMismatch) {
				return appid, reject(http.StatusForbidden, "appid_mismatch"), nil
			}
			return appid, reject(http.StatusBadRequest, "malformed"), nil
		}
		cipher = c
		msg, err := parseMessage(string(plain))
		if err != nil || msg.MsgType == "" {
			return appid, reject(http.StatusBadRequest, "malformed"), nil
		}
		if to, ok := topField(env, "ToUserName"); !ok || to != msg.ToUserName {
			return appid, reject(http.StatusForbidden, "to_mismatch"), nil
		}
		msg.AppID = appid
		return appid, h.dispatch(ctx, due, a, s, msg, cipher, nonce), msg
	}
	msg, err := parseMessage(string(body))
	if err != nil || msg.MsgType == "" {
		return appid, reject(http.StatusBadRequest, "malformed"), nil
	}
	msg.AppID = appid
	return appid, h.dispatch(ctx, due, a, s, msg, nil, nonce), msg
}

// decrypt tries the current key, then the previous one.
func (a *app) decrypt(s *scratch, encrypt string) ([]byte, *Cipher, error) {
	n := base64.StdEncoding.DecodedLen(len(encrypt))
	if cap(s.dec) < n {
		s.dec = make([]byte, n)
	}
	// Decode only reads its source, so a byte view of the string is safe.
	src := unsafe.Slice(unsafe.StringData(encrypt), len(encrypt))
	var firstErr error
	for _, c := range a.ciphers {
		_, msg, err := c.open(s.dec[:n], src)
		if err == nil {
			return msg, c, nil
		}
		if firstErr == nil || errors.Is(err, ErrAppIDMismatch) {
			firstErr = err
		}
	}
	return nil, nil, firstErr
}

// dispatch de-duplicates, publishes, routes and answers an accepted push
// by due (monotonic): each step gets what is left, less what the steps
// after it need.
func (h *Handler) dispatch(ctx context.Context, due time.Duration, a *app, s *scratch, msg *Message, c *Cipher, nonce string) outcome {
	store := h.opt.Store
	var key, owner string
	var reserve time.Duration // kept back for recording the reply
	if store != nil {
		reserve = h.opt.StoreTimeout
		key, owner = msg.DedupeKey(), newOwner()
		digest := msg.Digest()
		// collides: the record belongs to another push under the same key (a
		// forged body reusing a MsgId): its reply is not ours to return.
		collides := func(c Claim) bool {
			return c.State == ClaimCompleted && c.Digest != digest ||
				c.State == ClaimInProgress && c.Digest != "" && c.Digest != digest
		}
		derived := false
		// One InProgressWait budget covers every wait: a claim that is
		// released (its handler failed) is taken over, and when the budget
		// runs out while another delivery still works, the answer is success.
		var budget *time.Timer // started at the first wait
		defer func() {
			if budget != nil {
				budget.Stop()
			}
		}()
	claiming:
		for {
			now := h.opt.Clock()
			cctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
			claim, err := store.Claim(cctx, a.id, key, ClaimRequest{Owner: owner, Digest: digest, Now: now, Until: now.Add(h.opt.ClaimLease)})
			cancel()
			if err != nil {
				h.logError(ctx, a.id, "dedupe claim", err)
				return reject(http.StatusServiceUnavailable, "store_failed")
			}
			if claim.State == ClaimInProgress && !collides(claim) {
				if budget == nil {
					// Waiting leaves time to take a released claim over.
					budget = time.NewTimer(min(h.opt.InProgressWait, due-reserve-h.opt.StoreTimeout-monotonic()))
				}
				if claim, err = h.waitInProgress(ctx, due, budget, a.id, key); err != nil {
					h.logError(ctx, a.id, "dedupe lookup", err)
					return reject(http.StatusServiceUnavailable, "store_failed")
				}
			}
			if collides(claim) {
				if derived { // a second collision needs two equal 64-bit digest prefixes
					h.logError(ctx, a.id, "dedupe", errors.New("key collides twice"))
					return reject(http.StatusServiceUnavailable, "store_failed")
				}
				// A new push: it is de-duplicated under its own key, derived
				// from the plaintext, and the other push's record stays intact.
				key, derived = key+"|"+digest[:16], true
				continue
			}
			switch claim.State {
			case ClaimAcquired:
				break claiming
			case ClaimCompleted:
				return h.answer(a, s, claim.Reply, c, nonce, "duplicate")
			case ClaimInProgress:
				return h.answer(a, s, nil, nil, nonce, "in_progress")
			}
			// Released or expired: try to claim it ourselves.
		}
	}
	release := func(stage string, err error) outcome {
		h.logError(ctx, a.id, stage, err)
		if store != nil {
			// Even past the budget: an unreleased claim delays WeChat's retry.
			d := min(max(due-monotonic(), minReleaseTimeout), h.opt.StoreTimeout)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
			if rerr := store.Release(rctx, a.id, key, owner); rerr != nil {
				h.logError(ctx, a.id, "dedupe release", rerr)
			}
			cancel()
		}
		return reject(http.StatusServiceUnavailable, stage+"_failed")
	}
	if h.opt.Publisher != nil {
		p, err := NewPush(msg)
		if err == nil {
			pctx, cancel := stepContext(ctx, due, reserve, h.opt.PublishTimeout)
			err = h.opt.Publisher.Publish(pctx, p)
			cancel()
		}
		if err != nil {
			return release("publish", err)
		}
	}
	reply, err, timedOut := h.route(ctx, a, msg, min(h.opt.HandlerTimeout, due-reserve-monotonic()))
	if err != nil {
		return release("handler", err)
	}
	name := "replied"
	s.plain = AppendReply(s.plain[:0], reply, msg, h.opt.Clock().Unix())
	if timedOut {
		name, s.plain = "handler_timeout", s.plain[:0]
	} else if len(s.plain) == 0 {
		name = "success"
	}
	if store != nil {
		cctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
		err := store.Complete(cctx, a.id, key, owner, s.plain, h.opt.Clock())
		cancel()
		if errors.Is(err, ErrClaimLost) {
			// Our lease ran out and another delivery holds the claim: the push
			// is published and handled, so it is answered; the record is theirs.
			h.logError(ctx, a.id, "dedupe complete", err)
		} else if err != nil {
			return release("store", err)
		}
	}
	return h.answer(a, s, s.plain, c, nonce, name)
}

// stepContext bounds one step: at most limit, and it ends reserve before
// due (monotonic), leaving that much to the steps after it.
func stepContext(ctx context.Context, due, reserve, limit time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, min(limit, due-reserve-monotonic()))
}

// newOwner is a random token naming one delivery's claim.
func newOwner() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (h *Handler) logError(ctx context.Context, appid, stage string, err error) {
	h.opt.Logger.LogAttrs(ctx, slog.LevelError, "callback "+stage, slog.String("appid", appid), slog.String("error", err.Error()))
}

// waitInProgress polls the store until the other delivery completes or
// releases the claim, or the budget timer fires (then: ClaimInProgress).
func (h *Handler) waitInProgress(ctx context.Context, due time.Duration, budget *time.Timer, appid, key string) (Claim, error) {
	tick := time.NewTicker(h.opt.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-budget.C:
			return Claim{State: ClaimInProgress}, nil
		case <-ctx.Done():
			return Claim{State: ClaimInProgress}, nil
		case <-tick.C:
		}
		lctx, cancel := stepContext(ctx, due, 0, h.opt.StoreTimeout)
		claim, err := h.opt.Store.Lookup(lctx, appid, key, h.opt.Clock())
		cancel()
		if err != nil || claim.State != ClaimInProgress {
			return claim, err
		}
	}
}

type routeResult struct {
	reply Reply
	err   error
}

// route runs the application routes on a worker with a deadline timeout
// away (past it the answer is no reply), or else the built-ins inline.
func (h *Handler) route(ctx context.Context, a *app, msg *Message, timeout time.Duration) (Reply, error, bool) {
	var handler MessageHandler
	if h.opt.Routes != nil {
		if mux, ok := h.opt.Routes.(*Mux); ok {
			if m := mux.Lookup(msg); m != nil {
				handler = m
			}
		} else {
			handler = h.opt.Routes
		}
	}
	if handler == nil {
		// Built-ins (welcome, auto_replies) answer a constant text and cannot
		// block, so they run inline: no worker, no deadline machinery.
		if b := a.builtin.Lookup(msg); b != nil {
			reply, err := b.ServeMessage(ctx, msg)
			return reply, err, false
		}
		return nil, nil, false
	}
	if timeout <= 0 { // the budget is spent: the answer is success
		return nil, nil, true
	}
	j := h.deadlines.start(ctx, timeout, handler, msg)
	hctx := j.ctx
	handlerWorkers.submit(j)
	var res routeResult
	if done := ctx.Done(); done == nil {
		res = <-j.ch // a context that cannot end: wait on the job alone
	} else {
		select {
		case res = <-j.ch:
		case <-done:
			if j.state.CompareAndSwap(jobPending, jobAbandoned) {
				hctx.cancel(ctx.Err())
				return nil, ctx.Err(), false
			}
			res = <-j.ch // the result or the deadline won the race; it is on its way
		}
	}
	if j.state.Load() == jobExpired {
		hctx.cancel(context.DeadlineExceeded)
		return nil, nil, true // the worker may still run: j is left to the GC
	}
	ended := hctx.cancel(context.Canceled)
	j.unref() // the worker is done with j once it has sent
	// A handler that saw its deadline pass (Done or Err) and answered
	// anyway is too late: its reply is dropped.
	if ended == context.DeadlineExceeded {
		return nil, nil, true
	}
	return res.reply, res.err, false
}

// answer writes the reply plaintext (encrypted when the request was);
// an empty reply is `success`, never encrypted.
func (h *Handler) answer(a *app, s *scratch, plain []byte, c *Cipher, nonce, name string) outcome {
	if len(plain) == 0 {
		return outcome{status: 200, name: name, body: successBody, ctype: ctypeText}
	}
	if c == nil {
		s.out = append(s.out[:0], plain...)
		return outcome{status: 200, name: name, body: s.out, ctype: ctypeXML}
	}
	random := &s.random
	if h.randomBuffered {
		// crypto/rand in batches: one read per len(s.rnd)/16 replies.
		if s.rndUsed == 0 || s.rndUsed == len(s.rnd) {
			if _, err := io.ReadFull(h.opt.Random, s.rnd[:]); err != nil {
				return reject(http.StatusServiceUnavailable, "random_failed")
			}
			s.rndUsed = 0
		}
		s.rndUsed += copy(random[:], s.rnd[s.rndUsed:])
	} else if _, err := io.ReadFull(h.opt.Random, random[:]); err != nil {
		return reject(http.StatusServiceUnavailable, "random_failed")
	}
	ts := strconv.AppendInt(s.ts[:0], h.opt.Clock().Unix(), 10)
	s.out = appendEncryptedReply(s.out[:0], &s.seal, &s.sha, c, a.token, unsafe.String(unsafe.SliceData(ts), len(ts)), nonce, random, plain)
	return outcome{status: 200, name: name, body: s.out, ctype: ctypeXML}
}

// fresh reports whether timestamp is within the replay window.
func (h *Handler) fresh(timestamp string) bool {
	ts, ok := parseUnix(timestamp)
	if !ok {
		return false
	}
	if h.opt.MaxSkew < 0 {
		return true
	}
	d := h.opt.Clock().Unix() - ts
	if d < 0 {
		d = -d
	}
	return d <= int64(h.opt.MaxSkew/time.Second)
}

// parseUnix parses a decimal unix time of 1 to 18 digits (no sign).
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int64(c)
	}
	return n, true
}

var errTooLarge = errors.New("body too large")

// readBody reads at most MaxBodyBytes into buf.
func readBody(body io.Reader, buf []byte) ([]byte, error) {
	if body == nil {
		return buf[:0], nil
	}
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxBodyBytes {
				return nil, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxBodyBytes {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// pathAppID is the {appid} path value, or the last path segment.
func pathAppID(r *http.Request) string {
	if v := r.PathValue("appid"); v != "" {
		return v
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

func topField(fields []Field, name string) (string, bool) {
	for i := 1; i < len(fields); i++ {
		if fields[i].Depth == 1 && fields[i].Name == name {
			return fields[i].Value, true
		}
	}
	return "", false
}

func escaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// params are the query parameters the callback reads.
type params struct {
	signature, timestamp, nonce, msgSignature, encryptType, echostr string
	hasEchostr                                                      bool
}

// parseParams reads the callback's parameters from a raw query in one pass
// without building a url.Values; the first occurrence of a key wins, as
// with url.Values.Get. Values are unescaped only when they need it.
func parseParams(raw string) params {
	var p params
	var seen [6]bool
	anyEscaped := escaped(raw) // usually false: WeChat's values are plain
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if anyEscaped && escaped(k) {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		var dst *string
		var i int
		switch k {
		case "signature":
			dst, i = &p.signature, 0
		case "timestamp":
			dst, i = &p.timestamp, 1
		case "nonce":
			dst, i = &p.nonce, 2
		case "msg_signature":
			dst, i = &p.msgSignature, 3
		case "encrypt_type":
			dst, i = &p.encryptType, 4
		case "echostr":
			dst, i = &p.echostr, 5
		default:
			continue
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		if anyEscaped && escaped(v) {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = uv
		}
		*dst = v
	}
	p.hasEchostr = seen[5]
	return p
}

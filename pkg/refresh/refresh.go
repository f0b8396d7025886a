package refresh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Store is the credential store as the refresher uses it; every method is
// one conditional write or one read (pkg/dynamo.CredentialStore).
type Store interface {
	Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error)
	TakeLease(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration) (credential.Record, error)
	Commit(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error)
	RecordFailure(ctx context.Context, appid string, kind credential.Kind, owner string, f credential.Failure) error
	ReleaseLease(ctx context.Context, appid string, kind credential.Kind, owner string) error
	CommitUnleased(ctx context.Context, appid string, kind credential.Kind, c credential.Commit) (credential.Record, error)
	SpendForce(ctx context.Context, appid string, kind credential.Kind, owner string, now time.Time, ttl time.Duration, limit int) (credential.Record, error)

	// The due index and the sweep meta item (docs/refresh.md#finding-due-work).

	// DueItems returns the index entries due by until: AppID, Kind, DueAt
	// and ComponentAppID only.
	DueItems(ctx context.Context, until time.Time) ([]credential.Record, error)
	// MarkDue indexes an item holding the value expiring at expiresAt at
	// due; credential.ErrSuperseded when the value changed meanwhile.
	MarkDue(ctx context.Context, appid string, kind credential.Kind, expiresAt, due time.Time, componentAppID string) error
	// Unindex takes an item no sweep keeps out of the index, unless its
	// due_at moved or a refresher touched it since quietSince
	// (credential.ErrSuperseded).
	Unindex(ctx context.Context, appid string, kind credential.Kind, due, quietSince time.Time) error
	// SweepDigest and PutSweepDigest read and write the digest of the
	// configuration whose every credential is indexed ("" for none).
	SweepDigest(ctx context.Context) (digest string, at time.Time, err error)
	PutSweepDigest(ctx context.Context, digest string, at time.Time) error
}

// WeChat is the WeChat API as the refresher uses it (*wechat.Client).
type WeChat interface {
	StableToken(ctx context.Context, appid, secret string, forceRefresh bool) (wechat.Token, error)
	GetTicket(ctx context.Context, accessToken, ticketType string) (wechat.Ticket, error)
}

// WeCom is WeCom's credential API as the refresher uses it
// (*wechat.WeComClient).
type WeCom interface {
	GetToken(ctx context.Context, corpid, secret string) (wechat.Token, error)
	JSAPITicket(ctx context.Context, accessToken string) (wechat.Ticket, error)
	AgentConfigTicket(ctx context.Context, accessToken string) (wechat.Ticket, error)
}

// App is one configured account: its type, secret and the kinds to keep.
type App struct {
	// AppID is the credential id every key and caller uses: the appid, or
	// "<corpid>:<agent>" for a WeCom app (credential.WeComID).
	AppID string
	// Type chooses the upstream and the timing policy; "" is
	// credential.OfficialAccount.
	Type credential.AccountType
	// CorpID and Agent name a WeCom app (gettoken is called with CorpID).
	CorpID string
	Agent  string
	// ComponentAppID is the platform an Authorizer belongs to (its
	// credential items' component_appid); its token is fetched with that
	// platform's component_access_token.
	ComponentAppID string
	Secret         string            // AppSecret or WeCom app secret; never logged
	Kinds          []credential.Kind // access_token first
}

func (a App) typ() credential.AccountType {
	if a.Type == "" {
		return credential.OfficialAccount
	}
	return a.Type
}

func (a App) policy() credential.Policy { return a.typ().Policy() }

// AppsFunc returns the configured apps (loaded lazily, cached by the caller).
type AppsFunc func(ctx context.Context) ([]App, error)

// Defaults for Options fields left zero.
const (
	DefaultConcurrency = 4
	DefaultMaxAttempts = 3
	DefaultBackoff     = 200 * time.Millisecond
	DefaultWaitPoll    = 100 * time.Millisecond
	// DefaultMaxWait bounds how long a forced refresh waits for another
	// refresher's lease (wall time) before answering token_unavailable.
	DefaultMaxWait = credential.LeaseDuration
	// DefaultSweepInterval is the refresh schedule's rate (template.yaml).
	DefaultSweepInterval = time.Minute
)

// Options configure a Refresher. Store and Apps are required, and the
// client of every account type configured: WeChat for Official Accounts
// and mini-programs, WeCom for WeCom apps, Component for third-party
// platforms (the same *wechat.Client as WeChat serves).
type Options struct {
	Store     Store
	WeChat    WeChat
	WeCom     WeCom
	Component Component
	// Authorizations holds the auth# items of third-party platforms'
	// authorizers (needed with Component for type Authorizer and the
	// authorize/unauthorize actions).
	Authorizations Authorizations
	Apps           AppsFunc

	// Now is the clock of every decision and stored timestamp (default time.Now).
	Now func() time.Time
	// LeaseDuration is how long a refresher's lease lives (default
	// credential.LeaseDuration); every WeChat call ends inside it.
	LeaseDuration time.Duration
	// ForceDailyLimit is the forced-refresh budget per app, kind and
	// Asia/Shanghai day; 0 disables force_refresh. Use
	// credential.DefaultForceDailyLimit for the documented default.
	ForceDailyLimit int
	// Concurrency bounds the (app, kind) pairs refreshed at once.
	Concurrency int
	// MaxAttempts bounds the tries of one WeChat call on transient errors.
	MaxAttempts int
	// Backoff is the wait before the second try; it doubles after that.
	Backoff time.Duration
	// WaitPoll is how often a forced refresh re-reads while another
	// refresher holds the lease; MaxWait bounds the whole wait.
	WaitPoll time.Duration
	MaxWait  time.Duration
	// SweepInterval is how often sweeps run (the schedule's rate, default
	// DefaultSweepInterval). A credential due at expiry (a WeCom token)
	// that falls due within it is waited for by the current sweep.
	SweepInterval time.Duration
	// Sleep waits for d or until ctx ends (default: a timer).
	Sleep func(ctx context.Context, d time.Duration) error
	// NewOwner returns a lease owner id, called once per lease attempt; ids
	// must never repeat, since the store recognises its own retried writes
	// by owner (default: 16 random hex bytes).
	NewOwner func() string

	Logger  *slog.Logger     // default slog.Default()
	Metrics *metrics.Emitter // nil discards
}

// Refresher runs sweeps and forced refreshes. It is safe for concurrent use.
type Refresher struct {
	o Options

	// seen is what this instance's sweeps last saw of each credential
	// (version, expires_at), for the results of credentials a sweep does
	// not read (sweepPass.notRead).
	seenMu sync.Mutex
	seen   map[string]Result

	// startedPush is when this instance last had WeChat accept
	// api_start_push_ticket for each platform (see componentFetcher.startPush).
	startedPushMu sync.Mutex
	startedPush   map[string]time.Time
}

// New returns a Refresher, filling defaults.
func New(o Options) *Refresher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = credential.LeaseDuration
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.WaitPoll <= 0 {
		o.WaitPoll = DefaultWaitPoll
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.ForceDailyLimit < 0 {
		o.ForceDailyLimit = 0
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.NewOwner == nil {
		o.NewOwner = randomOwner
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Refresher{o: o}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randomOwner() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// findApp returns the configured app with appid.
func findApp(apps []App, appid string) (App, bool) {
	for _, a := range apps {
		if a.AppID == appid {
			return a, true
		}
	}
	return App{}, false
}

func hasKind(a App, k credential.Kind) bool {
	for _, x := range a.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

package refresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// How a sweep finds due work (docs/refresh.md#finding-due-work): every
// credential item the refresher keeps carries due_at in the table's due
// index, and the sweep meta item holds the digest of the configuration
// whose every credential is indexed. A sweep whose configuration has that
// digest queries the index for what is due and reads only those items; any
// other sweep (a new or changed document, an upgrade from items without
// due_at, a meta item older than fullPassEvery) reads every configured
// credential, indexes the fresh ones that lack due_at, and, when every item
// ended up indexed, writes its digest.

// fullPassEvery bounds how long a digest is trusted: once a day a sweep
// reads every configured credential anyway, so that an item the index
// lost outside the refresher (deleted by hand, a table restored from a
// backup) is found within a day at the cost of one read per credential a
// day.
const fullPassEvery = 24 * time.Hour

// unindexAfter is how long an index entry of a credential no longer
// configured stays before a sweep takes it out of the index. It is far
// longer than a sweeper may keep an older document (config.MaxCacheTTL), so
// a sweeper holding the document from before an app was added back never
// takes out an item another sweeper keeps; Unindex's condition also spares
// an item any refresher leased or failed on within it.
const unindexAfter = time.Hour

// digestVersion changes when what a digest covers changes, so that a
// release computing due_at differently re-indexes every item once.
const digestVersion = "due-v1"

// job is one (app, kind) a sweep looks at and its slot in the answer.
type job struct {
	app  App
	kind credential.Kind
	slot int
}

// sweepPass is one sweep's plan and what it learned on the way.
type sweepPass struct {
	full    bool   // every configured credential is read
	digest  string // of the configuration swept
	jobs    []job
	results []Result // one per configured (app, kind), then the authorizers found in the index
	notRead int      // configured credentials not read: not due
	// floor is, per kind, a lower bound on the time left on the values
	// not read (TokenSecondsToExpiry); only an index pass sets it.
	floor map[credential.Kind]time.Duration
	// unsure is set when a full pass cannot tell that every item it saw is
	// indexed (a store failure, another refresher's lease): its digest is
	// then not written and the next sweep reads everything again.
	unsure atomic.Bool
}

// note records what a result says about the item's index entry.
func (p *sweepPass) note(res Result, f *failure) {
	if res.Outcome == OutcomeLeased || (f != nil && f.label == classStore) {
		p.unsure.Store(true)
	}
}

// configDigest is the digest of what decides the due index's content: every
// configured (app, kind), its account type, platform and policy lead.
func configDigest(apps []App) string {
	var lines []string
	for _, a := range apps {
		for _, k := range a.Kinds {
			lines = append(lines, fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%d", a.AppID, k, a.typ(), a.ComponentAppID, a.policy().Lead(k)))
		}
	}
	sort.Strings(lines)
	h := sha256.New()
	h.Write([]byte(digestVersion + "\n"))
	h.Write([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h.Sum(nil))
}

// plan decides what a sweep of apps looks at: the due index's entries due
// by the next sweep when the meta item's digest is apps', every configured
// credential otherwise (or when the index cannot be read).
func (r *Refresher) plan(ctx context.Context, apps []App) *sweepPass {
	p := &sweepPass{digest: configDigest(apps)}
	type key struct {
		appid string
		kind  credential.Kind
	}
	var configured []job
	slots := map[key]int{}
	for _, app := range apps {
		for _, k := range app.Kinds {
			slots[key{app.AppID, k}] = len(configured)
			configured = append(configured, job{app: app, kind: k, slot: len(configured)})
		}
	}
	p.results = make([]Result, len(configured))
	now := r.o.Now()
	stored, at, err := r.o.Store.SweepDigest(ctx)
	if err != nil || stored != p.digest || now.Sub(at) >= fullPassEvery {
		if err != nil {
			r.sweepIncident(ctx, "sweep digest read", err)
		}
		p.full, p.jobs = true, configured
		return p
	}
	due, err := r.o.Store.DueItems(ctx, now.Add(r.o.SweepInterval))
	if err != nil {
		// The index is the only way to find due items without reading
		// each; without it, read each.
		r.sweepIncident(ctx, "due index query", err)
		p.full, p.jobs = true, configured
		return p
	}
	byID := make(map[string]App, len(apps))
	for _, a := range apps {
		byID[a.AppID] = a
	}
	looked := make([]bool, len(configured))
	var gone []credential.Record
	for _, e := range due {
		app, configuredApp := byID[e.AppID]
		slot, ok := slots[key{e.AppID, e.Kind}]
		if !ok && (configuredApp || e.ComponentAppID == "") {
			gone = append(gone, e)
			continue
		}
		if !ok {
			if e.Kind != credential.AccessToken {
				continue // an authorizer's other kinds are its platform's business
			}
			// An authorizer of a platform: never in the document, known
			// only from its items (its platform's authorized event).
			app = App{AppID: e.AppID, Type: credential.Authorizer, ComponentAppID: e.ComponentAppID, Kinds: []credential.Kind{credential.AccessToken}}
		}
		// An item due within the next interval is left to the next sweep,
		// unless it is due at expiry (dueSoon waits for it).
		if e.DueAt.After(now) && app.policy().Lead(e.Kind) > 0 {
			continue
		}
		if !ok {
			slot = len(p.results)
			p.results = append(p.results, Result{})
			looked = append(looked, false)
		}
		looked[slot] = true
		p.jobs = append(p.jobs, job{app: app, kind: e.Kind, slot: slot})
	}
	p.floor = map[credential.Kind]time.Duration{}
	for _, j := range configured {
		if looked[j.slot] {
			continue
		}
		p.notRead++
		p.results[j.slot] = r.unread(j.app, j.kind, now)
		// Not in the index's answer: due_at is past now, so the value
		// lives at least its lead longer (one due at expiry counts as
		// expiryFloor under the [Kind] rollup, see reportSwept).
		left := j.app.policy().Lead(j.kind)
		if left == 0 {
			left = expiryFloor
		}
		if cur, ok := p.floor[j.kind]; !ok || left < cur {
			p.floor[j.kind] = left
		}
	}
	r.unindexGone(ctx, gone, now)
	return p
}

// unread is the result of a configured credential a sweep did not read:
// fresh, with the version and expires_at this instance last saw when those
// agree with the index (not due at now), else 0.
func (r *Refresher) unread(app App, kind credential.Kind, now time.Time) Result {
	r.seenMu.Lock()
	last, ok := r.seen[credential.Key(app.AppID, kind)]
	r.seenMu.Unlock()
	if !ok || last.ExpiresAt == 0 || !now.Before(dueAt(app, kind, time.Unix(last.ExpiresAt, 0))) {
		return Result{AppID: app.AppID, Kind: kind, Outcome: OutcomeFresh}
	}
	return Result{AppID: app.AppID, Kind: kind, Outcome: OutcomeFresh, Version: last.Version, ExpiresAt: last.ExpiresAt}
}

// remember keeps the version and expires_at of the credentials a sweep read.
func (r *Refresher) remember(results []Result) {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	if r.seen == nil {
		r.seen = map[string]Result{}
	}
	for _, res := range results {
		if res.ExpiresAt != 0 {
			r.seen[credential.Key(res.AppID, res.Kind)] = Result{Version: res.Version, ExpiresAt: res.ExpiresAt}
		}
	}
}

// unindexGone takes the index entries of credentials no longer configured
// (their app or kind left the apps document) out of the index once they
// were due for unindexAfter, so that a removed app stops costing the sweeps
// anything; until then a sweep skips them.
func (r *Refresher) unindexGone(ctx context.Context, gone []credential.Record, now time.Time) {
	var g errgroup.Group
	g.SetLimit(r.o.Concurrency)
	for _, e := range gone {
		if now.Sub(e.DueAt) < unindexAfter {
			continue
		}
		g.Go(func() error {
			err := r.o.Store.Unindex(ctx, e.AppID, e.Kind, e.DueAt, now.Add(-unindexAfter))
			switch {
			case err == nil:
				r.o.Logger.LogAttrs(ctx, slog.LevelInfo, "credential no longer configured; taken out of the due index",
					slog.String("appid", e.AppID), slog.String("kind", string(e.Kind)))
			case !errors.Is(err, credential.ErrSuperseded):
				r.storeIncident(ctx, e.AppID, e.Kind, "unindex", err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// keepIndexed makes a fresh item's due_at the one app's policy gives its
// value: an item written before the due index has none (a full pass finds
// it), and one whose due_at is earlier than its value's due time would be
// read by every sweep until it falls due.
func (r *Refresher) keepIndexed(ctx context.Context, p *sweepPass, app App, kind credential.Kind, rec credential.Record) {
	due := dueAt(app, kind, rec.ExpiresAt)
	if rec.DueAt.Unix() == due.Unix() && (app.ComponentAppID == "" || rec.ComponentAppID == app.ComponentAppID) {
		return
	}
	err := r.o.Store.MarkDue(ctx, app.AppID, kind, rec.ExpiresAt, due, app.ComponentAppID)
	if err != nil && !errors.Is(err, credential.ErrSuperseded) {
		// A commit in between (ErrSuperseded) wrote its own due_at.
		r.storeIncident(ctx, app.AppID, kind, "mark due", err)
		p.unsure.Store(true)
	}
}

// finish ends a sweep: a full pass that left every item indexed writes its
// digest; an index pass publishes the floor of the values it did not read.
func (r *Refresher) finish(ctx context.Context, p *sweepPass) {
	r.remember(p.results)
	for k, left := range p.floor {
		_ = r.o.Metrics.Emit(metrics.SecondsToExpiryAtLeast(string(k), left))
	}
	if !p.full || p.unsure.Load() {
		return
	}
	sctx, cancel := storeContext(ctx)
	defer cancel()
	if err := r.o.Store.PutSweepDigest(sctx, p.digest, r.o.Now()); err != nil {
		r.sweepIncident(ctx, "sweep digest write", err)
	}
}

// sweepIncident logs and meters a store failure of the sweep itself (the
// meta item, the index query): the sweep goes on reading every item, and
// the store alarm is raised.
func (r *Refresher) sweepIncident(ctx context.Context, op string, err error) {
	r.o.Logger.LogAttrs(ctx, slog.LevelError, "credential store error",
		slog.String("op", op), slog.String("error_class", classStore.name), slog.String("error", err.Error()))
	_ = r.o.Metrics.Emit(metrics.RefreshFailure(classStore.name))
}

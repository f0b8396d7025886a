package chaos

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// refreshPeriod is how often an access_token is refreshed when nothing
// goes wrong: it is fetched with 7200 s to live and due 290 s before.
const refreshPeriod = 7200*time.Second - 290*time.Second

// AppCalls is what WeChat saw from (and for) one app.
type AppCalls struct {
	AppID    string
	Type     string              // "" (Official Account), miniprogram or wecom
	Counters wechattest.Counters // the simulator's counters: every call, faulted ones too
	// stable_token calls the refreshers made, from their side.
	TokenAnswered, TokenFailed int
	// Calls outside the injected incidents and their recovery: all of
	// them, those answered with a token, and the bound for the latter
	// (the others met an injected -1 or timeout and were retried).
	CallsOutside, AnsweredOutside, Limit int
}

// TypeFigures are the token figures of one account of a type beside
// Official Accounts.
type TypeFigures struct {
	Type, AppID string
	Served      int // tokens served to its consumers and callers
	Invalid     int // ... that its oracle rejected at the instant served
	InWindow    int // ... of those, inside its revocation window
	Rejected    int // calls WeChat or WeCom rejected (40001/40014/42001)
	AfterReport int // tokens handed over in answer to a report
	AfterBad    int // ... that the oracle rejected: bound 0
}

// Report is the outcome of a run: the figures issue 6 asks for and the
// bounds that failed.
type Report struct {
	Config    Config
	Wall      time.Duration
	Incidents []Incident

	Apps []AppCalls

	Served               int
	InvalidInRotation    int // tokens served that the oracle rejected, inside an external rotation window
	InvalidOutside       int // ... anywhere else: must be 0
	ServedStoreOutage    int
	InvalidStoreOutage   int
	MaxRejectsPerRotaton int // per consumer or caller, per external rotation
	RejectsOutside       int // rejections outside any external rotation window
	RejectedTotal        int
	ConsumerOutcomes     map[string]int
	CallerOutcomes       map[string]int
	SweepOutcomes        map[refresh.Outcome]int
	SweepErrors          map[string]int
	StoreRefused         int64
	LeasesLeft           []string // credential items still holding a lease once all work is done

	Messages       int
	Deliveries     map[int]int // status → count
	RunsHist       map[int]int // handler runs per push → pushes
	CompletedHist  map[int]int // completed handler runs per push → pushes
	Unacknowledged int         // pushes whose three deliveries all failed (WeChat gives up; nothing was acknowledged)
	Published      int
	LostAcks       []string
	UnopenedReply  int
	Unexpected     int // handler runs for pushes that were never sent
	// DoubleCompletions: pushes whose handler completed more than WeChat's
	// contract allows: once, plus once per delivery that completed it but
	// was not answered 200 (Redelivered; WeChat delivers such a push again).
	DoubleCompletions int
	Redelivered       int
	// Callback answer latency in real time (WeChat waits 5 s): over the
	// run, during the slow-EventBridge phase, and every answer past 5 s.
	MaxAnswer, MaxSlowAnswer time.Duration
	LateAnswers              []string

	// The slow-EventBridge phase: its pushes, their deliveries by status,
	// and how many times each was published (publishes → pushes).
	SlowPushes     int
	SlowDeliveries map[int]int
	SlowPublished  map[int]int

	// The AccessDenied phase: sweeps run in it and those without a store
	// failure; the alarms' metrics emitted in it; what callers and WeChat
	// were answered.
	StoreDenied                 int64 // DynamoDB requests answered AccessDeniedException
	DeniedSweeps, DeniedNoStore int
	DeniedRefreshStoreFailures  int // RefreshFailures{ErrorClass=store}
	DeniedTokenRequests5xx      int // TokenRequests{Outcome=5xx}
	DeniedCallbackRequests5xx   int // CallbackRequests{Outcome=5xx}
	DeniedServed, DeniedInvalid int
	DeniedTokenAnswers          map[int]int    // token function status → count
	DeniedDeliveries            map[int]int    // callback status → count
	RefreshFailuresByClass      map[string]int // over the run
	TokenRequestsByOutcome      map[string]int
	CallbackRequestsByOutcome   map[string]int
	MalformedMetrics            []string

	// The account types beside Official Accounts, one line each.
	Types []TypeFigures
	// WeCom is the WeCom simulator's counters for the WeCom app.
	WeCom wechattest.WeComCounters

	BadInput        map[string]map[int]int
	BadInput5xx     int
	BadInputSuccess int

	Violations []string

	world *world // for the log audit of the same run
}

func (w *world) report(wall time.Duration) *Report {
	r := &Report{Config: w.cfg, Wall: wall, StoreRefused: w.proxy.Refused(), world: w}
	for _, in := range w.incidents.list {
		r.Incidents = append(r.Incidents, *in)
	}
	limit := int(math.Ceil(float64(w.cfg.Duration)/float64(refreshPeriod))) + 2
	calls := w.calls.all()
	all := append(slices.Clone(w.apps), w.wecomApp)
	r.WeCom = w.wecom.Counters(w.wecomApp.ID)
	for _, a := range all {
		ac := AppCalls{AppID: a.ID, Type: a.Type, Limit: min(limit, 15)}
		if a.Type != typeWeCom {
			ac.Counters = w.sim.Counters(a.ID)
		}
		for _, c := range calls {
			if c.AppID != a.ID {
				continue
			}
			outside := !w.incidentAt(a.ID, c.At)
			if outside {
				ac.CallsOutside++
			}
			if !c.OK {
				ac.TokenFailed++
				continue
			}
			ac.TokenAnswered++
			if outside {
				ac.AnsweredOutside++
			}
		}
		r.Apps = append(r.Apps, ac)
	}

	// Every step's work has finished: no lease may be left on any item.
	for _, a := range all {
		for _, k := range a.Kinds {
			rec, err := w.creds.Get(context.Background(), a.ID, k, true)
			switch {
			case err != nil:
				r.Violations = append(r.Violations, fmt.Sprintf("%s/%s: final read failed: %v", a.ID, k, err))
			case rec.LeaseOwner != "":
				r.LeasesLeft = append(r.LeasesLeft, a.ID+"/"+string(k))
				r.Violations = append(r.Violations, fmt.Sprintf("%s/%s: a lease was left behind", a.ID, k))
			}
		}
	}

	ac := &w.acct
	ac.mu.Lock()
	defer ac.mu.Unlock()
	r.Served, r.ServedStoreOutage = ac.served, ac.servedStoreOutage
	for _, b := range ac.bad {
		switch {
		case b.InRotation:
			r.InvalidInRotation++
		default:
			r.InvalidOutside++
			r.Violations = append(r.Violations, fmt.Sprintf("token served to %s for %s at %s was rejected by WeChat's oracle, outside any external rotation", b.Who, b.AppID, clockTime(b.At)))
		}
		if b.InOutage {
			r.InvalidStoreOutage++
		}
	}
	for who, rs := range ac.rejects {
		per := map[*Incident]int{}
		for _, x := range rs {
			r.RejectedTotal++
			if in, ok := w.rotationAt(x.AppID, x.At); ok {
				per[in]++
			} else {
				r.RejectsOutside++
			}
		}
		for in, n := range per {
			r.MaxRejectsPerRotaton = max(r.MaxRejectsPerRotaton, n)
			if n > 1 {
				r.Violations = append(r.Violations, fmt.Sprintf("%s had %d calls rejected in the rotation window of %q (bound 1)", who, n, in.Name))
			}
		}
	}
	if r.RejectsOutside > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d calls rejected by WeChat outside any external rotation (bound 0)", r.RejectsOutside))
	}
	w.reportTypes(r, all)
	r.ConsumerOutcomes, r.CallerOutcomes = maps.Clone(ac.consumerOutcomes), maps.Clone(ac.callerOutcomes)
	r.SweepOutcomes, r.SweepErrors = maps.Clone(ac.sweepOutcomes), maps.Clone(ac.sweepErrors)

	r.Messages = len(w.msgs)
	r.Deliveries, r.RunsHist, r.CompletedHist = map[int]int{}, map[int]int{}, map[int]int{}
	r.SlowDeliveries, r.SlowPublished = map[int]int{}, map[int]int{}
	sent := map[string]bool{}
	for _, m := range w.msgs {
		sent[m.key] = true
		acked := false
		for _, s := range m.statuses {
			r.Deliveries[s]++
			acked = acked || s == http.StatusOK
		}
		runs, done := ac.runs[m.key], ac.completed[m.key]
		r.RunsHist[runs]++
		r.CompletedHist[done]++
		// WeChat's contract: a push not answered 200 is delivered again, so
		// each completed run whose delivery still failed allows one more.
		allowed := 1 + ac.redelivered[m.key]
		r.Redelivered += ac.redelivered[m.key]
		if done > allowed {
			r.DoubleCompletions++
		}
		if m.slow {
			r.SlowPushes++
			r.SlowPublished[ac.published[m.key]]++
			for _, st := range m.statuses {
				r.SlowDeliveries[st]++
			}
			if ac.published[m.key] != 1 || slices.ContainsFunc(m.statuses, func(st int) bool { return st != http.StatusOK }) {
				r.Violations = append(r.Violations, fmt.Sprintf("push %d (%s) during the slow EventBridge: answered %v, published %d times (want 200 to every delivery, published once)",
					m.idx, clockTime(m.at), m.statuses, ac.published[m.key]))
			}
		}
		switch {
		case !acked:
			r.Unacknowledged++
			if done > allowed {
				r.Violations = append(r.Violations, fmt.Sprintf("push %d (%s): handler completed %d times", m.idx, clockTime(m.at), done))
			}
		case done < 1 || done > allowed:
			r.Violations = append(r.Violations, fmt.Sprintf("push %d (%s) was acknowledged; handler completed %d times (want 1, plus one per delivery that completed it but was not answered 200: %d); deliveries answered %v",
				m.idx, clockTime(m.at), done, allowed-1, m.statuses))
		}
		if len(m.statuses) != 3 {
			r.Violations = append(r.Violations, fmt.Sprintf("push %d: %d deliveries made, want 3", m.idx, len(m.statuses)))
		}
	}
	for k := range ac.runs {
		if !sent[k] {
			r.Unexpected++
		}
	}
	if r.Unexpected > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d handler runs for pushes never sent", r.Unexpected))
	}
	r.Published = ac.eventsSeen
	r.LostAcks = slices.Clone(ac.lostAcks)
	for _, l := range r.LostAcks {
		r.Violations = append(r.Violations, "acknowledged push lost: "+l)
	}
	r.UnopenedReply = ac.unopened
	if r.UnopenedReply > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d replies WeChat could not open", r.UnopenedReply))
	}

	r.MaxAnswer, r.MaxSlowAnswer, r.LateAnswers = ac.maxAnswer, ac.maxSlowAnswer, slices.Clone(ac.lateAnswers)
	for _, l := range r.LateAnswers {
		r.Violations = append(r.Violations, fmt.Sprintf("callback answer later than %v: %s", callbackDeadline, l))
	}
	if r.SlowPushes < slowBurst {
		r.Violations = append(r.Violations, fmt.Sprintf("%d pushes during the slow EventBridge, want at least %d (the phase exercised too little)", r.SlowPushes, slowBurst))
	}
	w.reportAccessDenied(r)

	r.BadInput = map[string]map[int]int{}
	for name, st := range ac.badInput {
		r.BadInput[name] = maps.Clone(st)
		for code, n := range st {
			switch {
			case code >= 500:
				r.BadInput5xx += n
				r.Violations = append(r.Violations, fmt.Sprintf("bad input %q answered %d (%d times)", name, code, n))
			case code < 400:
				r.BadInputSuccess += n
				r.Violations = append(r.Violations, fmt.Sprintf("bad input %q accepted with %d (%d times)", name, code, n))
			}
		}
	}

	for _, a := range r.Apps {
		if a.AnsweredOutside > a.Limit {
			r.Violations = append(r.Violations, fmt.Sprintf("%s: %d stable_token calls answered outside incidents, bound %d", a.AppID, a.AnsweredOutside, a.Limit))
		}
		if a.TokenAnswered == 0 {
			r.Violations = append(r.Violations, a.AppID+": no stable_token call was ever answered (the run exercised nothing)")
		}
	}
	if r.InvalidStoreOutage > 0 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d invalid tokens served during the DynamoDB outage", r.InvalidStoreOutage))
	}
	// The scenario itself must have happened, or the bounds prove nothing.
	if len(r.Incidents) != 8 {
		r.Violations = append(r.Violations, fmt.Sprintf("%d incidents happened, want 8", len(r.Incidents)))
	}
	if r.ServedStoreOutage == 0 {
		r.Violations = append(r.Violations, "no token was served during the DynamoDB outage (the outage exercised nothing)")
	}
	if r.RejectedTotal == 0 {
		r.Violations = append(r.Violations, "no call was rejected at all: the external rotations exercised nothing")
	}
	if r.ConsumerOutcomes["ok"] == 0 || r.CallerOutcomes["ok"] == 0 {
		r.Violations = append(r.Violations, "no consumer or caller call succeeded")
	}
	return r
}

// reportTypes fills the figures and bounds of the mini-program and the
// WeCom app; the caller holds the accounting lock.
func (w *world) reportTypes(r *Report, all []app) {
	ac := &w.acct
	for _, a := range all {
		if a.Type == "" {
			continue
		}
		f := TypeFigures{Type: a.Type, AppID: a.ID, Served: ac.servedBy[a.ID], Invalid: ac.invalidBy[a.ID],
			Rejected: ac.rejectsBy[a.ID], AfterReport: ac.afterReport[a.ID]}
		for _, b := range ac.bad {
			if b.AppID == a.ID && b.InRotation {
				f.InWindow++
			}
		}
		for _, b := range ac.afterReportBad {
			if b.AppID != a.ID {
				continue
			}
			f.AfterBad++
			// WeCom has no force mode: a report only re-fetches, and the
			// token it brings must be valid (within one report).
			if a.Type == typeWeCom {
				r.Violations = append(r.Violations, fmt.Sprintf("%s: the token handed to %s at %s in answer to its report was rejected too (bound: replaced within one report)",
					a.ID, b.Who, clockTime(b.At)))
			}
		}
		switch {
		case f.Served == 0:
			r.Violations = append(r.Violations, fmt.Sprintf("%s (%s): no token was served (the run exercised nothing)", a.ID, a.Type))
		case a.Type == typeWeCom && (f.Rejected == 0 || f.AfterReport == 0):
			r.Violations = append(r.Violations, fmt.Sprintf("%s: %d calls rejected and %d tokens handed over after a report: the early revocation exercised nothing", a.ID, f.Rejected, f.AfterReport))
		}
		r.Types = append(r.Types, f)
	}
}

// reportAccessDenied fills the AccessDenied phase's figures and bounds;
// the caller holds the accounting lock.
func (w *world) reportAccessDenied(r *Report) {
	ac := &w.acct
	r.StoreDenied = w.proxy.Denied()
	r.DeniedSweeps, r.DeniedNoStore = ac.deniedSweeps, ac.deniedSweepsNoStore
	r.DeniedServed, r.DeniedInvalid = ac.deniedServed, ac.deniedInvalid
	r.DeniedTokenAnswers, r.DeniedDeliveries = maps.Clone(ac.deniedTokenAnswers), maps.Clone(ac.deniedDeliveries)
	r.RefreshFailuresByClass = w.metrics.byDims(metrics.RefreshFailures)
	r.TokenRequestsByOutcome = w.metrics.byDims(metrics.TokenRequests)
	r.CallbackRequestsByOutcome = w.metrics.byDims(metrics.CallbackRequests)
	r.MalformedMetrics = w.metrics.malformedLines()
	for _, l := range r.MalformedMetrics {
		r.Violations = append(r.Violations, "EMF line that does not parse: "+l)
	}
	var phase *Incident
	for i := range r.Incidents {
		if r.Incidents[i].Name == nameAccessDenied {
			phase = &r.Incidents[i]
		}
	}
	if phase == nil {
		return // counted with the incidents
	}
	dim := func(name, value string) string { return name + "=" + value }
	r.DeniedRefreshStoreFailures = w.metrics.sum(metrics.RefreshFailures, dim(metrics.DimErrorClass, "store"), phase.Start, phase.End)
	r.DeniedTokenRequests5xx = w.metrics.sum(metrics.TokenRequests, dim(metrics.DimOutcome, "5xx"), phase.Start, phase.End)
	r.DeniedCallbackRequests5xx = w.metrics.sum(metrics.CallbackRequests, dim(metrics.DimOutcome, "5xx"), phase.Start, phase.End)

	v := func(format string, args ...any) { r.Violations = append(r.Violations, fmt.Sprintf(format, args...)) }
	switch {
	case r.DeniedSweeps == 0:
		v("no sweep ran during the DynamoDB AccessDenied phase (it exercised nothing)")
	case r.DeniedNoStore > 0:
		v("%d of %d sweeps during DynamoDB AccessDenied reported no failure of class store", r.DeniedNoStore, r.DeniedSweeps)
	}
	if r.DeniedRefreshStoreFailures < r.DeniedSweeps {
		v("%d RefreshFailures{ErrorClass=store} emitted during DynamoDB AccessDenied for %d sweeps (want at least one per sweep)", r.DeniedRefreshStoreFailures, r.DeniedSweeps)
	}
	if len(r.DeniedDeliveries) == 0 {
		v("no callback delivery during DynamoDB AccessDenied (it exercised nothing)")
	}
	for st, n := range r.DeniedDeliveries {
		if st != http.StatusServiceUnavailable {
			v("%d callback deliveries during DynamoDB AccessDenied answered %d (want 503: no claim is possible)", n, st)
		}
	}
	for st, n := range r.DeniedTokenAnswers {
		if st != http.StatusOK && st != http.StatusServiceUnavailable {
			v("%d token function answers during DynamoDB AccessDenied were %d (want a cached token or 503)", n, st)
		}
	}
	if r.DeniedServed == 0 && r.DeniedTokenAnswers[http.StatusServiceUnavailable] == 0 {
		v("no caller or consumer was answered during DynamoDB AccessDenied (it exercised nothing)")
	}
	if r.DeniedInvalid > 0 {
		v("%d invalid tokens served during DynamoDB AccessDenied", r.DeniedInvalid)
	}
}

// Write prints the report.
func (r *Report) Write(out io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	c := r.Config
	p("wxcentral chaos report: %v simulated from %s (seed %d), wall time %v", c.Duration, Start.Format(time.RFC3339), c.Seed, r.Wall.Round(time.Second))
	p("  %d Official Accounts, 1 mini-program and 1 WeCom app, %d sweepers per scheduled minute (skew ±%v), %d+%d consumers (tokenclient.Do every %v; the second figure the WeCom app's), %d+1 token-function callers (every %v), %d pushes x 3 deliveries",
		c.Apps, c.Sweepers, c.MaxSkew, c.Consumers, wecomConsumers, c.ConsumerEvery, c.Callers, c.CallerEvery, c.Messages)
	p("  background WeChat faults on every endpoint: %.0f%% errcode -1, %.0f%% timeouts; %.0f%% of pushes fail their handler's first run, %.0f%% their first publish",
		rateSystemBusy*100, rateTimeout*100, handlerFailureRate*100, putFailureRate*100)
	p("")
	p("incidents (offsets into the run):")
	for _, in := range r.Incidents {
		p("  %s", in)
	}
	p("")
	p("WeChat calls per app over the run (simulator counters, faulted calls included):")
	p("  %-18s %8s %6s %8s %10s %12s %10s", "appid", "normal", "force", "(ignored)", "getticket", "custom_send", "user_info")
	for _, a := range r.Apps {
		if a.Type == typeWeCom {
			continue // WeCom's own counters are below
		}
		k := a.Counters
		p("  %-18s %8d %6d %8d %10d %12d %10d", a.AppID, k.StableTokenNormal, k.StableTokenForce, k.StableTokenForceIgnored, k.GetTicket, k.CustomSend, k.UserInfo)
	}
	p("stable_token (gettoken for the WeCom app) as the refreshers saw it: answered with a token / failed (injected fault, outage, quota); outside the incidents (+%v recovery): all calls, answered calls vs bound:", recovery)
	force := 0
	for _, a := range r.Apps {
		force += a.Counters.StableTokenForce
		p("  %-26s answered %3d  failed %3d  outside incidents: calls %3d, answered %3d (bound %d) %s",
			a.AppID, a.TokenAnswered, a.TokenFailed, a.CallsOutside, a.AnsweredOutside, a.Limit, pass(a.AnsweredOutside <= a.Limit))
	}
	p("force_refresh calls made by wxcentral: %d (external rotations are absorbed by the normal-mode probe)", force)
	p("sweep outcomes: %s; leases left behind at the end: %d %s", formatCounts(r.SweepOutcomes), len(r.LeasesLeft), pass(len(r.LeasesLeft) == 0))
	if len(r.SweepErrors) > 0 {
		p("sweep failures by error: %s", formatCounts(r.SweepErrors))
	}
	p("")
	p("tokens served to consumers and callers: %d", r.Served)
	p("  rejected by WeChat's oracle at the instant served: inside an external rotation window %d, outside %d  %s", r.InvalidInRotation, r.InvalidOutside, pass(r.InvalidOutside == 0))
	p("  during the DynamoDB outage: %d served, %d invalid  %s (DynamoDB requests refused: %d)", r.ServedStoreOutage, r.InvalidStoreOutage, pass(r.InvalidStoreOutage == 0), r.StoreRefused)
	p("  calls rejected by WeChat (40001/40014/42001): %d; most per consumer or caller per external rotation %d (bound 1) %s; outside rotations %d",
		r.RejectedTotal, r.MaxRejectsPerRotaton, pass(r.MaxRejectsPerRotaton <= 1 && r.RejectsOutside == 0), r.RejectsOutside)
	p("  by account type (the same bounds; a WeCom token revoked early may be served until the first report replaces it, within its window):")
	for _, f := range r.Types {
		p("  %-11s %-26s served %5d, rejected by the oracle %d (inside its revocation window %d) %s; calls rejected %d; tokens handed over after a report %d, invalid %d %s",
			f.Type, f.AppID, f.Served, f.Invalid, f.InWindow, pass(f.Invalid == f.InWindow), f.Rejected, f.AfterReport, f.AfterBad,
			pass(f.Type != typeWeCom || f.AfterBad == 0 && f.AfterReport > 0))
	}
	p("  WeCom calls for %s (simulator counters, faulted calls included): gettoken %d, agent_config ticket %d", r.Types[len(r.Types)-1].AppID, r.WeCom.GetToken, r.WeCom.AgentConfigTicket)
	p("consumer calls (tokenclient.Do) by outcome: %s", formatCounts(r.ConsumerOutcomes))
	p("token-function callers by outcome: %s", formatCounts(r.CallerOutcomes))
	p("")
	p("callbacks: %d pushes, deliveries by status: %s; events published: %d", r.Messages, formatCounts(r.Deliveries), r.Published)
	p("  handler runs per push (incl. failed first runs): %s", formatCounts(r.RunsHist))
	p("  completed handler runs per push: %s  %s", formatCounts(r.CompletedHist), pass(!hasPrefix(r.Violations, "push ")))
	p("  pushes never acknowledged (all three deliveries refused, e.g. DynamoDB down): %d", r.Unacknowledged)
	p("  pushes acknowledged (200) but not published: %d  %s", len(r.LostAcks), pass(len(r.LostAcks) == 0))
	p("  handler completions beyond WeChat's contract (once, plus once per delivery that completed it but was not answered 200: %d such): %d  %s",
		r.Redelivered, r.DoubleCompletions, pass(r.DoubleCompletions == 0))
	p("  replies that did not open (signature, nonce, decryption): %d", r.UnopenedReply)
	p("  answer latency (real time, WeChat waits %v): max %v over the run, max %v during the slow EventBridge; answers later than %v: %d  %s",
		callbackDeadline, r.MaxAnswer.Round(time.Millisecond), r.MaxSlowAnswer.Round(time.Millisecond), callbackDeadline, len(r.LateAnswers), pass(len(r.LateAnswers) == 0))
	p("")
	p("slow EventBridge (every PutEvents %v, real time) for %v: %d pushes (a burst of %d at once and those planned inside)", slowPutEvents, slowWindow, r.SlowPushes, slowBurst)
	p("  deliveries by status: %s; publishes per push: %s  %s", formatCounts(r.SlowDeliveries), formatCounts(r.SlowPublished),
		pass(r.SlowPushes >= slowBurst && len(r.SlowDeliveries) == 1 && r.SlowDeliveries[http.StatusOK] > 0 && len(r.SlowPublished) == 1 && r.SlowPublished[1] > 0))
	p("")
	p("DynamoDB AccessDenied for %v: %d DynamoDB requests answered AccessDeniedException", accessDenied, r.StoreDenied)
	p("  sweeps %d, of which without a failed result of class store %d  %s", r.DeniedSweeps, r.DeniedNoStore, pass(r.DeniedSweeps > 0 && r.DeniedNoStore == 0))
	p("  metrics emitted in the phase: RefreshFailures{ErrorClass=store} %d (bound: at least one per sweep, %d) %s; TokenRequests{Outcome=5xx} %d; CallbackRequests{Outcome=5xx} %d",
		r.DeniedRefreshStoreFailures, r.DeniedSweeps, pass(r.DeniedRefreshStoreFailures >= r.DeniedSweeps && r.DeniedSweeps > 0), r.DeniedTokenRequests5xx, r.DeniedCallbackRequests5xx)
	p("  tokens served %d, invalid %d %s; token function answers by status: %s; callback deliveries by status: %s",
		r.DeniedServed, r.DeniedInvalid, pass(r.DeniedInvalid == 0), formatCounts(r.DeniedTokenAnswers), formatCounts(r.DeniedDeliveries))
	p("metrics over the run: RefreshFailures %s; TokenRequests %s; CallbackRequests %s",
		formatCounts(r.RefreshFailuresByClass), formatCounts(r.TokenRequestsByOutcome), formatCounts(r.CallbackRequestsByOutcome))
	p("")
	bad := 0
	for _, st := range r.BadInput {
		for _, n := range st {
			bad += n
		}
	}
	p("bad input: %d requests in %d cases; 5xx answers %d %s; accepted %d", bad, len(r.BadInput), r.BadInput5xx, pass(r.BadInput5xx == 0), r.BadInputSuccess)
	names := slices.Sorted(maps.Keys(r.BadInput))
	for _, n := range names {
		p("  %-48s %s", n, formatCounts(r.BadInput[n]))
	}
	p("")
	if len(r.Violations) == 0 {
		p("RESULT: every bound holds")
		return
	}
	p("RESULT: %d bound(s) failed:", len(r.Violations))
	for _, v := range r.Violations {
		p("  - %s", v)
	}
}

func pass(ok bool) string {
	if ok {
		return "[ok]"
	}
	return "[FAIL]"
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// formatCounts prints a map as "k=v, ..." sorted by key.
func formatCounts[K interface{ ~string | ~int }](m map[K]int) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%v=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

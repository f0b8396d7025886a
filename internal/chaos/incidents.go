package chaos

import (
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// Incident durations of issue 6.
const (
	weChatOutage    = 20 * time.Minute
	storeOutage     = 10 * time.Minute
	quotaIncident   = time.Hour
	leakSpacing     = 30 * time.Second // the two force calls of a leaked-token response
	rotationSettled = 3 * time.Minute  // a dead token leaves every cache within this
	// recovery is counted as part of an incident when deciding which
	// stable_token calls were "outside the injected incidents".
	recovery = 15 * time.Minute
	// slowPutEvents is every PutEvents call's wall time during the
	// slow-EventBridge phase, which lasts slowWindow and opens with a burst
	// of slowBurst pushes delivered at once, so its wall cost is one
	// PutEvents latency (plus one per planned push that falls inside it).
	slowPutEvents = 2500 * time.Millisecond
	slowWindow    = time.Minute
	slowBurst     = 10
	// accessDenied is how long DynamoDB answers AccessDeniedException.
	accessDenied = 10 * time.Minute
	// Where the two phases of issue 11 start, as fractions of the run.
	slowAt   = 0.15
	deniedAt = 0.5
	// wecomRevokeAt is where WeCom revokes the WeCom app's token early.
	wecomRevokeAt = 0.4
)

// Incident names the accounting looks up.
const (
	nameStoreOutage  = "DynamoDB outage"
	nameSlowBus      = "slow EventBridge (2.5 s per PutEvents)"
	nameAccessDenied = "DynamoDB AccessDenied"
	nameWeComRevoked = "WeCom token revoked early"
)

// Incident is one injected event, in virtual time.
type Incident struct {
	Name  string
	AppID string // "" when it hits every app
	Start time.Time
	End   time.Time
	// Rotation marks an external rotation: WeChat kills the stored token
	// at Dies; callers may be served it (and see it rejected) until
	// Dies + rotationSettled, the end of the rotation window.
	Rotation bool
	Dies     time.Time
	// CallbacksOnly marks an incident the token path never sees (a slow
	// EventBridge): it excuses no stable_token call.
	CallbacksOnly bool
}

// RotationWindow is when a token served to a caller may be rejected
// because of this (external) rotation.
func (in Incident) RotationWindow() (from, to time.Time) {
	return in.Start, in.Dies.Add(rotationSettled)
}

// covers reports whether t is inside the incident or its recovery, for
// appid.
func (in Incident) covers(appid string, t time.Time) bool {
	if in.CallbacksOnly || in.AppID != "" && in.AppID != appid {
		return false
	}
	end := in.End
	if in.Rotation {
		_, end = in.RotationWindow()
	}
	return !t.Before(in.Start) && t.Before(end.Add(recovery))
}

// trigger is an incident that starts at the first step inside
// [from, to) where ready holds, or at to at the latest.
type trigger struct {
	name     string
	from, to time.Duration // offsets into the run
	ready    func(now time.Time) bool
	start    func(now time.Time) Incident
	stop     func()
	started  bool
	stopped  bool
	incident *Incident
}

type incidents struct {
	triggers []*trigger
	list     []*Incident
}

// plan builds the schedule: fractions of the run, so a short run sees
// every incident too. Outages and the quota hour start when an app's
// token is close to its due time, so they hit a refresh.
func (w *world) planIncidents() {
	frac := w.frac
	left := func(appIdx int, within time.Duration) func(time.Time) bool {
		return func(now time.Time) bool {
			_, exp := w.sim.CurrentToken(w.apps[appIdx%len(w.apps)].ID)
			return !exp.IsZero() && exp.Sub(now) <= within
		}
	}
	app := func(i int) string { return w.apps[i%len(w.apps)].ID }
	w.incidents.triggers = []*trigger{
		{
			name: "WeChat full outage (20 min)", from: frac(0.04), to: frac(0.125), ready: left(0, 10*time.Minute),
			start: func(now time.Time) Incident {
				w.sim.SetOutage(true)
				return Incident{Name: "WeChat full outage", Start: now, End: now.Add(weChatOutage)}
			},
			stop: func() { w.sim.SetOutage(false) },
		},
		{
			name: "DynamoDB outage (10 min)", from: frac(0.2), to: frac(0.3), ready: left(1, 400*time.Second),
			start: func(now time.Time) Incident {
				w.proxy.SetDown(true)
				return Incident{Name: nameStoreOutage, Start: now, End: now.Add(storeOutage)}
			},
			stop: func() { w.proxy.SetDown(false) },
		},
		{
			// Issue 11: every push still answered 200 inside 5 s and
			// published once, the publish taking 2.5 s of real time.
			name: nameSlowBus, from: frac(slowAt), to: frac(slowAt),
			start: func(now time.Time) Incident {
				w.aws.FailPutEvents(fakeaws.PutEventsServerError, 0) // no failure left over from earlier pushes
				w.aws.SetPutEventsLatency(slowPutEvents)
				return Incident{Name: nameSlowBus, Start: now, End: now.Add(slowWindow), CallbacksOnly: true}
			},
			stop: func() { w.aws.SetPutEventsLatency(0) },
		},
		{
			// Issue 11: the refresher's role loses DynamoDB access; every
			// sweep reports a store failure and its metric, callers get
			// cached tokens or 503, callbacks 503.
			name: nameAccessDenied + " (10 min)", from: frac(deniedAt), to: frac(deniedAt),
			start: func(now time.Time) Incident {
				w.proxy.SetAccessDenied(true)
				return Incident{Name: nameAccessDenied, Start: now, End: now.Add(accessDenied)}
			},
			stop: func() { w.proxy.SetAccessDenied(false) },
		},
		{
			name: "external force refresh", from: frac(0.35), to: frac(0.35),
			start: func(now time.Time) Incident {
				if _, err := w.sim.ForceRotate(app(0)); err != nil {
					w.t.Fatalf("chaos: %v", err)
				}
				return Incident{Name: "external force refresh", AppID: app(0), Start: now, End: now,
					Rotation: true, Dies: now.Add(wechattest.DefaultForceOverlap)}
			},
		},
		{
			name: "leaked token: first force call", from: frac(0.45), to: frac(0.45),
			start: func(now time.Time) Incident {
				if _, err := w.sim.ForceRotate(app(1)); err != nil {
					w.t.Fatalf("chaos: %v", err)
				}
				return Incident{Name: "leaked token (two force calls 30 s apart)", AppID: app(1), Start: now, End: now.Add(leakSpacing),
					Rotation: true, Dies: now.Add(leakSpacing)}
			},
		},
		{
			name: "leaked token: second force call", from: frac(0.45) + leakSpacing, to: frac(0.45) + leakSpacing,
			start: func(now time.Time) Incident {
				if _, err := w.sim.ForceRotate(app(1), wechattest.RevokeNow()); err != nil {
					w.t.Fatalf("chaos: %v", err)
				}
				return Incident{} // part of the previous incident
			},
		},
		{
			// Issue 14: WeCom revokes the WeCom app's token before its
			// expiry; the first reader to be refused reports it and the
			// refresher fetches at once.
			name: nameWeComRevoked, from: frac(wecomRevokeAt), to: frac(wecomRevokeAt),
			start: func(now time.Time) Incident {
				tok, err := w.wecom.RevokeToken(w.wecomApp.CorpID, w.wecomApp.Agent)
				if err != nil || tok == "" {
					w.t.Fatalf("chaos: WeCom revocation: no valid token to revoke (%v)", err)
				}
				return Incident{Name: nameWeComRevoked, AppID: w.wecomApp.ID, Start: now, End: now, Rotation: true, Dies: now}
			},
		},
		{
			name: "45009 hour", from: frac(0.6), to: frac(0.7), ready: left(2, 20*time.Minute),
			start: func(now time.Time) Incident {
				w.sim.SetFaultRate(wechattest.EndpointStableToken, 1, wechattest.ErrcodeFault(45009))
				return Incident{Name: "45009 (daily quota) on stable_token", Start: now, End: now.Add(quotaIncident)}
			},
			stop: func() { backgroundFaults(w.sim) },
		},
	}
}

// step starts and stops incidents at now. It runs between steps, while no
// work is in flight.
func (w *world) stepIncidents(now time.Time) {
	off := now.Sub(Start)
	for _, tr := range w.incidents.triggers {
		if !tr.started && off >= tr.from && (off >= tr.to || tr.ready == nil || tr.ready(now)) {
			tr.started = true
			in := tr.start(now)
			if in.Name != "" {
				tr.incident = &in
				w.incidents.list = append(w.incidents.list, tr.incident)
			}
			w.log.Warn("chaos incident", "incident", tr.name, "at", now.Format(time.RFC3339))
		}
		if tr.started && !tr.stopped && tr.incident != nil && !now.Before(tr.incident.End) {
			tr.stopped = true
			if tr.stop != nil {
				tr.stop()
			}
			w.log.Warn("chaos incident over", "incident", tr.name, "at", now.Format(time.RFC3339))
		}
	}
}

// rotationAt returns the external rotation whose window holds t for
// appid, if any.
func (w *world) rotationAt(appid string, t time.Time) (*Incident, bool) {
	for _, in := range w.incidents.list {
		if !in.Rotation || in.AppID != appid {
			continue
		}
		from, to := in.RotationWindow()
		if !t.Before(from) && t.Before(to) {
			return in, true
		}
	}
	return nil, false
}

// frac is the offset f of the way into the run, on a step.
func (w *world) frac(f float64) time.Duration {
	return time.Duration(float64(w.cfg.Duration) * f).Truncate(w.cfg.Step)
}

// inIncident reports whether t is inside the incident named name.
func (w *world) inIncident(name string, t time.Time) bool {
	for _, in := range w.incidents.list {
		if in.Name == name && !t.Before(in.Start) && t.Before(in.End) {
			return true
		}
	}
	return false
}

// storeOutageAt reports whether t is inside the DynamoDB outage.
func (w *world) storeOutageAt(t time.Time) bool { return w.inIncident(nameStoreOutage, t) }

// accessDeniedAt reports whether t is inside the AccessDenied phase.
func (w *world) accessDeniedAt(t time.Time) bool { return w.inIncident(nameAccessDenied, t) }

// slowBusAt reports whether t is inside the slow-EventBridge phase.
func (w *world) slowBusAt(t time.Time) bool { return w.inIncident(nameSlowBus, t) }

// incidentAt reports whether a stable_token call for appid at t belongs
// to an injected incident (or its recovery).
func (w *world) incidentAt(appid string, t time.Time) bool {
	for _, in := range w.incidents.list {
		if in.covers(appid, t) {
			return true
		}
	}
	return false
}

func (in Incident) String() string {
	app := "all apps"
	if in.AppID != "" {
		app = in.AppID
	}
	s := fmt.Sprintf("%-44s %s  %s – %s", in.Name, app, clockTime(in.Start), clockTime(in.End))
	if in.Rotation {
		_, to := in.RotationWindow()
		s += fmt.Sprintf("  (old token dead %s, rotation window to %s)", clockTime(in.Dies), clockTime(to))
	}
	return s
}

// clockTime is t as an offset into the run, e.g. "+05:12:30".
func clockTime(t time.Time) string {
	d := t.Sub(Start)
	return fmt.Sprintf("+%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

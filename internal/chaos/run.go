package chaos

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// badInputEvery is how often (simulated) the bad-input matrix is sent.
const badInputEvery = 30 * time.Minute

// Run drives one chaos run and returns its report. It fails t only when
// the world cannot be built; bounds are the report's Violations.
func Run(t testing.TB, cfg Config) *Report {
	wallStart := time.Now()
	w := newWorld(t, cfg)
	w.planIncidents()
	cfg = w.cfg
	period := func(d time.Duration) int { return max(1, int(d/cfg.Step)) }
	sweepPeriod, consumerPeriod, callerPeriod, badPeriod :=
		period(time.Minute), period(cfg.ConsumerEvery), period(cfg.CallerEvery), period(badInputEvery)
	next := 0 // next message to deliver
	var pending []*message
	for step := 0; ; step++ {
		now := Start.Add(time.Duration(step) * cfg.Step)
		if !now.Before(w.end) {
			break
		}
		w.clock.Set(now)
		w.handlerClock.step()

		w.stepIncidents(now)
		var wg sync.WaitGroup
		run := func(f func()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f()
			}()
		}
		if step%sweepPeriod == 0 {
			for _, r := range w.refreshers {
				run(func() { w.sweep(r) })
			}
		}
		for _, c := range w.consumers {
			if step%consumerPeriod == c.id%consumerPeriod {
				run(func() { w.consume(c, now) })
			}
		}
		for _, c := range w.callers {
			if step%callerPeriod == (c.id*callerPeriod/max(1, len(w.callers)))%callerPeriod {
				run(func() { w.callTokenFunction(c, now) })
			}
		}
		for _, m := range pending {
			run(func() { w.deliverLast(m) })
		}
		pending = nil
		for next < len(w.msgs) && !w.msgs[next].at.After(now) {
			m := w.msgs[next]
			next++
			pending = append(pending, m)
			run(func() { w.deliverFirst(m) })
		}
		if step%badPeriod == badPeriod/2 {
			run(func() { w.badInput(step) })
		}
		wg.Wait()
	}
	for _, m := range pending {
		w.deliverLast(m)
	}
	for _, tr := range w.incidents.triggers {
		if tr.started && !tr.stopped && tr.stop != nil {
			tr.stop()
		}
	}
	return w.report(time.Since(wallStart))
}

// stepClock is the callback handlers' clock: the virtual clock, running at
// real speed within a step and never backwards across steps. A handler's
// waits are real time, so the claim leases they wait on must age as they
// would in production: a claim left by a delivery that failed expires
// under the retry's wait and is taken over, not waited on forever.
type stepClock struct {
	mu      sync.Mutex
	virtual *wechattest.Clock
	began   time.Time // wall time the current step began
	last    time.Time
}

func (c *stepClock) step() {
	c.mu.Lock()
	c.began = time.Now()
	c.mu.Unlock()
}

// Now is the handlers' time.
func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.virtual.Now().Add(time.Since(c.began))
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

func (w *world) sweep(r *refresh.Refresher) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := r.Sweep(ctx)
	if err != nil {
		w.t.Errorf("chaos: sweep: %v", err)
		return
	}
	w.acct.sweep(w, sum)
}

package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/refresh"
)

// served is a token handed to a caller that WeChat's oracle rejected at
// that instant.
type servedBad struct {
	Who        string
	AppID      string
	At         time.Time
	InRotation bool
	InOutage   bool // DynamoDB outage
}

type rejection struct {
	AppID string
	At    time.Time
}

// accounting gathers what happened. Steps run their work concurrently, so
// every method locks.
type accounting struct {
	mu sync.Mutex

	served            int
	servedStoreOutage int
	bad               []servedBad
	rejects           map[string][]rejection // per consumer or caller
	servedBy          map[string]int         // per appid
	invalidBy         map[string]int         // per appid: rejected by the oracle when served
	rejectsBy         map[string]int         // per appid: calls WeChat or WeCom rejected
	afterReport       map[string]int         // per appid: tokens handed over in answer to a report
	afterReportBad    []servedBad            // ... that the oracle rejected
	consumerOutcomes  map[string]int
	callerOutcomes    map[string]int
	sweepOutcomes     map[refresh.Outcome]int
	sweepErrors       map[string]int

	// the AccessDenied phase
	deniedSweeps        int // sweeps run during it
	deniedSweepsNoStore int // ... whose summary had no failed result of class store
	deniedServed        int
	deniedInvalid       int
	deniedTokenAnswers  map[int]int // token function statuses during it
	deniedDeliveries    map[int]int // callback statuses during it

	// callback answers, real time
	maxAnswer     time.Duration
	maxSlowAnswer time.Duration // during the slow-EventBridge phase
	lateAnswers   []string      // answered after callbackDeadline

	// callbacks
	runs      map[string]int // handler runs per push key
	completed map[string]int // runs that returned without error
	// completed runs whose delivery was still not answered 200: each allows
	// WeChat's next delivery to run the handler again
	redelivered map[string]int
	failFirst   map[string]bool
	published   map[string]int
	eventsSeen  int
	lostAcks    []string
	unopened    int

	// bad input: target and case → status counts
	badInput map[string]map[int]int
}

func (a *accounting) init(w *world) {
	a.rejects = map[string][]rejection{}
	a.servedBy, a.invalidBy, a.rejectsBy, a.afterReport = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	a.consumerOutcomes = map[string]int{}
	a.callerOutcomes = map[string]int{}
	a.sweepOutcomes = map[refresh.Outcome]int{}
	a.sweepErrors = map[string]int{}
	a.runs = map[string]int{}
	a.completed = map[string]int{}
	a.redelivered = map[string]int{}
	a.failFirst = map[string]bool{}
	a.published = map[string]int{}
	a.badInput = map[string]map[int]int{}
	a.deniedTokenAnswers = map[int]int{}
	a.deniedDeliveries = map[int]int{}
	for _, m := range w.msgs {
		if m.failFirst {
			a.failFirst[m.key] = true
		}
	}
}

// serve checks a token handed to who against WeChat's oracle at at.
func (a *accounting) serve(w *world, who, appid, token string, at time.Time) {
	a.serveAfter(w, who, appid, token, at, false)
}

// serveAfter is serve; afterReport marks the token handed over in answer
// to a report of a rejected one (tokenclient.Do's second call, the token
// function's /token/invalidate).
func (a *accounting) serveAfter(w *world, who, appid, token string, at time.Time, afterReport bool) {
	valid := w.valid(appid, token, at)
	outage, denied := w.storeOutageAt(at), w.accessDeniedAt(at)
	_, inRotation := w.rotationAt(appid, at)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.served++
	a.servedBy[appid]++
	if !valid {
		a.invalidBy[appid]++
	}
	if afterReport {
		a.afterReport[appid]++
		if !valid {
			a.afterReportBad = append(a.afterReportBad, servedBad{Who: who, AppID: appid, At: at, InOutage: outage})
		}
	}
	if outage {
		a.servedStoreOutage++
	}
	if denied {
		a.deniedServed++
		if !valid {
			a.deniedInvalid++
		}
	}
	if !valid {
		a.bad = append(a.bad, servedBad{Who: who, AppID: appid, At: at, InRotation: inRotation, InOutage: outage})
	}
}

// rejected records a WeChat call that answered 40001/40014/42001.
func (a *accounting) rejected(_ *world, who, appid string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rejects[who] = append(a.rejects[who], rejection{AppID: appid, At: at})
	a.rejectsBy[appid]++
}

func (a *accounting) outcome(kind, outcome string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if kind == "consumer" {
		a.consumerOutcomes[outcome]++
	} else {
		a.callerOutcomes[outcome]++
	}
}

func (a *accounting) sweep(w *world, sum refresh.Summary) {
	denied := w.accessDeniedAt(w.clock.Now())
	a.mu.Lock()
	defer a.mu.Unlock()
	store := false
	for _, r := range sum.Results {
		a.sweepOutcomes[r.Outcome]++
		if r.Error != "" {
			a.sweepErrors[r.Error]++
		}
		// Error is "<class>: <what>".
		store = store || r.Outcome == refresh.OutcomeFailed && strings.HasPrefix(r.Error, "store: ")
	}
	if denied {
		a.deniedSweeps++
		if !store {
			a.deniedSweepsNoStore++
		}
	}
}

// tokenAnswer records a token function answer given at now.
func (a *accounting) tokenAnswer(w *world, now time.Time, status int) {
	if !w.accessDeniedAt(now) {
		return
	}
	a.mu.Lock()
	a.deniedTokenAnswers[status]++
	a.mu.Unlock()
}

// callbackDeadline is how long WeChat waits for an answer.
const callbackDeadline = 5 * time.Second

// answered records one callback delivery's status and its real-time
// latency.
func (a *accounting) answered(w *world, m *message, status int, took time.Duration) {
	now := w.clock.Now()
	denied, slow := w.accessDeniedAt(now), w.slowBusAt(now)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.maxAnswer = max(a.maxAnswer, took)
	if slow {
		a.maxSlowAnswer = max(a.maxSlowAnswer, took)
	}
	if took > callbackDeadline {
		a.lateAnswers = append(a.lateAnswers, fmt.Sprintf("push %d (%s) answered %d after %v", m.idx, clockTime(m.at), status, took.Round(time.Millisecond)))
	}
	if denied {
		a.deniedDeliveries[status]++
	}
}

func (a *accounting) completedUnacked(m *message) {
	a.mu.Lock()
	a.redelivered[m.key]++
	a.mu.Unlock()
}

func (a *accounting) unopenedReply() {
	a.mu.Lock()
	a.unopened++
	a.mu.Unlock()
}

// checkAcked verifies that every delivery answered 200 was published
// before the answer: an acknowledged push WeChat will not send again.
func (a *accounting) checkAcked(w *world, m *message, codes []int) {
	events := w.aws.Events()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range events[a.eventsSeen:] {
		var d struct {
			AppID  string `json:"appid"`
			RawXML string `json:"raw_xml"`
		}
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			a.published["undecodable event"]++
			continue
		}
		msg, err := callback.ParseMessage([]byte(d.RawXML))
		if err != nil {
			a.published["unparsable raw_xml"]++
			continue
		}
		a.published[d.AppID+"#"+msg.DedupeKey()]++
	}
	a.eventsSeen = len(events)
	for _, c := range codes {
		if c == http.StatusOK && a.published[m.key] == 0 {
			a.lostAcks = append(a.lostAcks, fmt.Sprintf("push %d (%s) answered 200, not on the bus", m.idx, clockTime(m.at)))
		}
	}
}

func (a *accounting) badStatus(target string, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.badInput[target] == nil {
		a.badInput[target] = map[int]int{}
	}
	a.badInput[target][status]++
}

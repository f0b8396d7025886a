package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// consumer is a service of its own reading tokens through tokenclient and
// calling WeChat's authenticated API with Do.
type consumer struct {
	id       int
	app      app
	tc       *tokenclient.Client
	wc       *wechat.Client
	wecom    *wechat.WeComClient // set for the WeCom app's consumers
	userInfo bool                // user info; otherwise custom send
	n        int
}

func (w *world) consume(c *consumer, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	who := fmt.Sprintf("consumer %d", c.id)
	c.n++
	attempt := 0
	err := c.tc.Do(ctx, c.app.ID, func(tok string) error {
		attempt++
		// Do calls again only after a report: the token it was given then
		// must be a valid one (WeCom: within one report).
		w.acct.serveAfter(w, who, c.app.ID, tok, now, attempt > 1)
		var err error
		if c.wecom != nil {
			_, err = c.wecom.AgentConfigTicket(ctx, tok)
		} else if c.userInfo {
			_, err = c.wc.UserInfo(ctx, tok, c.app.Follower, "en")
		} else {
			content := fmt.Sprintf("chaos custom message %d.%d %016x", c.id, c.n, rand.Uint64())
			w.secrets.addContent(content)
			err = c.wc.SendCustomMessage(ctx, tok, wechat.TextMessage(c.app.Follower, content))
		}
		if wechat.IsTokenRejected(err) {
			w.acct.rejected(w, who, c.app.ID, now)
		}
		return err
	})
	w.acct.outcome("consumer", outcomeOf(err))
}

// outcomeOf names a consumer call's result for the report.
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	var re *tokenclient.RefreshError
	var we *wechat.Error
	var ne *wechat.NetworkError
	switch {
	case errors.As(err, &re):
		return "rejected, then forced refresh refused: " + re.Code
	case errors.As(err, &we) && we.Code != 0:
		return fmt.Sprintf("errcode %d", we.Code)
	case errors.As(err, &we):
		return fmt.Sprintf("http %d", we.HTTPStatus)
	case errors.As(err, &ne):
		return "no answer (timeout / dropped connection)"
	case errors.Is(err, credential.ErrNotFound):
		return "not_found (nothing stored yet)"
	case errors.Is(err, credential.ErrUnavailable):
		return "token_unavailable (no usable token)"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	}
	return fmt.Sprintf("other (%T)", err)
}

// caller uses the token function's HTTP shape: GET /token, and POST
// /token/invalidate when WeChat rejects the token.
type caller struct {
	id    int
	app   app
	srv   *tokenserver.Server
	wc    *wechat.Client
	wecom *wechat.WeComClient // set for the WeCom app's caller
}

// call is the caller's authenticated API call with tok.
func (c *caller) call(ctx context.Context, tok string) error {
	if c.wecom != nil {
		_, err := c.wecom.AgentConfigTicket(ctx, tok)
		return err
	}
	_, err := c.wc.UserInfo(ctx, tok, c.app.Follower, "en")
	return err
}

func (c *caller) do(method, target, body string) (tokenapi.Answer, int) {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, target, rd)
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	rec := httptest.NewRecorder()
	c.srv.ServeHTTP(rec, req)
	var a tokenapi.Answer
	_ = json.Unmarshal(rec.Body.Bytes(), &a)
	return a, rec.Code
}

func (w *world) callTokenFunction(c *caller, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	who := fmt.Sprintf("caller %d", c.id)
	ans, status := c.do(http.MethodGet, "/token?appid="+url.QueryEscape(c.app.ID), "")
	w.acct.tokenAnswer(w, now, status)
	if status != http.StatusOK {
		w.acct.outcome("caller", fmt.Sprintf("GET /token %d %s", status, ans.Error))
		return
	}
	w.acct.serve(w, who, c.app.ID, ans.Token, now)
	err := c.call(ctx, ans.Token)
	if wechat.IsTokenRejected(err) {
		w.acct.rejected(w, who, c.app.ID, now)
		body, _ := json.Marshal(tokenapi.Request{AppID: c.app.ID, Kind: credential.AccessToken, Token: ans.Token})
		ans, status = c.do(http.MethodPost, tokenserver.PathInvalidate, string(body))
		w.acct.tokenAnswer(w, now, status)
		if status != http.StatusOK {
			w.acct.outcome("caller", fmt.Sprintf("POST /token/invalidate %d %s", status, ans.Error))
			return
		}
		w.acct.serveAfter(w, who, c.app.ID, ans.Token, now, true)
		err = c.call(ctx, ans.Token)
		if wechat.IsTokenRejected(err) {
			w.acct.rejected(w, who, c.app.ID, now)
		}
	}
	w.acct.outcome("caller", outcomeOf(err))
}

// message is one push WeChat delivers three times.
type message struct {
	idx       int
	app       app
	at        time.Time
	key       string // appid#dedupe key
	xml       string
	failFirst bool // the handler fails on its first run
	putFail   bool // the first publish fails
	slow      bool // delivered while every PutEvents takes slowPutEvents
	sender    *callbacktest.Sender
	query     string
	body      string
	nonce     string
	statuses  []int
}

// planMessages spreads the pushes over the run: a third subscribe events,
// a third menu clicks, a third text messages; then a burst of slowBurst
// more at the start of the slow-EventBridge phase. Pushes inside that
// phase neither fail their handler nor their publish: each must be
// answered 200 and published once.
func (w *world) planMessages() {
	n := w.cfg.Messages
	slowFrom := Start.Add(w.frac(slowAt))
	for j := range n + slowBurst {
		a := w.apps[j%len(w.apps)]
		at := Start.Add(time.Duration(float64(w.cfg.Duration) * (float64(j) + 0.5) / float64(n))).Truncate(w.cfg.Step)
		if j >= n {
			at = slowFrom
		}
		s := &callbacktest.Sender{AppID: a.ID, Token: a.Token, EncodingAESKey: a.AESKey, Now: w.clock.Now}
		user := fmt.Sprintf("oChaosUser%05d", j)
		var xml string
		switch j % 3 {
		case 0:
			xml = s.Event(user, at.Unix(), callback.EventSubscribe, "")
		case 1:
			xml = s.Event(user, at.Unix(), callback.EventClick, fmt.Sprintf("menu_%d", j))
		default:
			content := fmt.Sprintf("chaos callback content %d %s", j, w.randomText(16))
			w.secrets.addContent(content)
			xml = s.Text(user, at.Unix(), int64(7_000_000_000+j), content)
		}
		// The accounting follows the handler's own key rule (tested in
		// pkg/callback), so a push is matched to its dedupe record.
		pm, err := callback.ParseMessage([]byte(xml))
		if err != nil {
			w.t.Fatalf("chaos: planned push %d does not parse: %v", j, err)
		}
		key := pm.DedupeKey()
		m := &message{
			idx: j, app: a, at: at, key: a.ID + "#" + key, xml: xml, sender: s,
			failFirst: w.rng.Float64() < handlerFailureRate,
			putFail:   w.rng.Float64() < putFailureRate,
			slow:      !at.Before(slowFrom) && at.Before(slowFrom.Add(slowWindow)),
		}
		if m.slow {
			m.failFirst, m.putFail = false, false
		}
		w.msgs = append(w.msgs, m)
	}
	slices.SortStableFunc(w.msgs, func(x, y *message) int { return x.at.Compare(y.at) })
}

// runHandler is the application's handler on every instance: it counts
// runs per push and fails the first run of the chosen pushes.
func (w *world) runHandler(ctx context.Context, m *callback.Message) (callback.Reply, error) {
	key := m.AppID + "#" + m.DedupeKey()
	a := &w.acct
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs[key]++
	if a.failFirst[key] && a.runs[key] == 1 {
		return nil, errors.New("chaos: handler fails on its first run")
	}
	a.completed[key]++
	if d, ok := ctx.Value(deliveryKey{}).(*delivery); ok {
		d.completed.Store(true)
	}
	if m.MsgType == callback.MsgTypeText {
		return callback.TextReply{Content: "received"}, nil
	}
	return nil, nil
}

// delivery is one POST of a push, carried in the request context so the
// handler can mark that it completed during it.
type delivery struct{ completed atomic.Bool }

type deliveryKey struct{}

// deliver posts the push to callback instance inst, as WeChat would.
func (w *world) deliver(m *message, inst int) int {
	req := httptest.NewRequest(http.MethodPost, "/wechat/"+m.app.ID+"?"+m.query, strings.NewReader(m.body))
	req.Header.Set("Content-Type", "text/xml")
	d := &delivery{}
	ctx, cancel := context.WithTimeout(context.WithValue(req.Context(), deliveryKey{}, d), 30*time.Second)
	defer cancel()
	rec := httptest.NewRecorder()
	start := time.Now()                                    // WeChat's 5 s are real time, whatever the virtual clock says
	w.callbacks[inst].ServeHTTP(rec, req.WithContext(ctx)) // callbacklambda counts CallbackRequests
	w.acct.answered(w, m, rec.Code, time.Since(start))
	if rec.Code != http.StatusOK && d.completed.Load() {
		// The handler completed but the answer is not 200 (the reply could
		// not be recorded in time): WeChat delivers again, and a second run
		// is within its contract.
		w.acct.completedUnacked(m)
	}
	if rec.Code == http.StatusOK {
		if _, err := m.sender.OpenReply(rec.Body.Bytes(), m.nonce); err != nil {
			w.acct.unopenedReply()
		}
	}
	return rec.Code
}

// deliverFirst is WeChat's first delivery and an overlapping retry, to two
// instances at once. The third delivery comes one step later.
func (w *world) deliverFirst(m *message) {
	m.query, m.body, m.nonce = m.sender.PushParts(m.xml)
	if m.putFail {
		// The SDK retries a 500 once (fastRetryer): fail both attempts.
		if m.idx%2 == 0 {
			w.aws.FailPutEvents(fakeaws.PutEventsPartialFailure, 1)
		} else {
			w.aws.FailPutEvents(fakeaws.PutEventsServerError, 2)
		}
	}
	codes := make([]int, 2)
	done := make(chan struct{}, 2)
	for i := range 2 {
		go func() {
			codes[i] = w.deliver(m, (m.idx+i)%len(w.callbacks))
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	m.statuses = append(m.statuses, codes...)
	w.acct.checkAcked(w, m, codes)
}

func (w *world) deliverLast(m *message) {
	code := w.deliver(m, (m.idx+2)%len(w.callbacks))
	m.statuses = append(m.statuses, code)
	w.acct.checkAcked(w, m, []int{code})
}

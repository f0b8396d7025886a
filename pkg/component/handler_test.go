package component_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/component"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	compID     = "wxc0mp0nent0000001"
	compSecret = "component-secret-0123456789abcdef"
	compToken  = "component-event-token"
	compKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

var start = time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC)

// env is a platform simulator and the intake on one virtual clock, storing
// into dynalite.
type env struct {
	t     *testing.T
	clock *wechattest.Clock
	sim   *wechattest.ComponentSimulator
	store *dynamo.CredentialStore
	h     http.Handler
	sink  *recordingPublisher
}

func newEnv(t *testing.T, mod ...func(*component.Options)) *env {
	t.Helper()
	clock := wechattest.NewClock(start)
	sim := wechattest.NewComponentSimulator(wechattest.WithClock(clock.Now), wechattest.WithSeed(7))
	if err := sim.AddPlatform(compID, compSecret, compToken, compKey); err != nil {
		t.Fatal(err)
	}
	client, table := dynamotest.NewTable(t)
	e := &env{t: t, clock: clock, sim: sim, store: dynamo.NewCredentialStore(client, table), sink: &recordingPublisher{}}
	o := component.Options{
		Platforms: func(context.Context) ([]component.Platform, error) {
			return []component.Platform{{AppID: compID, Token: compToken, EncodingAESKey: compKey}}, nil
		},
		Tickets: e.store,
		Events:  component.PublisherSink{Publisher: e.sink},
		Clock:   clock.Now,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&o)
	}
	h, err := component.NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /component/{component_appid}", h)
	e.h = mux
	return e
}

// deliver sends a push the way WeChat does and returns the answer.
func (e *env) deliver(p wechattest.ComponentPush) *httptest.ResponseRecorder {
	e.t.Helper()
	r, err := p.NewRequest("http://wxcentral.test")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.serve(r)
}

func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) stored() credential.Record {
	e.t.Helper()
	rec, err := e.store.Get(context.Background(), compID, credential.ComponentVerifyTicket, true)
	if errors.Is(err, credential.ErrNotFound) {
		return credential.Record{}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func wantSuccess(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code != http.StatusOK || w.Body.String() != "success" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("answer %d %q (%s), want 200 success text/plain", w.Code, w.Body, w.Header().Get("Content-Type"))
	}
}

// Six hours of delayed, reordered and lost pushes, delivered in batches:
// after every delivery the stored ticket is the newest delivered so far,
// with expires_at = CreateTime + 12 h, and it is one WeChat accepts.
func TestLateAndReorderedTicketsNeverReplaceANewerOne(t *testing.T) {
	e := newEnv(t)
	e.sim.SetTicketPushFaults(compID, wechattest.TicketPushFaults{Delay: 7 * time.Minute, Reorder: true, DropRate: 0.2})
	var newest time.Time
	older := 0
	for step := time.Duration(0); step <= 6*time.Hour; step += 25 * time.Minute {
		e.clock.Set(start.Add(step))
		for _, p := range e.sim.DueTicketPushes() {
			wantSuccess(t, e.deliver(p))
			if p.CreateTime.After(newest) {
				newest = p.CreateTime
			} else {
				older++
			}
			rec := e.stored()
			if !rec.RefreshedAt.Equal(newest) || !rec.ExpiresAt.Equal(newest.Add(12*time.Hour)) {
				t.Fatalf("%v: stored ticket created %v expiring %v, want the newest delivered, %v", step, rec.RefreshedAt, rec.ExpiresAt, newest)
			}
			if !e.sim.VerifyTicketValid(compID, rec.Value, e.clock.Now()) {
				t.Fatalf("%v: the stored ticket is not one WeChat accepts", step)
			}
		}
	}
	if older == 0 {
		t.Fatal("no push arrived after a newer one: the test exercised nothing")
	}
}

// An older push delivered after a newer one is acknowledged (WeChat must
// not retry it) and dropped; a repeated push changes nothing.
func TestOlderAndRepeatedPushes(t *testing.T) {
	// Pushes are signed when made; the window admits the held-back ones.
	e := newEnv(t, func(o *component.Options) { o.MaxSkew = time.Hour })
	var pushes []wechattest.ComponentPush
	for i := 0; i < 3; i++ {
		pushes = append(pushes, e.sim.DueTicketPushes()...)
		e.clock.Advance(10 * time.Minute)
	}
	wantSuccess(t, e.deliver(pushes[2]))
	first := e.stored()
	if first.Value != pushes[2].ComponentVerifyTicket || first.Version != 1 {
		t.Fatalf("stored %+v", first)
	}
	wantSuccess(t, e.deliver(pushes[0]))
	wantSuccess(t, e.deliver(pushes[1]))
	wantSuccess(t, e.deliver(pushes[2]))
	if got := e.stored(); got.Value != first.Value || got.Version != 1 || !got.RefreshedAt.Equal(first.RefreshedAt) {
		t.Fatalf("after older and repeated pushes the item is %+v, want %+v unchanged", got, first)
	}
}

// Concurrent deliveries of every push of an hour (WeChat's retries racing
// each other) leave the newest stored, once.
func TestConcurrentDeliveries(t *testing.T) {
	e := newEnv(t)
	e.clock.Advance(time.Hour)
	pushes := e.sim.DueTicketPushes()
	var wg sync.WaitGroup
	for range 3 {
		for _, p := range pushes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _ := p.NewRequest("http://wxcentral.test")
				if w := e.serve(r); w.Code != http.StatusOK {
					t.Errorf("answer %d %q", w.Code, w.Body)
				}
			}()
		}
	}
	wg.Wait()
	last := pushes[len(pushes)-1]
	if got := e.stored(); got.Value != last.ComponentVerifyTicket || !got.RefreshedAt.Equal(last.CreateTime) {
		t.Fatalf("stored ticket created %v, want the newest, %v", got.RefreshedAt, last.CreateTime)
	}
}

// Authenticity failures are 403, malformed content 400, and nothing is
// stored or published for any of them.
func TestRejectedPushes(t *testing.T) {
	e := newEnv(t)
	p := e.sim.DueTicketPushes()[0]
	q, _ := url.ParseQuery(p.Query)
	with := func(key, val string) string {
		c := url.Values{}
		for k, v := range q {
			c[k] = v
		}
		c.Set(key, val)
		return c.Encode()
	}
	ts := q.Get("timestamp")
	signedBody := func(body, enc string) (string, string) {
		c := url.Values{}
		for k, v := range q {
			c[k] = v
		}
		c.Set("msg_signature", callback.MsgSignature(compToken, ts, q.Get("nonce"), enc))
		return c.Encode(), body
	}
	badB64Q, badB64 := signedBody("<xml><AppId>"+compID+"</AppId><Encrypt>!!notbase64!!</Encrypt></xml>", "!!notbase64!!")
	wrongKey, _ := callback.NewCipher("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq", compID)
	otherEnc := wrongKey.Encrypt([16]byte{}, []byte("<xml><AppId>"+compID+"</AppId><InfoType>component_verify_ticket</InfoType></xml>"))
	wrongKeyQ, wrongKeyBody := signedBody("<xml><Encrypt>"+otherEnc+"</Encrypt></xml>", otherEnc)
	otherApp, _ := callback.NewCipher(compKey, "wxsomeoneelse00001")
	otherAppEnc := otherApp.Encrypt([16]byte{}, []byte("<xml><AppId>"+compID+"</AppId><InfoType>component_verify_ticket</InfoType></xml>"))
	otherAppQ, otherAppBody := signedBody("<xml><Encrypt>"+otherAppEnc+"</Encrypt></xml>", otherAppEnc)
	plainQ, plainBody := signedBody("<xml><AppId>"+compID+"</AppId><InfoType>component_verify_ticket</InfoType></xml>", "")
	ok := wechattest.ComponentPush{ComponentAppID: compID}
	cases := []struct {
		name   string
		method string
		path   string
		query  string
		body   string
		status int
	}{
		{"forged signature", "POST", ok.Path(), with("signature", strings.Repeat("0", 40)), p.Body, 403},
		{"no signature", "POST", ok.Path(), with("signature", ""), p.Body, 403},
		{"forged msg_signature", "POST", ok.Path(), with("msg_signature", strings.Repeat("0", 40)), p.Body, 403},
		{"body of another push", "POST", ok.Path(), p.Query, strings.Replace(p.Body, "<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1), 403},
		{"unknown platform", "POST", "/component/wxunknown000000001", p.Query, p.Body, 404},
		{"GET", "GET", ok.Path(), p.Query, "", 405},
		{"not encrypted", "POST", ok.Path(), plainQ, plainBody, 403},
		{"not XML", "POST", ok.Path(), p.Query, "{}", 400},
		{"DOCTYPE", "POST", ok.Path(), p.Query, `<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>`, 400},
		{"Encrypt not base64", "POST", ok.Path(), badB64Q, badB64, 400},
		{"encrypted with another key", "POST", ok.Path(), wrongKeyQ, wrongKeyBody, 400},
		{"receive id of another app", "POST", ok.Path(), otherAppQ, otherAppBody, 403},
		{"too large", "POST", ok.Path(), p.Query, strings.Repeat("x", callback.MaxBodyBytes+1), 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path+"?"+tc.query, strings.NewReader(tc.body))
			w := e.serve(r)
			if w.Code != tc.status {
				t.Fatalf("answer %d %q, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status != 405 && (w.Body.Len() == 0 || strings.Contains(w.Body.String(), compToken) || strings.Contains(w.Body.String(), compKey)) {
				t.Fatalf("message %q: want a reason, never a secret", w.Body)
			}
		})
	}
	// A push signed 6 minutes ago is outside the default window.
	e.clock.Advance(6 * time.Minute)
	if w := e.deliver(p); w.Code != 403 {
		t.Fatalf("stale push: %d %q, want 403", w.Code, w.Body)
	}
	if rec := e.stored(); rec.Value != "" {
		t.Fatalf("a rejected push stored a ticket: %+v", rec)
	}
	if n := len(e.sink.pushes()); n != 0 {
		t.Fatalf("%d events published for rejected pushes", n)
	}
}

// A store that cannot be written answers 503, so WeChat pushes again.
func TestStoreFailureIs503(t *testing.T) {
	client, _ := dynamotest.NewTable(t)
	missing := dynamo.NewCredentialStore(client, "no-such-table")
	e := newEnv(t, func(o *component.Options) { o.Tickets = missing })
	w := e.deliver(e.sim.DueTicketPushes()[0])
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %q, want 503", w.Code, w.Body)
	}
}

// recordingPublisher is a callback.Publisher that keeps what it was given,
// or fails when fail is set.
type recordingPublisher struct {
	mu   sync.Mutex
	got  []callback.Push
	fail bool
}

func (p *recordingPublisher) Publish(_ context.Context, push callback.Push) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("bus unavailable")
	}
	p.got = append(p.got, push)
	return nil
}

func (p *recordingPublisher) pushes() []callback.Push {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]callback.Push(nil), p.got...)
}

package jssdk_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/jssdk"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appid  = "wx0123456789abcdef"
	secret = "secret-0123456789abcdef0123456789"
	page   = "https://example.com/shop?item=7"
)

// ticketWorld: simulator + dynalite + pkg/refresh keeping the app's
// jsapi_ticket, and a Signer reading it through tokenclient.
type ticketWorld struct {
	clock  *wechattest.Clock
	sim    *wechattest.Simulator
	ref    *refresh.Refresher
	tc     *tokenclient.Client
	signer *jssdk.Signer
	nonce  string
}

func newTicketWorld(t *testing.T) *ticketWorld {
	t.Helper()
	clock := wechattest.NewClock(time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC))
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now))
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sim.AddApp(appid, secret)
	client, table := dynamotest.NewTable(t)
	store := dynamo.NewCredentialStore(client, table)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	apps := []refresh.App{{AppID: appid, Secret: secret, Kinds: []credential.Kind{credential.AccessToken, credential.JSAPITicket}}}
	ref := refresh.New(refresh.Options{
		Store: store, WeChat: wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now)),
		Apps: func(context.Context) ([]refresh.App, error) { return apps, nil }, Now: clock.Now, Logger: quiet,
		ForceDailyLimit: credential.DefaultForceDailyLimit, Backoff: time.Millisecond, WaitPoll: 5 * time.Millisecond,
	})
	inv := tokenclient.NewDirectInvalidator(func(ctx context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		return json.Marshal(ref.Force(ctx, req))
	})
	tc := tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithClock(clock.Now),
		tokenclient.WithInvalidator(inv), tokenclient.WithLogger(quiet))
	w := &ticketWorld{clock: clock, sim: sim, ref: ref, tc: tc, nonce: "Wm3WZYTPz0wzccnW"}
	w.signer = jssdk.NewSigner(tc, jssdk.WithClock(clock.Now), jssdk.WithNonce(func() (string, error) { return w.nonce, nil }))
	w.sweep(t)
	return w
}

func (w *ticketWorld) sweep(t *testing.T) map[credential.Kind]refresh.Result {
	t.Helper()
	sum, err := w.ref.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[credential.Kind]refresh.Result{}
	for _, r := range sum.Results {
		out[r.Kind] = r
	}
	return out
}

// signedWithValidTicket checks cfg against every ticket the simulator says
// is valid now: the signature must be over the app's current ticket.
func (w *ticketWorld) signedWithValidTicket(t *testing.T, cfg jssdk.Config) {
	t.Helper()
	ticket, err := w.tc.Get(context.Background(), appid, credential.JSAPITicket)
	if err != nil {
		t.Fatal(err)
	}
	if !w.sim.TicketValid(appid, ticket.Value, w.clock.Now()) {
		t.Fatal("the ticket served is not valid on WeChat's side")
	}
	if want := jssdk.Sign(ticket.Value, cfg.NonceStr, cfg.Timestamp, page); cfg.Signature != want || cfg.AppID != appid ||
		cfg.Timestamp != w.clock.Now().Unix() {
		t.Fatalf("config %+v does not sign the current ticket", cfg)
	}
}

// Fresh tickets: a sweep makes no getticket (nor token) call, and signing
// pages reads the stored ticket without calling WeChat at all.
func TestFreshTicketsNoGetTicket(t *testing.T) {
	w := newTicketWorld(t)
	for _, advance := range []time.Duration{time.Minute, 30 * time.Minute, 7200*time.Second - credential.TicketLead - time.Second} {
		w.clock.Set(time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC).Add(advance))
		w.sim.ResetCounters()
		res := w.sweep(t)
		if res[credential.JSAPITicket].Outcome != refresh.OutcomeFresh {
			t.Fatalf("+%v: ticket outcome %+v, want fresh", advance, res[credential.JSAPITicket])
		}
		cfg, err := w.signer.Config(context.Background(), appid, page+"#top")
		if err != nil {
			t.Fatal(err)
		}
		w.signedWithValidTicket(t, cfg)
		if c := w.sim.Counters(appid); c.Total() != 0 {
			t.Fatalf("+%v: WeChat calls %+v, want none while the ticket is fresh", advance, c)
		}
	}
}

// A getticket answered 40001 (the stored access_token was revoked on
// WeChat's side): one access_token refresh, then one ticket fetch that
// succeeds; the page signs with the new ticket.
func TestGetTicket40001RefreshesAccessTokenOnce(t *testing.T) {
	w := newTicketWorld(t)
	w.clock.Advance(7200*time.Second - credential.TicketLead) // ticket due, access_token fresh
	if _, err := w.sim.ForceRotate(appid, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	w.sim.ResetCounters()
	res := w.sweep(t)
	if o := res[credential.JSAPITicket].Outcome; o != refresh.OutcomeRefreshed {
		t.Fatalf("ticket outcome %+v", res[credential.JSAPITicket])
	}
	c := w.sim.Counters(appid)
	// getticket #1 is the 40001, getticket #2 the fetch after the refresh.
	if c.StableTokenNormal != 1 || c.StableTokenForce != 0 || c.LegacyToken != 0 || c.GetTicket != 2 {
		t.Fatalf("counters %+v: want one access_token refresh and one ticket fetch after the 40001", c)
	}
	cfg, err := w.signer.Config(context.Background(), appid, page)
	if err != nil {
		t.Fatal(err)
	}
	w.signedWithValidTicket(t, cfg)
}

// A ticket a page reports as rejected is fetched again through
// tokenclient.Invalidate (tickets have no force mode): one getticket, no
// token call, and the signer uses the new ticket from the cache.
func TestInvalidateTicket(t *testing.T) {
	w := newTicketWorld(t)
	ctx := context.Background()
	stale, err := w.tc.Get(ctx, appid, credential.JSAPITicket)
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	w.sim.ResetCounters()
	fresh, err := w.tc.Invalidate(ctx, appid, credential.JSAPITicket, stale.Value)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Value == stale.Value || fresh.Version != stale.Version+1 {
		t.Fatalf("version %d -> %d, value changed %v", stale.Version, fresh.Version, fresh.Value != stale.Value)
	}
	if c := w.sim.Counters(appid); c.GetTicket != 1 || c.StableTokenNormal+c.StableTokenForce != 0 {
		t.Fatalf("counters %+v", c)
	}
	cfg, err := w.signer.Config(ctx, appid, page)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signature != jssdk.Sign(fresh.Value, cfg.NonceStr, cfg.Timestamp, page) {
		t.Fatal("signer did not use the refetched ticket")
	}
}

package tokenclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	simApp    = "wx0123456789abcdef"
	simSecret = "secret-0123456789abcdef0123456789"
	simUser   = "oUser-0001"
)

// world is the real forced-refresh path: the WeChat simulator, dynalite,
// pkg/refresh with the dynamo store, and a tokenclient whose invalidations
// reach the refresher through the force request/answer JSON of docs/refresh.md.
type world struct {
	clock *wechattest.Clock
	sim   *wechattest.Simulator
	wc    *wechat.Client
	ref   *refresh.Refresher
	store *dynamo.CredentialStore
	tc    *tokenclient.Client
}

func newWorld(t *testing.T, kinds ...credential.Kind) *world {
	t.Helper()
	clock := wechattest.NewClock(time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC))
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now))
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sim.AddApp(simApp, simSecret)
	if err := sim.AddUser(simApp, wechat.UserInfo{Subscribe: 1, OpenID: simUser, Language: "zh_CN"}); err != nil {
		t.Fatal(err)
	}
	client, table := dynamotest.NewTable(t)
	store := dynamo.NewCredentialStore(client, table)
	wc := wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))
	apps := []refresh.App{{AppID: simApp, Secret: simSecret, Kinds: append([]credential.Kind{credential.AccessToken}, kinds...)}}
	ref := refresh.New(refresh.Options{
		Store: store, WeChat: wc, Now: clock.Now, Logger: discard(),
		Apps:            func(context.Context) ([]refresh.App, error) { return apps, nil },
		ForceDailyLimit: credential.DefaultForceDailyLimit,
		Backoff:         time.Millisecond, WaitPoll: 5 * time.Millisecond, MaxWait: 20 * time.Second,
	})
	// The refresh function's direct-invoke protocol, in process.
	inv := tokenclient.NewDirectInvalidator(func(ctx context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.ForceRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		return json.Marshal(ref.Force(ctx, req))
	})
	w := &world{clock: clock, sim: sim, wc: wc, ref: ref, store: store,
		tc: tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithClock(clock.Now),
			tokenclient.WithInvalidator(inv), tokenclient.WithWeChat(wc), tokenclient.WithLogger(discard()))}
	if _, err := ref.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w
}

// tokenCalls counts every call that obtains an access_token from WeChat.
func tokenCalls(c wechattest.Counters) int {
	return c.StableTokenNormal + c.StableTokenForce + c.LegacyToken
}

// TestDoAfterForceRotate: WeChat's token was rotated elsewhere and the old
// one revoked; the first call gets 40001, the client invalidates, the
// refresher picks up the rotated token with one normal-mode stable_token
// call (no force budget), and the retry succeeds.
func TestDoAfterForceRotate(t *testing.T) {
	type call func(ctx context.Context, w *world) error
	tests := []struct {
		name     string
		call     call
		endpoint func(wechattest.Counters) int
	}{
		{"Do observing each attempt", nil, func(c wechattest.Counters) int { return c.UserInfo }},
		{"Call", func(ctx context.Context, w *world) error {
			var u wechat.UserInfo
			err := w.tc.Call(ctx, simApp, http.MethodGet, "/cgi-bin/user/info", map[string][]string{"openid": {simUser}}, nil, &u)
			if err == nil && u.OpenID != simUser {
				return errors.New("user info not decoded")
			}
			return err
		}, func(c wechattest.Counters) int { return c.UserInfo }},
		{"SendCustomMessage", func(ctx context.Context, w *world) error {
			if err := w.tc.SendCustomMessage(ctx, simApp, wechat.TextMessage(simUser, "hello")); err != nil {
				return err
			}
			if n := len(w.sim.SentMessages(simApp)); n != 1 {
				return errors.New("message not delivered exactly once")
			}
			return nil
		}, func(c wechattest.Counters) int { return c.CustomSend }},
		{"UserInfo", func(ctx context.Context, w *world) error {
			u, err := w.tc.UserInfo(ctx, simApp, simUser, "zh_CN")
			if err == nil && u.OpenID != simUser {
				return errors.New("wrong user")
			}
			return err
		}, func(c wechattest.Counters) int { return c.UserInfo }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			old, err := w.tc.Get(ctx, simApp, credential.AccessToken) // cached from now on
			if err != nil {
				t.Fatal(err)
			}
			w.clock.Advance(10 * time.Minute)
			rotated, err := w.sim.ForceRotate(simApp, wechattest.RevokeNow())
			if err != nil {
				t.Fatal(err)
			}
			w.sim.ResetCounters()

			if tt.call == nil {
				var attempts []error
				var tokens []string
				err = w.tc.Do(ctx, simApp, func(token string) error {
					tokens = append(tokens, token)
					_, err := w.wc.UserInfo(ctx, token, simUser, "")
					attempts = append(attempts, err)
					return err
				})
				if len(attempts) != 2 || wechat.ErrorCode(attempts[0]) != wechat.CodeInvalidCredential || attempts[1] != nil {
					t.Fatalf("attempts %v: want 40001 then success", attempts)
				}
				if tokens[0] != old.Value || tokens[1] != rotated {
					t.Fatal("first attempt must use the cached token, the retry the rotated one")
				}
			} else {
				err = tt.call(ctx, w)
			}
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			c := w.sim.Counters(simApp)
			if tokenCalls(c) != 1 || c.StableTokenForce != 0 || w.sim.ForceCount(simApp) != 0 {
				t.Fatalf("counters %+v: want exactly one (normal-mode) token call", c)
			}
			if n := tt.endpoint(c); n != 2 {
				t.Fatalf("endpoint called %d times, want 2 (40001, then the retry)", n)
			}
			stored, err := w.store.Get(ctx, simApp, credential.AccessToken, true)
			if err != nil || stored.Value != rotated || stored.Version != 2 {
				t.Fatalf("stored version %d, rotated token stored: %v (%v)", stored.Version, stored.Value == rotated, err)
			}
			// The next call uses the new token straight from the cache.
			w.sim.ResetCounters()
			if _, err := w.tc.UserInfo(ctx, simApp, simUser, ""); err != nil {
				t.Fatal(err)
			}
			if c := w.sim.Counters(simApp); tokenCalls(c) != 0 || c.UserInfo != 1 {
				t.Fatalf("after recovery: counters %+v", c)
			}
		})
	}
}

// TestConcurrentDoAfterRotate: many callers hit 40001 together; WeChat
// still sees one token call.
func TestConcurrentDoAfterRotate(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.tc.Get(ctx, simApp, credential.AccessToken); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Minute)
	if _, err := w.sim.ForceRotate(simApp, wechattest.RevokeNow()); err != nil {
		t.Fatal(err)
	}
	w.sim.ResetCounters()
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.tc.UserInfo(ctx, simApp, simUser, "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller failed: %v", err)
		}
	}
	if c := w.sim.Counters(simApp); tokenCalls(c) != 1 || c.StableTokenForce != 0 {
		t.Fatalf("counters %+v: want one token call for %d concurrent rejections", c, n)
	}
}

// TestDoForcedRefresh: WeChat rejects a token without a rotation visible
// to normal mode, so the refresher must spend one force
// call; the retry succeeds with the forced token.
func TestDoForcedRefresh(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	old, err := w.tc.Get(ctx, simApp, credential.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(10 * time.Minute)
	w.sim.ResetCounters()
	rejectedOnce := false
	err = w.tc.Do(ctx, simApp, func(token string) error {
		if token == old.Value && !rejectedOnce {
			rejectedOnce = true // WeChat says 40001 for a token it still issues
			return &wechat.Error{Code: wechat.CodeInvalidCredential, Msg: "invalid credential"}
		}
		_, err := w.wc.UserInfo(ctx, token, simUser, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := w.sim.Counters(simApp)
	if c.StableTokenNormal != 1 || c.StableTokenForce != 1 || w.sim.ForceCount(simApp) != 1 {
		t.Fatalf("counters %+v: want a normal probe then one force call", c)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

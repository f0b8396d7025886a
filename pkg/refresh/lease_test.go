package refresh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// pausingWeChat is the real WeChat client with a hook run after each
// stable_token call returns: a test uses it to stand for a refresher that
// stalls (a slow answer, a frozen Lambda) while the virtual clock moves on.
type pausingWeChat struct {
	refresh.WeChat
	after func(force bool)
}

func (p pausingWeChat) StableToken(ctx context.Context, appid, secret string, force bool) (wechat.Token, error) {
	tok, err := p.WeChat.StableToken(ctx, appid, secret, force)
	if p.after != nil {
		p.after(force)
	}
	return tok, err
}

func (e *env) pausing(after func(force bool)) func(*refresh.Options) {
	return func(o *refresh.Options) { o.WeChat = pausingWeChat{WeChat: o.WeChat, after: after} }
}

// A probe that outlasts the lease: the force budget is spent only while the
// lease is live (SpendForce extends it), so no force call is made on a lease
// another refresher may already have taken.
func TestForceLeaseExpiredDuringProbeSpendsNoBudget(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	e.clock.Advance(time.Minute)
	stale := e.get(appA, credential.AccessToken).Value
	e.sim.ResetCounters()
	r := e.refresher(e.pausing(func(force bool) {
		if !force {
			e.clock.Advance(credential.LeaseDuration + time.Second)
		}
	}))
	got := r.Force(context.Background(), forceReq(stale))
	c := e.sim.Counters(appA)
	rec := e.get(appA, credential.AccessToken)
	if got.Error != tokenapi.CodeTokenUnavailable || c.StableTokenForce != 0 || rec.ForceCount != 0 {
		t.Fatalf("answer %+v, force calls %d, force_count %d: want token_unavailable and no budget spent",
			got, c.StableTokenForce, rec.ForceCount)
	}
	if rec.Value != stale || rec.LeaseOwner != "" {
		t.Fatalf("item %+v", rec)
	}
}

// The lease is lost while the force call is on its way (another refresher
// takes it over): WeChat has revoked the stored token, so the forced token
// is still stored (conditionally on the previous value) and served, and the
// other refresher's lease is left alone.
func TestForceResultStoredWhenLeaseLostAfterForce(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sweep(e.refresher())
	e.clock.Advance(time.Minute)
	stale := e.get(appA, credential.AccessToken).Value
	r := e.refresher(e.pausing(func(force bool) {
		if force {
			e.clock.Advance(credential.LeaseDuration + time.Second)
			if _, err := e.store.TakeLease(context.Background(), appA, credential.AccessToken, "other", e.clock.Now(), credential.LeaseDuration); err != nil {
				t.Error(err)
			}
		}
	}))
	got := r.Force(context.Background(), forceReq(stale))
	cur, _ := e.sim.CurrentToken(appA)
	rec := e.get(appA, credential.AccessToken)
	if got.Error != "" || got.Token != cur || got.Version != 2 {
		t.Fatalf("answer %+v, want WeChat's forced token at version 2", got)
	}
	if rec.Value != cur || rec.Version != 2 || rec.LeaseOwner != "other" || rec.ForceCount != 1 {
		t.Fatalf("item %+v: want the forced token stored, the other lease kept", rec)
	}
}

// A WeChat call that would outlast the lease is cut a margin before the
// lease ends: its late answer could no longer be committed safely, and the
// failure is recorded and the lease released while it is still ours.
func TestSweepWeChatCallEndsInsideTheLease(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher(func(o *refresh.Options) { o.LeaseDuration = 2 * time.Second })
	e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(4*time.Second),
		wechattest.LatencyFault(4*time.Second), wechattest.LatencyFault(4*time.Second))
	res := e.sweep(r)[appA+"/access_token"]
	if res.Outcome != refresh.OutcomeFailed || !strings.HasPrefix(res.Error, "transient: ") {
		t.Fatalf("result %+v, want a transient failure (the call was cut inside the lease)", res)
	}
	rec, err := e.store.Get(context.Background(), appA, credential.AccessToken, true)
	if err != nil || rec.LeaseOwner != "" || rec.LastErrorAt.IsZero() || rec.Value != "" {
		t.Fatalf("item %+v, %v: want the failure recorded and the lease released", rec, err)
	}
}

// A hung WeChat uses up the invocation's deadline: the call ends a margin
// before it, and the failure record and lease release run on a fresh short
// context, so no stale lease or unrecorded failure is left behind.
func TestSweepHungWeChatStillRecordsFailure(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.LatencyFault(8*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	sum, err := r.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res := sum.Results[0]; res.Outcome != refresh.OutcomeFailed {
		t.Fatalf("result %+v", res)
	}
	rec, err := e.store.Get(context.Background(), appA, credential.AccessToken, true)
	if err != nil || rec.LeaseOwner != "" || rec.LastErrorAt.IsZero() {
		t.Fatalf("item %+v, %v: want the failure recorded and the lease released", rec, err)
	}
}

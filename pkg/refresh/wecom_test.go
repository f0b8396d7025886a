package refresh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	corpW   = "ww0123456789abcdef"
	agentW  = "1000002"
	secretW = "secret-W-0123456789abcdef0123456789abcdef0"
	miniM   = "wx00000000000mini01"
	secretM = "secret-M-0123456789abcdef0123456"
)

var wecomID = credential.WeComID(corpW, agentW)

func wecomApp(kinds ...credential.Kind) refresh.App {
	return refresh.App{AppID: wecomID, Type: credential.WeCom, CorpID: corpW, Agent: agentW, Secret: secretW,
		Kinds: append([]credential.Kind{credential.AccessToken}, kinds...)}
}

// withWeCom starts the WeCom simulator on the env's clock and registers
// every WeCom app with it.
func (e *env) withWeCom() *env {
	e.wecom = wechattest.NewWeComServer(wechattest.WithClock(e.clock.Now))
	e.t.Cleanup(e.wecom.Close)
	for _, a := range e.apps {
		if a.Type == credential.WeCom {
			if err := e.wecom.AddApp(a.CorpID, a.Agent, a.Secret); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	return e
}

func (e *env) wecomClient() refresh.WeCom {
	if e.wecom == nil {
		return nil
	}
	return wechat.NewWeComClient(wechat.WithBaseURL(e.wecom.URL), wechat.WithClock(e.clock.Now))
}

// rawValue reads the item with partition key pk straight from the table.
func (e *env) rawValue(pk string) string {
	e.t.Helper()
	out, err := e.db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		e.t.Fatalf("get %s: %v", pk, err)
	}
	v, _ := out.Item["value"].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

// One sweep over a mixed fleet stores every credential under
// cred#<credential id>#<kind>, each one the upstream accepts.
func TestMixedAccountTypesStoreEveryCredential(t *testing.T) {
	oa := appWith(appA, secretA, credential.JSAPITicket, credential.WXCardTicket)
	mini := refresh.App{AppID: miniM, Type: credential.MiniProgram, Secret: secretM, Kinds: []credential.Kind{credential.AccessToken}}
	wc := wecomApp(credential.JSAPITicket, credential.AgentConfigTicket)
	e := newEnv(t, nil, oa, mini, wc).withWeCom()
	e.sim.AddApp(appA, secretA)
	e.sim.AddMiniProgram(miniM, secretM)

	res := e.sweep(e.refresher())
	now := e.clock.Now()
	for _, c := range []struct {
		id    string
		kind  credential.Kind
		valid func(v string) bool
	}{
		{appA, credential.AccessToken, func(v string) bool { return e.sim.Valid(appA, v, now) }},
		{appA, credential.JSAPITicket, func(v string) bool { return e.sim.TicketValid(appA, v, now) }},
		{appA, credential.WXCardTicket, func(v string) bool { return e.sim.TicketValid(appA, v, now) }},
		{miniM, credential.AccessToken, func(v string) bool { return e.sim.Valid(miniM, v, now) }},
		{wecomID, credential.AccessToken, func(v string) bool { return e.wecom.Valid(wecomID, v, now) }},
		{wecomID, credential.JSAPITicket, func(v string) bool { return e.wecom.TicketValid(wecomID, v, now) }},
		{wecomID, credential.AgentConfigTicket, func(v string) bool { return e.wecom.TicketValid(wecomID, v, now) }},
	} {
		key := "cred#" + c.id + "#" + string(c.kind)
		if r := res[c.id+"/"+string(c.kind)]; r.Outcome != refresh.OutcomeRefreshed || r.Version != 1 {
			t.Errorf("%s: result %+v, want refreshed version 1", key, r)
		}
		if v := e.rawValue(key); v == "" || !c.valid(v) {
			t.Errorf("%s: stored value missing or not accepted upstream", key)
		}
	}
	if len(res) != 7 {
		t.Errorf("%d results, want 7", len(res))
	}
	if c := e.wecom.Counters(wecomID); c.GetToken != 1 || c.JSAPITicket != 1 || c.AgentConfigTicket != 1 {
		t.Errorf("WeCom calls %+v, want one of each", c)
	}
}

// WeCom hands out the same token until it expires, so its token is due at
// expiry, not 290 s before (where a WeChat token is due).
func TestWeComTokenDueAtExpiry(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	r := e.refresher(e.virtualSleep(nil))
	e.sweep(r)
	first := e.get(wecomID, credential.AccessToken)

	e.clock.Set(first.ExpiresAt.Add(-credential.AccessTokenLead))
	e.wecom.ResetCounters()
	if got := e.sweep(r)[wecomID+"/access_token"]; got.Outcome != refresh.OutcomeFresh || e.wecom.Counters(wecomID).GetToken != 0 {
		t.Fatalf("290 s before expiry: %+v, %d gettoken calls; want fresh and none", got, e.wecom.Counters(wecomID).GetToken)
	}
	// Beyond the next sweep: not waited for.
	e.clock.Set(first.ExpiresAt.Add(-refresh.DefaultSweepInterval - time.Second))
	if got := e.sweep(r)[wecomID+"/access_token"]; got.Outcome != refresh.OutcomeFresh || !e.clock.Now().Before(first.ExpiresAt) {
		t.Fatalf("61 s before expiry: %+v at %v, want fresh without waiting", got, e.clock.Now())
	}
	e.clock.Set(first.ExpiresAt)
	got := e.sweep(r)[wecomID+"/access_token"]
	rec := e.get(wecomID, credential.AccessToken)
	if got.Outcome != refresh.OutcomeRefreshed || rec.Version != 2 || rec.Value == first.Value || !e.wecom.Valid(wecomID, rec.Value, e.clock.Now()) {
		t.Fatalf("at expiry: %+v (version %d): want a new valid token", got, rec.Version)
	}
	if n := e.wecom.Counters(wecomID).GetToken; n != 1 {
		t.Errorf("%d gettoken calls, want 1", n)
	}
}

// A WeCom token revoked early is replaced within one report: the report
// re-fetches at once, with no force mode and no budget.
func TestWeComRevokedTokenReplacedByOneReport(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	r := e.refresher(func(o *refresh.Options) { o.ForceDailyLimit = 0 }) // no budget: WeCom needs none
	e.sweep(r)
	e.clock.Advance(time.Minute)
	stale := e.get(wecomID, credential.AccessToken).Value
	if _, err := e.wecom.RevokeToken(corpW, agentW); err != nil {
		t.Fatal(err)
	}
	e.wecom.ResetCounters()

	got := r.Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: wecomID, StaleToken: stale})
	rec := e.get(wecomID, credential.AccessToken)
	if got.Error != "" || got.Token == stale || got.Token != rec.Value || !e.wecom.Valid(wecomID, got.Token, e.clock.Now()) {
		t.Fatalf("answer %+v: want the new valid token", got)
	}
	if c := e.wecom.Counters(wecomID); c.GetToken != 1 || rec.Version != 2 || rec.ForceCount != 0 || rec.LeaseOwner != "" {
		t.Errorf("gettoken %d, item %+v: want one call, version 2, no budget, no lease", c.GetToken, rec)
	}
}

// Concurrent reports of one revoked WeCom token make one gettoken call.
func TestWeComConcurrentReportsFetchOnce(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	e.sweep(e.refresher())
	e.clock.Advance(time.Minute)
	stale := e.get(wecomID, credential.AccessToken).Value
	if _, err := e.wecom.RevokeToken(corpW, agentW); err != nil {
		t.Fatal(err)
	}
	e.wecom.ResetCounters()
	var wg sync.WaitGroup
	answers := make([]tokenapi.Answer, 8)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = e.refresher().Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: wecomID, StaleToken: stale})
		}()
	}
	wg.Wait()
	want := e.get(wecomID, credential.AccessToken).Value
	for i, a := range answers {
		if a.Error != "" || a.Token != want {
			t.Errorf("report %d: %+v, want the new token", i, a)
		}
	}
	if n := e.wecom.Counters(wecomID).GetToken; n != 1 {
		t.Errorf("%d gettoken calls for %d reports, want 1", n, len(answers))
	}
}

// WeCom answering a report with the rejected token again is
// token_unavailable; a second report in the same instant does not call again.
func TestWeComSameTokenAgainIsUnavailable(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	r := e.refresher()
	e.sweep(r)
	e.clock.Advance(time.Minute)
	current := e.get(wecomID, credential.AccessToken).Value
	e.wecom.ResetCounters()
	for i := range 2 {
		got := r.Force(context.Background(), tokenapi.ForceRequest{Action: "force", AppID: wecomID, StaleToken: current})
		if got.Error != tokenapi.CodeTokenUnavailable {
			t.Fatalf("report %d: %+v, want token_unavailable", i, got)
		}
	}
	rec := e.get(wecomID, credential.AccessToken)
	if n := e.wecom.Counters(wecomID).GetToken; n != 1 || rec.ForceCount != 0 || rec.LeaseOwner != "" || rec.Value != current {
		t.Errorf("gettoken %d, item %+v: want one call, no budget, no lease, value kept", n, rec)
	}
}

// A WeCom ticket fetch whose stored token WeCom revoked refreshes the token
// through the report path and gets the ticket with the new one.
func TestWeComTicketWithRevokedTokenRefetchesToken(t *testing.T) {
	e := newEnv(t, nil, wecomApp(credential.AgentConfigTicket)).withWeCom()
	r := e.refresher()
	e.sweep(r)
	tk := e.get(wecomID, credential.AgentConfigTicket)
	if _, err := e.wecom.RevokeToken(corpW, agentW); err != nil {
		t.Fatal(err)
	}
	stale := e.get(wecomID, credential.AccessToken).Value
	e.clock.Set(tk.ExpiresAt.Add(-credential.TicketLead)) // ticket due, token not yet
	res := e.sweep(r)
	tok := e.get(wecomID, credential.AccessToken)
	got := res[wecomID+"/agent_config_ticket"]
	if got.Outcome != refresh.OutcomeUnchanged && got.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("ticket result %+v", got)
	}
	if tok.Value == stale || !e.wecom.Valid(wecomID, tok.Value, e.clock.Now()) {
		t.Errorf("access_token not replaced after WeCom rejected it")
	}
}

// A WeCom app without a WeCom client is a configuration failure naming it.
func TestWeComWithoutClientIsConfigurationFailure(t *testing.T) {
	e := newEnv(t, nil, wecomApp())
	got := e.sweep(e.refresher())[wecomID+"/access_token"]
	if got.Outcome != refresh.OutcomeFailed || got.Error != "configuration: no client for type wecom (Options)" {
		t.Fatalf("%+v", got)
	}
}

// virtualSleep makes the refresher's waits advance the virtual clock (and
// records them in slept, when not nil) instead of sleeping.
func (e *env) virtualSleep(slept *[]time.Duration) func(*refresh.Options) {
	var mu sync.Mutex
	return func(o *refresh.Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			if slept != nil {
				*slept = append(*slept, d)
			}
			e.clock.Advance(d)
			return ctx.Err()
		}
	}
}

// A WeCom token that expires before the next sweep is waited for by this
// one and fetched at expiry, so readers are without a token only for their
// own margin (ReaderMargin), not until the next sweep.
func TestWeComTokenExpiringBeforeNextSweepFetchedAtExpiry(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	var slept []time.Duration
	r := e.refresher(e.virtualSleep(&slept))
	e.clock.Advance(500 * time.Millisecond) // expires_at is not a whole second
	e.sweep(r)
	first := e.get(wecomID, credential.AccessToken)
	e.clock.Set(first.ExpiresAt.Add(-30 * time.Second))
	e.wecom.ResetCounters()
	res := e.sweep(r)
	// expires_at is stored in whole seconds, truncated: the token really
	// expires within the second after it, when the refresher fetches.
	got, rec := res[wecomID+"/access_token"], e.get(wecomID, credential.AccessToken)
	if got.Outcome != refresh.OutcomeRefreshed || rec.Value == first.Value || !e.wecom.Valid(wecomID, rec.Value, e.clock.Now()) ||
		!rec.Usable(e.clock.Now()) || !rec.RefreshedAt.Equal(first.ExpiresAt.Add(time.Second)) {
		t.Fatalf("sweep 30 s before a WeCom token's expiry: %+v, stored v%d obtained at %v (expiry %v), want a new valid token obtained in the second after expiry",
			got, rec.Version, rec.RefreshedAt, first.ExpiresAt)
	}
	if n := e.wecom.Counters(wecomID).GetToken; n != 1 || len(slept) != 1 || slept[0] != 31*time.Second {
		t.Errorf("%d gettoken calls after waits %v; want one call after one 31 s wait", n, slept)
	}
}

// The wait for a WeCom token's expiry ends before the invocation's deadline
// with time for the fetch: a token expiring later is the next sweep's.
func TestWeComExpiryWaitBoundedByDeadline(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	var slept []time.Duration
	r := e.refresher(e.virtualSleep(&slept))
	e.sweep(r)
	first := e.get(wecomID, credential.AccessToken)
	e.clock.Set(first.ExpiresAt.Add(-30 * time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second) // 30 s wait + 10 s margin do not fit
	defer cancel()
	sum, err := r.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Results[0]; got.Outcome != refresh.OutcomeFresh || len(slept) != 0 {
		t.Fatalf("%+v after waits %v; want fresh, no wait", got, slept)
	}
}

// expiryPoint is one TokenSecondsToExpiry value as published under one
// dimension set ("AccountType=wecom,Kind=access_token", say).
type expiryPoint struct {
	set   string
	value float64
}

// expiryPoints parses the EMF lines for TokenSecondsToExpiry, one point per
// dimension set each line publishes.
func expiryPoints(t *testing.T, emf string) []expiryPoint {
	t.Helper()
	var out []expiryPoint
	for _, line := range strings.Split(strings.TrimSpace(emf), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		v, ok := rec["TokenSecondsToExpiry"].(float64)
		if !ok {
			continue
		}
		var doc struct {
			CloudWatchMetrics []struct{ Dimensions [][]string }
		}
		raw, _ := json.Marshal(rec["_aws"])
		_ = json.Unmarshal(raw, &doc)
		for _, set := range doc.CloudWatchMetrics[0].Dimensions {
			var parts []string
			for _, d := range set {
				parts = append(parts, fmt.Sprintf("%s=%v", d, rec[d]))
			}
			sort.Strings(parts)
			out = append(out, expiryPoint{strings.Join(parts, ","), v})
		}
	}
	return out
}

// Through a WeCom token's whole life and its replacement, sweeping every
// minute: the access_token expiry alarm's series ([Kind]) never drops to
// its threshold (180 s) and gets a point every sweep (it treats missing
// data as breaching), the WeCom series ([AccountType Kind]) never goes past
// expiry, and readers are without a token only for their own margin.
func TestWeComExpiryRaisesNoAccessTokenAlarm(t *testing.T) {
	e := newEnv(t, nil, wecomApp()).withWeCom()
	r := e.refresher(e.virtualSleep(nil))
	e.clock.Set(start.Add(-25*time.Second + 300*time.Millisecond)) // the token expires 35.3 s after a sweep
	e.sweep(r)
	first := e.get(wecomID, credential.AccessToken)
	for i := 1; i <= 130; i++ {
		if at := start.Add(time.Duration(i) * time.Minute); e.clock.Now().Before(at) {
			e.clock.Set(at)
		}
		before := len(e.emf.String())
		e.sweep(r)
		kindSeen := false
		for _, p := range expiryPoints(t, e.emf.String()[before:]) {
			switch p.set {
			case "Kind=access_token":
				kindSeen = true
				if p.value < 180 {
					t.Errorf("sweep %d: TokenSecondsToExpiry{Kind=access_token} = %v, below AccessTokenExpiryAlarm's 180", i, p.value)
				}
			case "AccountType=wecom,Kind=access_token":
				if p.value < -90 {
					t.Errorf("sweep %d: TokenSecondsToExpiry{AccountType=wecom} = %v, past expiry", i, p.value)
				}
			}
		}
		if !kindSeen {
			t.Errorf("sweep %d: no TokenSecondsToExpiry{Kind=access_token} point", i)
		}
	}
	// Readers stop serving the first token ReaderMargin before its stored
	// expiry; the refresher fetches within the second after it.
	rec := e.get(wecomID, credential.AccessToken)
	if gap := rec.RefreshedAt.Sub(first.ExpiresAt.Add(-credential.ReaderMargin)); rec.Value == first.Value || gap > credential.ReaderMargin+time.Second {
		t.Errorf("after 130 minutes: token replaced %v, readers without a token for %v; want at most %v",
			rec.Value != first.Value, gap, credential.ReaderMargin+time.Second)
	}
}

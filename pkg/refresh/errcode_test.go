package refresh_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// Each errcode class of docs/wechat-protocol.md: what a sweep does (how
// many WeChat calls, the result), what it records in last_error_*, how it
// is logged and counted, and that the next successful sweep clears it.
func TestSweepErrcodeClasses(t *testing.T) {
	fault := func(code int) func(*env) {
		return func(e *env) { e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(code)) }
	}
	repeat := func(f wechattest.Fault, n int) func(*env) {
		return func(e *env) {
			for range n {
				e.sim.InjectFaults(wechattest.EndpointStableToken, f)
			}
		}
	}
	tests := []struct {
		name       string
		setup      func(*env) // after a first successful sweep, at due time
		wantError  string     // Result.Error; "" = success after retries
		wantCode   int        // last_error_code
		wantCalls  int        // stable_token calls in the failing sweep
		wantLevel  string     // log level of the result line
		wantMetric string     // ErrorClass of RefreshFailures
	}{
		{"transient -1 then success (retried with backoff)", repeat(wechattest.ErrcodeFault(-1), 2), "", 0, 3, "INFO", ""},
		{"transient -1 on every attempt", repeat(wechattest.ErrcodeFault(-1), 3), "transient: errcode -1", -1, 3, "WARN", "transient"},
		{"transient HTTP 502 on every attempt", repeat(wechattest.HTTPFault(http.StatusBadGateway), 3), "transient: http 502", 502, 3, "WARN", "transient"},
		{"transient HTTP 503 then success", repeat(wechattest.HTTPFault(http.StatusServiceUnavailable), 1), "", 0, 2, "INFO", ""},
		{"transient dropped connections", repeat(wechattest.DropFault(), 3), "transient: network", 0, 3, "WARN", "transient"},
		{"transient timeout then success", repeat(wechattest.LatencyFault(400*time.Millisecond), 1), "", 0, 2, "INFO", ""},
		{"configuration 40013 invalid appid", fault(40013), "configuration: errcode 40013", 40013, 1, "ERROR", "configuration"},
		{"configuration 40125 invalid appsecret", fault(40125), "configuration: errcode 40125", 40125, 1, "ERROR", "configuration"},
		{"configuration 40164 IP not whitelisted", func(e *env) { _ = e.sim.SetIPAllowed(appA, false) }, "configuration: errcode 40164", 40164, 1, "ERROR", "configuration"},
		{"configuration 61004 IP not whitelisted", fault(61004), "configuration: errcode 61004", 61004, 1, "ERROR", "configuration"},
		{"configuration 40243 AppSecret frozen", fault(40243), "configuration: errcode 40243", 40243, 1, "ERROR", "configuration"},
		{"configuration 89501 IP awaiting approval", fault(89501), "configuration: errcode 89501", 89501, 1, "ERROR", "configuration"},
		{"configuration 89503", fault(89503), "configuration: errcode 89503", 89503, 1, "ERROR", "configuration"},
		{"configuration 89506", fault(89506), "configuration: errcode 89506", 89506, 1, "ERROR", "configuration"},
		{"configuration 89507", fault(89507), "configuration: errcode 89507", 89507, 1, "ERROR", "configuration"},
		{"daily quota 45009", fault(45009), "daily_quota: errcode 45009", 45009, 1, "ERROR", "daily_quota"},
		{"minute quota 45011: wait for the next minute", fault(45011), "minute_quota: errcode 45011", 45011, 1, "WARN", "minute_quota"},
		{"configuration 40001 from stable_token: a wrong AppSecret", fault(40001), "configuration: errcode 40001", 40001, 1, "ERROR", "configuration"},
		{"caller bug 40002", fault(40002), "caller_bug: errcode 40002", 40002, 1, "ERROR", "caller_bug"},
		{"caller bug 41001", fault(41001), "caller_bug: errcode 41001", 41001, 1, "ERROR", "caller_bug"},
		{"unknown errcode 48001", fault(48001), "unknown: errcode 48001", 48001, 1, "ERROR", "unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, appWith(appA, secretA)).register()
			r := e.refresher(func(o *refresh.Options) {
				o.WeChat = wechat.NewClient(wechat.WithBaseURL(e.url), wechat.WithClock(e.clock.Now),
					wechat.WithHTTPClient(&http.Client{Timeout: 150 * time.Millisecond}))
			})
			e.sweep(r)
			prior := e.get(appA, credential.AccessToken)
			e.clock.Set(prior.DueAt)
			e.sim.ResetCounters()
			tc.setup(e)
			res := e.sweep(r)[appA+"/access_token"]
			calls := e.sim.Counters(appA).StableTokenNormal
			rec := e.get(appA, credential.AccessToken)
			if calls != tc.wantCalls {
				t.Errorf("stable_token calls %d, want %d", calls, tc.wantCalls)
			}
			if rec.LeaseOwner != "" {
				t.Errorf("lease left behind")
			}
			if tc.wantError == "" {
				if res.Outcome != refresh.OutcomeRefreshed || res.Error != "" || rec.LastErrorCode != 0 || rec.LastError != "" || !rec.LastErrorAt.IsZero() {
					t.Fatalf("result %+v, item %+v", res, rec)
				}
				return
			}
			if res.Outcome != refresh.OutcomeFailed || res.Error != tc.wantError || res.Version != prior.Version || res.ExpiresAt != prior.ExpiresAt.Unix() {
				t.Fatalf("result %+v, want failed %q", res, tc.wantError)
			}
			if rec.Value != prior.Value || rec.Version != prior.Version || !rec.ExpiresAt.Equal(prior.ExpiresAt) {
				t.Fatalf("a failure changed the stored value: %+v", rec)
			}
			if rec.LastErrorCode != tc.wantCode || !strings.HasPrefix(rec.LastError, strings.SplitN(tc.wantError, ":", 2)[0]+":") ||
				!rec.LastErrorAt.Equal(e.clock.Now()) {
				t.Fatalf("last_error_code %d last_error %q last_error_at %v", rec.LastErrorCode, rec.LastError, rec.LastErrorAt)
			}
			if line := logLine(e.logs.String(), `"outcome":"failed"`); !strings.Contains(line, `"level":"`+tc.wantLevel+`"`) ||
				!strings.Contains(line, `"appid":"`+appA+`"`) || !strings.Contains(line, `"error":"`+tc.wantError+`"`) {
				t.Errorf("log line %s, want level %s", line, tc.wantLevel)
			}
			if !strings.Contains(e.emf.String(), `"ErrorClass":"`+tc.wantMetric+`","RefreshFailures":1`) {
				t.Errorf("no RefreshFailures metric for class %s", tc.wantMetric)
			}
			// The next minute's sweep (faults gone) succeeds and clears last_error_*.
			e.sim.ClearFaults()
			_ = e.sim.SetIPAllowed(appA, true)
			e.clock.Advance(time.Minute)
			res = e.sweep(r)[appA+"/access_token"]
			rec = e.get(appA, credential.AccessToken)
			if res.Outcome != refresh.OutcomeRefreshed || rec.LastErrorCode != 0 || rec.LastError != "" || !rec.LastErrorAt.IsZero() {
				t.Fatalf("recovery: result %+v, item %+v", res, rec)
			}
		})
	}
}

// Real configuration errors from the simulator rather than injected ones.
func TestSweepConfigurationErrorsFromWeChat(t *testing.T) {
	tests := []struct {
		name      string
		register  func(*wechattest.Simulator)
		wantError string
	}{
		{"unknown appid", func(*wechattest.Simulator) {}, "configuration: errcode 40013"},
		{"wrong AppSecret", func(s *wechattest.Simulator) { s.AddApp(appA, "another-secret") }, "configuration: errcode 40125"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket))
			tc.register(e.sim)
			res := e.sweep(e.refresher())
			at, tk := res[appA+"/access_token"], res[appA+"/jsapi_ticket"]
			if at.Outcome != refresh.OutcomeFailed || at.Error != tc.wantError || at.Version != 0 {
				t.Fatalf("access_token %+v", at)
			}
			// The ticket cannot be fetched without a token: no getticket call.
			if tk.Outcome != refresh.OutcomeFailed || !strings.HasPrefix(tk.Error, "token_unavailable") || e.sim.Counters(appA).GetTicket != 0 {
				t.Fatalf("ticket %+v", tk)
			}
			rec := e.get(appA, credential.AccessToken)
			if rec.Value != "" || rec.LastErrorCode == 0 || rec.LeaseOwner != "" {
				t.Fatalf("item %+v", rec)
			}
		})
	}
}

// getticket's transient failures are retried like stable_token's.
func TestSweepTicketTransient(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.WXCardTicket)).register()
	e.sim.InjectFaults(wechattest.EndpointGetTicket, wechattest.ErrcodeFault(-1), wechattest.HTTPFault(500))
	res := e.sweep(e.refresher())[appA+"/wx_card_ticket"]
	if res.Outcome != refresh.OutcomeRefreshed || e.sim.Counters(appA).GetTicket != 3 {
		t.Fatalf("%+v, getticket calls %d", res, e.sim.Counters(appA).GetTicket)
	}
}

// A transient failure is not retried past the invocation's deadline.
func TestSweepRetryRespectsDeadline(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher(func(o *refresh.Options) { o.Backoff = time.Hour; o.MaxAttempts = 5 })
	e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := r.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res := sum.Results[0]; res.Outcome != refresh.OutcomeFailed || res.Error != "transient: errcode -1" || e.sim.Counters(appA).StableTokenNormal != 1 {
		t.Fatalf("%+v after %d calls: want one call and no wait beyond the deadline", res, e.sim.Counters(appA).StableTokenNormal)
	}
}

func logLine(logs, marker string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, marker) {
			return l
		}
	}
	return ""
}

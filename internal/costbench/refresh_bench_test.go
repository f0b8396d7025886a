package costbench_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// start is a fixed instant of the virtual clock.
var start = time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)

// byteCounter counts what the functions would write to CloudWatch Logs.
type byteCounter struct{ n atomic.Int64 }

func (c *byteCounter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// world is a refresh function as functions/refresh wires it (info logs and
// EMF metrics on one writer), on a metered dynalite table and the WeChat
// simulator, with accounts of one access_token and one jsapi_ticket each.
type world struct {
	clock *wechattest.Clock
	sim   *wechattest.Simulator
	base  *dynamodb.Client
	table string
	meter *meter
	logs  *byteCounter
	emf   *emfCounter
	apps  []refresh.App
	r     *refresh.Refresher
}

func appID(i int) string { return fmt.Sprintf("wx%016x", i) }

func newWorld(b *testing.B, accounts int, kinds ...credential.Kind) *world {
	b.Helper()
	clock := wechattest.NewClock(start)
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now))
	srv := httptest.NewServer(sim)
	b.Cleanup(srv.Close)
	base, table := dynamotest.NewTable(b)
	w := &world{clock: clock, sim: sim, base: base, table: table, meter: newMeter(), logs: &byteCounter{}}
	w.emf = newEMFCounter(w.logs)
	for i := 0; i < accounts; i++ {
		a := refresh.App{AppID: appID(i), Secret: fmt.Sprintf("bench-secret-%026d", i), Kinds: kinds}
		sim.AddApp(a.AppID, a.Secret)
		w.apps = append(w.apps, a)
	}
	w.r = refresh.New(refresh.Options{
		Store:   dynamo.NewCredentialStore(w.meter.client(base), table),
		WeChat:  wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now)),
		Apps:    func(context.Context) ([]refresh.App, error) { return w.apps, nil },
		Now:     clock.Now,
		Logger:  slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics: metrics.New(w.emf),
	})
	return w
}

func (w *world) wechatCalls() int {
	n := 0
	for _, a := range w.apps {
		n += w.sim.Counters(a.AppID).Total()
	}
	return n
}

// sweep runs one sweep and checks every result has the outcome want.
func (w *world) sweep(b *testing.B, want refresh.Outcome) {
	b.Helper()
	sum, err := w.r.Sweep(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, res := range sum.Results {
		if res.Outcome != want {
			b.Fatalf("%s/%s: outcome %s (%s), want %s", res.AppID, res.Kind, res.Outcome, res.Error, want)
		}
	}
}

// seed fills the first account with a real refresh and copies its items
// (same attributes and sizes) to every other account with BatchWriteItem,
// so that 10,000 fresh credentials need no 10,000 WeChat round trips.
func (w *world) seed(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	first := w.apps[:1]
	all := w.apps
	w.apps = first
	w.sweep(b, refresh.OutcomeRefreshed)
	w.apps = all
	var writes []types.WriteRequest
	flush := func() {
		for len(writes) > 0 {
			out, err := w.base.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{w.table: writes}})
			if err != nil {
				b.Fatal(err)
			}
			writes = out.UnprocessedItems[w.table]
		}
	}
	for _, kind := range all[0].Kinds {
		out, err := w.base.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: credential.Key(all[0].AppID, kind)}}})
		if err != nil || out.Item == nil {
			b.Fatalf("seed: read %s: %v", kind, err)
		}
		for _, a := range all[1:] {
			item := map[string]types.AttributeValue{}
			for k, v := range out.Item {
				item[k] = v
			}
			item[dynamo.AttrPK] = &types.AttributeValueMemberS{Value: credential.Key(a.AppID, kind)}
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
			if len(writes) == 25 {
				flush()
			}
		}
	}
	flush()
}

// fullPass runs the sweep that follows a configuration change (here: the
// seeded accounts joining the document), which reads every configured
// credential once and stores the configuration's digest, and reports its
// read units per credential (full-pass-read-units/credential): what the
// daily full pass costs.
func (w *world) fullPass(b *testing.B, n int) (report func()) {
	b.Helper()
	m0 := w.meter.reading()
	w.sweep(b, refresh.OutcomeFresh)
	d := w.meter.reading().since(m0)
	// Reported at the end: ResetTimer deletes the metrics reported before it.
	return func() { b.ReportMetric(d.read/float64(n), "full-pass-read-units/credential") }
}

// BenchmarkCostSweepFresh is the steady state of the scheduled sweep: N
// credentials (N/2 accounts with an access_token and a jsapi_ticket), all
// fresh, found through the due index (after the full pass that follows
// the configuration change). It reports per sweep the DynamoDB calls, the
// read and write units the server consumed, WeChat calls (0), the bytes of
// logs and EMF metrics written, and the wall time against dynalite.
func BenchmarkCostSweepFresh(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("credentials=%d", n), func(b *testing.B) {
			w := newWorld(b, n/2, credential.AccessToken, credential.JSAPITicket)
			w.seed(b)
			reportFullPass := w.fullPass(b, n)
			w.emf.distinct()
			m0, wc0, l0 := w.meter.reading(), w.wechatCalls(), w.logs.n.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.sweep(b, refresh.OutcomeFresh)
			}
			b.StopTimer()
			d, per := w.meter.reading().since(m0), float64(b.N)
			b.ReportMetric(float64(n), "credentials/op")
			b.ReportMetric(float64(d.calls)/per, "dynamodb-calls/op")
			b.ReportMetric(d.read/per, "read-units/op")
			b.ReportMetric(d.writeUnits()/per, "write-units/op")
			b.ReportMetric(float64(w.wechatCalls()-wc0)/per, "wechat-calls/op")
			b.ReportMetric(float64(w.logs.n.Load()-l0)/per, "log-bytes/op")
			b.ReportMetric(float64(w.emf.distinct()), "custom-metrics")
			reportFullPass()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/per, "ms/op")
		})
	}
}

// BenchmarkCostSweepDue is a sweep of N credentials of which 1% (access
// tokens) are due: the due index finds them, and each is refreshed. It
// reports per sweep the DynamoDB calls, read and write units and the
// credentials refreshed (refreshed/op, which must be N/100), and checks
// that every other result is fresh.
func BenchmarkCostSweepDue(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("credentials=%d", n), func(b *testing.B) {
			w := newWorld(b, n/2, credential.AccessToken, credential.JSAPITicket)
			w.seed(b)
			reportFullPass := w.fullPass(b, n)
			ctx := context.Background()
			due := n / 100
			var d meterReading
			refreshed := 0
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				// Make the access_tokens of `due` accounts due (outside the
				// meter): their stored expiry inside the lead.
				w.clock.Advance(time.Minute)
				now := w.clock.Now()
				for j := 0; j < due; j++ {
					a := w.apps[(i*due+j)%len(w.apps)]
					exp := now.Add(credential.AccessTokenLead - time.Second)
					_, err := w.base.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(w.table),
						Key:              map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: credential.Key(a.AppID, credential.AccessToken)}},
						UpdateExpression: aws.String("SET expires_at = :exp, due_at = :due"),
						ExpressionAttributeValues: map[string]types.AttributeValue{
							":exp": &types.AttributeValueMemberN{Value: fmt.Sprint(exp.Unix())},
							":due": &types.AttributeValueMemberN{Value: fmt.Sprint(exp.Add(-credential.AccessTokenLead).Unix())},
						}})
					if err != nil {
						b.Fatal(err)
					}
				}
				m0 := w.meter.reading()
				b.StartTimer()
				sum, err := w.r.Sweep(ctx)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				dd := w.meter.reading().since(m0)
				d.calls, d.read, d.write, d.failedWrites = d.calls+dd.calls, d.read+dd.read, d.write+dd.write, d.failedWrites+dd.failedWrites
				for _, res := range sum.Results {
					switch res.Outcome {
					case refresh.OutcomeRefreshed, refresh.OutcomeUnchanged:
						// unchanged: the seeded first account, whose token
						// WeChat still hands out.
						refreshed++
					case refresh.OutcomeFresh:
					default:
						b.Fatalf("%s/%s: outcome %s (%s)", res.AppID, res.Kind, res.Outcome, res.Error)
					}
				}
				b.StartTimer()
			}
			b.StopTimer()
			per := float64(b.N)
			if refreshed != due*b.N {
				b.Fatalf("%d refreshed in %d sweeps, want %d each", refreshed, b.N, due)
			}
			b.ReportMetric(float64(n), "credentials/op")
			b.ReportMetric(float64(refreshed)/per, "refreshed/op")
			b.ReportMetric(float64(d.calls)/per, "dynamodb-calls/op")
			b.ReportMetric(d.read/per, "read-units/op")
			b.ReportMetric(d.writeUnits()/per, "write-units/op")
			reportFullPass()
		})
	}
}

// BenchmarkCostRefresh is one refresh of every credential of one account:
// the clock moves past expiry, so each sweep reads, leases, calls WeChat
// and commits. kinds=access_token is a token alone; both is a token and
// its jsapi_ticket (the ticket's fetch also reads the token).
func BenchmarkCostRefresh(b *testing.B) {
	for _, c := range []struct {
		name  string
		kinds []credential.Kind
	}{
		{"kinds=access_token", []credential.Kind{credential.AccessToken}},
		{"kinds=access_token+jsapi_ticket", []credential.Kind{credential.AccessToken, credential.JSAPITicket}},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b, 1, c.kinds...)
			w.sweep(b, refresh.OutcomeRefreshed)
			m0, wc0, l0 := w.meter.reading(), w.wechatCalls(), w.logs.n.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.clock.Advance(2*time.Hour + time.Minute)
				w.sweep(b, refresh.OutcomeRefreshed)
			}
			b.StopTimer()
			d, per := w.meter.reading().since(m0), float64(b.N)
			b.ReportMetric(float64(len(c.kinds)), "credentials/op")
			b.ReportMetric(float64(d.calls)/per, "dynamodb-calls/op")
			b.ReportMetric(d.read/per, "read-units/op")
			b.ReportMetric(d.writeUnits()/per, "write-units/op")
			b.ReportMetric(float64(w.wechatCalls()-wc0)/per, "wechat-calls/op")
			b.ReportMetric(float64(w.logs.n.Load()-l0)/per, "log-bytes/op")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/per, "ms/op")
			if testing.Verbose() {
				b.Logf("calls by operation per op: %v over %d ops", d.byOp, b.N)
			}
		})
	}
}

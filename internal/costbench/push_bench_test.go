package costbench_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/eventbus"
	"github.com/wxcentral/wxcentral/pkg/metrics"
)

// bus accepts every PutEvents entry and counts entries and their size as
// EventBridge computes it (Source, DetailType, Detail and Resources in
// UTF-8 bytes, 14 bytes for Time when set); each 64 KB of an entry is one
// billed event.
type bus struct {
	mu      sync.Mutex
	calls   int
	entries int
	bytes   int
}

func (b *bus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		b.entries++
		b.bytes += len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
		for _, r := range e.Resources {
			b.bytes += len(r)
		}
		if e.Time != nil {
			b.bytes += 14
		}
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprint(b.entries))})
	}
	return out, nil
}

const (
	pushApp     = "wx0123456789abcdef"
	pushToken   = "t0ken"
	pushKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	pushAccount = "gh_0123456789ab"
	pushUser    = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
)

// BenchmarkCostPush is one safe-mode text push through the callback
// handler wired as functions/callback wires it: the DynamoDB dedupe store
// (metered) and the EventBridge publisher. accepted: each push is new
// (claim, publish, complete); duplicate: WeChat's retry of a completed push.
// It reports DynamoDB calls, read and write units, PutEvents entries and
// entry bytes, and log bytes per push.
func BenchmarkCostPush(b *testing.B) {
	for _, dup := range []bool{false, true} {
		name := "accepted"
		if dup {
			name = "duplicate"
		}
		b.Run(name, func(b *testing.B) {
			base, table := dynamotest.NewTable(b)
			m, eb, logs := newMeter(), &bus{}, &byteCounter{}
			mx := metrics.New(logs)
			h, err := callback.NewHandler(callback.Options{
				Config: callback.StaticConfig(&callback.Config{Apps: []callback.AppConfig{{
					AppID: pushApp, Token: pushToken, EncodingAESKey: pushKey, Mode: callback.ModeSafe}}}),
				Store:     dynamo.NewDedupeStore(m.client(base), table),
				Publisher: eventbus.New(eb, "wxcentral-bench"),
				Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
				Metrics:   mx,
			})
			if err != nil {
				b.Fatal(err)
			}
			srv := mx.CountResponses(metrics.CallbackRequests, h)
			s := &callbacktest.Sender{AppID: pushApp, Token: pushToken, EncodingAESKey: pushKey, Account: pushAccount}
			send := func(query, body string) {
				req := httptest.NewRequest(http.MethodPost, "/wechat/"+pushApp+"?"+query, strings.NewReader(body))
				req.Header.Set("Content-Type", "text/xml")
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("push: HTTP %d: %s", rec.Code, rec.Body.String())
				}
			}
			parts := func(i int) (string, string) {
				q, body, _ := s.PushParts(s.Text(pushUser, 1700000000+int64(i), 6054768590064713728+int64(i), "hello, is my order on its way?"))
				return q, body
			}
			var dupQ, dupBody string
			if dup {
				dupQ, dupBody = parts(0)
				send(dupQ, dupBody)
			}
			m0, calls0, entries0, bytes0, l0 := m.reading(), eb.calls, eb.entries, eb.bytes, logs.n.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if dup {
					send(dupQ, dupBody)
				} else {
					send(parts(i + 1))
				}
			}
			b.StopTimer()
			d, per := m.reading().since(m0), float64(b.N)
			b.ReportMetric(float64(d.calls)/per, "dynamodb-calls/op")
			b.ReportMetric(d.read/per, "read-units/op")
			b.ReportMetric(d.writeUnits()/per, "write-units/op")
			b.ReportMetric(float64(eb.calls-calls0)/per, "putevents-calls/op")
			b.ReportMetric(float64(eb.entries-entries0)/per, "events/op")
			b.ReportMetric(float64(eb.bytes-bytes0)/per, "event-bytes/op")
			b.ReportMetric(float64(logs.n.Load()-l0)/per, "log-bytes/op")
			if testing.Verbose() {
				b.Logf("calls by operation per op: %v over %d ops", d.byOp, b.N)
			}
		})
	}
}

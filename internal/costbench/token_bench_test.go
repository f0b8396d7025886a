package costbench_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/metrics"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
)

// BenchmarkCostTokenRequest is the token function as functions/token wires
// it (tokenclient with eventually consistent reads and its ≤ 60 s cache,
// tokenserver): each op is a fresh instance answering its first request
// (cold: a DynamoDB read) and then 99 more within the same minute (cached).
func BenchmarkCostTokenRequest(b *testing.B) {
	const perInstance = 100
	w := newWorld(b, 1, credential.AccessToken)
	w.sweep(b, refresh.OutcomeRefreshed)
	store := dynamo.NewCredentialStore(w.meter.client(w.base), w.table)
	logs := &byteCounter{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m0, l0 := w.meter.reading(), logs.n.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tc := tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithClock(w.clock.Now), tokenclient.WithLogger(log))
		srv := tokenserver.New(tc, tokenserver.WithClock(w.clock.Now), tokenserver.WithLogger(log), tokenserver.WithMetrics(metrics.New(logs)))
		for j := 0; j < perInstance; j++ {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/token?appid="+appID(0), nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("GET /token: HTTP %d: %s", rec.Code, rec.Body.String())
			}
			w.clock.Advance(100 * time.Millisecond)
		}
		w.clock.Advance(-perInstance * 100 * time.Millisecond)
	}
	b.StopTimer()
	d, per := w.meter.reading().since(m0), float64(b.N)
	b.ReportMetric(perInstance, "requests/op")
	b.ReportMetric(float64(d.calls)/per, "dynamodb-calls/op")
	b.ReportMetric(d.read/per, "read-units/op")
	b.ReportMetric(float64(logs.n.Load()-l0)/per/perInstance, "log-bytes/request")
}

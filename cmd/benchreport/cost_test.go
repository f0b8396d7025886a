package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestCostFormula checks the model on a case worked by hand: 1 account
// (an access_token and a jsapi_ticket), 1M pushes, no alarms, no logs.
func TestCostFormula(t *testing.T) {
	m := measured{
		sweep:       work{dynamoCalls: 1, readUnits: 1},
		sweepMetric: 1, fixedMetrics: 3,
		token:  work{dynamoCalls: 3, readUnits: 1, writeUnits: 2, wechatCalls: 1},
		ticket: work{dynamoCalls: 4, readUnits: 2, writeUnits: 2, wechatCalls: 1},
		push:   work{dynamoCalls: 2, writeUnits: 2, events: 1, eventBytes: 700},
	}
	c := cost(m, 1, 1e6, 0)
	// 43,800 sweeps (730 h × 60); the token is refreshed 2,628,000 s / 6,910 s
	// = 380.318 times, the ticket 2,628,000 / 6,600 = 398.182 times a month.
	// A refresh costs its figures less the sweep read it replaces: token
	// {2 calls, 0 RRU, 2 WRU, 1 WeChat}, ticket {3 calls, 1 RRU, 2 WRU, 1 WeChat}.
	const gbs = 0.25 * 0.0000133334 // per second of a 256 MB function
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"scheduler", c.scheduler, 43800 * 1e-6},
		// RRU 87,600 + 398.182; WRU 2×380.318 + 2×398.182 + 2×1M.
		{"dynamo", c.dynamo, (87600+398.1818182)*0.125e-6 + (2*380.3183792+2*398.1818182+2e6)*0.625e-6},
		// Sweep 2 ms + ⌈2/4⌉ × 5 ms = 7 ms; token refresh 2×5 + 300 ms,
		// ticket 3×5 + 300 ms; push 2 ms + 2×5 ms + 15 ms = 27 ms.
		{"lambda", c.lambda, 43800*(0.2e-6+0.007*gbs) + 380.3183792*0.310*gbs + 398.1818182*0.315*gbs + 1e6*(0.2e-6+0.027*gbs)},
		{"apiGateway", c.apiGateway, 1.0},
		// 1M events + 1M × (700 + 300) bytes archived = 1 GB.
		{"eventBridge", c.eventBridge, 1.0 + 0.10},
		// 2 secrets; 8,760 reloads each of refresh and callback.
		{"secrets", c.secrets, 0.80 + 17520*0.05/10000},
		// Dashboard + (3 + 1×2 + 5 other) metrics.
		{"cloudWatch", c.cloudWatch, 3 + 10*0.30},
		{"nat", c.nat, 730*0.045 + (380.3183792+398.1818182)*8192/1e9*0.045},
		{"total", c.total(), 10.5939664},
	} {
		if math.Abs(x.got-x.want) > 1e-6 {
			t.Errorf("%s = %.7f, want %.7f", x.name, x.got, x.want)
		}
	}
	// A sweep part that does not grow with the credentials (2 read units
	// and 1 call per sweep, say a query of the due ones) adds 43,800 × 2
	// read units and 5 ms to each sweep's 7 ms.
	m.sweepFixed = work{dynamoCalls: 1, readUnits: 2}
	c2 := cost(m, 1, 1e6, 0)
	if d, want := c2.dynamo-c.dynamo, 43800*2*0.125e-6; math.Abs(d-want) > 1e-9 {
		t.Errorf("fixed sweep reads add %.7f, want %.7f", d, want)
	}
	if d, want := c2.lambda-c.lambda, 43800*0.005*gbs; math.Abs(d-want) > 1e-9 {
		t.Errorf("fixed sweep call adds %.7f, want %.7f", d, want)
	}
	// The daily full pass reads each of the 2 credentials once a day: 730/24
	// days × 2 read units, and ⌈2/4⌉ × 5 ms of Lambda a day.
	m.fullPass = work{dynamoCalls: 1, readUnits: 1}
	c3 := cost(m, 1, 1e6, 0)
	if d, want := c3.dynamo-c2.dynamo, 730.0/24*2*0.125e-6; math.Abs(d-want) > 1e-12 {
		t.Errorf("the daily full pass adds %.9f, want %.9f", d, want)
	}
	if d, want := c3.lambda-c2.lambda, 730.0/24*0.005*gbs; math.Abs(d-want) > 1e-12 {
		t.Errorf("the daily full pass's time adds %.9f, want %.9f", d, want)
	}
}

// TestCostTableFromBenchmarks reads the benchmark lines and prints the
// table, and refuses when a figure is missing.
func TestCostTableFromBenchmarks(t *testing.T) {
	lines := []string{
		"BenchmarkCostSweepFresh/credentials=10-2 3 1 ns/op 10 credentials/op 13 custom-metrics 10 dynamodb-calls/op 4680 log-bytes/op 10 read-units/op 0 write-units/op",
		"BenchmarkCostSweepFresh/credentials=10000-2 3 1 ns/op 10000 credentials/op 10003 custom-metrics 10000 dynamodb-calls/op 4680000 log-bytes/op 10000 read-units/op 0 write-units/op 1 full-pass-read-units/credential",
		"BenchmarkCostRefresh/kinds=access_token-2 3 1 ns/op 3 dynamodb-calls/op 871 log-bytes/op 1 read-units/op 1 wechat-calls/op 2 write-units/op",
		"BenchmarkCostRefresh/kinds=access_token+jsapi_ticket-2 3 1 ns/op 7 dynamodb-calls/op 1740 log-bytes/op 3 read-units/op 2 wechat-calls/op 4 write-units/op",
		"BenchmarkCostPush/accepted-2 3 1 ns/op 2 dynamodb-calls/op 737 event-bytes/op 1 events/op 369 log-bytes/op 0 read-units/op 2 write-units/op",
		"BenchmarkCostPush/duplicate-2 3 1 ns/op 2 dynamodb-calls/op 0 event-bytes/op 0 events/op 590 log-bytes/op 1 read-units/op 1 write-units/op",
	}
	r := newResults()
	for _, l := range lines {
		r.add(l)
	}
	var out bytes.Buffer
	if !printCost(&out, r, "../../template.yaml") || !strings.Contains(out.String(), "BenchmarkCostTokenRequest") {
		t.Fatalf("a missing benchmark must fail the cost table:\n%s", out.String())
	}
	r.add("BenchmarkCostTokenRequest-2 3 1 ns/op 1 dynamodb-calls/op 198 log-bytes/request 0.5 read-units/op 100 requests/op")
	m, miss := measure(r)
	if len(miss) > 0 {
		t.Fatalf("missing %v", miss)
	}
	// The ticket's figures are the pair's less the token's.
	if m.ticket != (work{dynamoCalls: 4, readUnits: 2, writeUnits: 2, wechatCalls: 1, logBytes: 869}) || m.sweepMetric != 1 || m.fixedMetrics != 3 ||
		m.sweep != (work{dynamoCalls: 1, readUnits: 1, logBytes: 468}) || m.sweepFixed != (work{}) || m.fullPass != (work{dynamoCalls: 1, readUnits: 1}) {
		t.Fatalf("measured %+v", m)
	}
	out.Reset()
	if printCost(&out, r, "../../template.yaml") {
		t.Fatalf("table refused:\n%s", out.String())
	}
	if rows := strings.Count(out.String(), "\n| "); rows != 7 { // header + 6
		t.Fatalf("%d table lines, want 7:\n%s", rows, out.String())
	}
}

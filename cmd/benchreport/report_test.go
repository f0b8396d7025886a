package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportRatiosAndTargets(t *testing.T) {
	r := newResults()
	for _, l := range []string{
		// Two runs; ratios pair the i-th sample of each benchmark.
		"BenchmarkSafeModePipeline/auto_reply    100  5000 ns/op  1056 B/op  2 allocs/op",
		"BenchmarkSafeModePipeline/app_handler   100  6000 ns/op  1176 B/op  5 allocs/op",
		"BenchmarkSafeModePipelineReference/auto_reply  10  20000 ns/op  25680 B/op  183 allocs/op",
		"BenchmarkSafeModePipelineReference/app_handler 10  50000 ns/op  26464 B/op  191 allocs/op",
		"BenchmarkSafeModePipeline/auto_reply    100  9000 ns/op  1056 B/op  2 allocs/op",
		"BenchmarkSafeModePipeline/app_handler   100  7000 ns/op  1176 B/op  5 allocs/op",
		"BenchmarkSafeModePipelineReference/auto_reply  10  30000 ns/op  25680 B/op  183 allocs/op",
		"BenchmarkSafeModePipelineReference/app_handler 10  40000 ns/op  26464 B/op  191 allocs/op",
		"BenchmarkCacheHit-2  1000  120 ns/op  0 B/op  0 allocs/op",
	} {
		r.add(l)
	}
	rows := map[string]row{}
	for _, x := range report(r) {
		rows[x.figure] = x
	}
	check := func(figure, value, status string) {
		t.Helper()
		x, ok := rows[figure]
		if !ok {
			t.Fatalf("no row %q", figure)
		}
		if x.value != value || x.status != status {
			t.Errorf("%s: %q %s, want %q %s", figure, x.value, x.status, value, status)
		}
	}
	// auto: 5000/20000 = 0.25, 9000/30000 = 0.3 -> median 0.275: a miss.
	check("callback safe-mode pipeline (deployed function: built-in auto reply) / reference (median of same-run ratios)", "0.275", miss)
	// app: 6000/50000 = 0.12, 7000/40000 = 0.175 -> 0.1475, shown without a target.
	check("library use: pipeline with a Go handler under the 4 s deadline / reference with goroutine + context.WithTimeout", "0.147", info)
	check("callback safe-mode pipeline (deployed function: built-in auto reply) (ns/op)", "7000", ok)
	check("tokenclient cache hit (ns/op)", "120.0", miss)
	check("tokenclient cold read, dynalite (ns/op)", "no result for BenchmarkColdRead ns/op", missing)
	var out bytes.Buffer
	if !printTable(&out, report(r)) || !strings.Contains(out.String(), "MISS") {
		t.Fatalf("a missed target must fail the report:\n%s", out.String())
	}
}

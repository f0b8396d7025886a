package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// microPackages hold the per-operation benchmarks of the report.
func microPackages() []string {
	return []string{"./pkg/tokenclient", "./pkg/tokenserver", "./pkg/refresh"}
}

// callbackPackage holds the safe-mode pipeline and its reference.
const callbackPackage = "./pkg/callback"

// pipelineRoutes are the sub-benchmarks of BenchmarkSafeModePipeline and
// BenchmarkSafeModePipelineReference.
var pipelineRoutes = []string{"auto_reply", "app_handler"}

// lambdaPackage holds the benchmarks of the real bootstrap binaries.
const lambdaPackage = "./internal/lambdabench"

// row is one line of the report.
type row struct {
	figure string
	value  string
	target string
	status string // "ok", "MISS" (target missed), "n/a" (no target), "MISSING"
}

const (
	ok      = "ok"
	miss    = "MISS"
	info    = "-"
	missing = "MISSING"
)

// at most: value <= limit.
func atMost(r *results, figure, bench, unit string, limit float64, format string) row {
	v, found := r.median(bench, unit)
	if !found {
		return row{figure, "no result for " + bench + " " + unit, fmt.Sprintf("<= "+format, limit), missing}
	}
	st := ok
	if v > limit {
		st = miss
	}
	return row{figure, fmt.Sprintf(format, v), fmt.Sprintf("<= "+format, limit), st}
}

func shown(r *results, figure, bench, unit, format string) row {
	v, found := r.median(bench, unit)
	if !found {
		return row{figure, "no result for " + bench + " " + unit, "", missing}
	}
	return row{figure, fmt.Sprintf(format, v), "", info}
}

func report(r *results) []row {
	const ref = "BenchmarkSafeModePipelineReference/"
	// The deployed callback function answers from its built-in routes
	// (auto replies, welcome): that pipeline is held to the targets. Each
	// route is compared with the same work done the straightforward way
	// (pkg/callback/bench_test.go).
	fig, bench := "callback safe-mode pipeline (deployed function: built-in auto reply)", "BenchmarkSafeModePipeline/auto_reply"
	rows := []row{
		atMost(r, fig+" (ns/op)", bench, "ns/op", 10000, "%.0f"),
		atMost(r, fig+" (allocs/op)", bench, "allocs/op", 20, "%.0f"),
		shown(r, fig+" (B/op)", bench, "B/op", "%.0f"),
		ratioRow(r, fig+" / reference (median of same-run ratios)", bench, ref+"auto_reply", 0.25),
		shown(r, "  reference: the same with encoding/xml + crypto/aes (ns/op)", ref+"auto_reply", "ns/op", "%.0f"),
		shown(r, "  reference (allocs/op)", ref+"auto_reply", "allocs/op", "%.0f"),
	}
	// Library use, not in the deployed function: a Go application handler
	// runs on its own goroutine under the 4 s deadline. Shown, with no target.
	fig, bench = "library use: pipeline with a Go handler under the 4 s deadline", "BenchmarkSafeModePipeline/app_handler"
	rows = append(rows,
		shown(r, fig+" (ns/op)", bench, "ns/op", "%.0f"),
		shown(r, fig+" (allocs/op)", bench, "allocs/op", "%.0f"),
		ratioRow(r, fig+" / reference with goroutine + context.WithTimeout", bench, ref+"app_handler", 0),
		shown(r, "  reference (ns/op)", ref+"app_handler", "ns/op", "%.0f"),
		shown(r, "  handler hand-off: goroutine + context.WithTimeout (ns/op)", "BenchmarkRoute/background", "ns/op", "%.0f"),
	)
	rows = append(rows,
		atMost(r, "tokenclient cache hit (ns/op)", "BenchmarkCacheHit", "ns/op", 100, "%.1f"),
		atMost(r, "tokenclient cache hit (allocs/op)", "BenchmarkCacheHit", "allocs/op", 0, "%.0f"),
		shown(r, "tokenclient cold read, dynalite (ns/op)", "BenchmarkColdRead", "ns/op", "%.0f"),
		atMost(r, "token handler warm path (ns/op)", "BenchmarkWarmPath", "ns/op", 5000, "%.0f"),
		atMost(r, "refresh sweep, all fresh: WeChat calls per sweep", "BenchmarkSweepAllFresh", "wechat-calls/op", 0, "%.0f"),
		shown(r, "refresh sweep, all fresh: DynamoDB calls per sweep", "BenchmarkSweepAllFresh", "dynamodb-calls/op", "%.0f"),
		shown(r, "refresh sweep, all fresh: credentials per sweep", "BenchmarkSweepAllFresh", "credentials/op", "%.0f"),
		shown(r, "refresh sweep, all fresh (ms/op, dynalite)", "BenchmarkSweepAllFresh", "ms/op", "%.1f"),
	)
	for _, fn := range []string{"refresh", "token", "callback"} {
		rows = append(rows, sizeRow(fn))
	}
	for _, fn := range []string{"refresh", "token", "callback"} {
		rows = append(rows, shown(r, fn+" bootstrap size, this machine's arch (MB)", "BenchmarkInit/"+fn, "host-size-MB", "%.2f"))
	}
	for _, fn := range []string{"refresh", "token", "callback"} {
		rows = append(rows, atMost(r, fn+" init: exec to first /next (ms)", "BenchmarkInit/"+fn, "init-ms", 50, "%.1f"))
	}
	for _, fn := range []string{"refresh", "token", "callback"} {
		rows = append(rows, atMost(r, fn+" peak RSS over 10,000 warm requests (MB)", "BenchmarkWarmRSS/"+fn, "peak-rss-MB", 40, "%.1f"))
	}
	return rows
}

// ratioRow is the median same-run ratio of num to den in ns/op, held to
// limit (0: shown without a target).
func ratioRow(r *results, figure, num, den string, limit float64) row {
	q, n := r.ratio(num, den, "ns/op")
	target := ""
	if limit > 0 {
		target = fmt.Sprintf("<= %.3f", limit)
	}
	if n == 0 {
		return row{figure, "needs " + num + " and " + den, target, missing}
	}
	st := info
	if limit > 0 {
		st = ok
		if q > limit {
			st = miss
		}
	}
	return row{figure, fmt.Sprintf("%.3f", q), target, st}
}

// sizeRow reports the deployed artifact that `make build` left in bin/
// (linux/arm64 unless ARCH says otherwise), in MB of 10^6 bytes.
func sizeRow(fn string) row {
	path := filepath.Join("bin", fn, "bootstrap")
	figure := fn + " bootstrap size, deployed (MB)"
	st, err := os.Stat(path)
	if err != nil {
		return row{figure, path + " not built", "<= 10.0", missing}
	}
	if f, err := elf.Open(path); err == nil {
		figure = fmt.Sprintf("%s bootstrap size, deployed %s (MB)", fn, strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_")))
		f.Close()
	}
	mb := float64(st.Size()) / 1e6
	s := ok
	if mb > 10 {
		s = miss
	}
	return row{figure, fmt.Sprintf("%.2f", mb), "<= 10.0", s}
}

// printTable writes the report and reports whether any row failed.
func printTable(w io.Writer, rows []row) bool {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tstatus")
	fmt.Fprintln(tw, "------\t-----\t------\t------")
	failed := false
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.figure, r.value, r.target, r.status)
		if r.status == miss || r.status == missing {
			failed = true
		}
	}
	tw.Flush()
	return failed
}

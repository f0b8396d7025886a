// Command benchreport runs wxcentral's benchmarks and prints one table of
// figures against their targets (`make bench`). It exits non-zero when a
// figure misses its target or a benchmark is missing.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	count := flag.Int("count", 5, "runs of each benchmark (the median is reported)")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	raw := flag.String("raw", "", "also write go test's raw output to this file")
	pairCount := flag.Int("pairs", 9, "rounds of each callback pipeline/reference pair (the median ratio is reported)")
	pairTime := flag.String("pairtime", "500ms", "-benchtime of each benchmark of a callback pair")
	only := flag.String("only", "", "run only this part: micro, callback, lambda or cost (figures of the others are MISSING; cost prints only its own)")
	flag.Parse()

	var sink io.Writer = io.Discard
	if *raw != "" {
		f, err := os.Create(*raw)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		sink = f
	}
	results := newResults()
	var runErr error
	micro := []string{"test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", fmt.Sprint(*count), "-benchtime", *benchtime, "-timeout", "10m"}
	part := func(name string) bool { return *only == "" || *only == name }
	if part("micro") {
		if err := run(append(micro, microPackages()...), results, sink); err != nil {
			runErr = err
		}
	}
	// The callback function runs with GOMAXPROCS=1 (functions/callback), so
	// its benchmarks run on one P. Each route's pipeline and its reference
	// run back to back, as a pair, in pairCount alternating rounds, so a
	// ratio pairs figures taken about a second apart (this machine's speed
	// drifts by up to 2x over minutes).
	if part("callback") {
		if err := runCallback(callbackPackage, *count, *pairCount, *pairTime, results, sink); err != nil {
			runErr = err
		}
	}
	// The Lambda benchmarks do fixed work (cold starts, 10,000 warm
	// requests) per run, so they run once.
	lambda := []string{"test", "-run", "^$", "-bench", ".", "-benchtime", "1x", "-count", "1", "-timeout", "10m", lambdaPackage}
	if part("lambda") {
		if err := run(lambda, results, sink); err != nil {
			runErr = err
		}
	}

	// The cost benchmarks count DynamoDB, EventBridge and WeChat calls
	// per unit of work; the monthly cost table is computed from them.
	if part("cost") {
		if err := run(costArgs(), results, sink); err != nil {
			runErr = err
		}
	}

	var rows []row
	if *only != "cost" {
		rows = report(results)
	}
	if part("cost") {
		rows = append(rows, costRows(results)...)
	}
	failed := printTable(os.Stdout, rows)
	if part("cost") && printCost(os.Stdout, results, "template.yaml") {
		failed = true
	}
	if runErr != nil {
		fmt.Fprintf(os.Stdout, "\ngo test failed: %v\n", runErr)
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

// run executes one go test command, echoing benchmark lines to stderr and
// collecting them.
func run(args []string, results *results, sink io.Writer) error {
	return runIn("", "go", args, results, sink)
}

// runIn executes name with args in dir, echoing benchmark lines to stderr
// and collecting them.
func runIn(dir, name string, args []string, results *results, sink io.Writer) error {
	fmt.Fprintf(os.Stderr, "benchreport: %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(sink, line)
		switch {
		case strings.HasPrefix(line, "Benchmark"):
			results.add(line)
			fmt.Fprintf(os.Stderr, "  %s\n", line)
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "---"), strings.HasPrefix(line, "panic"), strings.HasPrefix(line, "    "):
			fmt.Fprintln(os.Stderr, line)
		}
	}
	return cmd.Wait()
}

// runCallback builds pkg's test binary once and runs it on one P: its
// other benchmarks count times, then each pipeline route with its reference
// (pipelineRoutes) back to back, pairs times in alternation.
func runCallback(pkg string, count, pairs int, pairtime string, results *results, sink io.Writer) error {
	dir, err := os.MkdirTemp("", "benchreport")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "pkg.test")
	build := exec.Command("go", "test", "-c", "-o", bin, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	bench := func(pattern, benchtime string, count int) error {
		return runIn(pkg, bin, []string{"-test.run", "^$", "-test.bench", pattern, "-test.benchmem",
			"-test.count", fmt.Sprint(count), "-test.cpu", "1", "-test.benchtime", benchtime}, results, sink)
	}
	if err := bench("^Benchmark(Route|ParseMessage)$", "1s", count); err != nil {
		return err
	}
	for i := 0; i < pairs; i++ {
		for _, route := range pipelineRoutes {
			// Source order: the pipeline, then its reference.
			if err := bench("^BenchmarkSafeModePipeline(Reference)?$/^"+route+"$", pairtime, 1); err != nil {
				return err
			}
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(2)
}

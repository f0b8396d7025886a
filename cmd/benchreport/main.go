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
	if err := run(append(micro, microPackages()...), results, sink); err != nil {
		runErr = err
	}
	// The callback function runs with GOMAXPROCS=1 (functions/callback), so
	// its pipeline and the reference are measured on one P. Each of the
	// count runs measures both, back to back, so a ratio pairs figures taken
	// seconds apart (this machine's speed drifts over minutes).
	if err := runInterleaved(callbackPackage, *count, *benchtime, results, sink); err != nil {
		runErr = err
	}
	// The Lambda benchmarks do fixed work (cold starts, 10,000 warm
	// requests) per run, so they run once.
	lambda := []string{"test", "-run", "^$", "-bench", ".", "-benchtime", "1x", "-count", "1", "-timeout", "10m", lambdaPackage}
	if err := run(lambda, results, sink); err != nil {
		runErr = err
	}

	rows := report(results)
	failed := printTable(os.Stdout, rows)
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

// runInterleaved builds pkg's test binary once and runs its benchmarks
// count times, one count each, on one P.
func runInterleaved(pkg string, count int, benchtime string, results *results, sink io.Writer) error {
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
	for i := 0; i < count; i++ {
		args := []string{"-test.run", "^$", "-test.bench", ".", "-test.benchmem", "-test.count", "1",
			"-test.cpu", "1", "-test.benchtime", benchtime}
		if err := runIn(pkg, bin, args, results, sink); err != nil {
			return err
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(2)
}

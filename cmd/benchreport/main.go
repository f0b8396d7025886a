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
	"strings"
)

func main() {
	count := flag.Int("count", 5, "runs of each benchmark (the median is reported)")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime")
	raw := flag.String("raw", "", "also write go test's raw output to this file")
	flag.Parse()

	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", fmt.Sprint(*count), "-benchtime", *benchtime, "-timeout", "10m"}
	args = append(args, packages()...)
	cmd := exec.Command("go", args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatal(err)
	}
	var sink io.Writer = io.Discard
	if *raw != "" {
		f, err := os.Create(*raw)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		sink = f
	}
	fmt.Fprintf(os.Stderr, "benchreport: go %s\n", strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	results := newResults()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(sink, line)
		if strings.HasPrefix(line, "Benchmark") {
			results.add(line)
			fmt.Fprintf(os.Stderr, "  %s\n", line)
		} else if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "panic") {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	runErr := cmd.Wait()

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

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(2)
}

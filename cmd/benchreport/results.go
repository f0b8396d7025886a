package main

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// results holds every sample of every metric, keyed by benchmark name
// without the -GOMAXPROCS suffix.
type results struct {
	samples map[string]map[string][]float64 // bench -> unit -> values
}

func newResults() *results { return &results{samples: map[string]map[string][]float64{}} }

var procSuffix = regexp.MustCompile(`-\d+$`)

// add parses one benchmark line: name, iterations, then value/unit pairs.
func (r *results) add(line string) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return
	}
	name := procSuffix.ReplaceAllString(f[0], "")
	if _, err := strconv.Atoi(f[1]); err != nil {
		return
	}
	m := r.samples[name]
	if m == nil {
		m = map[string][]float64{}
		r.samples[name] = m
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			continue
		}
		m[f[i+1]] = append(m[f[i+1]], v)
	}
}

// median returns the median sample of unit for the benchmark, and whether
// any sample exists.
func (r *results) median(bench, unit string) (float64, bool) {
	vs := r.samples[bench][unit]
	if len(vs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// ratio returns the median over runs of num/den for unit, pairing the i-th
// sample of each benchmark (taken in the same run), and the pair count.
func (r *results) ratio(num, den, unit string) (float64, int) {
	a, b := r.samples[num][unit], r.samples[den][unit]
	n := min(len(a), len(b))
	var rs []float64
	for i := 0; i < n; i++ {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return 0, 0
	}
	sort.Float64s(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2], len(rs)
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2, len(rs)
}

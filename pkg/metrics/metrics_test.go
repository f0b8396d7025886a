package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixed = time.Date(2026, 11, 21, 1, 2, 3, 4_000_000, time.UTC) // 1795222923004 ms

func emit(t *testing.T, ms ...Metric) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	err := New(&buf, WithClock(func() time.Time { return fixed })).Emit(ms...)
	return buf.String(), err
}

func TestEmitExactJSON(t *testing.T) {
	const ts = `"Timestamp":1795222923004`
	tests := []struct {
		name string
		in   []Metric
		want string
	}{
		{
			name: "refresh success",
			in:   Refresh("refreshed", ""),
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Outcome"]],"Metrics":[{"Name":"RefreshOutcome","Unit":"Count"}]}]},"Outcome":"refreshed","RefreshOutcome":1}` + "\n",
		},
		{
			name: "refresh failure writes outcome and class",
			in:   Refresh("failed", "configuration"),
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Outcome"]],"Metrics":[{"Name":"RefreshOutcome","Unit":"Count"}]}]},"Outcome":"failed","RefreshOutcome":1}` + "\n" +
				`{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["ErrorClass"]],"Metrics":[{"Name":"RefreshFailures","Unit":"Count"}]}]},"ErrorClass":"configuration","RefreshFailures":1}` + "\n",
		},
		{
			name: "seconds to expiry with kind rollup",
			in:   []Metric{SecondsToExpiry("wx0123456789abcdef", "access_token", 7199500*time.Millisecond)},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AppId","Kind"],["Kind"]],"Metrics":[{"Name":"TokenSecondsToExpiry","Unit":"Seconds"}]}]},"AppId":"wx0123456789abcdef","Kind":"access_token","TokenSecondsToExpiry":7199.5}` + "\n",
		},
		{
			name: "negative seconds once expired",
			in:   []Metric{SecondsToExpiry("wx1", "jsapi_ticket", -3*time.Second)},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AppId","Kind"],["Kind"]],"Metrics":[{"Name":"TokenSecondsToExpiry","Unit":"Seconds"}]}]},"AppId":"wx1","Kind":"jsapi_ticket","TokenSecondsToExpiry":-3}` + "\n",
		},
		{
			name: "seconds to expiry of a value due at expiry: by account type, floored under kind",
			in:   SecondsToExpiryDueAtExpiry("wecom", "ww1:1000002", "access_token", 30*time.Second, 290*time.Second),
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AppId","Kind"]],"Metrics":[{"Name":"TokenSecondsToExpiry","Unit":"Seconds"}]}]},"AppId":"ww1:1000002","Kind":"access_token","TokenSecondsToExpiry":30}` + "\n" +
				`{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AccountType","Kind"]],"Metrics":[{"Name":"TokenSecondsToExpiry","Unit":"Seconds"}]}]},"AccountType":"wecom","Kind":"access_token","TokenSecondsToExpiry":30}` + "\n" +
				`{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Kind"]],"Metrics":[{"Name":"TokenSecondsToExpiry","Unit":"Seconds"}]}]},"Kind":"access_token","TokenSecondsToExpiry":290}` + "\n",
		},
		{
			name: "wechat latency in milliseconds",
			in:   []Metric{WeChatCall("stable_token", 12345*time.Microsecond)},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["API"]],"Metrics":[{"Name":"WeChatCallLatency","Unit":"Milliseconds"}]}]},"API":"stable_token","WeChatCallLatency":12.345}` + "\n",
		},
		{
			name: "forced refresh",
			in:   []Metric{ForcedRefresh("wx1", "access_token")},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AppId","Kind"],["Kind"]],"Metrics":[{"Name":"ForcedRefreshes","Unit":"Count"}]}]},"AppId":"wx1","Kind":"access_token","ForcedRefreshes":1}` + "\n",
		},
		{
			name: "callback 503 counts as 5xx",
			in:   []Metric{CallbackRequest(503)},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Outcome"]],"Metrics":[{"Name":"CallbackRequests","Unit":"Count"}]}]},"Outcome":"5xx","CallbackRequests":1}` + "\n",
		},
		{
			name: "token 404",
			in:   []Metric{TokenRequest(404)},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Outcome"]],"Metrics":[{"Name":"TokenRequests","Unit":"Count"}]}]},"Outcome":"4xx","TokenRequests":1}` + "\n",
		},
		{
			name: "duplicate",
			in:   []Metric{CallbackDuplicate("wx1")},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["AppId"]],"Metrics":[{"Name":"CallbackDuplicates","Unit":"Count"}]}]},"AppId":"wx1","CallbackDuplicates":1}` + "\n",
		},
		{
			name: "no dimensions and default unit",
			in:   []Metric{{Name: "Plain", Value: 2}},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[[]],"Metrics":[{"Name":"Plain","Unit":"None"}]}]},"Plain":2}` + "\n",
		},
		{
			name: "escaping keeps the line valid JSON",
			in:   []Metric{{Name: "M", Unit: Count, Value: 1e21, Dimensions: []Dimension{{"D", "a\"b\\c\n\x01\xffé"}}}},
			want: `{"_aws":{` + ts + `,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"a\"b\\c\u000a\u0001\ufffdé","M":1e+21}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := emit(t, tt.in...)
			if err != nil {
				t.Fatalf("Emit: %v", err)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			for _, line := range strings.SplitAfter(strings.TrimSuffix(got, "\n"), "\n") {
				checkEMF(t, line)
			}
		})
	}
}

// checkEMF decodes one line as the EMF specification describes it and checks
// that every referenced dimension and metric is a root member.
func checkEMF(t *testing.T, line string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	var meta struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	raw, _ := json.Marshal(doc["_aws"])
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("_aws: %v", err)
	}
	if meta.Timestamp != fixed.UnixMilli() {
		t.Errorf("Timestamp = %d, want %d", meta.Timestamp, fixed.UnixMilli())
	}
	for _, d := range meta.CloudWatchMetrics {
		if d.Namespace != Namespace {
			t.Errorf("Namespace = %q", d.Namespace)
		}
		for _, set := range d.Dimensions {
			for _, name := range set {
				if _, ok := doc[name].(string); !ok {
					t.Errorf("dimension %s is not a string root member", name)
				}
			}
		}
		for _, m := range d.Metrics {
			if _, ok := doc[m.Name].(float64); !ok {
				t.Errorf("metric %s is not a numeric root member", m.Name)
			}
			if !validUnits[Unit(m.Unit)] {
				t.Errorf("unit %q", m.Unit)
			}
		}
	}
}

func TestEmitRejectsInvalidMetrics(t *testing.T) {
	tests := []struct {
		name    string
		m       Metric
		errPart string
	}{
		{"empty name", Metric{Value: 1}, "metric name"},
		{"reserved name", Metric{Name: "_aws", Value: 1}, "metric name"},
		{"bad unit", Metric{Name: "M", Unit: "Hours", Value: 1}, "unit"},
		{"NaN", Metric{Name: "M", Value: math.NaN()}, "finite"},
		{"Inf", Metric{Name: "M", Value: math.Inf(1)}, "finite"},
		{"empty dimension value", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"AppId", ""}}}, "dimension AppId"},
		{"empty dimension name", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"", "x"}}}, "dimensions[0].Name"},
		{"dimension named like metric", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"M", "x"}}}, "differ"},
		{"duplicate dimension", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"A", "x"}, {"A", "y"}}}, "twice"},
		{"rollup of unknown dimension", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"A", "x"}}, Rollups: [][]string{{"B"}}}, "rollups[0]"},
		{"empty rollup", Metric{Name: "M", Value: 1, Dimensions: []Dimension{{"A", "x"}}, Rollups: [][]string{{}}}, "rollups[0]"},
		{"too many dimensions", Metric{Name: "M", Value: 1, Dimensions: manyDimensions(31)}, "at most 30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := CallbackRequest(200)
			out, err := emit(t, tt.m, good)
			if err == nil || !strings.Contains(err.Error(), tt.errPart) {
				t.Fatalf("err = %v, want one containing %q", err, tt.errPart)
			}
			// The valid metric next to the bad one is still written.
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"CallbackRequests":1`) {
				t.Errorf("output = %q, want only the valid metric", out)
			}
		})
	}
}

func manyDimensions(n int) []Dimension {
	ds := make([]Dimension, n)
	for i := range ds {
		ds[i] = Dimension{Name: string(rune('A'+i%26)) + strings.Repeat("x", i/26+1), Value: "v"}
	}
	return ds
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEmitReportsWriteErrors(t *testing.T) {
	err := New(failingWriter{}).Emit(CallbackDuplicate("wx1"))
	if err == nil || !strings.Contains(err.Error(), "CallbackDuplicates") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

func TestNilEmitterDiscards(t *testing.T) {
	var e *Emitter
	if err := e.Emit(CallbackRequest(200)); err != nil {
		t.Fatal(err)
	}
}

// lineWriter fails the test if a Write call carries anything but whole lines:
// concurrent emitters must never interleave within a line.
type lineWriter struct {
	mu    sync.Mutex
	lines []string
	bad   int
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(p) == 0 || p[len(p)-1] != '\n' || bytes.Count(p, []byte("\n")) != 1 {
		w.bad++
	}
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

func TestEmitConcurrent(t *testing.T) {
	w := &lineWriter{}
	e := New(w)
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := e.Emit(SecondsToExpiry("wx1", "access_token", time.Duration(g*each+i)*time.Second)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if w.bad != 0 {
		t.Fatalf("%d writes were not exactly one line", w.bad)
	}
	if len(w.lines) != goroutines*each {
		t.Fatalf("%d lines, want %d", len(w.lines), goroutines*each)
	}
	seen := map[float64]bool{}
	for _, l := range w.lines {
		var doc map[string]any
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		seen[doc[TokenSecondsToExpiry].(float64)] = true
	}
	if len(seen) != goroutines*each {
		t.Fatalf("%d distinct values, want %d", len(seen), goroutines*each)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{200: "2xx", 204: "2xx", 302: "3xx", 400: "4xx", 413: "4xx", 500: "5xx", 503: "5xx", 0: "other", 600: "other", 101: "other"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// Every catalog helper produces a metric that Emit accepts and that uses a
// name from Names.
func TestCatalogHelpersUseDeclaredNames(t *testing.T) {
	declared := map[string]bool{}
	for _, n := range Names {
		declared[n] = true
	}
	var all []Metric
	all = append(all, Refresh("failed", "transient")...)
	all = append(all, SecondsToExpiryDueAtExpiry("wecom", "ww1:1", "access_token", -time.Second, time.Minute)...)
	all = append(all, SecondsToExpiry("wx1", "access_token", time.Minute), WeChatCall("getticket", time.Millisecond),
		ForcedRefresh("wx1", "access_token"), TokenRequest(200), CallbackRequest(500), CallbackDuplicate("wx1"),
		ConfigReloadFailure(ConfigServedStale), ComponentAuthorization("refused"))
	used := map[string]bool{}
	for _, m := range all {
		if !declared[m.Name] {
			t.Errorf("helper emits undeclared metric %s", m.Name)
		}
		used[m.Name] = true
	}
	for _, n := range Names {
		if !used[n] {
			t.Errorf("metric %s has no helper", n)
		}
	}
	out, err := emit(t, all...)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		checkEMF(t, sc.Text())
	}
}

func BenchmarkEmit(b *testing.B) {
	e := New(io.Discard)
	m := SecondsToExpiry("wx0123456789abcdef", "access_token", 7000*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Emit(m)
	}
}

func BenchmarkEmitParallel(b *testing.B) {
	e := New(io.Discard)
	m := CallbackRequest(200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = e.Emit(m)
		}
	})
}

func TestCountResponses(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"explicit 503", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) }, "5xx"},
		{"implicit 200 by writing", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }, "2xx"},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, "2xx"},
		{"403 then a second WriteHeader", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403); w.WriteHeader(500) }, "4xx"},
		{"interim 100 then 404", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(100); w.WriteHeader(404) }, "4xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := New(&buf, WithClock(func() time.Time { return fixed })).CountResponses(CallbackRequests, tt.handler)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/wechat/wx1", nil))
			want := `"Outcome":"` + tt.want + `","CallbackRequests":1}` + "\n"
			if !strings.HasSuffix(buf.String(), want) || strings.Count(buf.String(), "\n") != 1 {
				t.Errorf("metric line %q, want one ending %q", buf.String(), want)
			}
		})
	}
	// A nil emitter leaves the handler as it is.
	var e *Emitter
	inner := http.NotFoundHandler()
	if got := e.CountResponses(TokenRequests, inner); fmt.Sprintf("%p", got) != fmt.Sprintf("%p", inner) {
		t.Error("nil emitter wrapped the handler")
	}
}

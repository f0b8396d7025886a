package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// metricLog is the world's CloudWatch: it receives the EMF lines every
// component emits (refresh: RefreshOutcome, RefreshFailures; the token
// function: TokenRequests; callbacks: CallbackRequests) and counts them by
// name, dimensions and timestamp, which is the virtual clock's instant.
type metricLog struct {
	mu        sync.Mutex
	partial   []byte
	points    []metricPoint
	malformed []string
}

// metricPoint is one EMF record: its metric, its dimensions as
// "Name=value" joined by ",", and its timestamp.
type metricPoint struct {
	Name  string
	Dims  string
	At    time.Time
	Value float64
}

// Write takes EMF lines; a line may arrive in several writes.
func (l *metricLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.parse(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) == 0 {
		l.partial = nil
	}
	return len(p), nil
}

func (l *metricLog) parse(line []byte) {
	var rec struct {
		AWS struct {
			Timestamp         int64 `json:"Timestamp"`
			CloudWatchMetrics []struct {
				Dimensions [][]string `json:"Dimensions"`
				Metrics    []struct {
					Name string `json:"Name"`
				} `json:"Metrics"`
			} `json:"CloudWatchMetrics"`
		} `json:"_aws"`
	}
	var fields map[string]any
	if err := json.Unmarshal(line, &rec); err != nil || json.Unmarshal(line, &fields) != nil ||
		len(rec.AWS.CloudWatchMetrics) != 1 || len(rec.AWS.CloudWatchMetrics[0].Metrics) != 1 {
		l.malformed = append(l.malformed, fmt.Sprintf("%.200s", line))
		return
	}
	cw := rec.AWS.CloudWatchMetrics[0]
	name := cw.Metrics[0].Name
	var dims []string
	if len(cw.Dimensions) > 0 {
		for _, d := range cw.Dimensions[0] {
			dims = append(dims, fmt.Sprintf("%s=%v", d, fields[d]))
		}
	}
	v, ok := fields[name].(float64)
	if !ok {
		l.malformed = append(l.malformed, fmt.Sprintf("%.200s", line))
		return
	}
	l.points = append(l.points, metricPoint{Name: name, Dims: strings.Join(dims, ","), At: time.UnixMilli(rec.AWS.Timestamp), Value: v})
}

// sum adds the values of metric name with exactly dimensions dims emitted
// in [from, to); zero times leave that side open.
func (l *metricLog) sum(name, dims string, from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0.0
	for _, p := range l.points {
		if p.Name == name && p.Dims == dims && (from.IsZero() || !p.At.Before(from)) && (to.IsZero() || p.At.Before(to)) {
			n += p.Value
		}
	}
	return int(n)
}

// byDims adds the values of metric name over the run, by dimensions.
func (l *metricLog) byDims(name string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, p := range l.points {
		if p.Name == name {
			out[p.Dims] += int(p.Value)
		}
	}
	return out
}

func (l *metricLog) malformedLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.malformed...)
}

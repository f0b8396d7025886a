package costbench_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// emfCounter is the EMF writer of a function: it counts the bytes (CloudWatch
// Logs ingests them) and the distinct custom metrics the lines define, one
// per namespace, metric name and dimension set with its values (CloudWatch
// bills each as a custom metric).
type emfCounter struct {
	logs *byteCounter
	mu   sync.Mutex
	seen map[string]bool
}

func newEMFCounter(logs *byteCounter) *emfCounter {
	return &emfCounter{logs: logs, seen: map[string]bool{}}
}

func (c *emfCounter) Write(p []byte) (int, error) {
	c.logs.Write(p)
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var doc map[string]json.RawMessage
		if json.Unmarshal(line, &doc) != nil {
			continue
		}
		var meta struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		}
		if json.Unmarshal(doc["_aws"], &meta) != nil {
			continue
		}
		c.mu.Lock()
		for _, d := range meta.CloudWatchMetrics {
			for _, set := range d.Dimensions {
				var dims []string
				for _, name := range set {
					dims = append(dims, name+"="+string(doc[name]))
				}
				sort.Strings(dims)
				for _, m := range d.Metrics {
					c.seen[fmt.Sprintf("%s/%s{%s}", d.Namespace, m.Name, strings.Join(dims, ","))] = true
				}
			}
		}
		c.mu.Unlock()
	}
	return len(p), nil
}

// distinct is the number of custom metrics seen, and forgets them.
func (c *emfCounter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.seen)
	c.seen = map[string]bool{}
	return n
}

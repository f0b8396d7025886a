package metrics

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Namespace is the CloudWatch namespace of every wxcentral metric.
const Namespace = "wxcentral"

// Unit is a CloudWatch metric unit.
type Unit string

// Units used by wxcentral (any CloudWatch unit name is accepted by Emit).
const (
	Count        Unit = "Count"
	Seconds      Unit = "Seconds"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// validUnits is the CloudWatch StandardUnit list.
var validUnits = map[Unit]bool{
	"Seconds": true, "Microseconds": true, "Milliseconds": true,
	"Bytes": true, "Kilobytes": true, "Megabytes": true, "Gigabytes": true, "Terabytes": true,
	"Bits": true, "Kilobits": true, "Megabits": true, "Gigabits": true, "Terabits": true,
	"Percent": true, "Count": true,
	"Bytes/Second": true, "Kilobytes/Second": true, "Megabytes/Second": true, "Gigabytes/Second": true,
	"Terabytes/Second": true, "Bits/Second": true, "Kilobits/Second": true, "Megabits/Second": true,
	"Gigabits/Second": true, "Terabits/Second": true, "Count/Second": true, "None": true,
}

// Dimension is one CloudWatch dimension (name and value).
type Dimension struct {
	Name  string
	Value string
}

// Metric is one value to publish.
type Metric struct {
	Name  string
	Unit  Unit // empty means None
	Value float64
	// Dimensions, in order, form the metric's primary dimension set. An empty
	// list publishes the metric without dimensions.
	Dimensions []Dimension
	// Rollups are further dimension sets, each a subset of the names in
	// Dimensions, under which the same value is also aggregated (for example
	// [Kind] next to [AppId Kind], so one alarm covers every app).
	Rollups [][]string
}

// CloudWatch limits (EMF specification and PutMetricData).
const (
	maxDimensions     = 30
	maxDimensionName  = 255
	maxDimensionValue = 1024
	maxMetricName     = 255
)

// Emitter writes metrics as EMF JSON lines. Create one with New.
type Emitter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

// Option configures an Emitter.
type Option func(*Emitter)

// WithClock sets the clock that stamps each record (default time.Now).
func WithClock(now func() time.Time) Option { return func(e *Emitter) { e.now = now } }

// New returns an Emitter writing to w (os.Stdout in Lambda).
func New(w io.Writer, opts ...Option) *Emitter {
	e := &Emitter{w: w, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Emit writes each metric as one EMF line. An invalid metric is skipped and
// reported in the returned error (naming the metric and the field); the
// others are still written. Emit on a nil *Emitter does nothing.
func (e *Emitter) Emit(ms ...Metric) error {
	if e == nil {
		return nil
	}
	var errs []error
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := e.now().UnixMilli()
	for i := range ms {
		if err := ms[i].validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		e.buf = ms[i].appendEMF(e.buf[:0], ts)
		if _, err := e.w.Write(e.buf); err != nil {
			errs = append(errs, fmt.Errorf("metrics: write %s: %w", ms[i].Name, err))
		}
	}
	// Keep the buffer from pinning a pathological allocation.
	if cap(e.buf) > 64<<10 {
		e.buf = nil
	}
	return errors.Join(errs...)
}

func (m *Metric) validate() error {
	if m.Name == "" || len(m.Name) > maxMetricName || m.Name == "_aws" {
		return fmt.Errorf("metrics: metric name %q: must be 1-%d characters and not _aws", m.Name, maxMetricName)
	}
	if m.Unit != "" && !validUnits[m.Unit] {
		return fmt.Errorf("metrics: %s: unit %q is not a CloudWatch unit", m.Name, m.Unit)
	}
	if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
		return fmt.Errorf("metrics: %s: value must be a finite number", m.Name)
	}
	if len(m.Dimensions) > maxDimensions {
		return fmt.Errorf("metrics: %s: dimensions: at most %d", m.Name, maxDimensions)
	}
	for i, d := range m.Dimensions {
		switch {
		case d.Name == "" || len(d.Name) > maxDimensionName || d.Name == "_aws":
			return fmt.Errorf("metrics: %s: dimensions[%d].Name %q: must be 1-%d characters and not _aws", m.Name, i, d.Name, maxDimensionName)
		case d.Name == m.Name:
			return fmt.Errorf("metrics: %s: dimensions[%d].Name: must differ from the metric name", m.Name, i)
		case d.Value == "" || len(d.Value) > maxDimensionValue:
			return fmt.Errorf("metrics: %s: dimension %s: value must be 1-%d characters", m.Name, d.Name, maxDimensionValue)
		}
		for _, p := range m.Dimensions[:i] {
			if p.Name == d.Name {
				return fmt.Errorf("metrics: %s: dimension %s: appears twice", m.Name, d.Name)
			}
		}
	}
	for i, set := range m.Rollups {
		if len(set) == 0 {
			return fmt.Errorf("metrics: %s: rollups[%d]: empty dimension set", m.Name, i)
		}
		for _, name := range set {
			if !m.hasDimension(name) {
				return fmt.Errorf("metrics: %s: rollups[%d]: %q is not one of the metric's dimensions", m.Name, i, name)
			}
		}
	}
	return nil
}

func (m *Metric) hasDimension(name string) bool {
	for _, d := range m.Dimensions {
		if d.Name == name {
			return true
		}
	}
	return false
}

// appendEMF appends the EMF record of m, newline-terminated, to b. Field
// order is fixed so the output is byte-for-byte predictable.
func (m *Metric) appendEMF(b []byte, ts int64) []byte {
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":"`+Namespace+`","Dimensions":[[`...)
	for i, d := range m.Dimensions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, d.Name)
	}
	b = append(b, ']')
	for _, set := range m.Rollups {
		b = append(b, ",["...)
		for i, name := range set {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
		}
		b = append(b, ']')
	}
	b = append(b, `],"Metrics":[{"Name":`...)
	b = appendString(b, m.Name)
	b = append(b, `,"Unit":`...)
	unit := m.Unit
	if unit == "" {
		unit = None
	}
	b = appendString(b, string(unit))
	b = append(b, `}]}]}`...)
	for _, d := range m.Dimensions {
		b = append(b, ',')
		b = appendString(b, d.Name)
		b = append(b, ':')
		b = appendString(b, d.Value)
	}
	b = append(b, ',')
	b = appendString(b, m.Name)
	b = append(b, ':')
	b = strconv.AppendFloat(b, m.Value, 'g', -1, 64)
	return append(b, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the line is always valid JSON whatever a dimension value holds.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

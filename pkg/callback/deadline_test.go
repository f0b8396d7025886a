package callback

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// newHandlerCtx returns a context whose deadline is d from now.
func newHandlerCtx(parent context.Context, d time.Duration) *handlerCtx {
	return &handlerCtx{Context: parent, due: monotonic() + d}
}

func TestHandlerCtx(t *testing.T) {
	t.Run("deadline closes Done", func(t *testing.T) {
		c := newHandlerCtx(context.Background(), 20*time.Millisecond)
		if c.Err() != nil {
			t.Fatal("err before the deadline")
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(epoch.Add(c.due)) || time.Until(d) > 20*time.Millisecond {
			t.Fatal("deadline")
		}
		<-c.Done()
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("err %v", c.Err())
		}
	})
	t.Run("parent cancellation propagates", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		c := newHandlerCtx(parent, time.Hour)
		done := c.Done()
		cancel()
		<-done
		if !errors.Is(c.Err(), context.Canceled) || c.Value(ctxKey{}) != "v" {
			t.Fatalf("err %v value %v", c.Err(), c.Value(ctxKey{}))
		}
	})
	t.Run("earlier parent deadline wins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		c := newHandlerCtx(parent, time.Hour)
		pd, _ := parent.Deadline()
		if d, _ := c.Deadline(); !d.Equal(pd) {
			t.Fatal("parent deadline ignored")
		}
		<-c.Done()
	})
	t.Run("Err without Done", func(t *testing.T) {
		c := newHandlerCtx(context.Background(), time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("err %v", c.Err())
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Done not closed after Err reported the deadline")
		}
	})
	t.Run("cancel closes Done", func(t *testing.T) {
		c := newHandlerCtx(context.Background(), time.Hour)
		d := c.Done()
		c.cancel(context.Canceled)
		<-d
		c.cancel(context.DeadlineExceeded) // idempotent
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatal(c.Err())
		}
	})
}

func TestParseUnix(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1714112445": 1714112445, "999999999999999999": 999999999999999999} {
		if got, ok := parseUnix(in); !ok || got != want {
			t.Errorf("%q: %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.5", "12a", "1234567890123456789", " 1"} {
		if _, ok := parseUnix(in); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestDeadlinesExpireInOrder: jobs whose handlers never answer end at
// their own deadline, whatever order their timeouts come in, and the
// queue is empty and the timer disarmed afterwards.
func TestDeadlinesExpireInOrder(t *testing.T) {
	var d deadlines
	timeouts := []time.Duration{30, 10, 50, 10, 20, 5, 40, 30}
	jobs := make([]*job, len(timeouts))
	for i, ms := range timeouts {
		jobs[i] = d.start(context.Background(), ms*time.Millisecond, nil, nil)
	}
	for i, j := range jobs {
		<-j.ch
		if late := monotonic() - j.due; late < 0 || j.state.Load() != jobExpired {
			t.Fatalf("job %d (timeout %v ms): expired %v before its deadline, state %d", i, timeouts[i], -late, j.state.Load())
		}
		if j.ctx.Err() == nil && monotonic() >= j.due {
			t.Fatalf("job %d: context not past its deadline", i)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.queue) - d.head; n != 0 || d.armed {
		t.Fatalf("after every deadline: %d queued, armed %v", n, d.armed)
	}
}

// TestDeadlinesDropFinishedJobs: answered jobs leave the queue at the next
// start, so a steady stream of quick handlers keeps it at one entry, and a
// job that answers is pooled only once both the request and the queue let
// go of it.
func TestDeadlinesDropFinishedJobs(t *testing.T) {
	var d deadlines
	for i := 0; i < 1000; i++ {
		j := d.start(context.Background(), time.Hour, nil, nil)
		d.mu.Lock()
		n := len(d.queue) - d.head
		d.mu.Unlock()
		if n != 1 {
			t.Fatalf("start %d: %d jobs queued", i, n)
		}
		j.finish(routeResult{})
		<-j.ch
		if r := j.refs.Load(); r != 2 && r != 1 {
			t.Fatalf("refs %d", r)
		}
		j.unref() // the request is done with it
	}
	// A stuck job at the front holds the finished ones behind it until it
	// expires; then they all go.
	stuck := d.start(context.Background(), 20*time.Millisecond, nil, nil)
	for i := 0; i < 200; i++ {
		j := d.start(context.Background(), 20*time.Millisecond, nil, nil)
		j.finish(routeResult{})
		<-j.ch
		j.unref()
	}
	<-stuck.ch
	if stuck.state.Load() != jobExpired {
		t.Fatal("stuck job not expired")
	}
	if stuck.refs.Load() != 1 { // the worker may still run it: never pooled
		t.Fatalf("stuck job refs %d", stuck.refs.Load())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.queue) - d.head; n != 0 {
		t.Fatalf("%d jobs left after the stuck one expired", n)
	}
}

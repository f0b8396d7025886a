package callback

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestHandlerCtx(t *testing.T) {
	t.Run("deadline closes Done", func(t *testing.T) {
		c := newHandlerCtx(context.Background(), 20*time.Millisecond)
		if c.Err() != nil {
			t.Fatal("err before the deadline")
		}
		if d, ok := c.Deadline(); !ok || d != c.deadline {
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

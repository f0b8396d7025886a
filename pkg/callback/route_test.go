package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRoute covers route() end to end: the result, the
// deadline, request cancellation and panics, each racing the others.
func TestRoute(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	type seen struct {
		ctx context.Context
	}
	for _, tc := range []struct {
		name        string
		timeout     time.Duration
		cancelAfter bool // cancel the request context once the handler runs
		handler     func(ctx context.Context) (Reply, error)
		wantReply   string
		wantErr     string
		wantTimeout bool
		wantCtxErr  error // the handler context's Err once route returned
	}{
		{name: "reply", timeout: time.Hour,
			handler:   func(ctx context.Context) (Reply, error) { return TextReply{Content: "hi"}, nil },
			wantReply: "hi", wantCtxErr: context.Canceled},
		{name: "error", timeout: time.Hour,
			handler: func(ctx context.Context) (Reply, error) { return nil, errors.New("downstream") },
			wantErr: "downstream", wantCtxErr: context.Canceled},
		{name: "panic", timeout: time.Hour,
			handler: func(ctx context.Context) (Reply, error) { panic("boom") },
			wantErr: "handler panic: boom", wantCtxErr: context.Canceled},
		{name: "blocked forever", timeout: 5 * time.Millisecond,
			handler:     func(ctx context.Context) (Reply, error) { <-block; return TextReply{Content: "late"}, nil },
			wantTimeout: true, wantCtxErr: context.DeadlineExceeded},
		{name: "reply after seeing Done", timeout: time.Millisecond,
			handler: func(ctx context.Context) (Reply, error) {
				<-ctx.Done()
				return TextReply{Content: "late"}, nil
			},
			wantTimeout: true, wantCtxErr: context.DeadlineExceeded},
		{name: "error after seeing Err", timeout: time.Millisecond,
			handler: func(ctx context.Context) (Reply, error) {
				for ctx.Err() == nil { // spin: answer before the deadline timer can fire
				}
				return nil, ctx.Err()
			},
			wantTimeout: true, wantCtxErr: context.DeadlineExceeded},
		{name: "request cancelled", timeout: time.Hour, cancelAfter: true,
			handler: func(ctx context.Context) (Reply, error) { <-block; return nil, nil },
			wantErr: context.Canceled.Error(), wantCtxErr: context.Canceled},
		{name: "request cancelled, handler returns on Done", timeout: time.Hour, cancelAfter: true,
			handler: func(ctx context.Context) (Reply, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
			wantErr: context.Canceled.Error(), wantCtxErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Several rounds, so that the races between result, deadline and
			// cancellation go both ways.
			for round := 0; round < 20; round++ {
				got := make(chan seen, 1)
				mux := NewMux()
				ctx, cancel := context.WithCancel(context.Background())
				mux.HandleFunc(Match{}, func(hctx context.Context, m *Message) (Reply, error) {
					got <- seen{hctx}
					if tc.cancelAfter {
						cancel()
					}
					return tc.handler(hctx)
				})
				h := &Handler{opt: Options{Routes: mux, HandlerTimeout: tc.timeout}}
				reply, err, timedOut := h.route(ctx, nil, &Message{MsgType: MsgTypeText}, h.opt.HandlerTimeout)
				cancel()
				if timedOut != tc.wantTimeout {
					t.Fatalf("round %d: timed out %v, want %v", round, timedOut, tc.wantTimeout)
				}
				var text string
				if r, ok := reply.(TextReply); ok {
					text = r.Content
				} else if reply != nil {
					t.Fatalf("round %d: reply %#v", round, reply)
				}
				if text != tc.wantReply {
					t.Fatalf("round %d: reply %q, want %q", round, text, tc.wantReply)
				}
				if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("round %d: err %v, want %q", round, err, tc.wantErr)
				}
				s := <-got
				if _, ok := s.ctx.Deadline(); !ok {
					t.Fatalf("round %d: handler context without deadline", round)
				}
				<-s.ctx.Done()
				if !errors.Is(s.ctx.Err(), tc.wantCtxErr) {
					t.Fatalf("round %d: handler context err %v, want %v", round, s.ctx.Err(), tc.wantCtxErr)
				}
			}
		})
	}
}

// TestRouteStuckHandlerDoesNotDelayOthers: while handlers block past their
// deadline, other pushes still get their replies.
func TestRouteStuckHandlerDoesNotDelayOthers(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	mux := NewMux()
	mux.HandleFunc(Match{Content: "stuck"}, func(ctx context.Context, m *Message) (Reply, error) {
		<-block
		return nil, nil
	})
	mux.HandleFunc(Match{}, func(ctx context.Context, m *Message) (Reply, error) {
		return TextReply{Content: "ok " + m.Content}, nil
	})
	h := &Handler{opt: Options{Routes: mux, HandlerTimeout: 2 * time.Millisecond}}
	for i := 0; i < 10; i++ {
		if _, _, timedOut := h.route(context.Background(), nil, &Message{MsgType: MsgTypeText, Content: "stuck"}, h.opt.HandlerTimeout); !timedOut {
			t.Fatalf("stuck handler %d not timed out", i)
		}
		h.opt.HandlerTimeout = time.Hour
		reply, err, timedOut := h.route(context.Background(), nil, &Message{MsgType: MsgTypeText, Content: "x"}, h.opt.HandlerTimeout)
		if r, ok := reply.(TextReply); !ok || r.Content != "ok x" || err != nil || timedOut {
			t.Fatalf("push %d: %#v %v %v", i, reply, err, timedOut)
		}
		h.opt.HandlerTimeout = 2 * time.Millisecond
	}
}

type cancelKey struct{}

// TestRouteConcurrentMixedOutcomes: many pushes at once on one Handler,
// each with its own outcome (reply, deadline, cancelled request), get the
// outcome they should.
func TestRouteConcurrentMixedOutcomes(t *testing.T) {
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc(Match{Content: "fast"}, func(ctx context.Context, m *Message) (Reply, error) {
		return TextReply{Content: "ok"}, nil
	})
	mux.HandleFunc(Match{Content: "stuck"}, func(ctx context.Context, m *Message) (Reply, error) {
		<-release
		return TextReply{Content: "late"}, nil
	})
	mux.HandleFunc(Match{Content: "cancel"}, func(ctx context.Context, m *Message) (Reply, error) {
		ctx.Value(cancelKey{}).(context.CancelFunc)() // the request ends while the handler runs
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := &Handler{opt: Options{Routes: mux, HandlerTimeout: 20 * time.Millisecond}}
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 150 && err == nil; i++ {
				kind := []string{"fast", "fast", "stuck", "cancel"}[(g+i)%4]
				ctx, cancel := context.WithCancel(context.Background())
				ctx = context.WithValue(ctx, cancelKey{}, cancel)
				timeout := time.Hour // only a stuck handler meets its deadline, however slow the machine
				if kind == "stuck" {
					timeout = h.opt.HandlerTimeout
				}
				reply, rerr, timedOut := h.route(ctx, nil, &Message{MsgType: MsgTypeText, Content: kind}, timeout)
				cancel()
				switch r, _ := reply.(TextReply); {
				case kind == "fast" && (r.Content != "ok" || rerr != nil || timedOut),
					kind == "stuck" && (reply != nil || rerr != nil || !timedOut),
					kind == "cancel" && (reply != nil || !errors.Is(rerr, context.Canceled) || timedOut):
					err = fmt.Errorf("%s push %d: %#v %v %v", kind, i, reply, rerr, timedOut)
				}
			}
			errs <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(release)
}

package callback

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// This file is routing: the application's handler (or the built-ins) runs
// under its deadline; past it the push is answered `success`.

type routeResult struct {
	reply Reply
	err   error
}

// route runs the application routes on their own goroutine under a
// deadline timeout away, or else the built-ins inline. timedOut means the
// deadline passed first: the answer is no reply, whatever the handler
// returns later.
func (h *Handler) route(ctx context.Context, a *app, msg *Message, timeout time.Duration) (reply Reply, err error, timedOut bool) {
	var handler MessageHandler
	if h.opt.Routes != nil {
		if mux, ok := h.opt.Routes.(*Mux); ok {
			if m := mux.Lookup(msg); m != nil {
				handler = m
			}
		} else {
			handler = h.opt.Routes
		}
	}
	if handler == nil {
		// Built-ins (welcome, auto_replies) answer a constant text and
		// cannot block, so they run inline.
		if b := a.builtin.Lookup(msg); b != nil {
			reply, err := b.ServeMessage(ctx, msg)
			return reply, err, false
		}
		return nil, nil, false
	}
	if timeout <= 0 { // the budget is spent: the answer is success
		return nil, nil, true
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Buffered: a handler that outlives its deadline still sends, and exits.
	done := make(chan routeResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- routeResult{err: fmt.Errorf("handler panic: %v", p)}
			}
		}()
		reply, err := handler.ServeMessage(hctx, msg)
		done <- routeResult{reply, err}
	}()
	var res routeResult
	select {
	case res = <-done:
	case <-hctx.Done():
	}
	if err := ctx.Err(); err != nil { // the request ended: a failure, not a timeout
		return nil, err, false
	}
	// A handler that saw its deadline pass (Done or Err) and answered
	// anyway is too late: its reply is dropped.
	if errors.Is(hctx.Err(), context.DeadlineExceeded) {
		return nil, nil, true
	}
	return res.reply, res.err, false
}

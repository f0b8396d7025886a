package callback

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// handlerCtx is the context handlers run with: the request context plus a
// deadline. Unlike context.WithDeadline it arms no timer and makes no
// channel until a handler asks for Done, which most never do; the Handler
// itself waits on a pooled timer.
type handlerCtx struct {
	context.Context // the parent
	deadline        time.Time
	until           time.Duration // from creation to the deadline

	mu      sync.Mutex
	done    chan struct{}
	err     error
	created time.Time
	stop    func() bool // stops watching the parent
	timer   *time.Timer
}

func newHandlerCtx(parent context.Context, d time.Duration) *handlerCtx {
	now := time.Now()
	return &handlerCtx{Context: parent, deadline: now.Add(d), until: d, created: now}
}

func (c *handlerCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.Context.Deadline(); ok && pd.Before(c.deadline) {
		return pd, true
	}
	return c.deadline, true
}

func (c *handlerCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	remaining := c.until - time.Since(c.created)
	c.timer = time.AfterFunc(remaining, func() { c.cancel(context.DeadlineExceeded) })
	c.stop = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	return c.done
}

func (c *handlerCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.Context.Err(); err != nil {
			c.cancelLocked(err)
		} else if !time.Now().Before(c.deadline) {
			c.cancelLocked(context.DeadlineExceeded)
		}
	}
	return c.err
}

// cancel ends the context with err (first call wins).
func (c *handlerCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelLocked(err)
}

func (c *handlerCtx) cancelLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stop != nil {
		c.stop()
	}
}

func (c *handlerCtx) String() string {
	return fmt.Sprintf("callback.handlerCtx(deadline %v)", c.deadline)
}

// job runs one handler on its own goroutine and reports on ch (capacity 1).
type job struct {
	ctx     *handlerCtx
	handler MessageHandler
	msg     *Message
	ch      chan routeResult
}

var jobPool = sync.Pool{New: func() any { return &job{ch: make(chan routeResult, 1)} }}

var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// putTimer stops t and pools it; since Go 1.23 a stopped timer's channel
// holds no stale value, so Reset is safe afterwards.
func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// workers runs jobs on parked goroutines: handing a job to a waiting
// worker is cheaper than starting a goroutine. A job no worker is waiting
// for starts a new one, so a handler stuck past its deadline never delays
// another push.
// All Handlers share one set, so creating Handlers leaks no goroutines.
type workers struct{ jobs chan *job }

var handlerWorkers = &workers{jobs: make(chan *job)}

func (w *workers) submit(j *job) {
	select {
	case w.jobs <- j:
	default:
		go w.loop(j)
	}
}

func (w *workers) loop(j *job) {
	for {
		j.run()
		j = <-w.jobs
	}
}

func (j *job) run() {
	defer func() {
		if p := recover(); p != nil {
			j.ch <- routeResult{err: fmt.Errorf("handler panic: %v", p)}
		}
	}()
	reply, err := j.handler.ServeMessage(j.ctx, j.msg)
	j.ch <- routeResult{reply, err}
}

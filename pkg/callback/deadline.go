package callback

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// handlerCtx is the context handlers run with: the request context plus a
// deadline. Unlike context.WithDeadline it arms no timer and makes no
// channel until a handler asks for Done, which most never do; the Handler
// itself relies on the deadline timer of the pooled job (see job).
type handlerCtx struct {
	context.Context // the parent
	deadline        time.Time

	mu    sync.Mutex
	done  chan struct{}
	err   error
	stop  func() bool // stops watching the parent
	timer *time.Timer
}

func newHandlerCtx(parent context.Context, d time.Duration) *handlerCtx {
	return &handlerCtx{Context: parent, deadline: time.Now().Add(d)}
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
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	c.stop = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	return c.done
}

func (c *handlerCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.Context.Err(); err != nil {
			c.cancelLocked(err)
		} else if time.Until(c.deadline) <= 0 { // monotonic clock only
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

// Job states: the first of the worker's result, the deadline timer and
// the request context to move a job out of jobPending wins; only the
// worker and the timer send on ch, and only after winning.
const (
	jobPending   uint32 = iota
	jobReplied          // the worker sent its result on ch
	jobExpired          // the deadline timer sent on ch
	jobAbandoned        // the request context ended first: nothing is sent
)

// job runs one handler on a worker goroutine. Whichever of the worker and
// the deadline timer finishes first sends once on ch (capacity 1), so the
// Handler waits on a single channel rather than selecting over a result
// channel and a timer channel.
type job struct {
	ctx     *handlerCtx
	handler MessageHandler
	msg     *Message
	state   atomic.Uint32
	ch      chan routeResult
	timer   *time.Timer // time.AfterFunc(…, j.expire), re-armed per use
}

var jobPool = sync.Pool{New: func() any { return &job{ch: make(chan routeResult, 1)} }}

// getJob returns a pending job whose deadline timer fires after d.
func getJob(d time.Duration) *job {
	j := jobPool.Get().(*job)
	if j.timer == nil {
		j.timer = time.AfterFunc(d, j.expire)
	} else {
		j.timer.Reset(d)
	}
	return j
}

// release pools j after its worker sent the result. A stopped AfterFunc
// timer never starts its function (Go 1.23+), so j can be reused; if it
// fired already, its expire may still be running and j is left to the GC.
func (j *job) release() {
	if !j.timer.Stop() {
		return
	}
	j.ctx, j.handler, j.msg = nil, nil, nil
	j.state.Store(jobPending)
	jobPool.Put(j)
}

// expire is the deadline timer's function.
func (j *job) expire() {
	if j.state.CompareAndSwap(jobPending, jobExpired) {
		j.ch <- routeResult{}
	}
}

// finish reports the handler's result unless the deadline or the request
// context ended the wait first.
func (j *job) finish(r routeResult) {
	if j.state.CompareAndSwap(jobPending, jobReplied) {
		j.ch <- r
	}
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
			j.finish(routeResult{err: fmt.Errorf("handler panic: %v", p)})
		}
	}()
	reply, err := j.handler.ServeMessage(j.ctx, j.msg)
	j.finish(routeResult{reply, err})
}

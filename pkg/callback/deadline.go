package callback

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// epoch is the origin of the monotonic deadlines below: time.Since(epoch)
// reads only the monotonic clock, which costs half of time.Now.
var epoch = time.Now()

// monotonic is the time elapsed since epoch.
func monotonic() time.Duration { return time.Since(epoch) }

// handlerCtx is the context handlers run with: the request context plus a
// deadline. Unlike context.WithDeadline it arms no timer and makes no
// channel until a handler asks for Done, which most never do; the Handler
// itself relies on its deadline queue (see deadlines).
type handlerCtx struct {
	context.Context               // the parent
	due             time.Duration // the deadline, as monotonic() will read it

	mu    sync.Mutex
	done  chan struct{}
	err   error
	stop  func() bool // stops watching the parent
	timer *time.Timer
}

func (c *handlerCtx) Deadline() (time.Time, bool) {
	own := epoch.Add(c.due)
	if pd, ok := c.Context.Deadline(); ok && pd.Before(own) {
		return pd, true
	}
	return own, true
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
	c.timer = time.AfterFunc(c.due-monotonic(), func() { c.cancel(context.DeadlineExceeded) })
	c.stop = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	return c.done
}

func (c *handlerCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.Context.Err(); err != nil {
			c.cancelLocked(err)
		} else if monotonic() >= c.due {
			c.cancelLocked(context.DeadlineExceeded)
		}
	}
	return c.err
}

// cancel ends the context with err (first call wins) and returns the
// error it ended with.
func (c *handlerCtx) cancel(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancelLocked(err)
	return c.err
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
	return fmt.Sprintf("callback.handlerCtx(deadline %v)", epoch.Add(c.due))
}

// Job states: the first of the worker's result, the deadline queue and
// the request context to move a job out of jobPending wins; only the
// worker and the deadline queue send on ch, and only after winning.
const (
	jobPending   uint32 = iota
	jobReplied          // the worker sent its result on ch
	jobExpired          // the deadline queue sent on ch
	jobAbandoned        // the request context ended first: nothing is sent
)

// job runs one handler on a worker goroutine. Whichever of the worker and
// the deadline queue finishes first sends once on ch (capacity 1), so the
// Handler waits on a single channel rather than selecting over a result
// channel and a timer channel.
type job struct {
	ctx     *handlerCtx
	handler MessageHandler
	msg     *Message
	due     time.Duration // monotonic deadline
	state   atomic.Uint32
	// refs counts the holders that may still touch the job: the request
	// (only when the worker replied; otherwise the worker may still run)
	// and the deadline queue. The last one pools it.
	refs atomic.Int32
	ch   chan routeResult
}

var jobPool = sync.Pool{New: func() any { return &job{ch: make(chan routeResult, 1)} }}

// unref drops one holder; the last pools j.
func (j *job) unref() {
	if j.refs.Add(-1) != 0 {
		return
	}
	j.ctx, j.handler, j.msg = nil, nil, nil
	j.state.Store(jobPending)
	jobPool.Put(j)
}

// expire ends a pending job at its deadline.
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

// deadlines ends the jobs of one Handler whose handler outlives its
// timeout. Jobs are kept in deadline order; since a Handler gives every job
// the same timeout, a new job almost always goes at the back, so a FIFO
// queue and one timer, armed for the earliest deadline, replace a timer per
// job: a request costs an uncontended lock and an append, and the timer is
// re-armed about once per timeout, when it fires. The zero value is ready.
type deadlines struct {
	mu       sync.Mutex
	queue    []*job // by due; finished jobs are dropped from the front
	head     int    // queue[:head] are dropped (nil)
	timer    *time.Timer
	armed    bool          // the timer will fire at armedDue
	armedDue time.Duration // at or before queue[head].due
}

// start returns a pending job for handler whose handler context ends after
// timeout, and queues it.
func (d *deadlines) start(parent context.Context, timeout time.Duration, handler MessageHandler, msg *Message) *job {
	j := jobPool.Get().(*job)
	j.refs.Store(2)
	j.handler, j.msg = handler, msg
	d.mu.Lock()
	d.dropFinished()
	now := monotonic()
	j.due = now + timeout
	d.queue = append(d.queue, j)
	for i := len(d.queue) - 1; i > d.head && d.queue[i-1].due > j.due; i-- {
		d.queue[i-1], d.queue[i] = d.queue[i], d.queue[i-1] // a shorter timeout than earlier jobs'
	}
	if !d.armed || j.due < d.armedDue {
		d.arm(j.due, now)
	}
	d.mu.Unlock()
	j.ctx = &handlerCtx{Context: parent, due: j.due}
	return j
}

// arm sets the timer to fire at due.
func (d *deadlines) arm(due, now time.Duration) {
	d.armed, d.armedDue = true, due
	if d.timer == nil {
		d.timer = time.AfterFunc(due-now, d.fire)
	} else {
		d.timer.Reset(due - now)
	}
}

// dropFinished removes finished jobs from the front of the queue.
func (d *deadlines) dropFinished() {
	for d.head < len(d.queue) {
		j := d.queue[d.head]
		if j.state.Load() == jobPending {
			break
		}
		d.pop()
	}
}

func (d *deadlines) pop() {
	j := d.queue[d.head]
	d.queue[d.head] = nil
	d.head++
	if d.head == len(d.queue) { // empty: reuse the array from the start
		d.queue, d.head = d.queue[:0], 0
	} else if d.head >= 64 && d.head*2 >= len(d.queue) { // mostly dropped: compact
		n := copy(d.queue, d.queue[d.head:])
		clear(d.queue[n:])
		d.queue, d.head = d.queue[:n], 0
	}
	j.unref()
}

// fire is the timer's function: it expires every job past its deadline
// and re-arms for the oldest one left.
func (d *deadlines) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := monotonic()
	for d.dropFinished(); d.head < len(d.queue) && d.queue[d.head].due <= now; d.dropFinished() {
		d.queue[d.head].expire() // no longer pending (expired, or answered meanwhile): dropped next
	}
	if d.head < len(d.queue) {
		d.arm(d.queue[d.head].due, now)
	} else {
		d.armed = false
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

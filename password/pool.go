package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Pool.Do when its queue is full: the caller should
// shed the request (429 or 503) rather than wait.
var ErrBusy = errors.New("password: hashing pool busy")

// ErrClosed is returned by Pool.Do after Close.
var ErrClosed = errors.New("password: hashing pool closed")

// Pool runs password hashing on a fixed number of workers with a bounded
// queue. Hashing is deliberately expensive; running it only here caps the CPU
// and memory logins can take (about one core and 19 MiB per worker), so a
// flood of logins waits or is shed while requests that only verify a token
// keep running.
type Pool struct {
	// OnWait, if set, is called after each fn that ran, with how long it
	// waited in the queue, e.g. to feed a histogram. Set it, and Now, before
	// the first Do.
	OnWait func(time.Duration)
	// Now is the clock OnWait's durations come from; nil means time.Now.
	Now func() time.Time

	jobs      chan *job
	quit      chan struct{}
	closeOnce sync.Once
	workers   sync.WaitGroup
}

// Job states. A job runs only if a worker moves it from queued to running
// before its caller gives up and moves it to abandoned.
const (
	queued int32 = iota
	running
	abandoned
)

type job struct {
	fn                func()
	state             atomic.Int32
	done              chan struct{} // closed when fn has returned
	enqueued, started time.Time     // set only when OnWait is
}

// NewPool starts workers goroutines (at least 1; about runtime.GOMAXPROCS(0)
// suits hashing) behind a queue of up to queue waiting calls. With queue 0
// a call is accepted only while a worker is idle, waiting for one. Close
// stops the workers.
func NewPool(workers, queue int) *Pool {
	p := &Pool{jobs: make(chan *job, max(queue, 0)), quit: make(chan struct{})}
	for range max(workers, 1) {
		p.workers.Go(p.work)
	}
	return p
}

func (p *Pool) work() {
	for {
		select {
		case <-p.quit:
			return
		case j := <-p.jobs:
			if !j.state.CompareAndSwap(queued, running) {
				continue // its caller has gone
			}
			if p.OnWait != nil {
				j.started = p.now()
			}
			j.fn()
			close(j.done)
		}
	}
}

// Do runs fn on a worker and returns once it has returned. It returns ErrBusy
// at once when every worker is busy and the queue is full, ctx.Err() if ctx
// ends while fn waits in the queue, and ErrClosed once the pool is closed; in
// all those cases fn never runs. Once started, fn runs to completion and Do
// returns nil, whatever ctx does meanwhile, so fn may write results to the
// caller's variables. fn must not call Do on the same Pool.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-p.quit:
		return ErrClosed
	default:
	}
	j := &job{fn: fn, done: make(chan struct{})}
	if p.OnWait != nil {
		j.enqueued = p.now()
	}
	select {
	case p.jobs <- j:
	default:
		return ErrBusy
	}
	var err error
	select {
	case <-j.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-p.quit:
		err = ErrClosed
	}
	if err != nil && j.state.CompareAndSwap(queued, abandoned) {
		return err
	}
	<-j.done // a worker had already started fn
	if p.OnWait != nil {
		p.OnWait(j.started.Sub(j.enqueued))
	}
	return nil
}

// QueueDepth returns how many calls are waiting for a worker, including any
// abandoned by their caller and not yet skipped.
func (p *Pool) QueueDepth() int { return len(p.jobs) }

// Close stops the workers once their current fn returns; calls still queued,
// and any later ones, get ErrClosed. It waits for the workers to exit and is
// safe to call more than once.
func (p *Pool) Close() {
	p.closeOnce.Do(func() { close(p.quit) })
	p.workers.Wait()
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

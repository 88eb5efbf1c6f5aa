package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ranger is a piece of work over an index range; the CPU kernels implement
// it on preallocated job structs so that dispatching work allocates nothing.
type ranger interface{ run(lo, hi int) }

type task struct {
	r      ranger
	lo, hi int
}

// spinFor is how long an idle worker keeps polling for the next task, and
// how long do polls for its workers to finish, before either goes to sleep.
// A training step hands the workers a few dozen kernels in quick
// succession; waking a sleeping goroutine takes several microseconds each
// time, polling a channel a few nanoseconds.
const spinFor = 50 * time.Microsecond

// pool is a fixed set of worker goroutines. do splits [0, n) into one chunk
// per worker, runs the first chunk on the calling goroutine and waits for
// the others.
type pool struct {
	workers int
	tasks   chan task
	sync    *completion
	stop    *stopper
}

// completion counts the chunks of one do call still running; the worker
// that finishes the last one signals done (buffered, so it never blocks).
type completion struct {
	pending atomic.Int64
	done    chan struct{}
}

func (c *completion) finish() {
	if c.pending.Add(-1) == 0 {
		c.done <- struct{}{}
	}
}

// stopper closes the task channel once. The workers hold only the channel
// and the completion, never the pool, so a pool nobody closed can still
// become unreachable; a cleanup then stops its workers.
type stopper struct {
	once  sync.Once
	tasks chan task
}

func (s *stopper) close() {
	s.once.Do(func() {
		if s.tasks != nil {
			close(s.tasks)
		}
	})
}

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1), sync: &completion{done: make(chan struct{}, 1)}}
	if p.workers > 1 {
		p.tasks = make(chan task, p.workers)
		for i := 1; i < p.workers; i++ {
			go loop(p.tasks, p.sync)
		}
	}
	p.stop = &stopper{tasks: p.tasks}
	runtime.AddCleanup(p, func(s *stopper) { s.close() }, p.stop)
	return p
}

func loop(tasks chan task, c *completion) {
	for {
		t, ok := next(tasks)
		if !ok {
			return
		}
		t.r.run(t.lo, t.hi)
		c.finish()
	}
}

// next returns the next task, polling for up to spinFor before it blocks;
// ok is false once the channel is closed.
func next(tasks chan task) (t task, ok bool) {
	var start time.Time
	for i := 0; ; i++ {
		select {
		case t, ok = <-tasks:
			return t, ok
		default:
		}
		if i%64 == 0 {
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				break
			}
		}
		runtime.Gosched()
	}
	t, ok = <-tasks
	return t, ok
}

// do runs r over [0, n) in up to p.workers chunks (one when parallel is
// false or n is too small to split).
func (p *pool) do(n int, r ranger, parallel bool) {
	w := p.workers
	if !parallel || w == 1 || n < 2 {
		r.run(0, n)
		return
	}
	w = min(w, n)
	chunk := (n + w - 1) / w
	c := p.sync
	// The calling goroutine's own chunk counts too, so done is signalled
	// exactly once per call, by whoever finishes last.
	c.pending.Store(int64(w))
	for i := 1; i < w; i++ {
		lo := i * chunk
		hi := min(lo+chunk, n)
		if lo >= hi {
			c.finish()
			continue
		}
		p.tasks <- task{r: r, lo: lo, hi: hi}
	}
	r.run(0, min(chunk, n))
	c.finish()
	var start time.Time
	for i := 0; ; i++ {
		select {
		case <-c.done:
			return
		default:
		}
		if i%64 == 0 {
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				break
			}
		}
		runtime.Gosched()
	}
	<-c.done
}

func (p *pool) close() { p.stop.close() }

// chunk returns the chunk length do uses for n elements.
func (p *pool) chunk(n int, parallel bool) int {
	w := p.workers
	if !parallel || w == 1 || n < 2 {
		return max(n, 1)
	}
	w = min(w, n)
	return (n + w - 1) / w
}

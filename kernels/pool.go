package kernels

import (
	"runtime"
	"sync"
)

// ranger is a piece of work over an index range; the CPU kernels implement
// it on preallocated job structs so that dispatching work allocates nothing.
type ranger interface{ run(lo, hi int) }

type task struct {
	r      ranger
	lo, hi int
}

// pool is a fixed set of worker goroutines. do splits [0, n) into one chunk
// per worker, runs the first chunk on the calling goroutine and waits for
// the others.
type pool struct {
	workers int
	tasks   chan task
	wg      *sync.WaitGroup
	stop    *stopper
}

// stopper closes the task channel once. The workers hold only the channel
// and the wait group, never the pool, so a pool nobody closed can still
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
	p := &pool{workers: max(workers, 1), wg: new(sync.WaitGroup)}
	if p.workers > 1 {
		p.tasks = make(chan task, p.workers)
		for i := 1; i < p.workers; i++ {
			go loop(p.tasks, p.wg)
		}
	}
	p.stop = &stopper{tasks: p.tasks}
	runtime.AddCleanup(p, func(s *stopper) { s.close() }, p.stop)
	return p
}

func loop(tasks chan task, wg *sync.WaitGroup) {
	for t := range tasks {
		t.r.run(t.lo, t.hi)
		wg.Done()
	}
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
	p.wg.Add(w - 1)
	for i := 1; i < w; i++ {
		lo := i * chunk
		hi := min(lo+chunk, n)
		if lo >= hi {
			p.wg.Done()
			continue
		}
		p.tasks <- task{r: r, lo: lo, hi: hi}
	}
	r.run(0, min(chunk, n))
	p.wg.Wait()
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

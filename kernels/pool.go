package kernels

import "sync"

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
	wg      sync.WaitGroup
	once    sync.Once
}

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1)}
	if p.workers > 1 {
		p.tasks = make(chan task, p.workers)
		for i := 1; i < p.workers; i++ {
			go p.loop()
		}
	}
	return p
}

func (p *pool) loop() {
	for t := range p.tasks {
		t.r.run(t.lo, t.hi)
		p.wg.Done()
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

func (p *pool) close() {
	p.once.Do(func() {
		if p.tasks != nil {
			close(p.tasks)
		}
	})
}

// chunk returns the chunk length do uses for n elements.
func (p *pool) chunk(n int, parallel bool) int {
	w := p.workers
	if !parallel || w == 1 || n < 2 {
		return max(n, 1)
	}
	w = min(w, n)
	return (n + w - 1) / w
}

// Package harness builds the workloads gradlab's benchmarks time and times
// them side by side: the MNIST MLP 784-512-512-10 (ReLU, cross-entropy,
// float32, batch 128) training step done three ways, its gradient and its
// exact Hessian–vector product. `go test -bench ./benchmarks` and
// `gradlab bench` both use it.
//
// Workloads are timed round-robin (one run of each in turn), so that a
// shared machine whose load changes slows every workload alike; the
// process's CPU time is recorded beside the wall time.
package harness

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"time"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
)

// Batch is the batch size of every workload.
const Batch = 128

// Sizes are the MLP's layer widths.
var Sizes = []int{784, 512, 512, 10}

// MNISTShaped returns n synthetic examples with MNIST's shapes (784 inputs
// in [0, 1), 10 classes): the cost of a step does not depend on the values.
func MNISTShaped(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	ds := &data.Dataset{Name: "mnist-shaped", X: make([]float32, n*784), Shape: []int{784}, Y: make([]int, n), Classes: 10}
	for i := range ds.X {
		ds.X[i] = rng.Float32()
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(10)
	}
	return ds
}

// Workload is one repeatable piece of work.
type Workload struct {
	Name string
	Run  func() error
	// Loss, when set, returns the loss the last run computed.
	Loss func() float64
	// Before, when set, runs before every run of the workload, untimed
	// (e.g. to set the BLAS thread count the workload is measured with).
	Before func()
	// Group names workloads that can be interleaved with each other without
	// disturbing one another (e.g. those that run OpenBLAS with the same
	// number of threads: threads that OpenBLAS left spinning after a
	// multi-threaded call would compete with a single-threaded workload for
	// cores). Measure runs one group at a time and lets the machine settle
	// between groups.
	Group string
	close []func() error
}

// Close releases the workload's programs.
func (w *Workload) Close() error {
	var first error
	for _, c := range w.close {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Step says how a training-step workload updates the parameters.
type Step int

const (
	// GradOnly computes loss and gradient, no update.
	GradOnly Step = iota
	// GradlabAdam updates with optim.Adam (the kernel set's fused Adam).
	GradlabAdam
	// GorgoniaAdam updates with gorgonia's own AdamSolver.
	GorgoniaAdam
)

// NewMLPStep returns the MLP's training step on the given backend: write a
// batch (a different one each run), compute loss and gradient, then update
// as step says (Adam, LR 1e-3, β = (0.9, 0.999), ε = 1e-8).
func NewMLPStep(name string, backend engine.Backend, step Step) (*Workload, error) {
	ds := MNISTShaped(4*Batch, 1)
	m, err := newMLP()
	if err != nil {
		return nil, err
	}
	obj, err := objective.Build(m, ds, Batch, objective.CrossEntropy, true)
	if err != nil {
		return nil, err
	}
	grads, err := autodiff.Grad(obj.Loss, obj.ParamNodes...)
	if err != nil {
		return nil, err
	}
	prog, err := engine.CompileWith(obj.G, engine.Options{Backend: backend}, append(gorgonia.Nodes{obj.Loss}, grads...)...)
	if err != nil {
		return nil, err
	}
	w := &Workload{Name: name, close: []func() error{prog.Close}}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		return nil, err
	}
	params := obj.Params.Values()
	gs := make([]*gt.Dense, len(grads))
	solver := gorgonia.NewAdamSolver(gorgonia.WithLearnRate(1e-3), gorgonia.WithBeta1(0.9), gorgonia.WithBeta2(0.999), gorgonia.WithEps(1e-8))
	model := make([]gorgonia.ValueGrad, len(params))
	for i := range model {
		model[i] = &valueGrad{v: params[i], g: &gs[i]}
	}
	idx := make([]int, Batch)
	it := 0
	var loss float64
	w.Loss = func() float64 { return loss }
	w.Run = func() error {
		for i := range idx {
			idx[i] = (it*Batch + i) % ds.Len()
		}
		it++
		if err := obj.Fill(ds, idx); err != nil {
			return err
		}
		if err := prog.Run(); err != nil {
			return err
		}
		if loss, err = prog.Scalar(0); err != nil {
			return err
		}
		for i := range gs {
			if gs[i], err = prog.Dense(i + 1); err != nil {
				return err
			}
		}
		switch step {
		case GradlabAdam:
			return opt.Step(params, gs)
		case GorgoniaAdam:
			return solver.Step(model)
		}
		return nil
	}
	return w, nil
}

// valueGrad pairs a parameter with the slot its gradient is read into, for
// gorgonia's solvers.
type valueGrad struct {
	v *gt.Dense
	g **gt.Dense
}

func (p *valueGrad) Value() gorgonia.Value         { return p.v }
func (p *valueGrad) Grad() (gorgonia.Value, error) { return *p.g, nil }

// NewMLPHVP returns one exact Hessian–vector product of the MLP's batch
// loss (curvature.HessianOperator.Apply: float64 probe in, product out).
func NewMLPHVP(name string) (*Workload, error) {
	ds := MNISTShaped(Batch, 3)
	m, err := newMLP()
	if err != nil {
		return nil, err
	}
	op, err := curvature.NewHessianOperator(m, ds, curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true, Chunk: Batch})
	if err != nil {
		return nil, err
	}
	v := make([]float64, op.Dim())
	curvature.Gaussian.Fill(rand.New(rand.NewPCG(5, 6)), v)
	hv := make([]float64, op.Dim())
	return &Workload{Name: name, Run: func() error { return op.Apply(hv, v) }, close: []func() error{op.Close}}, nil
}

// Stats are a workload's measurements.
type Stats struct {
	Name string
	Reps int
	// Wall and CPU are medians per run; CPU is the process's user+system
	// time over all threads (BLAS threads and garbage collection included).
	Wall, CPU time.Duration
	// AllocsPerRun and BytesPerRun are heap allocations per run.
	AllocsPerRun, BytesPerRun float64
}

// settle is the pause between groups of workloads in Measure: longer than
// OpenBLAS's worker threads busy-wait for the next call before they sleep
// (2^28 cycles by default, ≈ 0.1 s).
const settle = 300 * time.Millisecond

// Measure runs every workload warmup times, then reps times in turn
// (round-robin within each Group, the groups one after the other in up to
// ten rounds), then counts allocations over ten more runs of each.
func Measure(ws []*Workload, warmup, reps int) ([]Stats, error) {
	return MeasureSettled(ws, warmup, reps, settle)
}

// MeasureSettled is Measure with the given pause between groups.
func MeasureSettled(ws []*Workload, warmup, reps int, pause time.Duration) ([]Stats, error) {
	if reps < 1 {
		return nil, fmt.Errorf("harness: reps %d < 1", reps)
	}
	before := func(w *Workload) {
		if w.Before != nil {
			w.Before()
		}
	}
	for _, w := range ws {
		for range warmup {
			before(w)
			if err := w.Run(); err != nil {
				return nil, fmt.Errorf("harness: %s: %w", w.Name, err)
			}
		}
	}
	wall := make([][]time.Duration, len(ws))
	cpu := make([][]time.Duration, len(ws))
	var groups [][]int // workload indices by group, in order of appearance
	seen := map[string]int{}
	for i, w := range ws {
		g, ok := seen[w.Group]
		if !ok {
			g = len(groups)
			seen[w.Group] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	// Rounds: each group in turn runs its share of the repetitions
	// round-robin, so that a changing machine load reaches every group.
	rounds := 1
	if len(groups) > 1 {
		rounds = min(reps, 10)
	}
	done := 0
	for r := range rounds {
		n := (reps*(r+1))/rounds - done
		done += n
		for _, g := range groups {
			if len(groups) > 1 {
				time.Sleep(pause)
			}
			for range n {
				for _, i := range g {
					w := ws[i]
					before(w)
					c0, t0 := CPUTime(), time.Now()
					if err := w.Run(); err != nil {
						return nil, fmt.Errorf("harness: %s: %w", w.Name, err)
					}
					wall[i] = append(wall[i], time.Since(t0))
					cpu[i] = append(cpu[i], CPUTime()-c0)
				}
			}
		}
	}
	out := make([]Stats, len(ws))
	for i, w := range ws {
		// Each workload's own allocations: collect the others' garbage
		// first, then run it twice untimed (a collection empties some of
		// the runtime's caches, which the first runs refill), then count.
		var m0, m1 runtime.MemStats
		const n = 10
		before(w)
		runtime.GC()
		for range 2 {
			if err := w.Run(); err != nil {
				return nil, fmt.Errorf("harness: %s: %w", w.Name, err)
			}
		}
		runtime.ReadMemStats(&m0)
		for range n {
			if err := w.Run(); err != nil {
				return nil, fmt.Errorf("harness: %s: %w", w.Name, err)
			}
		}
		runtime.ReadMemStats(&m1)
		out[i] = Stats{Name: w.Name, Reps: reps, Wall: median(wall[i]), CPU: median(cpu[i]),
			AllocsPerRun: float64(m1.Mallocs-m0.Mallocs) / n, BytesPerRun: float64(m1.TotalAlloc-m0.TotalAlloc) / n}
	}
	return out, nil
}

// CPUTime returns the process's user+system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(x []time.Duration) time.Duration {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

package benchmarks

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mnistShaped is a synthetic dataset with MNIST's shapes (784 inputs in
// [0, 1), 10 classes): the step's cost does not depend on the pixel values.
func mnistShaped(n int) *data.Dataset {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := &data.Dataset{Name: "mnist-shaped", X: make([]float32, n*784), Shape: []int{784}, Y: make([]int, n), Classes: 10}
	for i := range ds.X {
		ds.X[i] = rng.Float32()
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(10)
	}
	return ds
}

// BenchmarkEngineMLPTrainStep times one training step of the MNIST MLP
// 784-512-512-10 (ReLU, batch 128, float32, cross-entropy): writing the
// batch, loss and gradient, and an Adam update. Three ways, all on the
// same graph (gradlab's reverse mode) and the same OpenBLAS GEMMs:
//
//   - gorgonia: the step as gorgonia ships it, the TapeMachine followed by
//     gorgonia's own AdamSolver;
//   - tape: the TapeMachine followed by gradlab's Adam (optim.Adam, one
//     fused multi-core pass per tensor through the kernel set);
//   - native: the compiled engine followed by gradlab's Adam.
//
// Compare cpu-ns/op as well as ns/op on a shared machine, and
// OPENBLAS_NUM_THREADS=1 GOMAXPROCS=1 for the work alone:
//
//	go test -run NONE -bench EngineMLP -benchtime 40x -count 6 ./benchmarks
func BenchmarkEngineMLPTrainStep(b *testing.B) { benchMLP(b, true) }

// BenchmarkEngineMLPGrad is BenchmarkEngineMLPTrainStep without the
// optimizer: writing the batch, then loss and gradient (the program's own
// work).
func BenchmarkEngineMLPGrad(b *testing.B) { benchMLP(b, false) }

func benchMLP(b *testing.B, withOpt bool) {
	openblas.Enable()
	b.Logf("BLAS: %s", openblas.Name())
	type variant struct {
		name        string
		backend     engine.Backend
		gorgoniaOpt bool
	}
	variants := []variant{{"tape", engine.Tape, false}, {"native", engine.Native, false}}
	if withOpt {
		variants = append([]variant{{"gorgonia", engine.Tape, true}}, variants...)
	}
	for _, vr := range variants {
		backend := vr.backend
		b.Run(vr.name, func(b *testing.B) {
			const batch = 128
			ds := mnistShaped(4 * batch)
			act, err := nn.ParseActivation("relu")
			if err != nil {
				b.Fatal(err)
			}
			m, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{784, 512, 512, 10}, act, tensor.HeNormal(1))
			if err != nil {
				b.Fatal(err)
			}
			obj, err := objective.Build(m, ds, batch, objective.CrossEntropy, true)
			if err != nil {
				b.Fatal(err)
			}
			grads, err := autodiff.Grad(obj.Loss, obj.ParamNodes...)
			if err != nil {
				b.Fatal(err)
			}
			prog, err := engine.CompileWith(obj.G, engine.Options{Backend: backend}, append(gorgonia.Nodes{obj.Loss}, grads...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer prog.Close()
			opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
			if err != nil {
				b.Fatal(err)
			}
			params := obj.Params.Values()
			gs := make([]*gt.Dense, len(grads))
			// gorgonia's solver reads each parameter and its gradient
			// through ValueGrad; the gradients are the program's outputs.
			solver := gorgonia.NewAdamSolver(gorgonia.WithLearnRate(1e-3), gorgonia.WithBeta1(0.9), gorgonia.WithBeta2(0.999), gorgonia.WithEps(1e-8))
			model := make([]gorgonia.ValueGrad, len(params))
			for i := range model {
				model[i] = &valueGrad{v: params[i], g: &gs[i]}
			}
			idx := make([]int, batch)
			step := func(it int) {
				for i := range idx {
					idx[i] = (it*batch + i) % ds.Len()
				}
				if err := obj.Fill(ds, idx); err != nil {
					b.Fatal(err)
				}
				if err := prog.Run(); err != nil {
					b.Fatal(err)
				}
				for i := range gs {
					if gs[i], err = prog.Dense(i + 1); err != nil {
						b.Fatal(err)
					}
				}
				if !withOpt {
					return
				}
				if vr.gorgoniaOpt {
					if err := solver.Step(model); err != nil {
						b.Fatal(err)
					}
					return
				}
				if err := opt.Step(params, gs); err != nil {
					b.Fatal(err)
				}
			}
			step(0)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for it := 0; it < b.N; it++ {
				step(it)
			}
			// On a shared machine wall time mostly measures the neighbours;
			// the process's CPU time (all threads, GC and OpenBLAS included)
			// measures the work.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// valueGrad pairs a parameter with the slot its gradient is read into, for
// gorgonia's solvers.
type valueGrad struct {
	v *gt.Dense
	g **gt.Dense
}

func (p *valueGrad) Value() gorgonia.Value         { return p.v }
func (p *valueGrad) Grad() (gorgonia.Value, error) { return *p.g, nil }

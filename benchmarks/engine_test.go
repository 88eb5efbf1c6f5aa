package benchmarks

import (
	"testing"

	"github.com/gradlab/gradlab/benchmarks/harness"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/internal/openblas"
)

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
// OPENBLAS_NUM_THREADS=1 GOMAXPROCS=1 for the work alone; `gradlab bench`
// times the same workloads round-robin, with PyTorch beside them:
//
//	go test -run NONE -bench EngineMLP -benchtime 40x -count 6 ./benchmarks
func BenchmarkEngineMLPTrainStep(b *testing.B) {
	benchMLP(b, []mlpVariant{{"gorgonia", engine.Tape, harness.GorgoniaAdam},
		{"tape", engine.Tape, harness.GradlabAdam}, {"native", engine.Native, harness.GradlabAdam}})
}

// BenchmarkEngineMLPGrad is BenchmarkEngineMLPTrainStep without the
// optimizer: writing the batch, then loss and gradient (the program's own
// work).
func BenchmarkEngineMLPGrad(b *testing.B) {
	benchMLP(b, []mlpVariant{{"tape", engine.Tape, harness.GradOnly}, {"native", engine.Native, harness.GradOnly}})
}

type mlpVariant struct {
	name    string
	backend engine.Backend
	step    harness.Step
}

func benchMLP(b *testing.B, variants []mlpVariant) {
	b.Logf("BLAS: %s", openblas.Name())
	for _, vr := range variants {
		b.Run(vr.name, func(b *testing.B) {
			w, err := harness.NewMLPStep(vr.name, vr.backend, vr.step)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			if err := w.Run(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := harness.CPUTime()
			for range b.N {
				if err := w.Run(); err != nil {
					b.Fatal(err)
				}
			}
			// On a shared machine wall time mostly measures the neighbours;
			// the process's CPU time (all threads, GC and OpenBLAS included)
			// measures the work.
			b.ReportMetric(float64((harness.CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

package benchmarks

import (
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/benchmarks/harness"
	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
)

// TestMain selects OpenBLAS for every benchmark of the package, as the
// gradlab command does.
func TestMain(m *testing.M) {
	openblas.Enable()
	os.Exit(m.Run())
}

// BenchmarkHVPOverGrad measures the cost of one exact Hessian–vector
// product (curvature.HessianOperator.Apply: double backprop, float64 probe
// in and product out) against one loss-and-gradient evaluation
// (train.GradProgram.Run) on the MNIST MLP 784-512-512-10 (ReLU,
// cross-entropy), batch 128, float32. The two are timed alternately, so a
// machine whose load changes affects both alike; the reported times are
// medians and hvp/grad is their ratio. benchmarks/peer/mlp_torch.py
// measures the same ratio with PyTorch.
func BenchmarkHVPOverGrad(b *testing.B) {
	const batch = 128
	ds := harness.MNISTShaped(batch, 3)
	act, err := nn.ParseActivation("relu")
	if err != nil {
		b.Fatal(err)
	}
	m, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{784, 512, 512, 10}, act, tensor.KaimingUniform())
	if err != nil {
		b.Fatal(err)
	}
	gp, err := train.NewGradProgram(m, ds, batch, objective.CrossEntropy, true)
	if err != nil {
		b.Fatal(err)
	}
	defer gp.Close()
	op, err := curvature.NewHessianOperator(m, ds, curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true, Chunk: batch})
	if err != nil {
		b.Fatal(err)
	}
	defer op.Close()
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	v := make([]float64, op.Dim())
	curvature.Gaussian.Fill(rand.New(rand.NewPCG(5, 6)), v)
	hv := make([]float64, op.Dim())
	grad := func() {
		if _, _, err := gp.Run(ds, idx); err != nil {
			b.Fatal(err)
		}
	}
	hvp := func() {
		if err := op.Apply(hv, v); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ { // warm up both programs
		grad()
		hvp()
	}
	b.ReportAllocs()
	b.ResetTimer()
	tg := make([]float64, 0, b.N)
	th := make([]float64, 0, b.N)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		grad()
		t1 := time.Now()
		hvp()
		t2 := time.Now()
		tg = append(tg, t1.Sub(t0).Seconds())
		th = append(th, t2.Sub(t1).Seconds())
	}
	b.StopTimer()
	mg, mh := medianOf(tg), medianOf(th)
	b.ReportMetric(mg*1e3, "grad-ms")
	b.ReportMetric(mh*1e3, "hvp-ms")
	b.ReportMetric(mh/mg, "hvp/grad")
	b.Logf("BLAS %s, %d parameters: gradient %.2f ms, HVP %.2f ms (medians of %d), ratio %.2f", openblas.Name(), op.Dim(), mg*1e3, mh*1e3, b.N, mh/mg)
}

func medianOf(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

package engine_test

import (
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/conformance"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// TestTrainingStepDoesNotAllocate runs a compiled loss-and-gradient program
// and an Adam step repeatedly and requires zero allocations per step once
// warmed up. (Writing a new batch is the objective package's business and
// is left out.)
func TestTrainingStepDoesNotAllocate(t *testing.T) {
	openblas.Enable()
	if openblas.Name() != "openblas" {
		t.Skip("gonum's pure-Go GEMM allocates when it runs in parallel; this build has no OpenBLAS")
	}
	ds, err := data.GaussianMixture(4, 2, 40, 2, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	act, err := nn.ParseActivation("relu")
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{2, 256, 256, 4}, act, tensor.HeNormal(1))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := objective.Build(m, ds, 128, objective.CrossEntropy, true)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := autodiff.Grad(obj.Loss, obj.ParamNodes...)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := engine.Compile(obj.G, append(gorgonia.Nodes{obj.Loss}, grads...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if prog.Backend() == "tape" {
		t.Fatalf("fell back to the tape: %s", prog.Fallback())
	}
	idx := make([]int, 128)
	for i := range idx {
		idx[i] = i
	}
	if err := obj.Fill(ds, idx); err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	params := obj.Params.Values()
	gs := make([]*gt.Dense, len(grads))
	var loss float64
	step := func() {
		if err := prog.Run(); err != nil {
			t.Fatal(err)
		}
		l, err := prog.Scalar(0)
		if err != nil {
			t.Fatal(err)
		}
		loss = l
		for i := range gs {
			if gs[i], err = prog.Dense(i + 1); err != nil {
				t.Fatal(err)
			}
		}
		if err := opt.Step(params, gs); err != nil {
			t.Fatal(err)
		}
	}
	step() // optimizer state is created on the first step
	first := loss
	if a := testing.AllocsPerRun(50, step); a != 0 {
		t.Errorf("%v allocations per training step, want 0", a)
	}
	if !(loss < first) {
		t.Errorf("loss went from %v to %v over 50 Adam steps on one batch", first, loss)
	}
}

// TestCPUConformanceWithOpenBLAS runs the kernel conformance suite on the
// CPU set configured as the engine configures it (gorgonia's BLAS, which
// is OpenBLAS after openblas.Enable).
func TestCPUConformanceWithOpenBLAS(t *testing.T) {
	openblas.Enable()
	s32 := kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS(), Workers: 2, MinParallel: 1000})
	defer s32.Close()
	s64 := kernels.NewCPU[float64](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS(), Workers: 2})
	defer s64.Close()
	t.Run(s32.Name()+"/"+openblas.Name(), func(t *testing.T) { conformance.Run[float32](t, s32) })
	t.Run(s64.Name()+"/"+openblas.Name(), func(t *testing.T) { conformance.Run[float64](t, s64) })
}

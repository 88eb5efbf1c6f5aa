//go:build gradlabcuda

package engine_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels/cuda"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// TestCUDAMatchesTape runs MLP loss, gradients and HVPs through the engine
// on the CUDA kernel set and compares with the TapeMachine on the CPU
// (built with -tags gradlabcuda; needs a GPU).
func TestCUDAMatchesTape(t *testing.T) {
	ds, err := data.GaussianMixture(3, 2, 40, 2, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		for _, act := range []string{"relu", "tanh"} {
			t.Run(fmt.Sprintf("%v/%s", dt, act), func(t *testing.T) {
				a, _ := nn.ParseActivation(act)
				m, err := nn.NewMLP(tensor.NewRNG(3, 1), dt, []int{2, 64, 32, 3}, a, tensor.HeNormal(1))
				if err != nil {
					t.Fatal(err)
				}
				o, err := objective.Build(m, ds, 32, objective.CrossEntropy, true)
				if err != nil {
					t.Fatal(err)
				}
				probe, err := autodiff.NewProbe(o.G, o.ParamNodes)
				if err != nil {
					t.Fatal(err)
				}
				grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
				if err != nil {
					t.Fatal(err)
				}
				hv, err := autodiff.HVP(o.Loss, o.ParamNodes, probe)
				if err != nil {
					t.Fatal(err)
				}
				outs := append(append(gorgonia.Nodes{o.Loss, o.Output}, grads...), hv...)
				nat, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native, Set32: s32, Set64: s64}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer nat.Close()
				tp, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Tape}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer tp.Close()
				rng := rand.New(rand.NewPCG(5, 6))
				for step := 0; step < 3; step++ {
					idx := make([]int, 32)
					for i := range idx {
						idx[i] = rng.IntN(ds.Len())
					}
					if err := o.Fill(ds, idx); err != nil {
						t.Fatal(err)
					}
					for _, p := range probe {
						randomize(p.Value().(*gt.Dense), rng, 1)
					}
					compare(t, fmt.Sprintf("step %d", step), nat, tp, len(outs), tolerance(dt))
				}
			})
		}
	}
}

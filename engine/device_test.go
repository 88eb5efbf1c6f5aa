package engine_test

import (
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// device hides the CPU set's concrete type, so the engine treats it as a
// device whose memory it cannot alias: inputs are uploaded and outputs
// downloaded on every run, as with the CUDA set.
type device struct{ kernels.Set[float64] }

// TestDeviceSetMatchesTape runs an MLP's loss, gradient and HVP through
// the engine's device path (uploads and downloads) and compares with the
// TapeMachine over batches written in place.
func TestDeviceSetMatchesTape(t *testing.T) {
	ds, err := data.GaussianMixture(3, 2, 20, 2, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(2, 1), gt.Float64, []int{2, 6, 3}, act, tensor.HeNormal(1))
	if err != nil {
		t.Fatal(err)
	}
	o, err := objective.Build(m, ds, 7, objective.CrossEntropy, true)
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
	outs := append(append(gorgonia.Nodes{o.Loss}, grads...), hv...)
	set := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1})
	defer set.Close()
	nat, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native, Set64: device{set}}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	if nat.Backend() != "cpu/float64" {
		t.Errorf("backend %q", nat.Backend())
	}
	tp, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Tape}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	for step := 0; step < 3; step++ {
		idx := []int{step, step + 3, step + 7, step + 11, step + 13, step + 17, step + 19}
		if err := o.Fill(ds, idx); err != nil {
			t.Fatal(err)
		}
		for i, p := range probe {
			d := p.Value().(*gt.Dense).Float64s()
			for j := range d {
				d[j] = float64((i+j+step)%5) - 2
			}
		}
		compare(t, "device path", nat, tp, len(outs), 1e-10)
	}
}

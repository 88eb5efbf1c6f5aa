package engine_test

import (
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
)

// device hides the CPU set's concrete type, so the engine treats it as a
// device whose memory it cannot alias: inputs are uploaded and outputs
// downloaded on every run, as with the CUDA set.
type device struct{ kernels.Set[float64] }

// TestDeviceSetMatchesTape runs an MLP's loss, gradient and HVP through
// the engine's device path (uploads and downloads) and compares with the
// TapeMachine over batches written in place.
func TestDeviceSetMatchesTape(t *testing.T) {
	r := newResidentMLP(t)
	ds, o, grads := r.ds, r.obj, r.grads
	probe, err := autodiff.NewProbe(o.G, o.ParamNodes)
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

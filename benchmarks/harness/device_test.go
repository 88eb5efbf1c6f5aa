package harness

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/objective"
)

// standIn is the CPU kernel set behind another type, so that the engine
// treats it as a device (uploads, downloads, resident buffers).
type standIn struct{ kernels.Set[float32] }

// TestDeviceWorkloadsMatchHost runs the device workloads on a stand-in
// device and compares them with the host workloads: the training step's
// losses over four steps equal those of the engine with optim.Adam on the
// host bit for bit, and the HVP's Rayleigh quotient vᵀHv equals the host
// operator's to float32 rounding.
func TestDeviceWorkloadsMatchHost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four MLP programs")
	}
	set := standIn{kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})}
	defer set.Close()
	dev, err := NewMLPDeviceStep("step/device", set, GradlabAdam)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	host, err := NewMLPStep("step/host", engine.Native, GradlabAdam)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	for i := range 4 {
		if err := dev.Run(); err != nil {
			t.Fatal(err)
		}
		if err := host.Run(); err != nil {
			t.Fatal(err)
		}
		if dev.Loss() != host.Loss() {
			t.Fatalf("step %d: device loss %v, host %v", i, dev.Loss(), host.Loss())
		}
	}
	if _, err := NewMLPDeviceStep("x", set, GorgoniaAdam); err == nil {
		t.Error("gorgonia's solver accepted on a device")
	}

	hv, err := NewMLPDeviceHVP("hvp/device", set)
	if err != nil {
		t.Fatal(err)
	}
	defer hv.Close()
	if err := hv.Run(); err != nil {
		t.Fatal(err)
	}
	m, err := newMLP()
	if err != nil {
		t.Fatal(err)
	}
	op, err := curvature.NewHessianOperator(m, MNISTShaped(Batch, 3), curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true, Chunk: Batch})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	v := make([]float64, op.Dim())
	curvature.Gaussian.Fill(rand.New(rand.NewPCG(5, 6)), v)
	for i := range v {
		v[i] = float64(float32(v[i])) // the device probe is float32
	}
	w := make([]float64, len(v))
	if err := op.Apply(w, v); err != nil {
		t.Fatal(err)
	}
	var want float64
	for i := range v {
		want += v[i] * w[i]
	}
	if got := hv.Loss(); math.Abs(got-want) > 1e-4*math.Abs(want) || want == 0 {
		t.Fatalf("vᵀHv on the device %v, host %v", got, want)
	}
}

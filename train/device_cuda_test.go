//go:build gradlabcuda

package train

import (
	"context"
	"math"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels/cuda"
)

// TestCUDATrainingMatchesHost trains the small MLP of newRun on the GPU
// (parameters, gradients and Adam's moments resident on the CUDA sets) and
// on the host. The GPU sums in another order, so the trajectories agree to
// rounding: float64 to 1e-9 and float32 to 1e-3 relative in the final
// training loss and parameters. Runs only in the GPU check.
func TestCUDATrainingMatchesHost(t *testing.T) {
	s32, err := cuda.New[float32](0)
	if err != nil {
		t.Fatal(err)
	}
	defer s32.Close()
	s64, err := cuda.New[float64](0)
	if err != nil {
		t.Fatal(err)
	}
	defer s64.Close()
	for _, c := range []struct {
		dt  gt.Dtype
		tol float64
	}{{gt.Float64, 1e-9}, {gt.Float32, 1e-3}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			trh, mh := newRun(t, c.dt, t.TempDir(), false)
			trd, md := newRun(t, c.dt, t.TempDir(), false)
			trd.o.Device = &Device{Set32: s32, Set64: s64}
			rh, err := trh.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rd, err := trd.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rh.Steps != rd.Steps {
				t.Fatalf("steps: host %d, GPU %d", rh.Steps, rd.Steps)
			}
			if d := math.Abs(rh.TrainLoss-rd.TrainLoss) / math.Abs(rh.TrainLoss); !(d <= c.tol) {
				t.Errorf("final training loss: host %v, GPU %v (relative difference %.2g)", rh.TrainLoss, rd.TrainLoss, d)
			}
			ph, pd := mh.Params().Values().Flatten(nil), md.Params().Values().Flatten(nil)
			var num, den float64
			for i := range ph {
				num = math.Max(num, math.Abs(ph[i]-pd[i]))
				den = math.Max(den, math.Abs(ph[i]))
			}
			if !(num <= c.tol*den) {
				t.Errorf("parameters: max difference %.3g of max magnitude %.3g", num, den)
			}
			t.Logf("%v: host loss %v, GPU loss %v, parameter difference %.3g", c.dt, rh.TrainLoss, rd.TrainLoss, num/den)
		})
	}
}

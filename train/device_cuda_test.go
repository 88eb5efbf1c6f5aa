//go:build gradlabcuda

package train

import (
	"context"
	"math"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/kernels/cuda"
	"github.com/gradlab/gradlab/tensor"
)

// TestCUDATrainingMatchesHost trains the small MLP of newRun on the GPU
// (parameters, gradients and Adam's moments resident on the CUDA sets) and
// on the host. The GPU sums in another order, so the trajectories agree to
// rounding: float64 to 1e-9 and float32 to 1e-3 relative in the final
// training loss and parameters. Runs only in the GPU check.
func TestCUDATrainingMatchesHost(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
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

// TestCUDAProbesMatchHost trains with the λ₁ (Lanczos and power
// iteration) and trace probes of probeRun on the GPU, the probes attached
// to the device step (Hessian–vector products, eigensolvers and trace
// probes on the GPU over the resident parameters), and on the host. The
// GPU sums in another order, so the logged values agree to rounding
// (float64: 1e-7 relative, the residual on the scale of λ₁), and the
// probes never saw downloaded parameters. Runs only in the GPU check.
func TestCUDAProbesMatchHost(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	for _, method := range []curvature.EigenMethod{curvature.LanczosMethod, curvature.PowerMethod} {
		t.Run(method.String(), func(t *testing.T) {
			dh, dd := t.TempDir(), t.TempDir()
			probeRun(t, nil, dh, method, gt.Float64)
			_, s1, s2 := probeRun(t, &Device{Set32: s32, Set64: s64}, dd, method, gt.Float64)
			if s1.calls == 0 || s1.stale != s1.calls || s2.stale != s2.calls {
				t.Errorf("GPU measurements saw downloaded parameters: λ₁ %d of %d, trace %d of %d", s1.stale, s1.calls, s2.stale, s2.calls)
			}
			host, gpu := readRecords(t, dh), readRecords(t, dd)
			if len(host) != len(gpu) {
				t.Fatalf("%d host records, %d GPU records", len(host), len(gpu))
			}
			var worst float64
			for i, h := range host {
				for _, k := range []string{"lambda_max", "probe_loss", "grad_norm", "param_norm_sq", "trace", "trace_se", "loss", "test_loss"} {
					w, ok := h[k]
					if !ok {
						continue
					}
					g := gpu[i][k]
					d := math.Abs(g-w) / math.Max(math.Abs(w), 1e-12)
					worst = math.Max(worst, d)
					if !(d <= 1e-7) {
						t.Errorf("record %d: %s GPU %.12g, host %.12g", i, k, g, w)
					}
				}
			}
			t.Logf("%v: largest relative difference of the logged values %.3g", method, worst)
		})
	}
}

// TestCUDAResNetTrainingMatchesHost trains the batch-norm ResNet of
// resnetRun (convolutions, fused batch norm with running statistics,
// strided shortcut, Adam) on the GPU and on the host. The GPU sums in
// another order, so the runs agree to rounding: every logged training and
// test loss, and every parameter (running statistics included) relative to
// the largest magnitude of its tensor, to 1e-9 in float64 and 1e-3 in
// float32 (12 steps of Adam, whose update divides by √v and so passes the
// relative rounding of each gradient element through unchanged; float32
// rounding of about 1e-6 per step stays far below 1e-3). Runs only in the
// GPU check.
func TestCUDAResNetTrainingMatchesHost(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	for _, c := range []struct {
		dt  gt.Dtype
		tol float64
	}{{gt.Float64, 1e-9}, {gt.Float32, 1e-3}} {
		t.Run(c.dt.String(), func(t *testing.T) {
			dh, dd := t.TempDir(), t.TempDir()
			mh := resnetRun(t, nil, dh, c.dt)
			md := resnetRun(t, &Device{Set32: s32, Set64: s64}, dd, c.dt)
			host, gpu := readRecords(t, dh), readRecords(t, dd)
			if len(host) != len(gpu) || len(host) == 0 {
				t.Fatalf("%d host records, %d GPU records", len(host), len(gpu))
			}
			var worstLoss, worstParam float64
			for i, h := range host {
				for _, k := range []string{"loss", "test_loss"} {
					w, ok := h[k]
					if !ok {
						continue
					}
					g, ok := gpu[i][k]
					if !ok {
						t.Fatalf("record %d: the GPU run has no %s", i, k)
					}
					d := math.Abs(g-w) / math.Max(math.Abs(w), 1e-12)
					worstLoss = math.Max(worstLoss, d)
					if !(d <= c.tol) {
						t.Errorf("record %d (step %v): %s GPU %.12g, host %.12g", i, h["step"], k, g, w)
					}
				}
			}
			for i, p := range mh.Params() {
				ph, pd := tensor.List{p.Value}.Flatten(nil), tensor.List{md.Params()[i].Value}.Flatten(nil)
				var num, den float64
				for j := range ph {
					num = math.Max(num, math.Abs(ph[j]-pd[j]))
					den = math.Max(den, math.Abs(ph[j]))
				}
				rel := num / math.Max(den, 1e-300)
				worstParam = math.Max(worstParam, rel)
				if !(rel <= c.tol) {
					t.Errorf("parameter %s: max difference %.3g of max magnitude %.3g", p.Name, num, den)
				}
			}
			t.Logf("%v: %d records; largest relative difference of the losses %.3g, of a parameter tensor %.3g", c.dt, len(host), worstLoss, worstParam)
		})
	}
}

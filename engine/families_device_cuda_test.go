package engine_test

// The model-family comparison on a device kernel set, shared by the
// stand-in test below (CPU sets behind a hidden type, every build) and by
// TestCUDAFamiliesMatchTape (families_cuda_test.go, -tags gradlabcuda).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
)

// deviceFamilyCases are familyCases plus the normalization networks of
// norm_test.go (a layer-norm MLP, fused and composed, and a conv net with
// fused training-mode batch norm), so that a device run covers every
// normalization kernel too.
func deviceFamilyCases() []familyCase {
	norm := func(mk func(rng *rand.Rand, dt gt.Dtype) (*normNet, error)) func(gt.Dtype) (familyBuilder, error) {
		return func(gt.Dtype) (familyBuilder, error) {
			return func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error) {
				nt, err := mk(rng, dt)
				if err != nil {
					return nil, err
				}
				return &familyGraph{g: nt.g, loss: nt.loss, wrt: nt.wrt, data: nt.data, extras: nt.extras}, nil
			}, nil
		}
	}
	return append(familyCases(),
		familyCase{"ln-mlp fused", norm(func(rng *rand.Rand, dt gt.Dtype) (*normNet, error) { return lnMLP(rng, dt, true, 6, 5, 7, 2, 3) }), nil},
		familyCase{"ln-mlp composed", norm(func(rng *rand.Rand, dt gt.Dtype) (*normNet, error) { return lnMLP(rng, dt, false, 6, 5, 7, 2, 3) }), nil},
		familyCase{"conv batch norm fused", norm(func(rng *rand.Rand, dt gt.Dtype) (*normNet, error) {
			return convBNNet(rng, dt, true, 3, 2, 5, 4, 2, 3)
		}), nil},
	)
}

// familiesOnSets compiles the loss, gradient and Hessian-vector product of
// every family of deviceFamilyCases on the kernel sets s32 and s64 and
// compares them with the TapeMachine on the host over several redrawn
// batches and probe vectors: each group (loss, gradient, HVP, other
// outputs) must agree to tol(dtype) relative to the tape's largest
// magnitude in the group (groupDiff). The program must run as kernel calls
// on the sets: no TapeMachine fallback and no op run through its Do method
// unless the case lists it. It logs the worst difference per group.
func familiesOnSets(t *testing.T, s32 kernels.Set[float32], s64 kernels.Set[float64], tol func(gt.Dtype) float64) {
	t.Helper()
	for _, fc := range deviceFamilyCases() {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("%s/%v", fc.name, dt), func(t *testing.T) {
				build, err := fc.make(dt)
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(43, 44))
				f, err := build(rng, dt)
				if err != nil {
					t.Fatal(err)
				}
				probe, err := autodiff.NewProbe(f.g, f.wrt)
				if err != nil {
					t.Fatal(err)
				}
				grads, err := autodiff.Grad(f.loss, f.wrt...)
				if err != nil {
					t.Fatal(err)
				}
				hv, err := autodiff.HVP(f.loss, f.wrt, probe)
				if err != nil {
					t.Fatal(err)
				}
				groups := []struct {
					name string
					outs gorgonia.Nodes
				}{{"loss", gorgonia.Nodes{f.loss}}, {"grad", grads}, {"hvp", hv}, {"other", f.extras}}
				var outs gorgonia.Nodes
				for _, gr := range groups {
					outs = append(outs, gr.outs...)
				}
				dev, err := engine.CompileWith(f.g, engine.Options{Backend: engine.Native, Set32: s32, Set64: s64, Logf: func(string, ...any) {}}, outs...)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				defer dev.Close()
				if dev.Backend() == "tape" || dev.Fallback() != "" {
					t.Fatalf("falls back to the tape: %s", dev.Fallback())
				}
				host := opNames(dev.HostOps())
				for _, h := range host {
					if !slices.Contains(fc.host, h) {
						t.Errorf("op %s runs through its Do method on the host, not as kernels", h)
					}
				}
				tp, err := engine.CompileWith(f.g, engine.Options{Backend: engine.Tape}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer tp.Close()
				limit := tol(dt)
				worst := make([]float64, len(groups))
				for step := 0; step < 3; step++ {
					if step > 0 {
						for _, d := range f.data {
							randomize(d, rng, 1)
						}
					}
					for _, p := range probe {
						randomize(p.Value().(*gt.Dense), rng, 1)
					}
					if err := dev.Run(); err != nil {
						t.Fatalf("device run: %v", err)
					}
					if err := tp.Run(); err != nil {
						t.Fatalf("tape run: %v", err)
					}
					i := 0
					for k, gr := range groups {
						rel, zero, err := groupDiff(t, dev, tp, i, len(gr.outs))
						if err != nil {
							t.Fatalf("%s: %v", gr.name, err)
						}
						worst[k] = math.Max(worst[k], rel)
						if math.IsNaN(rel) || rel > limit {
							t.Errorf("step %d, %s: max difference %.3g relative to the tape's largest magnitude (tolerance %.0e)", step, gr.name, rel, limit)
						}
						if zero && gr.name != "other" {
							t.Errorf("step %d, %s is all zeros on the tape: a vacuous comparison", step, gr.name)
						}
						i += len(gr.outs)
					}
				}
				t.Logf("%s: max relative difference vs tape: loss %.2g, grad %.2g, hvp %.2g, other %.2g",
					dev.Backend(), worst[0], worst[1], worst[2], worst[3])
			})
		}
	}
}

// hiddenSet hides a kernel set's concrete type, so that the engine treats
// it as a device whose memory it cannot alias (every input uploaded, every
// output downloaded, as with the CUDA sets).
type hiddenSet[T kernels.Float] struct{ kernels.Set[T] }

// TestFamiliesOnStandInDevice runs familiesOnSets on CPU sets behind a
// hidden type: the device path of the engine (uploads, downloads, resident
// buffers) on every model family, with the CPU tolerance of the native
// program, since the kernels are the host's.
func TestFamiliesOnStandInDevice(t *testing.T) {
	c32 := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 2})
	c64 := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 2})
	defer c32.Close()
	defer c64.Close()
	familiesOnSets(t, hiddenSet[float32]{c32}, hiddenSet[float64]{c64}, tolerance)
}

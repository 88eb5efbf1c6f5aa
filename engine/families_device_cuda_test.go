package engine_test

// The model-family comparison on a device kernel set, shared by the
// stand-in test below (CPU sets behind a hidden type, every build) and by
// TestCUDAFamiliesMatchTape (families_cuda_test.go, -tags gradlabcuda).

import (
	"math/rand/v2"
	"testing"

	gt "gorgonia.org/tensor"

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

// familiesOnSets runs compareFamilies over deviceFamilyCases on the
// kernel sets s32 and s64, three batches per family.
func familiesOnSets(t *testing.T, s32 kernels.Set[float32], s64 kernels.Set[float64], tol func(gt.Dtype) float64) {
	t.Helper()
	compareFamilies(t, deviceFamilyCases(), engine.Options{Backend: engine.Native, Set32: s32, Set64: s64}, 3, tol)
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

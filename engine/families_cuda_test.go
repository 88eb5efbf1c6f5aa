//go:build gradlabcuda

package engine_test

import (
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels/cuda"
)

// cudaFamilyTolerance is the relative agreement required between the CUDA
// sets and the TapeMachine on the host, per output group (loss, gradient,
// HVP, other) relative to the tape's largest magnitude in the group.
//
// The GPU computes the same expressions in another order: tree reductions
// and blocked GEMMs instead of sequential loops, scatter-adds in any order,
// and its own exp/log/tanh/erf (CUDA's libdevice, correct to a few ulps).
// Each of those moves a result by a few units of roundoff per summand, and
// the families here sum at most a few hundred terms per element through at
// most a handful of layers; the HVP is a second derivative through the same
// chain, and training-mode batch norm over 3 examples divides by small
// batch variances, which amplifies the rounding by a factor of order 10–100.
// With unit roundoff u (1.1e-16 in float64, 6e-8 in float32) that bounds
// the expected disagreement by about 1e4·u: 1e-12 and 6e-4. The tolerances
// keep a margin over that in float64 (1e-9: still six orders of magnitude
// below the O(1) error of a wrong index or a missing term) and sit at
// 1e-3 in float32 (TF32 is off: New does not enable it), where an indexing
// error still shows as O(1).
func cudaFamilyTolerance(dt gt.Dtype) float64 {
	if dt == gt.Float32 {
		return 1e-3
	}
	return 1e-9
}

// TestCUDAFamiliesMatchTape runs the loss, gradient and HVP of every model
// family (ResNet and VGG with batch norm in training and evaluation mode,
// GPT tied and untied with dropout, layer-norm MLPs, GANs, SimCLR, the
// small MLPs and linear nets) on the CUDA sets and compares with the
// TapeMachine on the host (built with -tags gradlabcuda; needs a GPU).
func TestCUDAFamiliesMatchTape(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	familiesOnSets(t, s32, s64, cudaFamilyTolerance)
}

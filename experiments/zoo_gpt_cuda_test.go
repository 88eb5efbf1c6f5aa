//go:build gradlabcuda

package experiments

import (
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels/cuda"
	"github.com/gradlab/gradlab/train"
)

// TestCUDAGPTTrainingMatchesHost is gptHostVsDevice on the GPU. The GPU
// sums in another order, so every logged training and validation loss
// agrees to rounding: 1e-9 relative in float64, 1e-3 in float32 (a dozen
// Adam steps pass the relative rounding of each gradient element, about
// 1e-6 in float32, into the update unchanged). Parameters are not compared
// element by element: the bias of an attention key map has a zero gradient
// in exact arithmetic, so Adam moves it by rounding-noise ratios that
// differ between the two runs, without any effect on the loss (softmax is
// invariant to it). Runs only in the GPU check.
func TestCUDAGPTTrainingMatchesHost(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	gptHostVsDevice(t, &train.Device{Set32: s32, Set64: s64}, func(dt gt.Dtype) float64 {
		if dt == gt.Float32 {
			return 1e-3
		}
		return 1e-9
	})
}

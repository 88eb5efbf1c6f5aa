package kernels_test

import (
	"testing"

	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/conformance"
)

func TestCPUConformance(t *testing.T) {
	for _, workers := range []int{1, 3} {
		s64 := kernels.NewCPU[float64](kernels.CPUOptions{Workers: workers})
		s32 := kernels.NewCPU[float32](kernels.CPUOptions{Workers: workers, MinParallel: 1000})
		t.Run(s64.Name(), func(t *testing.T) { conformance.Run[float64](t, s64) })
		t.Run(s32.Name(), func(t *testing.T) { conformance.Run[float32](t, s32) })
		s64.Close()
		s32.Close()
	}
}

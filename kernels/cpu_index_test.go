package kernels_test

import (
	"math"
	"testing"

	"github.com/gradlab/gradlab/kernels"
)

// TestCPUIndexKernelsRejectBadIndices checks that the CPU set reports ids
// and argmax positions that are not integers in range instead of reading
// or writing out of bounds.
func TestCPUIndexKernelsRejectBadIndices(t *testing.T) {
	s := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 2})
	defer s.Close()
	table, dst := kernels.Wrap(make([]float64, 3*2)), kernels.Wrap(make([]float64, 2*2))
	pg := kernels.PoolGeom{N: 1, C: 1, H: 2, W: 2, KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	one := kernels.Wrap(make([]float64, 1))
	four := kernels.Wrap(make([]float64, 4))
	for _, bad := range []float64{-1, 3, 1.5, math.NaN(), math.Inf(1)} {
		ids := kernels.Wrap([]float64{0, bad})
		if err := s.Gather(dst, table, ids, 2, 3, 2); err == nil {
			t.Errorf("gather accepted id %v", bad)
		}
		if err := s.ScatterAdd(table, dst, ids, 2, 3, 2); err == nil {
			t.Errorf("scatter-add accepted id %v", bad)
		}
	}
	for _, bad := range []float64{-1, 4, 1.5, math.NaN(), math.Inf(-1)} {
		arg := kernels.Wrap([]float64{bad})
		if err := s.MaxPoolScatter(four, arg, one, pg); err == nil {
			t.Errorf("max-pool scatter accepted position %v", bad)
		}
		if err := s.MaxPoolGather(one, arg, four, pg); err == nil {
			t.Errorf("max-pool gather accepted position %v", bad)
		}
	}
	if err := s.MaxPoolScatter(four, nil, one, pg); err == nil {
		t.Error("max-pool scatter without positions accepted")
	}
}

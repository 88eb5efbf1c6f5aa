package kernels_test

import (
	"testing"

	"github.com/gradlab/gradlab/kernels"
)

// TestCPUNormKernelsDoNotAllocate runs the normalization kernels on sizes
// that take the parallel paths and requires zero allocations per call
// (the scratch of the layer norm parameter gradients is kept by the set).
func TestCPUNormKernelsDoNotAllocate(t *testing.T) {
	for _, workers := range []int{1, 3} {
		s := kernels.NewCPU[float32](kernels.CPUOptions{Workers: workers, MinParallel: 1024})
		buf := func(n int) kernels.Buffer[float32] {
			b, _ := s.Alloc(n)
			_ = s.Fill(b, 0.5)
			return b
		}
		const rows, d = 64, 96
		const outer, c, inner = 8, 12, 49
		x, y, gx, gy := buf(rows*d), buf(rows*d), buf(rows*d), buf(rows*d)
		bx, by, bgx, bgy := buf(outer*c*inner), buf(outer*c*inner), buf(outer*c*inner), buf(outer*c*inner)
		g, b, gg, gb := buf(d), buf(d), buf(d), buf(d)
		m, r := buf(rows), buf(rows)
		allocs := testing.AllocsPerRun(20, func() {
			check := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			check(s.LayerNorm(y, m, r, x, g, b, rows, d, 1e-5))
			check(s.LayerNorm(nil, m, r, x, nil, nil, rows, d, 1e-5))
			check(s.LayerNormBackward(gx, gg, gb, x, g, m, r, gy, rows, d))
			check(s.LayerNormBackward(nil, gg, nil, x, nil, m, r, gy, rows, d))
			check(s.BatchNorm(by, m, r, bx, g, b, outer, c, inner, 1e-5))
			check(s.BatchNormBackward(bgx, gg, gb, bx, g, m, r, bgy, outer, c, inner))
		})
		if allocs != 0 {
			t.Errorf("%d workers: %v allocations per round of normalization kernel calls, want 0", workers, allocs)
		}
		s.Close()
	}
}

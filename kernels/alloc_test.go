package kernels_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/gradlab/gradlab/kernels"
)

// TestCPUKernelsDoNotAllocate runs every kernel on preallocated buffers,
// with sizes that take the parallel paths, and requires zero allocations
// per call. The GEMMs are small enough for gonum's BLAS to run them
// serially (its parallel path allocates); the engine's tests repeat this
// with OpenBLAS.
func TestCPUKernelsDoNotAllocate(t *testing.T) {
	s := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 2, MinParallel: 1024})
	defer s.Close()
	const m, n, k = 64, 48, 40
	buf := func(n int) kernels.Buffer[float32] {
		b, _ := s.Alloc(n)
		_ = s.Fill(b, 0.5)
		return b
	}
	a, b, c := buf(m*k), buf(k*n), buf(m*n)
	x, y, z, w := buf(4096), buf(4096), buf(4096), buf(4096)
	row := buf(64)
	g := kernels.ConvGeom{N: 2, C: 3, H: 8, W: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1}
	img, col := buf(2*3*8*8), buf(g.ColLen())
	bc, err := kernels.NewBroadcast([]int{64, 64}, []int{64})
	if err != nil {
		t.Fatal(err)
	}
	pg := kernels.PoolGeom{N: 4, C: 4, H: 16, W: 16, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	px, py, parg := buf(pg.InLen()), buf(pg.OutLen()), buf(pg.OutLen())
	ids := buf(64)
	_ = s.Fill(ids, 3)
	basis := []kernels.Buffer[float32]{y}
	var sink float64
	allocs := testing.AllocsPerRun(20, func() {
		check := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		check(s.Gemm(false, true, m, n, k, 1, a, b, 0, c))
		check(s.BatchedGemm(2, false, false, 8, 6, 5, 1, a, b, 0, c))
		check(s.Unary(kernels.Tanh, x, y, kernels.UnaryArgs{}))
		check(s.Binary(kernels.Add, z, x, y, nil))
		check(s.Binary(kernels.Mul, z, x, row, &bc))
		check(s.ReLUBackward(z, x, y, 0.1))
		check(s.Reduce(kernels.ReduceSum, row, x, 64, 64, 1, 1))
		check(s.Reduce(kernels.ReduceMax, row, x, 1, 64, 64, 1))
		check(s.Reduce(kernels.ReduceSum, row, x, 1, 4096, 1, 1))
		check(s.Expand(x, row, 64, 64, 1, 1))
		check(s.Softmax(z, x, 64, 64, true))
		check(s.SoftmaxCrossEntropy(row, x, y, 64, 64))
		check(s.Im2col(col, img, g))
		check(s.Col2im(img, col, g))
		check(s.Unary(kernels.GELUTanh, x, y, kernels.UnaryArgs{A: 2}))
		check(s.MaxPool(py, parg, px, pg))
		check(s.MaxPoolScatter(px, parg, py, pg))
		check(s.MaxPoolGather(py, parg, px, pg))
		check(s.AvgPool(py, px, pg, false))
		check(s.AvgPoolAdjoint(px, py, pg, true))
		check(s.Upsample(x, row, 4, 4, 4, 4))
		check(s.UpsampleAdjoint(row, x, 4, 4, 4, 4))
		check(s.Unary(kernels.GELU, x, y, kernels.UnaryArgs{A: kernels.MaxGELUOrder}))
		check(s.Unary(kernels.GELUTanh, x, y, kernels.UnaryArgs{A: kernels.MaxGELUOrder}))
		check(s.Gather(z, x, ids, 64, 64, 64))
		check(s.ScatterAdd(x, z, ids, 64, 64, 64))
		check(s.SGD(x, y, z, kernels.SGDHyper{LR: 0.1, Momentum: 0.9}))
		check(s.RMSprop(x, y, z, w, w, kernels.RMSpropHyper{LR: 0.1, Alpha: 0.9, Eps: 1e-8, Centered: true, Momentum: 0.5}))
		check(s.Adam(x, y, z, w, nil, kernels.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Step: 3}))
		d, _ := s.Dot(x, y)
		nrm, _ := s.Norm(x)
		check(s.Axpy(0.5, x, y))
		l, _, _ := s.NormalizeRayleigh(x, y)
		o, _ := s.Orthogonalize(z, basis)
		sink += d + nrm + l + o
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round of kernel calls, want 0", allocs)
	}
	_ = sink
}

// TestUnclosedSetStopsItsWorkers drops CPU sets without Close and checks
// that their worker goroutines end once the sets are collected.
func TestUnclosedSetStopsItsWorkers(t *testing.T) {
	// Let goroutines of earlier tests finish first.
	before := -1
	for i := 0; i < 50; i++ {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == before {
			break
		}
		before = n
	}
	func() {
		for i := 0; i < 10; i++ {
			s := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 4})
			_ = s.Name()
		}
	}()
	mid := runtime.NumGoroutine()
	if mid < before+30 {
		t.Fatalf("%d goroutines after creating 10 sets of 4 workers, had %d", mid, before)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > mid-30; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > mid-30 {
		t.Errorf("%d goroutines after collecting the sets, %d while they were alive: the workers did not stop", n, mid)
	}
}

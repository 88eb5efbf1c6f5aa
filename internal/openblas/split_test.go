//go:build cgo && !noopenblas

package openblas_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/conformance"
)

func TestSetThreads(t *testing.T) {
	prev := openblas.SetThreads(1)
	defer openblas.SetThreads(prev)
	if got := openblas.Threads(); got != 1 {
		t.Fatalf("Threads() = %d after SetThreads(1)", got)
	}
	if got := (openblas.Implementation{}).Threads(); got != 1 {
		t.Fatalf("Implementation.Threads() = %d after SetThreads(1)", got)
	}
	if back := openblas.SetThreads(prev); back != 1 {
		t.Fatalf("SetThreads returned %d, want the previous 1", back)
	}
}

// TestSplitGEMM runs GEMMs (the MLP's shapes and odd ones) through a CPU
// set over single-threaded OpenBLAS, which splits them over the set's two
// workers, and checks them against a float64 product, against OpenBLAS's
// own two-thread product (to rounding), and for repeatability (bit for
// bit). Then the whole conformance suite runs on the splitting set.
func TestSplitGEMM(t *testing.T) {
	openblas.Enable()
	prev := openblas.SetThreads(1)
	defer openblas.SetThreads(prev)
	s := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 2, BLAS: openblas.Implementation{}})
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		tA, tB  bool
		m, n, k int
	}{{false, false, 128, 512, 784}, {false, true, 128, 784, 512}, {true, false, 784, 512, 128},
		{false, false, 100, 37, 300}, {true, true, 41, 700, 90}} {
		a, b := make([]float32, c.m*c.k), make([]float32, c.k*c.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		run := func(threads int) []float32 {
			openblas.SetThreads(threads)
			defer openblas.SetThreads(1)
			out := make([]float32, c.m*c.n)
			if err := s.Gemm(c.tA, c.tB, c.m, c.n, c.k, 1, kernels.Wrap(a), kernels.Wrap(b), 0, kernels.Wrap(out)); err != nil {
				t.Fatal(err)
			}
			return out
		}
		split, again, threaded := run(1), run(1), run(2)
		for i := 0; i < c.m; i++ {
			for j := 0; j < c.n; j++ {
				var want, mag float64
				for p := 0; p < c.k; p++ {
					av, bv := a[i*c.k+p], b[p*c.n+j]
					if c.tA {
						av = a[p*c.m+i]
					}
					if c.tB {
						bv = b[j*c.k+p]
					}
					want += float64(av) * float64(bv)
					mag += math.Abs(float64(av) * float64(bv))
				}
				e := i*c.n + j
				// Float32 rounding of a k-term sum: a few units of 2⁻²⁴·√k·Σ|aᵢbᵢ|.
				tol := 4 * 0x1p-24 * math.Sqrt(float64(c.k)) * mag
				if math.Abs(float64(split[e])-want) > tol || math.Abs(float64(split[e]-threaded[e])) > tol {
					t.Fatalf("%+v: C[%d,%d] split %v, threaded %v, float64 %v", c, i, j, split[e], threaded[e], want)
				}
				if split[e] != again[e] {
					t.Fatalf("%+v: C[%d,%d] = %v, then %v on the same inputs", c, i, j, split[e], again[e])
				}
			}
		}
	}
	s64 := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 2, BLAS: openblas.Implementation{}})
	defer s64.Close()
	t.Run("conformance/float32", func(t *testing.T) { conformance.Run[float32](t, s) })
	t.Run("conformance/float64", func(t *testing.T) { conformance.Run[float64](t, s64) })
}

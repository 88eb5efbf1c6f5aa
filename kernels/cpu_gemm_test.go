package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/gradlab/gradlab/kernels"
)

// oneThread is gonum's BLAS declaring that it runs each call on one thread,
// which makes a CPU set split large GEMMs over its own workers.
type oneThread struct{ gonum.Implementation }

func (oneThread) Threads() int { return 1 }

// TestSplitGEMM checks GEMMs that a CPU set with several workers splits
// into row or column blocks against a float64 reference and against the
// same product computed unsplit (equal bit for bit with gonum's BLAS, whose
// sums over k do not depend on the size of the block).
func TestSplitGEMM(t *testing.T) {
	split := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 3, BLAS: oneThread{}})
	defer split.Close()
	whole := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 1, BLAS: oneThread{}})
	defer whole.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ m, n, k int }{
		{130, 67, 40},  // rows, last block partial
		{45, 300, 33},  // columns
		{200, 200, 7},  // square: rows
		{33, 1000, 17}, // columns, many blocks
		{64, 64, 0},    // k = 0: only β·C
	} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, beta := range []float32{0, 0.5} {
				name := fmt.Sprintf("%dx%dx%d/tA=%v,tB=%v/beta=%v", c.m, c.n, c.k, tr[0], tr[1], beta)
				t.Run(name, func(t *testing.T) {
					a := randVec(rng, c.m*c.k)
					b := randVec(rng, c.k*c.n)
					c0 := randVec(rng, c.m*c.n)
					if beta == 0 {
						for i := range c0 {
							c0[i] = float32(math.NaN()) // must not leak through
						}
					}
					got := append([]float32(nil), c0...)
					ref := append([]float32(nil), c0...)
					if err := split.Gemm(tr[0], tr[1], c.m, c.n, c.k, 0.7, kernels.Wrap(a), kernels.Wrap(b), beta, kernels.Wrap(got)); err != nil {
						t.Fatal(err)
					}
					if err := whole.Gemm(tr[0], tr[1], c.m, c.n, c.k, 0.7, kernels.Wrap(a), kernels.Wrap(b), beta, kernels.Wrap(ref)); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < c.m; i++ {
						for j := 0; j < c.n; j++ {
							var want float64
							for p := 0; p < c.k; p++ {
								av, bv := a[i*c.k+p], b[p*c.n+j]
								if tr[0] {
									av = a[p*c.m+i]
								}
								if tr[1] {
									bv = b[j*c.k+p]
								}
								want += float64(av) * float64(bv)
							}
							want *= 0.7
							if beta != 0 {
								want += float64(beta) * float64(c0[i*c.n+j])
							}
							g := got[i*c.n+j]
							if math.Abs(float64(g)-want) > 1e-5*(1+math.Abs(want))*math.Sqrt(float64(c.k+1)) {
								t.Fatalf("C[%d,%d] = %v, want %v", i, j, g, want)
							}
							if g != ref[i*c.n+j] {
								t.Fatalf("C[%d,%d] = %v split, %v unsplit", i, j, g, ref[i*c.n+j])
							}
						}
					}
				})
			}
		}
	}
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

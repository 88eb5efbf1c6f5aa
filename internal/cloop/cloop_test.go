package cloop_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradlab/gradlab/internal/cloop"
)

// adamGo is the update in Go, written as the kernel set's loop writes it.
func adamGo[T float32 | float64](p, g, m, v []T, b1, b2, eps, wd, decay, step, inv T) {
	for i, x := range p {
		// T(…) around products: no fused multiply-add (GOAMD64=v3).
		gi := g[i] + T(wd*x)
		mi := T(b1*m[i]) + T((1-b1)*gi)
		vi := T(b2*v[i]) + T((1-b2)*gi*gi)
		m[i], v[i] = mi, vi
		p[i] = T(x*decay) - step*mi/(T(T(math.Sqrt(float64(vi)))*inv)+eps)
	}
}

func vecs[T float32 | float64](rng *rand.Rand, n int) (p, g, m, v []T) {
	p, g, m, v = make([]T, n), make([]T, n), make([]T, n), make([]T, n)
	for i := range p {
		p[i], g[i], m[i] = T(rng.NormFloat64()), T(rng.NormFloat64()*1e-2), T(rng.NormFloat64()*1e-3)
		v[i] = T(rng.Float64() * 1e-5)
	}
	return
}

// TestAdamMatchesGoBitForBit runs the C update and the Go loop on the same
// random state, lengths around the vector widths and a long one, with and
// without weight decay, and requires equal bits in every output.
func TestAdamMatchesGoBitForBit(t *testing.T) {
	if !cloop.Available() {
		t.Skip("no C loops in this build")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 15, 17, 1000, 100003} {
		for _, h := range [][6]float64{{0.9, 0.999, 1e-8, 0, 1, 1e-3}, {0.8, 0.99, 1e-6, 1e-2, 0.999, 3e-2}} {
			p, g, m, v := vecs[float32](rng, n)
			p2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			f := func(x float64) float32 { return float32(x) }
			if !cloop.Adam32(p, g, m, v, f(h[0]), f(h[1]), f(h[2]), f(h[3]), f(h[4]), f(h[5]), 31.6) {
				t.Fatal("Adam32 reported no C loops")
			}
			adamGo(p2, g, m2, v2, f(h[0]), f(h[1]), f(h[2]), f(h[3]), f(h[4]), f(h[5]), 31.6)
			for i := range p {
				if math.Float32bits(p[i]) != math.Float32bits(p2[i]) || m[i] != m2[i] || v[i] != v2[i] {
					t.Fatalf("float32 n=%d h=%v i=%d: C (%v, %v, %v), Go (%v, %v, %v)", n, h, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
				}
			}
			q, g64, m64, v64 := vecs[float64](rng, n)
			q2, m642, v642 := append([]float64(nil), q...), append([]float64(nil), m64...), append([]float64(nil), v64...)
			cloop.Adam64(q, g64, m64, v64, h[0], h[1], h[2], h[3], h[4], h[5], 31.6)
			adamGo(q2, g64, m642, v642, h[0], h[1], h[2], h[3], h[4], h[5], 31.6)
			for i := range q {
				if math.Float64bits(q[i]) != math.Float64bits(q2[i]) || m64[i] != m642[i] || v64[i] != v642[i] {
					t.Fatalf("float64 n=%d h=%v i=%d: C %v, Go %v", n, h, i, q[i], q2[i])
				}
			}
		}
	}
}

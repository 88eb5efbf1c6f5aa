package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestAdamPathsAgree checks that the CPU set's Adam (the packed C loop when
// it is built in, over the pool's chunks) gives the bits of the plain Go
// loop, for both element types, with and without weight decay.
func TestAdamPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, h := range []AdamHyper{
		{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
		{LR: 3e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 1e-2, Step: 7},
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, DecoupledWeightDecay: 0.1, Step: 30},
	} {
		testAdamPaths[float32](t, rng, h)
		testAdamPaths[float64](t, rng, h)
	}
}

func testAdamPaths[T Float](t *testing.T, rng *rand.Rand, h AdamHyper) {
	s := NewCPU[T](CPUOptions{Workers: 2, MinParallel: 1000})
	defer s.Close()
	const n = 5003
	mk := func(scale float64) []T {
		x := make([]T, n)
		for i := range x {
			x[i] = T(rng.NormFloat64() * scale)
		}
		return x
	}
	p, g, m := mk(1), mk(1e-2), mk(1e-3)
	v := mk(1e-3)
	for i := range v {
		v[i] *= v[i]
	}
	p2, m2, v2 := append([]T(nil), p...), append([]T(nil), m...), append([]T(nil), v...)
	if err := s.Adam(Wrap(p), Wrap(g), Wrap(m), Wrap(v), nil, h); err != nil {
		t.Fatal(err)
	}
	stepSize, invBc2s, decay := adamScalars[T](h)
	adamGo(p2, g, m2, v2, nil, h, stepSize, invBc2s, decay)
	for i := range p {
		if p[i] != p2[i] || m[i] != m2[i] || v[i] != v2[i] {
			t.Fatalf("%T %+v: element %d: set (%v, %v, %v), Go loop (%v, %v, %v)", p[0], h, i, p[i], m[i], v[i], p2[i], m2[i], v2[i])
		}
	}
}

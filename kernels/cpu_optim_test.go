package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestOptimizerPathsAgree checks that the CPU set's SGD and RMSprop loops
// (the packed C loops when they are built in) give the bits of the Go
// loops for every combination of options, in both element types, over
// lengths around the vector widths.
func TestOptimizerPathsAgree(t *testing.T) {
	optimizerPaths[float32](t)
	optimizerPaths[float64](t)
}

func optimizerPaths[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	vec := func(n int, scale float64, pos bool) []T {
		x := make([]T, n)
		for i := range x {
			v := rng.NormFloat64() * scale
			if pos {
				v *= v
			}
			x[i] = T(v)
		}
		return x
	}
	same := func(what string, got, want []T) {
		t.Helper()
		for i := range got {
			if got[i] != want[i] || got[i] != got[i] {
				t.Fatalf("%s %T: element %d: %v, Go loop %v", what, got[0], i, got[i], want[i])
			}
		}
	}
	for _, n := range []int{255, 256, 263, 1031} {
		for _, h := range []SGDHyper{
			{LR: 0.1}, {LR: 0.05, WeightDecay: 1e-2, DecoupledWeightDecay: 0.1},
			{LR: 0.1, Momentum: 0.9, First: true}, {LR: 0.1, Momentum: 0.9, Dampening: 0.1, WeightDecay: 1e-3},
			{LR: 0.1, Momentum: 0.9, Nesterov: true}, {LR: 0.1, Momentum: 0.9, Nesterov: true, First: true},
		} {
			p, g := vec(n, 1, false), vec(n, 1e-2, false)
			var buf []T
			if h.Momentum != 0 {
				buf = vec(n, 1e-2, false)
			}
			p2, buf2 := append([]T(nil), p...), append([]T(nil), buf...)
			if buf == nil {
				buf2 = nil
			}
			sgdRange(p, g, buf, h)
			sgdGo(p2, g, buf2, h)
			what := fmt.Sprintf("sgd n=%d %+v", n, h)
			same(what+" p", p, p2)
			same(what+" buf", buf, buf2)
		}
		for _, c := range []struct{ centered, momentum bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			h := RMSpropHyper{LR: 1e-2, Alpha: 0.99, Eps: 1e-8, WeightDecay: 1e-3}
			p, g, sq := vec(n, 1, false), vec(n, 1e-2, false), vec(n, 1e-2, true)
			var ga, buf []T
			if c.centered {
				h.Centered = true
				ga = vec(n, 1e-5, false) // a² well below sq: no square root of a negative
			}
			if c.momentum {
				h.Momentum = 0.9
				buf = vec(n, 1e-2, false)
			}
			p2, sq2 := append([]T(nil), p...), append([]T(nil), sq...)
			var ga2, buf2 []T
			if ga != nil {
				ga2 = append([]T(nil), ga...)
			}
			if buf != nil {
				buf2 = append([]T(nil), buf...)
			}
			rmspropRange(p, g, sq, ga, buf, h)
			rmspropGo(p2, g, sq2, ga2, buf2, h)
			what := fmt.Sprintf("rmsprop n=%d %+v", n, c)
			same(what+" p", p, p2)
			same(what+" sq", sq, sq2)
			same(what+" ga", ga, ga2)
			same(what+" buf", buf, buf2)
		}
	}
}

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCLoopsMatchGoLoops checks the kernel set's elementwise loops, which
// run the packed C loops of internal/cloop where they are built in, against
// their Go loops bit for bit (any NaN matching any NaN), on lengths around
// the C loops' minimum and inputs with signed zeros, infinities and NaNs.
func TestCLoopsMatchGoLoops(t *testing.T) {
	cLoopsMatch[float32](t)
	cLoopsMatch[float64](t)
}

func cLoopsMatch[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e-40, -1e-40}
	vec := func(n int) []T {
		x := make([]T, n)
		for i := range x {
			if rng.IntN(6) == 0 {
				x[i] = T(special[rng.IntN(len(special))])
			} else {
				x[i] = T(rng.NormFloat64())
			}
		}
		return x
	}
	equal := func(what string, got, want []T) {
		t.Helper()
		for i := range got {
			g, w := float64(got[i]), float64(want[i])
			if (g != w || math.Signbit(g) != math.Signbit(w)) && !(math.IsNaN(g) && math.IsNaN(w)) {
				t.Fatalf("%s %T: element %d: %v, Go loop %v", what, got[0], i, got[i], want[i])
			}
		}
	}
	for _, n := range []int{100, 256, 1031} {
		a, b, x := vec(n), vec(n), vec(n)
		got, want := make([]T, n), make([]T, n)
		for _, op := range []BinaryOp{Add, Sub, Mul, Div} {
			binLoop(op, got, a, b, 1, 1)
			binFlat(op, want, a, b)
			equal(op.String(), got, want)
		}
		for _, leak := range []T{0, 0.1} {
			for _, times := range []bool{true, false} {
				reluRange(got, x, leak, times)
				reluGo(want, x, leak, times)
				equal("relu", got, want)
			}
			reluMulRange(got, x, a, leak)
			reluMulGo(want, x, a, leak)
			equal("relu-mul", got, want)
		}
		copy(got, a)
		combine(ReduceSum, got, b)
		binFlat(Add, want, a, b)
		equal("sum", got, want)
	}
}

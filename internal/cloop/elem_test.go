package cloop_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradlab/gradlab/internal/cloop"
)

// special are values whose handling differs between careless loops: signed
// zeros, infinities, NaNs with and without the sign bit, subnormals.
var special = []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(),
	math.Float64frombits(0xfff8000000000001), 5e-324, -5e-324, 1e-40, -1e-40, 1, -1}

func sample[T float32 | float64](rng *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		if rng.IntN(8) == 0 {
			v := special[rng.IntN(len(special))]
			if _, ok := any(x).([]float32); ok && math.IsNaN(v) {
				// Keep the NaN's sign bit in float32 too.
				x[i] = T(math.Float32frombits(uint32(math.Float64bits(v)>>32) | 0x00400000))
				continue
			}
			x[i] = T(v)
			continue
		}
		x[i] = T(rng.NormFloat64())
	}
	return x
}

// same is bit equality, except that any two NaNs are the same (which NaN
// an operation with two NaN operands returns is not part of the contract).
func same[T float32 | float64](a, b T) bool {
	if a != a && b != b {
		return true
	}
	switch x := any(a).(type) {
	case float32:
		return math.Float32bits(x) == math.Float32bits(any(b).(float32))
	default:
		return math.Float64bits(any(a).(float64)) == math.Float64bits(any(b).(float64))
	}
}

// slope is the kernel set's (leaky) ReLU slope rule, from the bits.
func slope[T float32 | float64](x, leak T) T {
	switch v := any(x).(type) {
	case float32:
		if int32(math.Float32bits(v)) > 0 {
			return 1
		}
	default:
		if int64(math.Float64bits(any(x).(float64))) > 0 {
			return 1
		}
	}
	return leak
}

func TestElementwiseMatchesGo(t *testing.T) {
	if !cloop.Available() {
		t.Skip("no C loops in this build")
	}
	rng := rand.New(rand.NewPCG(2, 3))
	for _, n := range []int{255, 256, 257, 263, 1000, 4099} {
		elementwise[float32](t, rng, n, cloop.Binary32, cloop.ReLU32, cloop.ReLUMul32)
		elementwise[float64](t, rng, n, cloop.Binary64, cloop.ReLU64, cloop.ReLUMul64)
	}
}

func elementwise[T float32 | float64](t *testing.T, rng *rand.Rand, n int,
	bin func(cloop.Op, []T, []T, []T) bool, relu func([]T, []T, T, bool) bool, reluMul func([]T, []T, []T, T) bool) {
	t.Helper()
	a, b, x := sample[T](rng, n), sample[T](rng, n), sample[T](rng, n)
	check := func(what string, did bool, got []T, want func(i int) T) {
		t.Helper()
		if !did {
			if n >= 256 {
				t.Fatalf("%s n=%d: declined", what, n)
			}
			return
		}
		if n < 256 {
			t.Fatalf("%s n=%d: ran below the length limit", what, n)
		}
		for i := range got {
			if w := want(i); !same(got[i], w) {
				t.Fatalf("%s %T n=%d i=%d (inputs %v, %v, %v): got %v, want %v", what, got[0], n, i, a[i], b[i], x[i], got[i], w)
			}
		}
	}
	ops := []struct {
		op cloop.Op
		f  func(p, q T) T
	}{{cloop.Add, func(p, q T) T { return p + q }}, {cloop.Sub, func(p, q T) T { return p - q }},
		{cloop.Mul, func(p, q T) T { return p * q }}, {cloop.Div, func(p, q T) T { return p / q }}}
	for _, o := range ops {
		d := make([]T, n)
		check("binary", bin(o.op, d, a, b), d, func(i int) T { return o.f(a[i], b[i]) })
		// In place: d is a.
		in := append([]T(nil), a...)
		check("binary in place", bin(o.op, in, in, b), in, func(i int) T { return o.f(a[i], b[i]) })
	}
	for _, leak := range []T{0, 0.01, -0.5} {
		d := make([]T, n)
		check("relu", relu(d, x, leak, true), d, func(i int) T { return slope(x[i], leak) * x[i] })
		check("relu slope", relu(d, x, leak, false), d, func(i int) T { return slope(x[i], leak) })
		check("relu mul", reluMul(d, x, a, leak), d, func(i int) T { return a[i] * slope(x[i], leak) })
	}
}

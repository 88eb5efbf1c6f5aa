package ops

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

func TestGELUForward(t *testing.T) {
	x := randData(newRNG(1), 12)
	for i := range x {
		x[i] *= 3
	}
	for _, tanh := range []bool{false, true} {
		got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			if tanh {
				return GELUTanh(in[0])
			}
			return GELU(in[0])
		}, []tensor.Shape{{3, 4}}, [][]float64{x})
		for i, v := range x {
			want := 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
			if tanh {
				want = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			if math.Abs(got[i]-want) > 1e-15*math.Max(1, math.Abs(want)) {
				t.Errorf("tanh=%v: gelu(%v) = %v, want %v", tanh, v, got[i], want)
			}
		}
	}
}

// TestGELUHigherDerivatives compares each derivative order the ops use
// (kernels.GELUDeriv, also beyond the kernels' own orders) with a
// five-point difference of the order below it.
func TestGELUHigherDerivatives(t *testing.T) {
	const h = 1e-3
	worst := 0.0
	erf := func(x float64, k int) float64 { return kernels.GELUDeriv(x, k, false) }
	tanh := func(x float64, k int) float64 { return kernels.GELUDeriv(x, k, true) }
	for _, f := range []func(float64, int) float64{erf, tanh} {
		for _, x := range []float64{-3.1, -1, -0.2, 0, 0.7, 1.5, 4} {
			for k := 1; k <= kernels.MaxGELUOrder+2; k++ {
				num := (8*(f(x+h, k-1)-f(x-h, k-1)) - (f(x+2*h, k-1) - f(x-2*h, k-1))) / (12 * h)
				got := f(x, k)
				e := math.Abs(got-num) / math.Max(1, math.Abs(got))
				worst = math.Max(worst, e)
				if e > 1e-8 {
					t.Errorf("order %d at %v: %v, differences give %v", k, x, got, num)
				}
			}
		}
	}
	t.Logf("worst error of derivative orders 1..%d vs five-point differences: %.2g", kernels.MaxGELUOrder+2, worst)
}

func TestGELUGradients(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "erf 3x4", shapes: []tensor.Shape{{3, 4}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return GELU(in[0]) }},
		{name: "tanh 2x3x2", shapes: []tensor.Shape{{2, 3, 2}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return GELUTanh(in[0]) }},
	})
}

package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestSigmoidForward(t *testing.T) {
	x := []float64{-800, -20, -1, 0, 0.5, 30, 800}
	tg := []float64{0, 1, 0.3, 1, 0, 1, 0.5}
	got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return Sigmoid(in[0])
	}, []tensor.Shape{{7}}, [][]float64{x})
	for i, v := range x {
		want := 1 / (1 + math.Exp(-v))
		if math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("sigmoid(%v) = %v, want %v", v, got[i], want)
		}
	}
	bce, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SigmoidBCE(in[0], in[1])
	}, []tensor.Shape{{7}, {7}}, [][]float64{x, tg})
	// reference: -[t log σ + (1-t) log(1-σ)], with the logs written for
	// large |x| where σ rounds to 0 or 1
	var want float64
	for i, v := range x {
		logS, log1mS := -math.Log1p(math.Exp(-v)), -math.Log1p(math.Exp(v))
		if v < -30 {
			logS = v
		}
		if v > 30 {
			log1mS = -v
		}
		want -= tg[i]*logS + (1-tg[i])*log1mS
	}
	want /= 7
	if math.Abs(bce[0]-want) > 1e-13*want {
		t.Errorf("BCE = %v, want %v", bce[0], want)
	}
}

func TestSigmoidGradients(t *testing.T) {
	targets := func(rng *rand.Rand, i, n int) []float64 {
		d := randData(rng, n)
		if i == 1 {
			for k := range d {
				d[k] = rng.Float64()
			}
		}
		return d
	}
	runOpCases(t, []opCase{
		{name: "sigmoid 3x4", shapes: []tensor.Shape{{3, 4}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Sigmoid(in[0]) }},
		{name: "sigmoid scalar", shapes: []tensor.Shape{{}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Sigmoid(in[0]) }},
		{name: "BCE 4x2", shapes: []tensor.Shape{{4, 2}, {4, 2}}, wrt: []int{0, 1}, data: targets,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SigmoidBCE(in[0], in[1])
			}},
		{name: "BCE 5", shapes: []tensor.Shape{{5}, {5}}, wrt: []int{0, 1}, data: targets,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SigmoidBCE(in[0], in[1])
			}},
	})
}

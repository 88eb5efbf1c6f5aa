package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func refLogSoftmax(x []float64, c int) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += c {
		var s float64
		for j := r; j < r+c; j++ {
			s += math.Exp(x[j])
		}
		for j := r; j < r+c; j++ {
			out[j] = x[j] - math.Log(s)
		}
	}
	return out
}

func TestSoftmaxForward(t *testing.T) {
	for i, s := range []tensor.Shape{{7}, {3, 5}, {2, 3, 4}} {
		x := randData(newRNG(uint64(i)), s.TotalSize())
		c := s[len(s)-1]
		want := refLogSoftmax(x, c)
		got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return LogSoftmax(in[0])
		}, []tensor.Shape{s}, [][]float64{x})
		if e := relErr(got, want); e > 1e-14 {
			t.Errorf("%v log-softmax: rel err %g", s, e)
		}
		p, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Softmax(in[0])
		}, []tensor.Shape{s}, [][]float64{x})
		for j := range want {
			want[j] = math.Exp(want[j])
		}
		if e := relErr(p, want); e > 1e-14 {
			t.Errorf("%v softmax: rel err %g", s, e)
		}
	}
	// large logits must not overflow
	got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return LogSoftmax(in[0])
	}, []tensor.Shape{{2}}, [][]float64{{1000, 0}})
	if math.Abs(got[0]) > 1e-12 || math.Abs(got[1]+1000) > 1e-9 {
		t.Errorf("log-softmax(1000, 0) = %v", got)
	}
}

func TestSoftmaxCrossEntropyForward(t *testing.T) {
	labels := []int{2, 0, 4}
	oh, err := OneHot(labels, 5, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	x := randData(newRNG(3), 15)
	lp := refLogSoftmax(x, 5)
	want := -(lp[2] + lp[5] + lp[14]) / 3
	got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	}, []tensor.Shape{{3, 5}, {3, 5}}, [][]float64{x, oh.Data().([]float64)})
	if math.Abs(got[0]-want) > 1e-14*math.Abs(want) {
		t.Errorf("CE = %v, want %v", got[0], want)
	}
	if _, err := OneHot([]int{5}, 5, tensor.Float64); err == nil {
		t.Error("label out of range accepted")
	}
}

// softProbs fills input 1 with random probability rows (soft targets).
func softProbs(c int) func(rng *rand.Rand, i, n int) []float64 {
	return func(rng *rand.Rand, i, n int) []float64 {
		d := randData(rng, n)
		if i == 1 {
			d = refLogSoftmax(d, c)
			for j := range d {
				d[j] = math.Exp(d[j])
			}
		}
		return d
	}
}

func TestSoftmaxGradients(t *testing.T) {
	ls := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return LogSoftmax(in[0]) }
	sm := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Softmax(in[0]) }
	ce := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	}
	runOpCases(t, []opCase{
		{name: "logsoftmax 3x5", shapes: []tensor.Shape{{3, 5}}, b: ls, wrt: []int{0}},
		{name: "logsoftmax vector", shapes: []tensor.Shape{{4}}, b: ls, wrt: []int{0}},
		{name: "logsoftmax 2x3x4", shapes: []tensor.Shape{{2, 3, 4}}, b: ls, wrt: []int{0}},
		{name: "softmax 3x5", shapes: []tensor.Shape{{3, 5}}, b: sm, wrt: []int{0}},
		{name: "softmax 1x7", shapes: []tensor.Shape{{1, 7}}, b: sm, wrt: []int{0}},
		{name: "CE 4x3 soft targets", shapes: []tensor.Shape{{4, 3}, {4, 3}}, b: ce, wrt: []int{0, 1}, data: softProbs(3)},
		{name: "CE 1x5", shapes: []tensor.Shape{{1, 5}, {1, 5}}, b: ce, wrt: []int{0, 1}, data: softProbs(5)},
		{name: "CE 2x3x4", shapes: []tensor.Shape{{2, 3, 4}, {2, 3, 4}}, b: ce, wrt: []int{0, 1}, data: softProbs(4)},
	})
}

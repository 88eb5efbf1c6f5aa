package ops

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refSumAxis sums over axis k with direct index arithmetic.
func refSumAxis(x []float64, s tensor.Shape, k int) []float64 {
	out := make([]float64, s.TotalSize()/s[k])
	idx := make([]int, len(s))
	for flatIdx := range x {
		rem := flatIdx
		for d := len(s) - 1; d >= 0; d-- {
			idx[d] = rem % s[d]
			rem /= s[d]
		}
		o := 0
		for d := range s {
			if d == k {
				continue
			}
			o = o*s[d] + idx[d]
		}
		out[o] += x[flatIdx]
	}
	return out
}

func TestSumMeanAxisForward(t *testing.T) {
	cases := []struct {
		shape tensor.Shape
		axis  int
	}{
		{tensor.Shape{5}, 0},
		{tensor.Shape{3, 4}, 0},
		{tensor.Shape{3, 4}, -1},
		{tensor.Shape{2, 3, 4, 5}, 1},
		{tensor.Shape{2, 3, 4, 5}, 2},
		{tensor.Shape{2, 3, 4, 5}, 0},
		{tensor.Shape{2, 3, 1, 5, 2}, 3},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(tc.shape, tc.axis), func(t *testing.T) {
			x := randData(newRNG(uint64(i)), tc.shape.TotalSize())
			k, _ := normAxis(tc.axis, len(tc.shape))
			want := refSumAxis(x, tc.shape, k)
			got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SumAxis(in[0], tc.axis)
			}, []tensor.Shape{tc.shape}, [][]float64{x})
			if e := relErr(got, want); e > 1e-14 || gs.TotalSize() != len(want) {
				t.Errorf("sum: rel err %g, shape %v", e, gs)
			}
			mean, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return MeanAxis(in[0], tc.axis)
			}, []tensor.Shape{tc.shape}, [][]float64{x})
			for j := range want {
				want[j] /= float64(tc.shape[k])
			}
			if e := relErr(mean, want); e > 1e-14 {
				t.Errorf("mean: rel err %g", e)
			}
		})
	}
}

func TestReductionGradients(t *testing.T) {
	var cases []opCase
	for _, c := range []struct {
		name  string
		shape tensor.Shape
		b     builder
	}{
		{"sum axis 2 of 4-D", tensor.Shape{2, 3, 4, 5}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return SumAxis(in[0], 2)
		}},
		{"mean axes 0,2,3", tensor.Shape{2, 3, 4, 5}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Mean(in[0], 0, 2, 3)
		}},
		{"mean all", tensor.Shape{3, 5}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return MeanAll(in[0])
		}},
		{"expand middle", tensor.Shape{3, 5}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Expand(in[0], 1, 4)
		}},
		{"expand scalar then fill", tensor.Shape{}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Fill(in[0], tensor.Shape{2, 3})
		}},
		{"expand as", tensor.Shape{3}, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return ExpandAs(in[0], tensor.Shape{2, 3, 4, 5}, 0, 2, 3)
		}},
	} {
		cases = append(cases, opCase{name: c.name, shapes: []tensor.Shape{c.shape}, b: c.b, wrt: []int{0}})
	}
	runOpCases(t, cases)
}

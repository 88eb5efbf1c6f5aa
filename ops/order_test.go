package ops

import (
	"fmt"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// TestThirdAndFourthOrder differentiates s(θ) = ⟨H(θ)·v, w⟩, for the Hessian H
// of the loss sum(y ⊙ (y + c)) of each op's output y, with fixed v and w:
// fdcheck's gradient and HVP of s are third and fourth derivatives of the
// loss, compared with finite differences of s and of its gradient.
func TestThirdAndFourthOrder(t *testing.T) {
	op1 := func(f func(*gorgonia.Node) (*gorgonia.Node, error)) builder {
		return func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return f(in[0]) }
	}
	cases := []opCase{
		{name: "logsoftmax", shapes: []tensor.Shape{{2, 4}}, b: op1(LogSoftmax)},
		{name: "softmax", shapes: []tensor.Shape{{2, 3}}, b: op1(Softmax)},
		{name: "CE", shapes: []tensor.Shape{{2, 3}}, b: func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			oh, _ := OneHot([]int{2, 0}, 3, tensor.Float64)
			tn := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("t"), gorgonia.WithValue(oh))
			return SoftmaxCrossEntropy(in[0], tn)
		}},
		{name: "gelu", shapes: []tensor.Shape{{5}}, b: op1(GELU)},
		{name: "gelu tanh", shapes: []tensor.Shape{{5}}, b: op1(GELUTanh)},
		{name: "layernorm", shapes: []tensor.Shape{{2, 4}}, b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) { return LayerNorm(x, nil, nil, 1e-5) })},
		{name: "batchnorm", shapes: []tensor.Shape{{3, 2, 2, 1}}, b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) {
			y, _, err := NewBatchNorm(2).Train(x, nil, nil)
			return y, err
		})},
		{name: "conv stride 2 pad 1", shapes: []tensor.Shape{{1, 2, 5, 4}, {2, 2, 3, 3}}, b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return Conv2d(in[0], in[1], ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}})
		}},
	}
	worst3, worst4 := 0.0, 0.0
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRNG(uint64(ci) + 300)
			params := make([]fdcheck.Param, len(tc.shapes))
			for i, s := range tc.shapes {
				params[i] = fdcheck.Param{Name: fmt.Sprintf("p%d", i), Shape: []int(s.Clone()), Data: randData(rng, s.TotalSize())}
			}
			vs := make([][]float64, len(tc.shapes))
			ws := make([][]float64, len(tc.shapes))
			for i, s := range tc.shapes {
				vs[i], ws[i] = randData(rng, s.TotalSize()), randData(rng, s.TotalSize())
			}
			build := func(g *gorgonia.ExprGraph, ps gorgonia.Nodes) (*gorgonia.Node, error) {
				y, err := tc.b(g, ps)
				if err != nil {
					return nil, err
				}
				loss, err := squareLoss(g, y, randData(newRNG(5), max(y.Shape().TotalSize(), 1)))
				if err != nil {
					return nil, err
				}
				v := make(gorgonia.Nodes, len(ps))
				w := make(gorgonia.Nodes, len(ps))
				for i, s := range tc.shapes {
					v[i] = inputNode(g, fmt.Sprintf("v%d", i), s, vs[i])
					w[i] = inputNode(g, fmt.Sprintf("w%d", i), s, ws[i])
				}
				hv, err := autodiff.HVP(loss, ps, v)
				if err != nil {
					return nil, err
				}
				return autodiff.Dot(hv, w)
			}
			rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 9})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("third order rel err %.2g, fourth order %.2g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
			worst3, worst4 = max(worst3, rep.MaxGradRelErr), max(worst4, rep.MaxHVPRelErr)
			if rep.MaxGradRelErr > tol || rep.MaxHVPRelErr > tol {
				t.Errorf("rel err third order %g, fourth order %g > %g", rep.MaxGradRelErr, rep.MaxHVPRelErr, tol)
			}
		})
	}
	t.Logf("worst rel err: third order %.2g, fourth order %.2g", worst3, worst4)
}

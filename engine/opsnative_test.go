package engine_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/ops"
)

// TestOpsCompileToKernels builds a loss from each op of package ops that
// the compiler runs as kernels, takes its gradient and a Hessian-vector
// product, and checks that (1) no op of the graph falls back to its Do
// method and (2) the results equal the TapeMachine's (float64, 1e-10).
func TestOpsCompileToKernels(t *testing.T) {
	type build func(x *gorgonia.Node) (*gorgonia.Node, error)
	chain := func(fs ...build) build {
		return func(x *gorgonia.Node) (*gorgonia.Node, error) {
			var err error
			for _, f := range fs {
				if x, err = f(x); err != nil {
					return nil, err
				}
			}
			return x, nil
		}
	}
	square := func(x *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.HadamardProd(x, x) }
	total := func(x *gorgonia.Node) (*gorgonia.Node, error) { return ops.SumAll(x) }
	cases := map[string]struct {
		shape []int
		f     build
	}{
		"softmax":     {[]int{4, 5}, chain(ops.Softmax, square, total)},
		"log-softmax": {[]int{4, 5}, chain(ops.LogSoftmax, square, total)},
		"sigmoid":     {[]int{3, 4}, chain(ops.Sigmoid, square, total)},
		"pow":         {[]int{3, 4}, chain(func(x *gorgonia.Node) (*gorgonia.Node, error) { return ops.Pow(x, 3, 0.5) }, total)},
		"sum axis and expand": {[]int{2, 3, 4}, chain(func(x *gorgonia.Node) (*gorgonia.Node, error) {
			s, err := ops.SumAxis(x, 1)
			if err != nil {
				return nil, err
			}
			if s, err = square(s); err != nil {
				return nil, err
			}
			return ops.Expand(s, 2, 3)
		}, square, total)},
		"mean axis and fill": {[]int{3, 4}, chain(func(x *gorgonia.Node) (*gorgonia.Node, error) {
			m, err := ops.MeanAxis(x, 0)
			if err != nil {
				return nil, err
			}
			if m, err = square(m); err != nil {
				return nil, err
			}
			s, err := ops.SumAll(m)
			if err != nil {
				return nil, err
			}
			return ops.Fill(s, gt.Shape{2, 2})
		}, square, total)},
		"leaky relu and reshape": {[]int{3, 4}, chain(func(x *gorgonia.Node) (*gorgonia.Node, error) { return ops.LeakyReLU(x, 0.1) },
			func(x *gorgonia.Node) (*gorgonia.Node, error) { return ops.Reshape(x, gt.Shape{2, 6}) }, square, total)},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			rng := rand.New(rand.NewPCG(4, 4))
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			xd := make([]float64, n)
			for i := range xd {
				xd[i] = rng.NormFloat64()
			}
			x := gorgonia.NodeFromAny(g, gt.New(gt.WithShape(c.shape...), gt.WithBacking(xd)), gorgonia.WithName("x"))
			loss, err := c.f(x)
			if err != nil {
				t.Fatal(err)
			}
			probe, err := autodiff.NewProbe(g, gorgonia.Nodes{x})
			if err != nil {
				t.Fatal(err)
			}
			randomize(probe[0].Value().(*gt.Dense), rng, 1)
			gr, err := autodiff.Grad(loss, x)
			if err != nil {
				t.Fatal(err)
			}
			hv, err := autodiff.HVP(loss, gorgonia.Nodes{x}, probe)
			if err != nil {
				t.Fatal(err)
			}
			outs := gorgonia.Nodes{loss, gr[0], hv[0]}
			nat, tp := compileBoth(t, g, outs)
			if h := nat.HostOps(); len(h) > 0 {
				t.Errorf("ops run through Do instead of kernels: %s", strings.Join(h, "; "))
			}
			compare(t, name, nat, tp, len(outs), 1e-10)
		})
	}
}

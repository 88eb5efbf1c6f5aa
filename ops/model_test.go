package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

func TestReLUGradients(t *testing.T) {
	awayFromZero := func(rng *rand.Rand, _, n int) []float64 {
		d := randData(rng, n)
		for i := range d {
			d[i] += math.Copysign(0.1, d[i])
		}
		return d
	}
	runOpCases(t, []opCase{
		{name: "relu 3x4", shapes: []tensor.Shape{{3, 4}}, wrt: []int{0}, data: awayFromZero,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return ReLU(in[0]) }},
		{name: "leaky relu 0.1 5", shapes: []tensor.Shape{{5}}, wrt: []int{0}, data: awayFromZero,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return LeakyReLU(in[0], 0.1) }},
	})
}

// TestTinyConvNetHVP checks gradient and Hessian-vector products of
// conv → batchnorm → relu → maxpool → flatten → linear → softmax-CE (the
// model that crashes with gorgonia's built-in layers) against finite
// differences.
func TestTinyConvNetHVP(t *testing.T) {
	const n, cin, h, w, cout, classes = 2, 2, 6, 5, 3, 4
	rng := newRNG(11)
	x := randData(rng, n*cin*h*w)
	labels := []int{3, 1}
	params := []fdcheck.Param{
		fdcheck.RandomParam("conv.w", rng, 0.5, cout, cin, 3, 3),
		fdcheck.RandomParam("bn.gamma", rng, 1, cout),
		fdcheck.RandomParam("bn.beta", rng, 1, cout),
		fdcheck.RandomParam("fc.w", rng, 0.5, cout*3*2, classes),
		fdcheck.RandomParam("fc.b", rng, 0.5, classes),
	}
	for i := range params[1].Data {
		params[1].Data[i] += 1.5 // keep the BN scales away from zero
	}
	build := func(g *gorgonia.ExprGraph, p gorgonia.Nodes) (*gorgonia.Node, error) {
		xn := inputNode(g, "x", tensor.Shape{n, cin, h, w}, x)
		oh, err := OneHot(labels, classes, tensor.Float64)
		if err != nil {
			return nil, err
		}
		tn := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(n, classes), gorgonia.WithName("targets"), gorgonia.WithValue(oh))
		y, err := Conv2d(xn, p[0], ConvParams{Pad: [2]int{1, 1}})
		if err != nil {
			return nil, err
		}
		bn := NewBatchNorm(cout)
		if y, _, err = bn.Train(y, p[1], p[2]); err != nil {
			return nil, err
		}
		if y, err = ReLU(y); err != nil {
			return nil, err
		}
		if y, err = MaxPool2d(y, PoolParams{Kernel: [2]int{2, 2}}); err != nil { // [2,3,3,2]
			return nil, err
		}
		if y, err = gorgonia.Reshape(y, tensor.Shape{n, cout * 3 * 2}); err != nil {
			return nil, err
		}
		if y, err = gorgonia.Mul(y, p[3]); err != nil {
			return nil, err
		}
		b, err := Expand(p[4], 0, n)
		if err != nil {
			return nil, err
		}
		if y, err = gorgonia.Add(y, b); err != nil {
			return nil, err
		}
		return SoftmaxCrossEntropy(y, tn)
	}
	// A small step keeps every finite-difference probe on one side of the
	// ReLU and max-pool kinks; the five-point stencil keeps its truncation
	// error far below the tolerance.
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 5, Directions: 4, Step: 1e-5, Coordinates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny conv net: max grad rel err %.2g, max HVP rel err %.2g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
	for _, r := range rep.Results {
		if r.Check == "hvp" && math.Abs(r.Numeric) < 1e-3 {
			t.Errorf("HVP direction %d has norm %g: the check would be vacuous", r.Direction, r.Numeric)
		}
	}
	if rep.MaxGradRelErr > tol || rep.MaxHVPRelErr > tol {
		for _, r := range rep.Results {
			t.Logf("%+v", r)
		}
		t.Errorf("relative errors above %g", tol)
	}
}

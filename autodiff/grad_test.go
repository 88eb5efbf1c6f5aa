package autodiff_test

import (
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

const tol = 1e-6

type fdCase struct {
	name   string
	params []fdcheck.Param
	build  fdcheck.Builder
}

func rngFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

// positive returns a parameter with entries in [lo, lo+width).
func positive(name string, rng *rand.Rand, lo, width float64, shape ...int) fdcheck.Param {
	p := fdcheck.RandomParam(name, rng, 1, shape...)
	for i := range p.Data {
		p.Data[i] = lo + width*(p.Data[i]+1)/2
	}
	return p
}

func runFDCases(t *testing.T, cases []fdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := fdcheck.Check(tc.build, tc.params, fdcheck.Options{Seed: 3, Coordinates: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results {
				if r.RelErr > tol {
					t.Errorf("%s dir %d: analytic %.12g numeric %.12g rel err %.3g", r.Check, r.Direction, r.Analytic, r.Numeric, r.RelErr)
				}
			}
			t.Logf("max rel err: grad %.2e, hvp %.2e", rep.MaxGradRelErr, rep.MaxHVPRelErr)
		})
	}
}

// sumOf wraps a node-building function f so that the loss is sum(f(x)·w) with
// a fixed random weight w of the same shape, which makes the Hessian
// non-trivial for linear f and avoids symmetric cancellations.
func weightedSum(n *G.Node, seed uint64) (*G.Node, error) {
	if n.IsScalar() {
		return n, nil
	}
	rng := rngFor(seed)
	w := fdcheck.RandomParam("w", rng, 1, n.Shape()...)
	wn := G.NewTensor(n.Graph(), n.Dtype(), n.Dims(), G.WithShape(n.Shape()...), G.WithValue(tensorOf(w)), G.WithName("weights"))
	p, err := G.HadamardProd(n, wn)
	if err != nil {
		return nil, err
	}
	return G.Sum(p)
}

// unary builds the weighted sum of f(x) and, to give f a non-zero second
// derivative in every case, of f(x)².
func unary(f func(*G.Node) (*G.Node, error)) fdcheck.Builder {
	return func(g *G.ExprGraph, p G.Nodes) (*G.Node, error) {
		y, err := f(p[0])
		if err != nil {
			return nil, err
		}
		y2, err := G.Square(y)
		if err != nil {
			return nil, err
		}
		s, err := G.Add(y, y2)
		if err != nil {
			return nil, err
		}
		return weightedSum(s, 11)
	}
}

func binary(f func(a, b *G.Node) (*G.Node, error)) fdcheck.Builder {
	return func(g *G.ExprGraph, p G.Nodes) (*G.Node, error) {
		y, err := f(p[0], p[1])
		if err != nil {
			return nil, err
		}
		y2, err := G.Square(y)
		if err != nil {
			return nil, err
		}
		s, err := G.Add(y, y2)
		if err != nil {
			return nil, err
		}
		return weightedSum(s, 12)
	}
}

func TestElementwise(t *testing.T) {
	r := rngFor(1)
	x := func() []fdcheck.Param { return []fdcheck.Param{fdcheck.RandomParam("x", r, 1, 2, 3)} }
	nz := func() []fdcheck.Param { return []fdcheck.Param{awayFromZero(fdcheck.RandomParam("x", r, 1, 2, 3))} }
	pos := func() []fdcheck.Param { return []fdcheck.Param{positive("x", r, 0.5, 1.5, 2, 3)} }
	xy := func() []fdcheck.Param {
		return []fdcheck.Param{fdcheck.RandomParam("x", r, 1, 2, 3), fdcheck.RandomParam("y", r, 1, 2, 3)}
	}
	xpos := func() []fdcheck.Param {
		return []fdcheck.Param{fdcheck.RandomParam("x", r, 1, 2, 3), positive("y", r, 0.5, 1.5, 2, 3)}
	}
	pospos := func() []fdcheck.Param {
		return []fdcheck.Param{positive("x", r, 0.5, 1.5, 2, 3), positive("y", r, 0.5, 1, 2, 3)}
	}
	runFDCases(t, []fdCase{
		{"add", xy(), binary(G.Add)},
		{"sub", xy(), binary(G.Sub)},
		{"mul", xy(), binary(G.HadamardProd)},
		{"div", xpos(), binary(G.HadamardDiv)},
		{"pow", pospos(), binary(G.Pow)},
		{"exp", x(), unary(G.Exp)},
		{"log", pos(), unary(G.Log)},
		{"tanh", x(), unary(G.Tanh)},
		{"sigmoid", x(), unary(G.Sigmoid)},
		{"square", x(), unary(G.Square)},
		{"sqrt", pos(), unary(G.Sqrt)},
		{"neg", x(), unary(G.Neg)},
		{"abs", nz(), unary(G.Abs)},
		{"sin", x(), unary(G.Sin)},
		{"cos", x(), unary(G.Cos)},
		{"inverse", pos(), unary(G.Inverse)},
		{"cube", x(), unary(G.Cube)},
		{"log1p", pos(), unary(G.Log1p)},
		{"expm1", x(), unary(G.Expm1)},
		{"softplus", x(), unary(G.Softplus)},
		{"mish", x(), unary(G.Mish)},
		{"rectify", nz(), unary(G.Rectify)},
		{"inverse-sqrt", pos(), unary(G.InverseSqrt)},
		{"log2", pos(), unary(G.Log2)},
		{"div-by-scalar", []fdcheck.Param{fdcheck.RandomParam("x", r, 1, 2, 3), positive("s", r, 0.5, 1)}, binary(G.Div)},
		{"max-between", xy(), binary(G.MaxBetween)},
		{"min-between", xy(), binary(G.MinBetween)},
	})
}

package autodiff_test

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// layerNorm normalises the rows of x and applies a per-column scale and shift.
func layerNorm(x, gamma, beta *G.Node) *G.Node {
	mu := G.Must(G.Mean(x, 1))
	xc := G.Must(G.BroadcastSub(x, mu, nil, []byte{1}))
	v := G.Must(G.Mean(G.Must(G.Square(xc)), 1))
	sd := G.Must(G.Sqrt(G.Must(G.Add(v, G.NewConstant(1e-5)))))
	xn := G.Must(G.BroadcastHadamardDiv(xc, sd, nil, []byte{1}))
	return G.Must(G.BroadcastAdd(G.Must(G.BroadcastHadamardProd(xn, gamma, nil, []byte{0})), beta, nil, []byte{0}))
}

// geluTanh is the tanh approximation of GELU.
func geluTanh(x *G.Node) *G.Node {
	x3 := G.Must(G.Cube(x))
	inner := G.Must(G.Add(x, G.Must(G.HadamardProd(x3, G.NewConstant(0.044715)))))
	t := G.Must(G.Tanh(G.Must(G.HadamardProd(inner, G.NewConstant(math.Sqrt(2/math.Pi))))))
	one := G.Must(G.Add(t, G.NewConstant(1.0)))
	return G.Must(G.HadamardProd(G.Must(G.HadamardProd(x, one)), G.NewConstant(0.5)))
}

// TestLayers covers composed layers the model code builds and a
// gradient-matching loss, whose HVP check is a third derivative.
func TestLayers(t *testing.T) {
	r := rngFor(3)
	P := fdcheck.RandomParam
	const n, d, c = 3, 4, 3
	ys := oneHot("ys", n, c, 9)
	runFDCases(t, []fdCase{
		{"sum-middle-3d", []fdcheck.Param{P("x", r, 1, 2, 3, 4)}, safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Sum(G.Must(G.Tanh(p[0])), 1)), 1)
		})},
		{"broadcast-bias-3d", []fdcheck.Param{P("x", r, 1, 2, 3, 4), P("b", r, 1, 4)}, safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.BroadcastAdd(p[0], p[1], nil, []byte{0, 1})), 2)
		})},
		{"layernorm", []fdcheck.Param{P("x", r, 1, 3, 5), P("gamma", r, 1, 5), P("beta", r, 1, 5)}, safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(layerNorm(p[0], p[1], p[2]), 3)
		})},
		{"gelu-tanh", []fdcheck.Param{P("x", r, 2, 3, 4)}, safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(geluTanh(p[0]), 4)
		})},
		{"gradient-matching", []fdcheck.Param{P("x", r, 1, n, d), P("W", r, 0.8, d, c)}, safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			// ‖∇_W CE(xW) − target‖², differentiated wrt the data x and W.
			loss := crossEntropy(G.Must(G.Mul(G.Must(G.Tanh(p[0])), p[1])), constant(g, ys))
			gws, err := autodiff.Grad(loss, p[1])
			if err != nil {
				panic(err)
			}
			gw := gws[0]
			target := constant(g, P("target", rngFor(77), 0.3, d, c))
			return G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(gw, target))))))
		})},
	})
}

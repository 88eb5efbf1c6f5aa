package autodiff_test

import (
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// curved maps y to Σ w ⊙ (y + y²/2 + tanh(y)) with fixed random w, so that a
// linear op still has a non-trivial Hessian and no cancellation hides a
// wrong term.
func curved(y *G.Node, seed uint64) *G.Node {
	y2 := G.Must(G.Square(y))
	half := G.NewConstant(0.5)
	var h *G.Node
	if y.IsScalar() {
		h = G.Must(G.Mul(y2, half))
	} else {
		h = G.Must(G.HadamardProd(y2, half))
	}
	s := G.Must(G.Add(G.Must(G.Add(y, h)), G.Must(G.Tanh(y))))
	return G.Must(weightedSum(s, seed))
}

// awayFromZero moves entries of p out of (-0.1, 0.1) so that kinks at zero
// stay farther than the finite-difference stencil.
func awayFromZero(p fdcheck.Param) fdcheck.Param {
	for i, v := range p.Data {
		if math.Abs(v) < 0.1 {
			p.Data[i] = math.Copysign(0.1+v, v)
		}
	}
	return p
}

// leakyComposed is max(x, αx) written with a non-differentiable ≥ mask:
// x ⊙ m + α x ⊙ (1 − m).
func leakyComposed(x *G.Node, alpha float64) *G.Node {
	zero := G.NewConstant(0.0)
	m := G.Must(G.Gte(x, zero, true))
	one := G.NewConstant(1.0)
	notm := G.Must(G.Sub(one, m))
	pos := G.Must(G.HadamardProd(x, m))
	neg := G.Must(G.HadamardProd(G.Must(G.HadamardProd(x, notm)), G.NewConstant(alpha)))
	return G.Must(G.Add(pos, neg))
}

// logSumExpRows returns log Σ_j exp(z_ij) over the last axis of a matrix,
// shifted by the row maximum.
func logSumExpRows(z *G.Node) *G.Node {
	m := G.Must(G.Max(z, 1))                           // (N)
	zs := G.Must(G.BroadcastSub(z, m, nil, []byte{1})) // (N, C)
	s := G.Must(G.Sum(G.Must(G.Exp(zs)), 1))           // (N)
	return G.Must(G.Add(G.Must(G.Log(s)), m))          // (N)
}

// crossEntropy is the mean over rows of logsumexp(z_i) − z_i·y_i for one-hot
// rows y.
func crossEntropy(z, y *G.Node) *G.Node {
	lse := logSumExpRows(z)
	zy := G.Must(G.Sum(G.Must(G.HadamardProd(z, y)), 1))
	return G.Must(G.Mean(G.Must(G.Sub(lse, zy))))
}

func oneHot(name string, n, c int, seed uint64) fdcheck.Param {
	r := rngFor(seed)
	d := make([]float64, n*c)
	for i := 0; i < n; i++ {
		d[i*c+r.IntN(c)] = 1
	}
	return fdcheck.Param{Name: name, Shape: []int{n, c}, Data: d}
}

// softmaxRows is the row softmax of a matrix, composed from built-ins.
func softmaxRows(z *G.Node) *G.Node {
	m := G.Must(G.Max(z, 1))
	e := G.Must(G.Exp(G.Must(G.BroadcastSub(z, m, nil, []byte{1}))))
	s := G.Must(G.Sum(e, 1))
	return G.Must(G.BroadcastHadamardDiv(e, s, nil, []byte{1}))
}

func TestLinearAlgebra(t *testing.T) {
	r := rngFor(2)
	P := fdcheck.RandomParam
	runFDCases(t, []fdCase{
		{"matmul", []fdcheck.Param{P("A", r, 1, 3, 4), P("B", r, 1, 4, 2)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Mul(p[0], p[1])), 1) })},
		{"matvec", []fdcheck.Param{P("A", r, 1, 3, 4), P("v", r, 1, 4)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Mul(p[0], p[1])), 2) })},
		{"dot", []fdcheck.Param{P("u", r, 1, 5), P("v", r, 1, 5)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Mul(p[0], p[1])), 3) })},
		{"batched-matmul", []fdcheck.Param{P("A", r, 1, 2, 3, 4), P("B", r, 1, 2, 4, 2)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.BatchedMatMul(p[0], p[1])), 4) })},
		{"batched-matmul-transB", []fdcheck.Param{P("A", r, 1, 2, 3, 4), P("B", r, 1, 2, 2, 4)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.BatchedMatMul(p[0], p[1], false, true)), 5)
			})},
		{"matmul-shared-operand", []fdcheck.Param{P("A", r, 1, 3, 3)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Mul(p[0], p[0])), 6) })},
		{"tensordot-one-axis", []fdcheck.Param{P("A", r, 1, 2, 3, 4), P("B", r, 1, 4, 5)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.Tensordot([]int{2}, []int{0}, p[0], p[1])), 7)
			})},
		{"tensordot-two-axes", []fdcheck.Param{P("A", r, 1, 2, 3, 4), P("B", r, 1, 4, 3, 2)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.Tensordot([]int{1, 2}, []int{1, 0}, p[0], p[1])), 8)
			})},
	})
}

func TestShapeOps(t *testing.T) {
	r := rngFor(3)
	P := fdcheck.RandomParam
	x := func(shape ...int) []fdcheck.Param { return []fdcheck.Param{P("x", r, 1, shape...)} }
	runFDCases(t, []fdCase{
		{"broadcast-add-row", []fdcheck.Param{P("X", r, 1, 3, 4), P("b", r, 1, 4)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.BroadcastAdd(p[0], p[1], nil, []byte{0})), 1)
			})},
		{"broadcast-mul-col", []fdcheck.Param{P("X", r, 1, 3, 4), P("c", r, 1, 3)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.BroadcastHadamardProd(p[0], p[1], nil, []byte{1})), 2)
			})},
		{"broadcast-div-left", []fdcheck.Param{P("c", r, 1, 4), positive("X", r, 0.5, 1, 3, 4)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				return curved(G.Must(G.BroadcastHadamardDiv(p[0], p[1], []byte{0}, nil)), 3)
			})},
		{"scalar-times-tensor", []fdcheck.Param{P("s", r, 1), P("X", r, 1, 2, 3)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Mul(p[0], p[1])), 4) })},
		{"sum-last-axis", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Sum(G.Must(G.Tanh(p[0])), 1)), 5)
		})},
		{"sum-first-axis-2d", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Sum(G.Must(G.Tanh(p[0])), 0)), 6)
		})},
		{"sum-last-axis-3d", x(2, 3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Sum(G.Must(G.Tanh(p[0])), 2)), 7)
		})},
		{"mean-last-axis", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Mean(G.Must(G.Tanh(p[0])), 1)), 8)
		})},
		{"max-last-axis", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Max(G.Must(G.Tanh(p[0])), 1)), 9)
		})},
		{"sum-all", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Sum(G.Must(G.Tanh(p[0])))), 10)
		})},
		{"concat-axis0", []fdcheck.Param{P("a", r, 1, 2, 3), P("b", r, 1, 1, 3)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Concat(0, p[0], p[1])), 11) })},
		{"concat-axis1", []fdcheck.Param{P("a", r, 1, 2, 3), P("b", r, 1, 2, 2)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.Concat(1, p[0], p[1])), 12) })},
		{"slice-rows", x(4, 3), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Slice(p[0], G.S(1, 3))), 13)
		})},
		{"slice-cols", x(4, 3), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Slice(p[0], nil, G.S(0, 2))), 14)
		})},
		{"slice-row-to-vector", x(4, 3), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Slice(p[0], G.S(2))), 15)
		})},
		{"slice-to-scalar", x(4, 3), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			a := G.Must(G.Slice(p[0], G.S(1), G.S(2)))
			b := G.Must(G.Slice(p[0], G.S(3), G.S(0)))
			return curved(G.Must(G.Mul(a, G.Must(G.Exp(b)))), 16)
		})},
		{"transpose-2d", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Transpose(p[0])), 17)
		})},
		{"transpose-3d", x(2, 3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			return curved(G.Must(G.Transpose(p[0], 2, 0, 1)), 18)
		})},
		{"reshape", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			y := G.Must(autodiff.Reshape(G.Must(G.Tanh(p[0])), tensor.Shape{2, 6}))
			return curved(G.Must(G.Mul(y, G.Must(G.Transpose(y)))), 19)
		})},
		{"reshape-then-elementwise", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			y := G.Must(autodiff.Reshape(G.Must(G.Tanh(p[0])), tensor.Shape{6, 2}))
			return curved(y, 20)
		})},
		{"reshape-scalar-chain", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			s := G.Must(G.Sum(G.Must(G.Tanh(p[0]))))
			m := G.Must(autodiff.Reshape(s, tensor.Shape{1, 1}))
			e := G.Must(G.Exp(m))
			back := G.Must(autodiff.Reshape(e, tensor.Shape{}))
			return curved(G.Must(G.Mul(back, s)), 21)
		})},
		{"gorgonia-reshape-scalar-to-matrix", x(3, 4), safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			// gorgonia.Reshape from a scalar: its gradient is a reshape to ().
			s := G.Must(G.Sum(G.Must(G.Tanh(p[0]))))
			m := G.Must(G.Reshape(s, tensor.Shape{1, 1}))
			e := G.Must(G.Sum(G.Must(G.Exp(m))))
			return curved(G.Must(G.Mul(e, s)), 22)
		})},
	})
}

func TestComposed(t *testing.T) {
	r := rngFor(4)
	P := fdcheck.RandomParam
	const n, d, h, c = 5, 4, 6, 3
	xs := P("xs", r, 1, n, d)
	ys := oneHot("ys", n, c, 9)
	mlp := func(act func(*G.Node) *G.Node) fdcheck.Builder {
		return safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
			x, y := constant(g, xs), constant(g, ys)
			h1 := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, p[0])), p[1], nil, []byte{0}))
			a1 := act(h1)
			z := G.Must(G.BroadcastAdd(G.Must(G.Mul(a1, p[2])), p[3], nil, []byte{0}))
			return crossEntropy(z, y)
		})
	}
	mlpParams := func() []fdcheck.Param {
		return []fdcheck.Param{P("W1", r, 0.8, d, h), P("b1", r, 0.3, h), P("W2", r, 0.8, h, c), P("b2", r, 0.3, c)}
	}
	// Leaky ReLU nets: check at a point where no hidden unit is within the
	// stencil of its kink.
	leakyParams := mlpParams()
	leakyParams[1] = fdcheck.Param{Name: "b1", Shape: []int{h}, Data: []float64{0.31, -0.27, 0.45, -0.38, 0.22, 0.5}}

	const tq, dm = 4, 3
	seq := P("seq", r, 1, tq, dm)
	mask := fdcheck.Param{Name: "mask", Shape: []int{tq, tq}, Data: make([]float64, tq*tq)}
	for i := 0; i < tq; i++ {
		for j := i + 1; j < tq; j++ {
			mask.Data[i*tq+j] = -1e4
		}
	}
	runFDCases(t, []fdCase{
		{"leaky-relu-builtin", []fdcheck.Param{awayFromZero(P("x", r, 1, 3, 4))},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.LeakyRelu(p[0], 0.1)), 1) })},
		{"leaky-relu-composed", []fdcheck.Param{awayFromZero(P("x", r, 1, 3, 4))},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(leakyComposed(p[0], 0.2), 2) })},
		{"log-softmax-cross-entropy", []fdcheck.Param{P("z", r, 2, n, c)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return crossEntropy(p[0], constant(g, ys)) })},
		{"mlp-tanh", mlpParams(), mlp(func(x *G.Node) *G.Node { return G.Must(G.Tanh(x)) })},
		{"mlp-leaky-relu", leakyParams, mlp(func(x *G.Node) *G.Node { return leakyComposed(x, 0.1) })},
		{"causal-attention", []fdcheck.Param{P("Wq", r, 0.7, dm, dm), P("Wk", r, 0.7, dm, dm), P("Wv", r, 0.7, dm, dm)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				x, m := constant(g, seq), constant(g, mask)
				q, k, v := G.Must(G.Mul(x, p[0])), G.Must(G.Mul(x, p[1])), G.Must(G.Mul(x, p[2]))
				s := G.Must(G.Mul(q, G.Must(G.Transpose(k))))
				s = G.Must(G.HadamardProd(s, G.NewConstant(1/math.Sqrt(dm))))
				a := softmaxRows(G.Must(G.Add(s, m)))
				return curved(G.Must(G.Mul(a, v)), 3)
			})},
	})
}

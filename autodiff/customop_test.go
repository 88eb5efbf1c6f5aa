package autodiff_test

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// cubeOp is an op defined outside gorgonia, y = x³ elementwise, whose
// SymDiff builds a separate backward op (cubeGradOp) that is itself an SDOp,
// the pattern the ops package follows.
type cubeOp struct{}

// cubeGradOp computes 3x²·g from (x, g).
type cubeGradOp struct{}

func applyElementwise(vals []G.Value, f func(xs []float64) float64) (G.Value, error) {
	switch v0 := vals[0].Data().(type) {
	case float64:
		xs := make([]float64, len(vals))
		for i, v := range vals {
			xs[i] = v.Data().(float64)
		}
		return G.NewF64(f(xs)), nil
	case []float64:
		out := make([]float64, len(v0))
		xs := make([]float64, len(vals))
		for j := range out {
			for i, v := range vals {
				xs[i] = v.Data().([]float64)[j]
			}
			out[j] = f(xs)
		}
		return tensor.New(tensor.WithShape(vals[0].Shape().Clone()...), tensor.WithBacking(out)), nil
	default:
		return nil, fmt.Errorf("unsupported %T", v0)
	}
}

func hashOf(s string) uint32 { h := fnv.New32a(); h.Write([]byte(s)); return h.Sum32() }

func (cubeOp) Arity() int { return 1 }
func (cubeOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (cubeOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (cubeOp) Do(v ...G.Value) (G.Value, error) {
	return applyElementwise(v, func(x []float64) float64 { return x[0] * x[0] * x[0] })
}
func (cubeOp) ReturnsPtr() bool      { return false }
func (cubeOp) CallsExtern() bool     { return false }
func (cubeOp) OverwritesInput() int  { return -1 }
func (cubeOp) WriteHash(h hash.Hash) { h.Write([]byte("test.cube")) }
func (cubeOp) Hashcode() uint32      { return hashOf("test.cube") }
func (cubeOp) String() string        { return "cube" }
func (cubeOp) DiffWRT(int) []bool    { return []bool{true} }
func (cubeOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(cubeGradOp{}, in[0], grad)
	return G.Nodes{d}, err
}

func (cubeGradOp) Arity() int { return 2 }
func (cubeGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a, a)
}
func (cubeGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (cubeGradOp) Do(v ...G.Value) (G.Value, error) {
	return applyElementwise(v, func(x []float64) float64 { return 3 * x[0] * x[0] * x[1] })
}
func (cubeGradOp) ReturnsPtr() bool      { return false }
func (cubeGradOp) CallsExtern() bool     { return false }
func (cubeGradOp) OverwritesInput() int  { return -1 }
func (cubeGradOp) WriteHash(h hash.Hash) { h.Write([]byte("test.cubeGrad")) }
func (cubeGradOp) Hashcode() uint32      { return hashOf("test.cubeGrad") }
func (cubeGradOp) String() string        { return "cubeGrad" }
func (cubeGradOp) DiffWRT(int) []bool    { return []bool{true, true} }

// SymDiff of (x, g) ↦ 3x²g: ∂/∂x = 6xg·ḡ, ∂/∂g = 3x²·ḡ, written with built-ins.
func (cubeGradOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	x, g := in[0], in[1]
	mul := G.HadamardProd
	if x.IsScalar() {
		mul = G.Mul
	}
	xg, err := mul(x, g)
	if err != nil {
		return nil, err
	}
	dx, err := mul(G.Must(mul(xg, grad)), G.NewConstant(6.0))
	if err != nil {
		return nil, err
	}
	dg, err := mul(G.Must(mul(G.Must(G.Square(x)), grad)), G.NewConstant(3.0))
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dg}, nil
}

// notDifferentiableOp is an op without SDOp: y = 2x.
type notDifferentiableOp struct{}

func (notDifferentiableOp) Arity() int { return 1 }
func (notDifferentiableOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}
func (notDifferentiableOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (notDifferentiableOp) Do(v ...G.Value) (G.Value, error) {
	return applyElementwise(v, func(x []float64) float64 { return 2 * x[0] })
}
func (notDifferentiableOp) ReturnsPtr() bool      { return false }
func (notDifferentiableOp) CallsExtern() bool     { return false }
func (notDifferentiableOp) OverwritesInput() int  { return -1 }
func (notDifferentiableOp) WriteHash(h hash.Hash) { h.Write([]byte("test.twice")) }
func (notDifferentiableOp) Hashcode() uint32      { return hashOf("test.twice") }
func (notDifferentiableOp) String() string        { return "twice" }

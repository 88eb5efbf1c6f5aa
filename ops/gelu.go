package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// geluOp evaluates the order-th derivative of GELU elementwise: order 0 is
// GELU itself. Its SymDiff multiplies the incoming gradient by the op of the
// next order, so GELU can be differentiated to any order.
type geluOp struct {
	opBase
	order int
	tanh  bool // the tanh approximation instead of the exact erf form
	shape tensor.Shape
}

func (op *geluOp) Arity() int    { return 1 }
func (op *geluOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *geluOp) String() string {
	form := "erf"
	if op.tanh {
		form = "tanh"
	}
	return fmt.Sprintf("GELU{%s,order=%d,shape=%v}", form, op.order, op.shape)
}
func (op *geluOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *geluOp) Hashcode() uint32      { return hashOf(op) }
func (op *geluOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *geluOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, geluKernel[float64](op), geluKernel[float32](op))
}
func (op *geluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *geluOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: want 1 input, got %d", op, len(in))
	}
	d, err := apply(&geluOp{order: op.order + 1, tanh: op.tanh, shape: op.shape.Clone()}, in[0])
	if err != nil {
		return nil, err
	}
	dx, err := gorgonia.HadamardProd(g, d)
	return gorgonia.Nodes{dx}, err
}

func geluKernel[T float](op *geluOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], op.shape) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		out := make([]T, len(in[0]))
		for i, v := range in[0] {
			out[i] = T(kernels.GELUDeriv(float64(v), op.order, op.tanh))
		}
		return out, op.shape.Clone(), nil
	}
}

// GELU is x·Φ(x), Φ the standard normal distribution function.
func GELU(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&geluOp{shape: x.Shape().Clone()}, x)
}

// GELUTanh is the tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
func GELUTanh(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&geluOp{tanh: true, shape: x.Shape().Clone()}, x)
}

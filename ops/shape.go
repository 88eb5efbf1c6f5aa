package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reshapeOp copies its input into a new shape with the same number of
// elements. Unlike gorgonia's Reshape it never aliases the input, so
// reshaping a parameter or an input cannot let a later in-place op overwrite
// it. Its derivative is the reshape back.
type reshapeOp struct {
	opBase
	from, to tensor.Shape
}

func (op *reshapeOp) Arity() int            { return 1 }
func (op *reshapeOp) Type() hm.Type         { return fnType(len(op.from), len(op.to)) }
func (op *reshapeOp) String() string        { return fmt.Sprintf("Reshape{from=%v,to=%v}", op.from, op.to) }
func (op *reshapeOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *reshapeOp) Hashcode() uint32      { return hashOf(op) }
func (op *reshapeOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.from) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.to.Clone(), nil
}
func (op *reshapeOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, reshapeKernel[float64](op), reshapeKernel[float32](op))
}
func (op *reshapeOp) DiffWRT(int) []bool { return []bool{true} }
func (op *reshapeOp) SymDiff(_ gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(&reshapeOp{from: op.to, to: op.from}, g)
	return gorgonia.Nodes{d}, err
}

func reshapeKernel[T float](op *reshapeOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], op.from) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		return append([]T(nil), in[0]...), op.to.Clone(), nil
	}
}

// Reshape copies x into the given shape (same number of elements; the empty
// shape makes a scalar of a one-element x).
func Reshape(x *gorgonia.Node, shape tensor.Shape) (*gorgonia.Node, error) {
	from := x.Shape()
	if max(from.TotalSize(), 1) != max(shape.TotalSize(), 1) || (len(shape) == 0 && from.TotalSize() > 1) {
		return nil, fmt.Errorf("ops: reshape %v to %v: sizes differ", from, shape)
	}
	return apply(&reshapeOp{from: from.Clone(), to: shape.Clone()}, x)
}

// Flatten reshapes x=[N,...] to [N, rest].
func Flatten(x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape()
	if len(s) < 1 {
		return nil, fmt.Errorf("ops: flatten of a scalar")
	}
	return Reshape(x, tensor.Shape{s[0], s.TotalSize() / s[0]})
}

// AddBias adds the vector b, of length x.Shape()[axis], to x along axis
// (for example axis 1 for the channels of NCHW, or the last axis of a
// linear layer's output).
func AddBias(x, b *gorgonia.Node, axis int) (*gorgonia.Node, error) {
	s := x.Shape()
	k, err := normAxis(axis, len(s))
	if err != nil {
		return nil, fmt.Errorf("ops: add bias: %w", err)
	}
	if b.Dims() != 1 || b.Shape()[0] != s[k] {
		return nil, fmt.Errorf("ops: add bias: bias %v for axis %d of %v", b.Shape(), k, s)
	}
	others := make([]int, 0, len(s)-1)
	for i := range s {
		if i != k {
			others = append(others, i)
		}
	}
	be, err := ExpandAs(b, s, others...)
	if err != nil {
		return nil, err
	}
	y, err := gorgonia.Add(x, be)
	if err != nil {
		return nil, fmt.Errorf("ops: add bias: %w", err)
	}
	return y, nil
}

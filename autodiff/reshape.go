package autodiff

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Reshape returns x reshaped to shape, with its own copy of the data.
//
// gorgonia.Reshape returns a value that shares x's memory while the compiler
// treats the two as independent registers: an in-place op on the reshaped
// value later overwrites x, so anything that still reads x (the derivative of
// the op that produced x, for example) reads garbage. That is a silent error
// in first derivatives already whenever x is an intermediate node. This
// Reshape copies, is its own derivative (reshaped back, again by copy) and
// produces true scalar values for the shape (). The backward pass of this
// package also uses it in place of the gradient of gorgonia.Reshape.
func Reshape(x *gorgonia.Node, shape tensor.Shape) (*gorgonia.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("autodiff: Reshape: nil node")
	}
	from := x.Shape().Clone()
	if x.IsScalar() {
		from = tensor.Shape{}
	}
	if from.TotalSize() != shape.TotalSize() {
		return nil, fmt.Errorf("autodiff: Reshape: %q has shape %v, cannot reshape to %v", x.Name(), from, shape)
	}
	n, err := gorgonia.ApplyOp(reshapeOp{from: from, to: shape.Clone()}, x)
	if err != nil {
		return nil, fmt.Errorf("autodiff: Reshape %q to %v: %w", x.Name(), shape, err)
	}
	return n, nil
}

// reshapeOp is a copying reshape; see Reshape.
type reshapeOp struct {
	from, to tensor.Shape
}

func (op reshapeOp) Arity() int { return 1 }

func (op reshapeOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	t := func(dims int) hm.Type {
		if dims == 0 {
			return a
		}
		return gorgonia.TensorType{Dims: dims, Of: a}
	}
	return hm.NewFnType(t(op.from.Dims()), t(op.to.Dims()))
}

func (op reshapeOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return op.to.Clone(), nil
}

func (op reshapeOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vals) != 1 {
		return nil, fmt.Errorf("autodiff: %v: want 1 input, got %d", op, len(vals))
	}
	v := vals[0]
	if v.Shape().TotalSize() != op.to.TotalSize() && !(len(v.Shape()) == 0 && op.to.TotalSize() == 1) {
		return nil, fmt.Errorf("autodiff: %v: input has shape %v", op, v.Shape())
	}
	var data interface{}
	switch d := v.Data().(type) {
	case float64:
		data = []float64{d}
	case float32:
		data = []float32{d}
	case []float64:
		data = append([]float64(nil), d...)
	case []float32:
		data = append([]float32(nil), d...)
	default:
		return nil, fmt.Errorf("autodiff: %v: unsupported data %T", op, d)
	}
	if len(op.to) == 0 {
		switch d := data.(type) {
		case []float64:
			return gorgonia.NewF64(d[0]), nil
		case []float32:
			return gorgonia.NewF32(d[0]), nil
		}
	}
	return tensor.New(tensor.WithShape(op.to.Clone()...), tensor.WithBacking(data)), nil
}

func (op reshapeOp) ReturnsPtr() bool     { return false }
func (op reshapeOp) CallsExtern() bool    { return false }
func (op reshapeOp) OverwritesInput() int { return -1 }

func (op reshapeOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "autodiff.Reshape %v -> %v", op.from, op.to)
}

func (op reshapeOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op reshapeOp) String() string { return fmt.Sprintf("CopyReshape%v", op.to) }

// DiffWRT implements gorgonia.SDOp.
func (op reshapeOp) DiffWRT(inputs int) []bool { return []bool{true} }

// SymDiff implements gorgonia.SDOp: the gradient is reshaped back.
func (op reshapeOp) SymDiff(inputs gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	back, err := gorgonia.ApplyOp(reshapeOp{from: op.to.Clone(), to: op.from.Clone()}, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{back}, nil
}

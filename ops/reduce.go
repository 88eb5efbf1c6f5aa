package ops

import (
	"fmt"
	"hash"
	"sort"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// sumAxisOp sums over one axis of an N-D tensor and multiplies by scale. Its
// derivative is expandAxisOp with the same axis and scale, and vice versa.
type sumAxisOp struct {
	opBase
	axis  int
	in    tensor.Shape
	scale float64
}

// expandAxisOp inserts an axis of size out[axis] by repetition and multiplies
// by scale: the adjoint of sumAxisOp.
type expandAxisOp struct {
	opBase
	axis  int
	out   tensor.Shape
	scale float64
}

// sumAllOp sums all elements into a scalar, times scale.
type sumAllOp struct {
	opBase
	in    tensor.Shape
	scale float64
}

// fillOp spreads a scalar over a tensor of shape out, times scale: the adjoint
// of sumAllOp.
type fillOp struct {
	opBase
	out   tensor.Shape
	scale float64
}

// dropAxis returns s without axis k.
func dropAxis(s tensor.Shape, k int) tensor.Shape {
	r := make(tensor.Shape, 0, len(s)-1)
	r = append(r, s[:k]...)
	return append(r, s[k+1:]...)
}

// splitAt returns the products of the dimensions before and after axis k.
func splitAt(s tensor.Shape, k int) (outer, inner int) {
	outer, inner = 1, 1
	for i, d := range s {
		switch {
		case i < k:
			outer *= d
		case i > k:
			inner *= d
		}
	}
	return outer, inner
}

func (op *sumAxisOp) Arity() int    { return 1 }
func (op *sumAxisOp) Type() hm.Type { return fnType(len(op.in), len(op.in)-1) }
func (op *sumAxisOp) String() string {
	return fmt.Sprintf("SumAxis{axis=%d,in=%v,scale=%v}", op.axis, op.in, op.scale)
}
func (op *sumAxisOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *sumAxisOp) Hashcode() uint32      { return hashOf(op) }
func (op *sumAxisOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.in) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return dropAxis(op.in, op.axis), nil
}
func (op *sumAxisOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, sumAxisKernel[float64](op.axis, op.in, op.scale), sumAxisKernel[float32](op.axis, op.in, op.scale))
}
func (op *sumAxisOp) DiffWRT(int) []bool { return []bool{true} }
func (op *sumAxisOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	n, err := apply(&expandAxisOp{axis: op.axis, out: op.in, scale: op.scale}, grad)
	return gorgonia.Nodes{n}, err
}

func sumAxisKernel[T float](axis int, in tensor.Shape, scale float64) kernel[T] {
	return func(x [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], in) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		outer, inner := splitAt(in, axis)
		n := in[axis]
		out := make([]T, outer*inner)
		s := T(scale)
		for o := 0; o < outer; o++ {
			dst := out[o*inner : (o+1)*inner]
			for k := 0; k < n; k++ {
				src := x[0][(o*n+k)*inner : (o*n+k+1)*inner]
				for i, v := range src {
					dst[i] += v
				}
			}
			for i := range dst {
				dst[i] *= s
			}
		}
		return out, dropAxis(in, axis), nil
	}
}

func (op *expandAxisOp) Arity() int    { return 1 }
func (op *expandAxisOp) Type() hm.Type { return fnType(len(op.out)-1, len(op.out)) }
func (op *expandAxisOp) String() string {
	return fmt.Sprintf("ExpandAxis{axis=%d,out=%v,scale=%v}", op.axis, op.out, op.scale)
}
func (op *expandAxisOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *expandAxisOp) Hashcode() uint32      { return hashOf(op) }
func (op *expandAxisOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], dropAxis(op.out, op.axis)) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.out.Clone(), nil
}
func (op *expandAxisOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, expandAxisKernel[float64](op.axis, op.out, op.scale), expandAxisKernel[float32](op.axis, op.out, op.scale))
}
func (op *expandAxisOp) DiffWRT(int) []bool { return []bool{true} }
func (op *expandAxisOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	n, err := apply(&sumAxisOp{axis: op.axis, in: op.out, scale: op.scale}, grad)
	return gorgonia.Nodes{n}, err
}

func expandAxisKernel[T float](axis int, outShape tensor.Shape, scale float64) kernel[T] {
	return func(x [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], dropAxis(outShape, axis)) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		outer, inner := splitAt(outShape, axis)
		n := outShape[axis]
		out := make([]T, outer*n*inner)
		s := T(scale)
		for o := 0; o < outer; o++ {
			src := x[0][o*inner : (o+1)*inner]
			for k := 0; k < n; k++ {
				dst := out[(o*n+k)*inner : (o*n+k+1)*inner]
				for i, v := range src {
					dst[i] = s * v
				}
			}
		}
		return out, outShape.Clone(), nil
	}
}

func (op *sumAllOp) Arity() int            { return 1 }
func (op *sumAllOp) Type() hm.Type         { return fnType(len(op.in), 0) }
func (op *sumAllOp) String() string        { return fmt.Sprintf("SumAll{in=%v,scale=%v}", op.in, op.scale) }
func (op *sumAllOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *sumAllOp) Hashcode() uint32      { return hashOf(op) }
func (op *sumAllOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.in) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return tensor.ScalarShape(), nil
}
func (op *sumAllOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, sumAllKernel[float64](op.scale), sumAllKernel[float32](op.scale))
}
func (op *sumAllOp) DiffWRT(int) []bool { return []bool{true} }
func (op *sumAllOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	n, err := apply(&fillOp{out: op.in, scale: op.scale}, grad)
	return gorgonia.Nodes{n}, err
}

func sumAllKernel[T float](scale float64) kernel[T] {
	return func(x [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		var s float64
		for _, v := range x[0] {
			s += float64(v)
		}
		return []T{T(s * scale)}, tensor.ScalarShape(), nil
	}
}

func (op *fillOp) Arity() int            { return 1 }
func (op *fillOp) Type() hm.Type         { return fnType(0, len(op.out)) }
func (op *fillOp) String() string        { return fmt.Sprintf("Fill{out=%v,scale=%v}", op.out, op.scale) }
func (op *fillOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *fillOp) Hashcode() uint32      { return hashOf(op) }
func (op *fillOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if ss[0].TotalSize() != 1 || len(ss[0]) != 0 {
		return nil, fmt.Errorf("%v: input shape %v is not a scalar", op, ss[0])
	}
	return op.out.Clone(), nil
}
func (op *fillOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, fillKernel[float64](op.out, op.scale), fillKernel[float32](op.out, op.scale))
}
func (op *fillOp) DiffWRT(int) []bool { return []bool{true} }
func (op *fillOp) SymDiff(_ gorgonia.Nodes, _, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	n, err := apply(&sumAllOp{in: op.out, scale: op.scale}, grad)
	return gorgonia.Nodes{n}, err
}

func fillKernel[T float](outShape tensor.Shape, scale float64) kernel[T] {
	return func(x [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		out := make([]T, outShape.TotalSize())
		v := x[0][0] * T(scale)
		for i := range out {
			out[i] = v
		}
		return out, outShape.Clone(), nil
	}
}

// normAxis resolves a possibly negative axis against dims dimensions.
func normAxis(axis, dims int) (int, error) {
	if axis < 0 {
		axis += dims
	}
	if axis < 0 || axis >= dims {
		return 0, fmt.Errorf("axis %d out of range for %d dimensions", axis, dims)
	}
	return axis, nil
}

func scaledSumAxis(x *gorgonia.Node, axis int, mean bool) (*gorgonia.Node, error) {
	s := x.Shape()
	k, err := normAxis(axis, len(s))
	if err != nil {
		return nil, fmt.Errorf("ops: reduce %v: %w", s, err)
	}
	scale := 1.0
	if mean {
		scale = 1 / float64(s[k])
	}
	return apply(&sumAxisOp{axis: k, in: s.Clone(), scale: scale}, x)
}

// SumAxis sums x over one axis (negative counts from the end); the axis is
// removed from the result, and summing a vector gives a scalar.
func SumAxis(x *gorgonia.Node, axis int) (*gorgonia.Node, error) {
	return scaledSumAxis(x, axis, false)
}

// MeanAxis averages x over one axis, removing it.
func MeanAxis(x *gorgonia.Node, axis int) (*gorgonia.Node, error) {
	return scaledSumAxis(x, axis, true)
}

func reduceAxes(x *gorgonia.Node, mean bool, axes []int) (*gorgonia.Node, error) {
	ks := make([]int, len(axes))
	for i, a := range axes {
		k, err := normAxis(a, x.Dims())
		if err != nil {
			return nil, fmt.Errorf("ops: reduce %v: %w", x.Shape(), err)
		}
		ks[i] = k
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ks)))
	for i := 1; i < len(ks); i++ {
		if ks[i] == ks[i-1] {
			return nil, fmt.Errorf("ops: reduce %v: axis %d given twice", x.Shape(), ks[i])
		}
	}
	var err error
	for _, k := range ks {
		if x, err = scaledSumAxis(x, k, mean); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// Sum sums x over the given axes (all of them removed from the result).
func Sum(x *gorgonia.Node, axes ...int) (*gorgonia.Node, error) { return reduceAxes(x, false, axes) }

// Mean averages x over the given axes (all of them removed from the result).
func Mean(x *gorgonia.Node, axes ...int) (*gorgonia.Node, error) { return reduceAxes(x, true, axes) }

// SumAll sums every element of x into a scalar.
func SumAll(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&sumAllOp{in: x.Shape().Clone(), scale: 1}, x)
}

// MeanAll averages every element of x into a scalar.
func MeanAll(x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape().Clone()
	return apply(&sumAllOp{in: s, scale: 1 / float64(s.TotalSize())}, x)
}

// Expand inserts a new axis at position axis of size n, repeating x along it
// (the adjoint of SumAxis). axis may equal x.Dims() to append a last axis.
func Expand(x *gorgonia.Node, axis, n int) (*gorgonia.Node, error) {
	s := x.Shape()
	if axis < 0 {
		axis += len(s) + 1
	}
	if axis < 0 || axis > len(s) || n < 1 {
		return nil, fmt.Errorf("ops: expand %v at axis %d to size %d: out of range", s, axis, n)
	}
	out := make(tensor.Shape, 0, len(s)+1)
	out = append(out, s[:axis]...)
	out = append(out, n)
	out = append(out, s[axis:]...)
	return apply(&expandAxisOp{axis: axis, out: out, scale: 1}, x)
}

// Fill spreads the scalar node s over a tensor of the given shape (the
// adjoint of SumAll).
func Fill(s *gorgonia.Node, shape tensor.Shape) (*gorgonia.Node, error) {
	if !s.IsScalar() {
		return nil, fmt.Errorf("ops: fill: input of shape %v is not a scalar", s.Shape())
	}
	return apply(&fillOp{out: shape.Clone(), scale: 1}, s)
}

// ExpandAs broadcasts x, whose shape is that of target with the axes listed
// in axes removed, back to target's shape by repetition.
func ExpandAs(x *gorgonia.Node, target tensor.Shape, axes ...int) (*gorgonia.Node, error) {
	ks := make([]int, len(axes))
	for i, a := range axes {
		k, err := normAxis(a, len(target))
		if err != nil {
			return nil, fmt.Errorf("ops: expand to %v: %w", target, err)
		}
		ks[i] = k
	}
	sort.Ints(ks)
	var err error
	for _, k := range ks {
		if x, err = Expand(x, k, target[k]); err != nil {
			return nil, err
		}
	}
	if !sameShape(x.Shape(), target) {
		return nil, fmt.Errorf("ops: expand to %v over axes %v gave %v", target, axes, x.Shape())
	}
	return x, nil
}

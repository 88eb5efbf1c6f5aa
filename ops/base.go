package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// float is the set of element types the kernels of this package handle.
type float interface{ ~float32 | ~float64 }

// opBase supplies the Op methods that are the same for every op in this
// package: outputs are freshly allocated, never aliases of an input.
type opBase struct{}

func (opBase) ReturnsPtr() bool     { return false }
func (opBase) CallsExtern() bool    { return false }
func (opBase) OverwritesInput() int { return -1 }

// hashOf hashes an op through its WriteHash method.
func hashOf(op gorgonia.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// writeHash writes the op's full description (which names every parameter)
// into h.
func writeHash(h hash.Hash, s fmt.Stringer) { fmt.Fprint(h, s.String()) }

// typeOfDims is the hm type of a value with the given number of dimensions
// over element type a: the bare type variable for scalars.
func typeOfDims(dims int, a hm.TypeVariable) hm.Type {
	if dims == 0 {
		return a
	}
	return gorgonia.TensorType{Dims: dims, Of: a}
}

// fnType builds the function type in -> ... -> out from dimension counts, all
// over the same element type.
func fnType(dims ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, len(dims))
	for i, d := range dims {
		ts[i] = typeOfDims(d, a)
	}
	return hm.NewFnType(ts...)
}

// shapesOf converts the DimSizers gorgonia hands to InferShape.
func shapesOf(op gorgonia.Op, ds []gorgonia.DimSizer) ([]tensor.Shape, error) {
	if len(ds) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d input shapes, got %d", op, op.Arity(), len(ds))
	}
	ss, err := gorgonia.DimSizersToShapes(ds)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return ss, nil
}

// flat returns the elements of v in row-major order (a copy only when v is a
// strided view) and its shape.
func flat[T float](v gorgonia.Value) ([]T, tensor.Shape, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		if x.IsMaterializable() {
			x = x.Materialize().(*tensor.Dense)
		}
		if x.IsScalar() {
			s, ok := x.ScalarValue().(T)
			if !ok {
				return nil, nil, fmt.Errorf("scalar of type %T, want %T", x.ScalarValue(), s)
			}
			return []T{s}, tensor.ScalarShape(), nil
		}
		d, ok := x.Data().([]T)
		if !ok {
			return nil, nil, fmt.Errorf("tensor of dtype %v does not hold %T", x.Dtype(), T(0))
		}
		return d[:x.Shape().TotalSize()], x.Shape(), nil
	case *gorgonia.F64:
		var t T
		if _, ok := any(t).(float64); !ok {
			return nil, nil, fmt.Errorf("float64 scalar where %T is expected", t)
		}
		return []T{T(*x)}, tensor.ScalarShape(), nil
	case *gorgonia.F32:
		var t T
		if _, ok := any(t).(float32); !ok {
			return nil, nil, fmt.Errorf("float32 scalar where %T is expected", t)
		}
		return []T{T(*x)}, tensor.ScalarShape(), nil
	}
	return nil, nil, fmt.Errorf("unsupported value %T", v)
}

// pack wraps data as a value of the given shape: a gorgonia scalar for the
// empty shape, a dense tensor otherwise.
func pack[T float](data []T, shape tensor.Shape) gorgonia.Value {
	if len(shape) == 0 {
		switch s := any(data[0]).(type) {
		case float64:
			return gorgonia.NewF64(s)
		case float32:
			return gorgonia.NewF32(s)
		}
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(data))
}

// inputs unpacks all values of a Do call as slices of T with their shapes.
func inputs[T float](op gorgonia.Op, vs []gorgonia.Value) ([][]T, []tensor.Shape, error) {
	if len(vs) != op.Arity() {
		return nil, nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(vs))
	}
	ds := make([][]T, len(vs))
	ss := make([]tensor.Shape, len(vs))
	for i, v := range vs {
		d, s, err := flat[T](v)
		if err != nil {
			return nil, nil, fmt.Errorf("%v: input %d: %w", op, i, err)
		}
		ds[i], ss[i] = d, s
	}
	return ds, ss, nil
}

// dtypeOfValues returns the common dtype of the values, which must be Float64
// or Float32.
func dtypeOfValues(op gorgonia.Op, vs []gorgonia.Value) (tensor.Dtype, error) {
	if len(vs) == 0 {
		return tensor.Dtype{}, fmt.Errorf("%v: no inputs", op)
	}
	dt := vs[0].Dtype()
	for i, v := range vs[1:] {
		if v.Dtype() != dt {
			return tensor.Dtype{}, fmt.Errorf("%v: input %d has dtype %v, input 0 has %v", op, i+1, v.Dtype(), dt)
		}
	}
	if dt != tensor.Float64 && dt != tensor.Float32 {
		return tensor.Dtype{}, fmt.Errorf("%v: unsupported dtype %v", op, dt)
	}
	return dt, nil
}

// kernel is a typed forward computation: input slices and shapes in, output
// slice and shape out.
type kernel[T float] func(in [][]T, shapes []tensor.Shape) ([]T, tensor.Shape, error)

// doFloat dispatches a Do call on the dtype of its inputs to the float64 or
// float32 instance of a kernel.
func doFloat(op gorgonia.Op, vs []gorgonia.Value, k64 kernel[float64], k32 kernel[float32]) (gorgonia.Value, error) {
	dt, err := dtypeOfValues(op, vs)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Float64 {
		return run(op, vs, k64)
	}
	return run(op, vs, k32)
}

func run[T float](op gorgonia.Op, vs []gorgonia.Value, k kernel[T]) (gorgonia.Value, error) {
	in, shapes, err := inputs[T](op, vs)
	if err != nil {
		return nil, err
	}
	out, shape, err := k(in, shapes)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return pack(out, shape), nil
}

// sameShape reports whether two shapes are equal (scalars included).
func sameShape(a, b tensor.Shape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// apply wraps gorgonia.ApplyOp with the op's name in the error.
func apply(op gorgonia.Op, children ...*gorgonia.Node) (*gorgonia.Node, error) {
	n, err := gorgonia.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return n, nil
}

package ops

import (
	"fmt"
	"hash"
	"math"
	"math/rand/v2"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gatherOp reads rows of a [V,D] table at integer ids (stored as floats of the
// table's dtype) of shape ids, giving ids×[D] (scatter=false); its adjoint
// (scatter=true) adds rows of a gradient of shape ids×[D] into a [V,D] table
// at the same ids. Both are linear in their first input and have no
// derivative with respect to the ids; each is the other's derivative.
type gatherOp struct {
	opBase
	scatter bool
	table   tensor.Shape // [V, D]
	ids     tensor.Shape
}

func (op *gatherOp) rows() tensor.Shape {
	s := append(op.ids.Clone(), op.table[1])
	return s
}

func (op *gatherOp) Arity() int { return 2 }
func (op *gatherOp) Type() hm.Type {
	if op.scatter {
		return fnType(len(op.ids)+1, len(op.ids), 2)
	}
	return fnType(2, len(op.ids), len(op.ids)+1)
}
func (op *gatherOp) String() string {
	name := "Gather"
	if op.scatter {
		name = "ScatterAdd"
	}
	return fmt.Sprintf("%s{table=%v,ids=%v}", name, op.table, op.ids)
}
func (op *gatherOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *gatherOp) Hashcode() uint32      { return hashOf(op) }
func (op *gatherOp) shapes() (in []tensor.Shape, out tensor.Shape) {
	if op.scatter {
		return []tensor.Shape{op.rows(), op.ids}, op.table
	}
	return []tensor.Shape{op.table, op.ids}, op.rows()
}
func (op *gatherOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	want, out := op.shapes()
	if err := checkShapes(ss, want); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return out.Clone(), nil
}
func (op *gatherOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, gatherKernel[float64](op), gatherKernel[float32](op))
}
func (op *gatherOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *gatherOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs, got %d", op, len(in))
	}
	d, err := apply(&gatherOp{scatter: !op.scatter, table: op.table, ids: op.ids}, g, in[1])
	return gorgonia.Nodes{d, nil}, err
}

func gatherKernel[T float](op *gatherOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		want, outShape := op.shapes()
		if err := checkShapes(ss, want); err != nil {
			return nil, nil, err
		}
		v, d := op.table[0], op.table[1]
		src, ids := in[0], in[1]
		out := make([]T, outShape.TotalSize())
		for k, f := range ids {
			id := int(f)
			if float64(id) != float64(f) || id < 0 || id >= v {
				return nil, nil, fmt.Errorf("id %v at %d is not an integer in [0,%d)", f, k, v)
			}
			if op.scatter {
				row, g := out[id*d:(id+1)*d], src[k*d:(k+1)*d]
				for j := range row {
					row[j] += g[j]
				}
			} else {
				copy(out[k*d:(k+1)*d], src[id*d:(id+1)*d])
			}
		}
		return out, outShape.Clone(), nil
	}
}

// Embedding looks up rows of table=[V,D] at ids, a node of any shape S
// holding integer values in the table's float dtype (see IDs); the result
// has shape S×[D]. The gradient adds into the rows of the table.
func Embedding(table, ids *gorgonia.Node) (*gorgonia.Node, error) {
	ts := table.Shape()
	if len(ts) != 2 {
		return nil, fmt.Errorf("ops: embedding: table shape %v is not [V,D]", ts)
	}
	if ids.Dtype() != table.Dtype() {
		return nil, fmt.Errorf("ops: embedding: ids of dtype %v for a %v table", ids.Dtype(), table.Dtype())
	}
	return apply(&gatherOp{table: ts.Clone(), ids: ids.Shape().Clone()}, table, ids)
}

// IDs stores integer ids as a tensor of the given shape and float dtype, the
// form Embedding takes.
func IDs(ids []int, shape tensor.Shape, dt tensor.Dtype) (*tensor.Dense, error) {
	if shape.TotalSize() != len(ids) {
		return nil, fmt.Errorf("ops: %d ids for shape %v", len(ids), shape)
	}
	switch dt {
	case tensor.Float64:
		d := make([]float64, len(ids))
		for i, v := range ids {
			d[i] = float64(v)
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d)), nil
	case tensor.Float32:
		d := make([]float32, len(ids))
		for i, v := range ids {
			if v > 1<<24 || v < -(1<<24) {
				return nil, fmt.Errorf("ops: id %d is not exact in float32", v)
			}
			d[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d)), nil
	}
	return nil, fmt.Errorf("ops: ids: unsupported dtype %v", dt)
}

// Dropout multiplies x by mask, a node of x's shape holding the values of
// DropoutMask; keeping the mask an input lets the caller choose it per step
// and keep it fixed across gradient and Hessian-vector evaluations.
func Dropout(x, mask *gorgonia.Node) (*gorgonia.Node, error) {
	if !sameShape(x.Shape(), mask.Shape()) {
		return nil, fmt.Errorf("ops: dropout: mask shape %v for input %v", mask.Shape(), x.Shape())
	}
	y, err := gorgonia.HadamardProd(x, mask)
	if err != nil {
		return nil, fmt.Errorf("ops: dropout: %w", err)
	}
	return y, nil
}

// DropoutMask draws an inverted-dropout mask: each entry is 0 with
// probability p and 1/(1-p) otherwise.
func DropoutMask(rng *rand.Rand, shape tensor.Shape, p float64, dt tensor.Dtype) (*tensor.Dense, error) {
	if p < 0 || p >= 1 || math.IsNaN(p) {
		return nil, fmt.Errorf("ops: dropout probability %v outside [0,1)", p)
	}
	keep := 1 / (1 - p)
	n := shape.TotalSize()
	switch dt {
	case tensor.Float64:
		d := make([]float64, n)
		for i := range d {
			if rng.Float64() >= p {
				d[i] = keep
			}
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d)), nil
	case tensor.Float32:
		d := make([]float32, n)
		for i := range d {
			if rng.Float64() >= p {
				d[i] = float32(keep)
			}
		}
		return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d)), nil
	}
	return nil, fmt.Errorf("ops: dropout mask: unsupported dtype %v", dt)
}

// upsampleOp repeats each pixel of an NCHW tensor s×s times (adjoint=false)
// or sums s×s blocks (adjoint=true, its derivative); each is the other's
// derivative.
type upsampleOp struct {
	opBase
	adjoint bool
	s       int
	x       tensor.Shape // the small (input of the upsampling) shape
}

func (op *upsampleOp) big() tensor.Shape {
	return tensor.Shape{op.x[0], op.x[1], op.x[2] * op.s, op.x[3] * op.s}
}
func (op *upsampleOp) Arity() int    { return 1 }
func (op *upsampleOp) Type() hm.Type { return fnType(4, 4) }
func (op *upsampleOp) String() string {
	if op.adjoint {
		return fmt.Sprintf("UpsampleNearestAdjoint{scale=%d,x=%v}", op.s, op.x)
	}
	return fmt.Sprintf("UpsampleNearest{scale=%d,x=%v}", op.s, op.x)
}
func (op *upsampleOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *upsampleOp) Hashcode() uint32      { return hashOf(op) }
func (op *upsampleOp) shapes() (in, out tensor.Shape) {
	if op.adjoint {
		return op.big(), op.x
	}
	return op.x, op.big()
}
func (op *upsampleOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	in, out := op.shapes()
	if !sameShape(ss[0], in) {
		return nil, fmt.Errorf("%v: input shape %v, want %v", op, ss[0], in)
	}
	return out.Clone(), nil
}
func (op *upsampleOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, upsampleKernel[float64](op), upsampleKernel[float32](op))
}
func (op *upsampleOp) DiffWRT(int) []bool { return []bool{true} }
func (op *upsampleOp) SymDiff(_ gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(&upsampleOp{adjoint: !op.adjoint, s: op.s, x: op.x}, g)
	return gorgonia.Nodes{d}, err
}

func upsampleKernel[T float](op *upsampleOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		inShape, outShape := op.shapes()
		if !sameShape(ss[0], inShape) {
			return nil, nil, fmt.Errorf("input shape %v, want %v", ss[0], inShape)
		}
		planes, h, w, s := op.x[0]*op.x[1], op.x[2], op.x[3], op.s
		out := make([]T, outShape.TotalSize())
		src := in[0]
		for p := 0; p < planes; p++ {
			for y := 0; y < h*s; y++ {
				for x := 0; x < w*s; x++ {
					big := (p*h*s+y)*w*s + x
					small := (p*h+y/s)*w + x/s
					if op.adjoint {
						out[small] += src[big]
					} else {
						out[big] = src[small]
					}
				}
			}
		}
		return out, outShape.Clone(), nil
	}
}

// UpsampleNearest repeats every pixel of the NCHW input scale×scale times.
func UpsampleNearest(x *gorgonia.Node, scale int) (*gorgonia.Node, error) {
	if x.Dims() != 4 || scale < 1 {
		return nil, fmt.Errorf("ops: upsample: input %v, scale %d", x.Shape(), scale)
	}
	return apply(&upsampleOp{s: scale, x: x.Shape().Clone()}, x)
}

package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softmaxOp computes softmax (log=false) or log-softmax (log=true) over the
// last axis of a tensor of shape in.
type softmaxOp struct {
	opBase
	in  tensor.Shape
	log bool
}

func (op *softmaxOp) Arity() int    { return 1 }
func (op *softmaxOp) Type() hm.Type { return fnType(len(op.in), len(op.in)) }
func (op *softmaxOp) String() string {
	if op.log {
		return fmt.Sprintf("LogSoftmax{in=%v}", op.in)
	}
	return fmt.Sprintf("Softmax{in=%v}", op.in)
}
func (op *softmaxOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *softmaxOp) Hashcode() uint32      { return hashOf(op) }
func (op *softmaxOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.in) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.in.Clone(), nil
}
func (op *softmaxOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, softmaxKernel[float64](op.in, op.log), softmaxKernel[float32](op.in, op.log))
}
func (op *softmaxOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: for y = log softmax(x), dx = g - exp(y)·Σg; for y = softmax(x),
// dx = y ⊙ (g - Σ(g⊙y)), sums over the last axis.
func (op *softmaxOp) SymDiff(_ gorgonia.Nodes, y, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.log {
		p, err := gorgonia.Exp(y)
		if err != nil {
			return nil, err
		}
		s, err := rowSumExpanded(g, op.in)
		if err != nil {
			return nil, err
		}
		ps, err := gorgonia.HadamardProd(p, s)
		if err != nil {
			return nil, err
		}
		dx, err := gorgonia.Sub(g, ps)
		return gorgonia.Nodes{dx}, err
	}
	gy, err := gorgonia.HadamardProd(g, y)
	if err != nil {
		return nil, err
	}
	s, err := rowSumExpanded(gy, op.in)
	if err != nil {
		return nil, err
	}
	d, err := gorgonia.Sub(g, s)
	if err != nil {
		return nil, err
	}
	dx, err := gorgonia.HadamardProd(y, d)
	return gorgonia.Nodes{dx}, err
}

// rowSumExpanded sums x over its last axis and repeats the sums back over that
// axis, giving a tensor of x's shape.
func rowSumExpanded(x *gorgonia.Node, shape tensor.Shape) (*gorgonia.Node, error) {
	last := len(shape) - 1
	s, err := apply(&sumAxisOp{axis: last, in: shape.Clone(), scale: 1}, x)
	if err != nil {
		return nil, err
	}
	return apply(&expandAxisOp{axis: last, out: shape.Clone(), scale: 1}, s)
}

func softmaxKernel[T float](in tensor.Shape, log bool) kernel[T] {
	return func(x [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], in) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		c := in[len(in)-1]
		out := make([]T, len(x[0]))
		for r := 0; r < len(x[0]); r += c {
			row, dst := x[0][r:r+c], out[r:r+c]
			lse := logSumExp(row)
			for j, v := range row {
				if log {
					dst[j] = T(float64(v) - lse)
				} else {
					dst[j] = T(math.Exp(float64(v) - lse))
				}
			}
		}
		return out, in.Clone(), nil
	}
}

// logSumExp is log Σ exp(row), computed in float64 around the row maximum.
func logSumExp[T float](row []T) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// softmaxCEOp is the cross-entropy between softmax(x) over the last axis and
// targets t of the same shape, summed over the last axis and averaged over
// all other positions: -(1/N) Σ t ⊙ log softmax(x).
type softmaxCEOp struct {
	opBase
	in tensor.Shape
}

func (op *softmaxCEOp) Arity() int            { return 2 }
func (op *softmaxCEOp) Type() hm.Type         { return fnType(len(op.in), len(op.in), 0) }
func (op *softmaxCEOp) String() string        { return fmt.Sprintf("SoftmaxCrossEntropy{in=%v}", op.in) }
func (op *softmaxCEOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *softmaxCEOp) Hashcode() uint32      { return hashOf(op) }
func (op *softmaxCEOp) rows() int             { return op.in.TotalSize() / op.in[len(op.in)-1] }
func (op *softmaxCEOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.in) || !sameShape(ss[1], op.in) {
		return nil, fmt.Errorf("%v: input shapes %v, %v", op, ss[0], ss[1])
	}
	return tensor.ScalarShape(), nil
}
func (op *softmaxCEOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, softmaxCEKernel[float64](op.in), softmaxCEKernel[float32](op.in))
}
func (op *softmaxCEOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff: dx = g/N · (softmax(x)·Σt - t), dt = -g/N · log softmax(x).
func (op *softmaxCEOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs, got %d", op, len(in))
	}
	x, t := in[0], in[1]
	n := float64(op.rows())
	gPos, err := apply(&fillOp{out: op.in.Clone(), scale: 1 / n}, g)
	if err != nil {
		return nil, err
	}
	gNeg, err := apply(&fillOp{out: op.in.Clone(), scale: -1 / n}, g)
	if err != nil {
		return nil, err
	}
	p, err := apply(&softmaxOp{in: op.in.Clone()}, x)
	if err != nil {
		return nil, err
	}
	st, err := rowSumExpanded(t, op.in)
	if err != nil {
		return nil, err
	}
	pst, err := gorgonia.HadamardProd(p, st)
	if err != nil {
		return nil, err
	}
	r, err := gorgonia.Sub(pst, t)
	if err != nil {
		return nil, err
	}
	dx, err := gorgonia.HadamardProd(gPos, r)
	if err != nil {
		return nil, err
	}
	lp, err := apply(&softmaxOp{in: op.in.Clone(), log: true}, x)
	if err != nil {
		return nil, err
	}
	dt, err := gorgonia.HadamardProd(gNeg, lp)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dt}, nil
}

func softmaxCEKernel[T float](in tensor.Shape) kernel[T] {
	return func(v [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], in) || !sameShape(ss[1], in) {
			return nil, nil, fmt.Errorf("input shapes %v, %v", ss[0], ss[1])
		}
		x, t := v[0], v[1]
		c := in[len(in)-1]
		var loss float64
		for r := 0; r < len(x); r += c {
			lse := logSumExp(x[r : r+c])
			for j := r; j < r+c; j++ {
				if t[j] != 0 {
					loss -= float64(t[j]) * (float64(x[j]) - lse)
				}
			}
		}
		return []T{T(loss / float64(len(x)/c))}, tensor.ScalarShape(), nil
	}
}

// LogSoftmax is log(softmax(x)) over the last axis of x.
func LogSoftmax(x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("ops: log-softmax of a scalar")
	}
	return apply(&softmaxOp{in: x.Shape().Clone(), log: true}, x)
}

// Softmax is the softmax of x over its last axis.
func Softmax(x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("ops: softmax of a scalar")
	}
	return apply(&softmaxOp{in: x.Shape().Clone()}, x)
}

// SoftmaxCrossEntropy is the mean over rows of the cross-entropy between
// targets and softmax(logits) over the last axis:
// -(1/N) Σ targets ⊙ log softmax(logits), N the number of rows (the product
// of all but the last dimension). targets has the logits' shape and holds
// one-hot rows (see OneHot) or any probability rows.
func SoftmaxCrossEntropy(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if logits.Dims() < 1 || !sameShape(logits.Shape(), targets.Shape()) {
		return nil, fmt.Errorf("ops: softmax cross-entropy: logits %v and targets %v must have one equal non-scalar shape", logits.Shape(), targets.Shape())
	}
	return apply(&softmaxCEOp{in: logits.Shape().Clone()}, logits, targets)
}

// OneHot returns the [len(labels), classes] matrix of dtype dt (Float64 or
// Float32) whose row i is 1 at column labels[i] and 0 elsewhere.
func OneHot(labels []int, classes int, dt tensor.Dtype) (*tensor.Dense, error) {
	out := tensor.New(tensor.Of(dt), tensor.WithShape(len(labels), classes))
	for i, l := range labels {
		if l < 0 || l >= classes {
			return nil, fmt.Errorf("ops: one-hot: label %d at %d outside [0,%d)", l, i, classes)
		}
		var err error
		switch dt {
		case tensor.Float64:
			err = out.SetAt(1.0, i, l)
		case tensor.Float32:
			err = out.SetAt(float32(1), i, l)
		default:
			return nil, fmt.Errorf("ops: one-hot: unsupported dtype %v", dt)
		}
		if err != nil {
			return nil, fmt.Errorf("ops: one-hot: %w", err)
		}
	}
	return out, nil
}

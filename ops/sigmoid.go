package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// sigmoidOp is the logistic function 1/(1+e^-x) elementwise. Its derivative
// σ(1-σ) is composed from the op's own output and elementwise products.
type sigmoidOp struct {
	opBase
	shape tensor.Shape
}

func (op *sigmoidOp) Arity() int            { return 1 }
func (op *sigmoidOp) Type() hm.Type         { return fnType(len(op.shape), len(op.shape)) }
func (op *sigmoidOp) String() string        { return fmt.Sprintf("Sigmoid{shape=%v}", op.shape) }
func (op *sigmoidOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *sigmoidOp) Hashcode() uint32      { return hashOf(op) }
func (op *sigmoidOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *sigmoidOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, sigmoidKernel[float64](op.shape), sigmoidKernel[float32](op.shape))
}
func (op *sigmoidOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff: dx = g ⊙ (σ - σ⊙σ), with σ the op's output.
func (op *sigmoidOp) SymDiff(_ gorgonia.Nodes, s, g *gorgonia.Node) (gorgonia.Nodes, error) {
	prod := gorgonia.HadamardProd
	if len(op.shape) == 0 {
		prod = gorgonia.Mul
	}
	ss, err := prod(s, s)
	if err != nil {
		return nil, err
	}
	d, err := gorgonia.Sub(s, ss)
	if err != nil {
		return nil, err
	}
	dx, err := prod(g, d)
	return gorgonia.Nodes{dx}, err
}

// sigmoid is a logistic function that neither overflows nor loses the
// small tail.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1+e^x), computed stably.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

func sigmoidKernel[T float](shape tensor.Shape) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], shape) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		out := make([]T, len(in[0]))
		for i, v := range in[0] {
			out[i] = T(sigmoid(float64(v)))
		}
		return out, shape.Clone(), nil
	}
}

// sigmoidBCEOp is the binary cross-entropy between sigmoid(x) and targets t
// in [0,1], averaged over all elements: mean(softplus(x) - t·x).
type sigmoidBCEOp struct {
	opBase
	shape tensor.Shape
}

func (op *sigmoidBCEOp) Arity() int            { return 2 }
func (op *sigmoidBCEOp) Type() hm.Type         { return fnType(len(op.shape), len(op.shape), 0) }
func (op *sigmoidBCEOp) String() string        { return fmt.Sprintf("SigmoidBCE{shape=%v}", op.shape) }
func (op *sigmoidBCEOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *sigmoidBCEOp) Hashcode() uint32      { return hashOf(op) }
func (op *sigmoidBCEOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if err := checkShapes(ss, []tensor.Shape{op.shape, op.shape}); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return tensor.ScalarShape(), nil
}
func (op *sigmoidBCEOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, sigmoidBCEKernel[float64](op.shape), sigmoidBCEKernel[float32](op.shape))
}
func (op *sigmoidBCEOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff: dx = g/n · (σ(x) - t), dt = -g/n · x.
func (op *sigmoidBCEOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs, got %d", op, len(in))
	}
	x, t := in[0], in[1]
	n := float64(max(op.shape.TotalSize(), 1))
	if len(op.shape) == 0 {
		return nil, fmt.Errorf("%v: scalar logits are not supported", op)
	}
	gPos, err := apply(&fillOp{out: op.shape, scale: 1 / n}, g)
	if err != nil {
		return nil, err
	}
	gNeg, err := apply(&fillOp{out: op.shape, scale: -1 / n}, g)
	if err != nil {
		return nil, err
	}
	s, err := apply(&sigmoidOp{shape: op.shape}, x)
	if err != nil {
		return nil, err
	}
	r, err := gorgonia.Sub(s, t)
	if err != nil {
		return nil, err
	}
	dx, err := gorgonia.HadamardProd(gPos, r)
	if err != nil {
		return nil, err
	}
	dt, err := gorgonia.HadamardProd(gNeg, x)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dx, dt}, nil
}

func sigmoidBCEKernel[T float](shape tensor.Shape) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if err := checkShapes(ss, []tensor.Shape{shape, shape}); err != nil {
			return nil, nil, err
		}
		var s float64
		for i, v := range in[0] {
			x := float64(v)
			s += softplus(x) - float64(in[1][i])*x
		}
		return []T{T(s / float64(len(in[0])))}, tensor.ScalarShape(), nil
	}
}

// Sigmoid is the logistic function 1/(1+e^-x) elementwise.
func Sigmoid(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&sigmoidOp{shape: x.Shape().Clone()}, x)
}

// SigmoidBCE is the binary cross-entropy of sigmoid(logits) against targets
// in [0,1] of the same shape, averaged over all elements, computed from the
// logits without overflow: mean(log(1+e^x) - t·x).
func SigmoidBCE(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if logits.Dims() < 1 || !sameShape(logits.Shape(), targets.Shape()) {
		return nil, fmt.Errorf("ops: sigmoid BCE: logits %v and targets %v must have one equal non-scalar shape", logits.Shape(), targets.Shape())
	}
	return apply(&sigmoidBCEOp{shape: logits.Shape().Clone()}, logits, targets)
}

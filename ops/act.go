package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reluOp is the leaky rectifier max(x, leak·x) for 0 ≤ leak ≤ 1 (leak 0:
// ReLU) when slope=false, and its derivative, the locally constant slope
// (1 where x > 0, leak elsewhere), when slope=true. The slope has no
// derivative (it is zero almost everywhere), so the rectifier's second
// derivative is zero, as it is away from 0.
type reluOp struct {
	opBase
	slope bool
	leak  float64
	shape tensor.Shape
}

func (op *reluOp) Arity() int    { return 1 }
func (op *reluOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *reluOp) String() string {
	if op.slope {
		return fmt.Sprintf("ReLUSlope{leak=%v,shape=%v}", op.leak, op.shape)
	}
	return fmt.Sprintf("ReLU{leak=%v,shape=%v}", op.leak, op.shape)
}
func (op *reluOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *reluOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *reluOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, reluKernel[float64](op), reluKernel[float32](op))
}
func (op *reluOp) DiffWRT(int) []bool { return []bool{!op.slope} }
func (op *reluOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if op.slope {
		return gorgonia.Nodes{nil}, nil
	}
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: want 1 input, got %d", op, len(in))
	}
	s, err := apply(&reluOp{slope: true, leak: op.leak, shape: op.shape}, in[0])
	if err != nil {
		return nil, err
	}
	var dx *gorgonia.Node
	if len(op.shape) == 0 {
		dx, err = gorgonia.Mul(g, s)
	} else {
		dx, err = gorgonia.HadamardProd(g, s)
	}
	return gorgonia.Nodes{dx}, err
}

func reluKernel[T float](op *reluOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], op.shape) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		out := make([]T, len(in[0]))
		leak := T(op.leak)
		for i, v := range in[0] {
			switch {
			case op.slope && v > 0:
				out[i] = 1
			case op.slope:
				out[i] = leak
			case v > 0:
				out[i] = v
			default:
				out[i] = leak * v
			}
		}
		return out, op.shape.Clone(), nil
	}
}

// ReLU is max(x, 0) elementwise.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) { return LeakyReLU(x, 0) }

// LeakyReLU is x where x > 0 and leak·x elsewhere, 0 ≤ leak ≤ 1.
func LeakyReLU(x *gorgonia.Node, leak float64) (*gorgonia.Node, error) {
	if leak < 0 || leak > 1 {
		return nil, fmt.Errorf("ops: leaky ReLU slope %v outside [0,1]", leak)
	}
	return apply(&reluOp{leak: leak, shape: x.Shape().Clone()}, x)
}

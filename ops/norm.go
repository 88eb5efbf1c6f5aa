package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// powOp is scale·(x + shift)^p elementwise. Its derivative is the same op
// with scale·p and p-1, so it is differentiable to any order.
type powOp struct {
	opBase
	scale, p, shift float64
	shape           tensor.Shape
}

func (op *powOp) Arity() int    { return 1 }
func (op *powOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *powOp) String() string {
	return fmt.Sprintf("Pow{scale=%v,p=%v,shift=%v,shape=%v}", op.scale, op.p, op.shift, op.shape)
}
func (op *powOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *powOp) Hashcode() uint32      { return hashOf(op) }
func (op *powOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *powOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, powKernel[float64](op), powKernel[float32](op))
}
func (op *powOp) DiffWRT(int) []bool { return []bool{true} }
func (op *powOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: want 1 input, got %d", op, len(in))
	}
	d, err := apply(&powOp{scale: op.scale * op.p, p: op.p - 1, shift: op.shift, shape: op.shape}, in[0])
	if err != nil {
		return nil, err
	}
	if op.shape.IsScalar() || len(op.shape) == 0 {
		dx, err := gorgonia.Mul(g, d)
		return gorgonia.Nodes{dx}, err
	}
	dx, err := gorgonia.HadamardProd(g, d)
	return gorgonia.Nodes{dx}, err
}

func powKernel[T float](op *powOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], op.shape) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		out := make([]T, len(in[0]))
		for i, v := range in[0] {
			out[i] = T(op.scale * math.Pow(float64(v)+op.shift, op.p))
		}
		return out, op.shape.Clone(), nil
	}
}

// Pow is (x + shift)^p elementwise, differentiable to any order. For
// example Pow(v, -0.5, eps) is 1/√(v + eps).
func Pow(x *gorgonia.Node, p, shift float64) (*gorgonia.Node, error) {
	return apply(&powOp{scale: 1, p: p, shift: shift, shape: x.Shape().Clone()}, x)
}

// normalize returns (x - mean) / √(var + eps) with mean and (biased)
// variance over the given axes of x, and the mean and variance nodes.
func normalize(x *gorgonia.Node, eps float64, axes ...int) (y, mean, variance *gorgonia.Node, err error) {
	shape := x.Shape().Clone()
	if mean, err = Mean(x, axes...); err != nil {
		return nil, nil, nil, err
	}
	me, err := ExpandAs(mean, shape, axes...)
	if err != nil {
		return nil, nil, nil, err
	}
	xc, err := gorgonia.Sub(x, me)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ops: centering: %w", err)
	}
	sq, err := gorgonia.HadamardProd(xc, xc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ops: squaring: %w", err)
	}
	if variance, err = Mean(sq, axes...); err != nil {
		return nil, nil, nil, err
	}
	inv, err := Pow(variance, -0.5, eps)
	if err != nil {
		return nil, nil, nil, err
	}
	ie, err := ExpandAs(inv, shape, axes...)
	if err != nil {
		return nil, nil, nil, err
	}
	if y, err = gorgonia.HadamardProd(xc, ie); err != nil {
		return nil, nil, nil, fmt.Errorf("ops: scaling: %w", err)
	}
	return y, mean, variance, nil
}

// affine returns y ⊙ gamma + beta, with gamma and beta (either may be nil)
// of the shape of y with the axes listed in axes removed.
func affine(y, gamma, beta *gorgonia.Node, axes ...int) (*gorgonia.Node, error) {
	shape := y.Shape().Clone()
	var err error
	if gamma != nil {
		var ge *gorgonia.Node
		if ge, err = ExpandAs(gamma, shape, axes...); err != nil {
			return nil, fmt.Errorf("ops: scale %v: %w", gamma.Shape(), err)
		}
		if y, err = gorgonia.HadamardProd(y, ge); err != nil {
			return nil, fmt.Errorf("ops: scale: %w", err)
		}
	}
	if beta != nil {
		var be *gorgonia.Node
		if be, err = ExpandAs(beta, shape, axes...); err != nil {
			return nil, fmt.Errorf("ops: shift %v: %w", beta.Shape(), err)
		}
		if y, err = gorgonia.Add(y, be); err != nil {
			return nil, fmt.Errorf("ops: shift: %w", err)
		}
	}
	return y, nil
}

// LayerNorm normalizes x over its last axis to zero mean and unit (biased)
// variance, then applies y·gamma + beta with gamma and beta of shape [D]
// (D the last dimension; either may be nil to skip it). It is one fused op
// whose gradient ops are differentiable to any order.
func LayerNorm(x, gamma, beta *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("ops: layer norm of a scalar")
	}
	y, err := fusedNorm(normSpec{kind: layerNormKind, shape: x.Shape().Clone(), eps: eps}, x, gamma, beta)
	if err != nil {
		return nil, fmt.Errorf("ops: layer norm: %w", err)
	}
	return y, nil
}

// LayerNormComposed is LayerNorm built from reductions and elementwise ops
// (the reference the fused op is tested against).
func LayerNormComposed(x, gamma, beta *gorgonia.Node, eps float64) (*gorgonia.Node, error) {
	if x.Dims() < 1 {
		return nil, fmt.Errorf("ops: layer norm of a scalar")
	}
	last := x.Dims() - 1
	y, _, _, err := normalize(x, eps, last)
	if err != nil {
		return nil, fmt.Errorf("ops: layer norm: %w", err)
	}
	lead := make([]int, last)
	for i := range lead {
		lead[i] = i
	}
	return affine(y, gamma, beta, lead...)
}

// BatchNormTrain is training-mode batch normalization of x ([N,C] or
// [N,C,H,W]) over every axis but the channel axis 1, with per-channel
// gamma and beta of shape [C] (either may be nil), as one fused op. It
// also returns the batch mean and biased variance per channel, computed by
// one statistics node that the gradient shares (they are not
// differentiable: use them for running statistics, not in a loss).
func BatchNormTrain(x, gamma, beta *gorgonia.Node, eps float64) (y, mean, variance *gorgonia.Node, err error) {
	s := normSpec{kind: batchNormKind, shape: x.Shape().Clone(), eps: eps}
	if y, err = fusedNorm(s, x, gamma, beta); err != nil {
		return nil, nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	st, err := apply(&normStatsOp{normSpec: s}, x)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	c := s.params()
	if mean, err = apply(&bnStatOp{c: c, eps: eps}, st); err != nil {
		return nil, nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	if variance, err = apply(&bnStatOp{c: c, eps: eps, variance: true}, st); err != nil {
		return nil, nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	return y, mean, variance, nil
}

// BatchNorm is batch normalization over the channel axis 1 of [N,C] or
// [N,C,H,W] inputs. Training-mode graphs normalize with the batch statistics
// over all axes but the channel axis. The running statistics live in this
// struct, outside any graph: they change only when Update is called with the
// statistics of a finished training step, never while a graph runs (so
// Hessian-vector probes leave them alone). Evaluation-mode graphs read them
// through input nodes that SyncEval refreshes.
type BatchNorm struct {
	C           int
	Eps         float64 // added to the variance (default 1e-5)
	Momentum    float64 // weight of the new batch in the running averages (default 0.1)
	RunningMean []float64
	RunningVar  []float64 // unbiased batch variances, averaged

	evalNodes []bnEvalNodes
}

type bnEvalNodes struct{ mean, variance *gorgonia.Node }

// NewBatchNorm returns a BatchNorm over c channels with running mean 0 and
// running variance 1.
func NewBatchNorm(c int) *BatchNorm {
	bn := &BatchNorm{C: c, Eps: 1e-5, Momentum: 0.1, RunningMean: make([]float64, c), RunningVar: make([]float64, c)}
	for i := range bn.RunningVar {
		bn.RunningVar[i] = 1
	}
	return bn
}

// BNStats holds the batch statistics of one training-mode BatchNorm node;
// after the graph has run, Update folds them into the running averages.
type BNStats struct {
	Mean, Var *gorgonia.Node // per channel; Var is the biased batch variance
	Count     int            // elements per channel in the batch
	mean, vr  gorgonia.Value
}

func (bn *BatchNorm) axes(x *gorgonia.Node) ([]int, error) {
	s := x.Shape()
	if (len(s) != 2 && len(s) != 4) || s[1] != bn.C {
		return nil, fmt.Errorf("ops: batch norm over %d channels: input shape %v is not [N,%d] or [N,%d,H,W]", bn.C, s, bn.C, bn.C)
	}
	if len(s) == 2 {
		return []int{0}, nil
	}
	return []int{0, 2, 3}, nil
}

// Train builds training-mode batch normalization of x with per-channel scale
// gamma and shift beta of shape [C] (either may be nil), as one fused op
// (see BatchNormTrain).
func (bn *BatchNorm) Train(x, gamma, beta *gorgonia.Node) (*gorgonia.Node, *BNStats, error) {
	if _, err := bn.axes(x); err != nil {
		return nil, nil, err
	}
	y, mean, variance, err := BatchNormTrain(x, gamma, beta, bn.Eps)
	if err != nil {
		return nil, nil, err
	}
	return y, bn.stats(x, mean, variance), nil
}

// TrainComposed is Train built from reductions and elementwise ops (the
// reference the fused op is tested against).
func (bn *BatchNorm) TrainComposed(x, gamma, beta *gorgonia.Node) (*gorgonia.Node, *BNStats, error) {
	axes, err := bn.axes(x)
	if err != nil {
		return nil, nil, err
	}
	y, mean, variance, err := normalize(x, bn.Eps, axes...)
	if err != nil {
		return nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	st := bn.stats(x, mean, variance)
	if y, err = affine(y, gamma, beta, axes...); err != nil {
		return nil, nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	return y, st, nil
}

// stats records the statistics nodes of a training-mode graph for Update.
func (bn *BatchNorm) stats(x, mean, variance *gorgonia.Node) *BNStats {
	st := &BNStats{Mean: mean, Var: variance, Count: x.Shape().TotalSize() / bn.C}
	gorgonia.Read(mean, &st.mean)
	gorgonia.Read(variance, &st.vr)
	return st
}

// Update folds the batch statistics read during the last run of st's graph
// into the running averages (the variance with Bessel's correction).
func (bn *BatchNorm) Update(st *BNStats) error {
	if st.mean == nil || st.vr == nil {
		return fmt.Errorf("ops: batch norm update: the graph has not run")
	}
	m, err := toFloat64s(st.mean)
	if err != nil {
		return fmt.Errorf("ops: batch norm update: %w", err)
	}
	v, err := toFloat64s(st.vr)
	if err != nil {
		return fmt.Errorf("ops: batch norm update: %w", err)
	}
	if len(m) != bn.C || len(v) != bn.C {
		return fmt.Errorf("ops: batch norm update: %d and %d statistics for %d channels", len(m), len(v), bn.C)
	}
	unbias := 1.0
	if st.Count > 1 {
		unbias = float64(st.Count) / float64(st.Count-1)
	}
	mo := bn.Momentum
	for c := 0; c < bn.C; c++ {
		bn.RunningMean[c] = (1-mo)*bn.RunningMean[c] + mo*m[c]
		bn.RunningVar[c] = (1-mo)*bn.RunningVar[c] + mo*v[c]*unbias
	}
	return nil
}

// Eval builds evaluation-mode batch normalization of x, which uses the
// running statistics as they are when the graph is built or when SyncEval
// was last called.
func (bn *BatchNorm) Eval(x, gamma, beta *gorgonia.Node) (*gorgonia.Node, error) {
	axes, err := bn.axes(x)
	if err != nil {
		return nil, err
	}
	g, dt := x.Graph(), x.Dtype()
	mv, err := denseOf(bn.RunningMean, dt)
	if err != nil {
		return nil, err
	}
	vv, err := denseOf(bn.RunningVar, dt)
	if err != nil {
		return nil, err
	}
	mean := gorgonia.NewVector(g, dt, gorgonia.WithShape(bn.C), gorgonia.WithValue(mv), gorgonia.WithName(fmt.Sprintf("bn%p.running_mean.%d", bn, len(bn.evalNodes))))
	variance := gorgonia.NewVector(g, dt, gorgonia.WithShape(bn.C), gorgonia.WithValue(vv), gorgonia.WithName(fmt.Sprintf("bn%p.running_var.%d", bn, len(bn.evalNodes))))
	bn.evalNodes = append(bn.evalNodes, bnEvalNodes{mean, variance})
	shape := x.Shape().Clone()
	me, err := ExpandAs(mean, shape, axes...)
	if err != nil {
		return nil, err
	}
	xc, err := gorgonia.Sub(x, me)
	if err != nil {
		return nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	inv, err := Pow(variance, -0.5, bn.Eps)
	if err != nil {
		return nil, err
	}
	ie, err := ExpandAs(inv, shape, axes...)
	if err != nil {
		return nil, err
	}
	y, err := gorgonia.HadamardProd(xc, ie)
	if err != nil {
		return nil, fmt.Errorf("ops: batch norm: %w", err)
	}
	return affine(y, gamma, beta, axes...)
}

// SyncEval copies the current running statistics into the input nodes of
// every evaluation-mode graph built by Eval.
func (bn *BatchNorm) SyncEval() error {
	for _, n := range bn.evalNodes {
		dt := n.mean.Dtype()
		mv, err := denseOf(bn.RunningMean, dt)
		if err != nil {
			return err
		}
		vv, err := denseOf(bn.RunningVar, dt)
		if err != nil {
			return err
		}
		if err := gorgonia.Let(n.mean, mv); err != nil {
			return fmt.Errorf("ops: batch norm sync: %w", err)
		}
		if err := gorgonia.Let(n.variance, vv); err != nil {
			return fmt.Errorf("ops: batch norm sync: %w", err)
		}
	}
	return nil
}

// denseOf copies float64 data into a vector of dtype dt.
func denseOf(d []float64, dt tensor.Dtype) (*tensor.Dense, error) {
	switch dt {
	case tensor.Float64:
		return tensor.New(tensor.WithShape(len(d)), tensor.WithBacking(append([]float64(nil), d...))), nil
	case tensor.Float32:
		f := make([]float32, len(d))
		for i, v := range d {
			f[i] = float32(v)
		}
		return tensor.New(tensor.WithShape(len(d)), tensor.WithBacking(f)), nil
	}
	return nil, fmt.Errorf("ops: unsupported dtype %v", dt)
}

// toFloat64s returns a float64 copy of a Float64 or Float32 value.
func toFloat64s(v gorgonia.Value) ([]float64, error) {
	switch v.Dtype() {
	case tensor.Float64:
		d, _, err := flat[float64](v)
		return append([]float64(nil), d...), err
	case tensor.Float32:
		d, _, err := flat[float32](v)
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out, err
	}
	return nil, fmt.Errorf("unsupported dtype %v", v.Dtype())
}

package train

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

// LossKind names the training loss.
type LossKind string

// The supported losses.
const (
	// CrossEntropy is softmax cross-entropy on class labels.
	CrossEntropy LossKind = "cross_entropy"
	// MSE is ½‖f(x) − t‖² averaged over the batch, with t the one-hot label
	// for classification data or the dataset's regression targets.
	MSE LossKind = "mse"
)

// ParseLoss checks a loss name.
func ParseLoss(s string) (LossKind, error) {
	switch LossKind(s) {
	case CrossEntropy, MSE:
		return LossKind(s), nil
	}
	return "", fmt.Errorf("train: unknown loss %q (want %q or %q)", s, CrossEntropy, MSE)
}

// batchIO holds a graph's input and target tensors for a fixed batch size;
// batches are written into their backing slices in place.
type batchIO struct {
	batch   int
	x, t    *gt.Dense
	xn, tn  *gorgonia.Node
	outDim  int
	flatten bool
}

func inputShape(ds *data.Dataset, batch int, flatten bool) []int {
	if flatten {
		return []int{batch, ds.ExampleSize()}
	}
	return append([]int{batch}, ds.Shape...)
}

func targetDim(ds *data.Dataset) int {
	if ds.TargetDim > 0 {
		return ds.TargetDim
	}
	return ds.Classes
}

func newBatchIO(g *gorgonia.ExprGraph, dt gt.Dtype, ds *data.Dataset, batch int, flatten bool) (*batchIO, error) {
	od := targetDim(ds)
	if od <= 0 {
		return nil, fmt.Errorf("train: dataset %q has neither classes nor regression targets", ds.Name)
	}
	shape := inputShape(ds, batch, flatten)
	x, err := tensor.Zeros(dt, shape...)
	if err != nil {
		return nil, err
	}
	tt, err := tensor.Zeros(dt, batch, od)
	if err != nil {
		return nil, err
	}
	xn := gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName("input"), gorgonia.WithValue(x))
	tn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(batch, od), gorgonia.WithName("target"), gorgonia.WithValue(tt))
	return &batchIO{batch: batch, x: x, t: tt, xn: xn, tn: tn, outDim: od, flatten: flatten}, nil
}

// fill writes examples idx of ds into the input and target tensors; rows
// beyond len(idx) are zeroed (padding for a short last evaluation batch).
func (b *batchIO) fill(ds *data.Dataset, idx []int) {
	es := ds.ExampleSize()
	od := b.outDim
	switch xs := b.x.Data().(type) {
	case []float32:
		ts := b.t.Data().([]float32)
		clear(ts)
		for r, i := range idx {
			copy(xs[r*es:(r+1)*es], ds.X[i*es:(i+1)*es])
			if ds.TargetDim > 0 {
				copy(ts[r*od:(r+1)*od], ds.Targets[i*od:(i+1)*od])
			} else {
				ts[r*od+ds.Y[i]] = 1
			}
		}
		clear(xs[len(idx)*es:])
	case []float64:
		ts := b.t.Data().([]float64)
		clear(ts)
		for r, i := range idx {
			src := ds.X[i*es : (i+1)*es]
			dst := xs[r*es : (r+1)*es]
			for j, v := range src {
				dst[j] = float64(v)
			}
			if ds.TargetDim > 0 {
				for j := 0; j < od; j++ {
					ts[r*od+j] = float64(ds.Targets[i*od+j])
				}
			} else {
				ts[r*od+ds.Y[i]] = 1
			}
		}
		clear(xs[len(idx)*es:])
	}
}

func buildLoss(kind LossKind, out, target *gorgonia.Node) (*gorgonia.Node, error) {
	switch kind {
	case CrossEntropy:
		return nn.CrossEntropy(out, target)
	case MSE:
		return nn.MSE(out, target)
	}
	return nil, fmt.Errorf("train: unknown loss %q", kind)
}

// GradProgram computes a model's loss and the gradient with respect to its
// trainable parameters on one batch.
type GradProgram struct {
	io     *batchIO
	prog   *engine.Program
	params nn.Params
	grads  tensor.List
}

// NewGradProgram builds and compiles the loss-and-gradient graph of model on
// batches of the given size drawn from ds.
func NewGradProgram(model nn.Model, ds *data.Dataset, batch int, loss LossKind, flatten bool) (*GradProgram, error) {
	params := model.Params()
	if len(params) == 0 {
		return nil, fmt.Errorf("train: model has no parameters")
	}
	dt := params[0].Value.Dtype()
	g := gorgonia.NewGraph()
	bind, err := nn.Bind(g, params)
	if err != nil {
		return nil, err
	}
	io, err := newBatchIO(g, dt, ds, batch, flatten)
	if err != nil {
		return nil, err
	}
	out, err := model.Forward(bind, io.xn)
	if err != nil {
		return nil, err
	}
	if out.Dims() != 2 || out.Shape()[1] != io.outDim {
		return nil, fmt.Errorf("train: model output has shape %v, want (%d, %d) for dataset %q", out.Shape(), batch, io.outDim, ds.Name)
	}
	l, err := buildLoss(loss, out, io.tn)
	if err != nil {
		return nil, err
	}
	trainable := params.Trainable()
	grads, err := autodiff.Grad(l, bind.Nodes(trainable)...)
	if err != nil {
		return nil, fmt.Errorf("train: gradient graph: %w", err)
	}
	prog, err := engine.Compile(g, append(gorgonia.Nodes{l}, grads...)...)
	if err != nil {
		return nil, err
	}
	return &GradProgram{io: io, prog: prog, params: trainable, grads: make(tensor.List, len(grads))}, nil
}

// Run computes the loss and gradients on examples idx of ds. The returned
// gradient tensors are valid until the next Run.
func (p *GradProgram) Run(ds *data.Dataset, idx []int) (float64, tensor.List, error) {
	if len(idx) != p.io.batch {
		return math.NaN(), nil, fmt.Errorf("train: batch of %d examples for a program built for %d", len(idx), p.io.batch)
	}
	p.io.fill(ds, idx)
	if err := p.prog.Run(); err != nil {
		return math.NaN(), nil, err
	}
	l, err := p.prog.Scalar(0)
	if err != nil {
		return math.NaN(), nil, err
	}
	for i := range p.grads {
		d, err := p.prog.Dense(i + 1)
		if err != nil {
			return math.NaN(), nil, err
		}
		p.grads[i] = d
	}
	return l, p.grads, nil
}

// Params returns the trainable parameters, in the order of the gradients.
func (p *GradProgram) Params() nn.Params { return p.params }

// Close releases the program.
func (p *GradProgram) Close() error { return p.prog.Close() }

// EvalProgram computes a model's outputs on batches, for evaluation.
type EvalProgram struct {
	io   *batchIO
	prog *engine.Program
	loss LossKind
}

// NewEvalProgram builds the forward graph of model for batches of the given
// size.
func NewEvalProgram(model nn.Model, ds *data.Dataset, batch int, loss LossKind, flatten bool) (*EvalProgram, error) {
	params := model.Params()
	if len(params) == 0 {
		return nil, fmt.Errorf("train: model has no parameters")
	}
	g := gorgonia.NewGraph()
	bind, err := nn.Bind(g, params)
	if err != nil {
		return nil, err
	}
	io, err := newBatchIO(g, params[0].Value.Dtype(), ds, batch, flatten)
	if err != nil {
		return nil, err
	}
	out, err := model.Forward(bind, io.xn)
	if err != nil {
		return nil, err
	}
	prog, err := engine.Compile(g, out)
	if err != nil {
		return nil, err
	}
	return &EvalProgram{io: io, prog: prog, loss: loss}, nil
}

// Eval is the result of an evaluation pass.
type Eval struct {
	Loss     float64
	Accuracy float64 // NaN for regression data
	N        int
}

// Run evaluates on the first n examples of ds (all when n ≤ 0).
func (p *EvalProgram) Run(ds *data.Dataset, n int) (Eval, error) {
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	b := p.io.batch
	idx := make([]int, 0, b)
	od := p.io.outDim
	row := make([]float64, od)
	var lossSum float64
	correct := 0
	for start := 0; start < n; start += b {
		idx = idx[:0]
		for i := start; i < min(start+b, n); i++ {
			idx = append(idx, i)
		}
		p.io.fill(ds, idx)
		if err := p.prog.Run(); err != nil {
			return Eval{}, err
		}
		out, err := p.prog.Dense(0)
		if err != nil {
			return Eval{}, err
		}
		for r, i := range idx {
			switch d := out.Data().(type) {
			case []float32:
				for j := range row {
					row[j] = float64(d[r*od+j])
				}
			case []float64:
				copy(row, d[r*od:(r+1)*od])
			}
			l, hit := exampleLoss(p.loss, row, ds, i)
			lossSum += l
			if hit {
				correct++
			}
		}
	}
	e := Eval{Loss: lossSum / float64(n), N: n, Accuracy: math.NaN()}
	if ds.TargetDim == 0 {
		e.Accuracy = float64(correct) / float64(n)
	}
	return e, nil
}

// exampleLoss is the loss of one output row and whether its argmax is the
// label.
func exampleLoss(kind LossKind, row []float64, ds *data.Dataset, i int) (float64, bool) {
	arg := 0
	for j, v := range row {
		if v > row[arg] {
			arg = j
		}
	}
	hit := ds.TargetDim == 0 && arg == ds.Y[i]
	switch kind {
	case CrossEntropy:
		mx := row[arg]
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		return -(row[ds.Y[i]] - mx - math.Log(s)), hit
	default:
		var s float64
		for j, v := range row {
			var t float64
			if ds.TargetDim > 0 {
				t = float64(ds.Targets[i*ds.TargetDim+j])
			} else if j == ds.Y[i] {
				t = 1
			}
			s += (v - t) * (v - t)
		}
		return 0.5 * s, hit
	}
}

// Close releases the program.
func (p *EvalProgram) Close() error { return p.prog.Close() }

package objective

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

// Kind names a loss.
type Kind string

// The supported losses.
const (
	// CrossEntropy is softmax cross-entropy on class labels.
	CrossEntropy Kind = "cross_entropy"
	// MSE is ½‖f(x) − t‖² averaged over the batch, with t the one-hot label
	// for classification data or the dataset's regression targets.
	MSE Kind = "mse"
)

// ParseKind checks a loss name.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case CrossEntropy, MSE:
		return Kind(s), nil
	}
	return "", fmt.Errorf("objective: unknown loss %q (want %q or %q)", s, CrossEntropy, MSE)
}

// batchIO holds a graph's input and target tensors for a fixed batch size;
// batches are written into their backing slices in place.
type batchIO struct {
	batch  int
	x, t   *gt.Dense
	xn, tn *gorgonia.Node
	outDim int
}

func inputShape(ds *data.Dataset, batch int, flatten bool) []int {
	if flatten {
		return []int{batch, ds.ExampleSize()}
	}
	return append([]int{batch}, ds.Shape...)
}

// TargetDim is the width of a dataset's targets: its regression target
// dimension, or its number of classes.
func TargetDim(ds *data.Dataset) int {
	if ds.TargetDim > 0 {
		return ds.TargetDim
	}
	return ds.Classes
}

func newBatchIO(g *gorgonia.ExprGraph, dt gt.Dtype, ds *data.Dataset, batch int, flatten bool) (*batchIO, error) {
	od := TargetDim(ds)
	if od <= 0 {
		return nil, fmt.Errorf("objective: dataset %q has neither classes nor regression targets", ds.Name)
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
	return &batchIO{batch: batch, x: x, t: tt, xn: xn, tn: tn, outDim: od}, nil
}

// fill writes examples idx of ds into the input and target tensors; rows
// beyond len(idx) are zeroed (padding for a short last evaluation batch).
func (b *batchIO) fill(ds *data.Dataset, idx []int) {
	es := ds.ExampleSize()
	od := b.outDim
	// Float32s/Float64s rather than Data(): Data boxes the slice (an
	// allocation per call).
	switch b.x.Dtype() {
	case gt.Float32:
		xs, ts := b.x.Float32s(), b.t.Float32s()
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
	case gt.Float64:
		xs, ts := b.x.Float64s(), b.t.Float64s()
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

func buildLoss(kind Kind, out, target *gorgonia.Node) (*gorgonia.Node, error) {
	switch kind {
	case CrossEntropy:
		return nn.CrossEntropy(out, target)
	case MSE:
		return nn.MSE(out, target)
	}
	return nil, fmt.Errorf("objective: unknown loss %q", kind)
}

// ExampleLoss is the loss of one output row and whether its argmax is the
// label.
func ExampleLoss(kind Kind, row []float64, ds *data.Dataset, i int) (float64, bool) {
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

// Graph is a model's loss on one batch of a dataset, built on its own
// gorgonia graph: input and target nodes backed by tensors that Fill
// rewrites in place, the model's output, the scalar loss, and the nodes of
// the trainable parameters (sharing the parameters' tensors).
type Graph struct {
	G          *gorgonia.ExprGraph
	Binding    *nn.Binding
	Input      *gorgonia.Node
	Target     *gorgonia.Node
	Output     *gorgonia.Node
	Loss       *gorgonia.Node
	Params     nn.Params      // trainable parameters
	ParamNodes gorgonia.Nodes // their nodes, in the same order
	Kind       Kind
	io         *batchIO
}

// Build constructs the loss graph of model on batches of the given size
// drawn from ds. flatten feeds examples as flat vectors (MLPs); otherwise
// the input has shape (batch, ds.Shape...).
func Build(model nn.Model, ds *data.Dataset, batch int, kind Kind, flatten bool) (*Graph, error) {
	params := model.Params()
	if len(params) == 0 {
		return nil, fmt.Errorf("objective: model has no parameters")
	}
	if batch <= 0 {
		return nil, fmt.Errorf("objective: batch size must be positive, got %d", batch)
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
	if out.Dims() != 2 || out.Shape()[0] != batch || out.Shape()[1] != io.outDim {
		return nil, fmt.Errorf("objective: model output has shape %v, want (%d, %d) for dataset %q", out.Shape(), batch, io.outDim, ds.Name)
	}
	l, err := buildLoss(kind, out, io.tn)
	if err != nil {
		return nil, err
	}
	trainable := params.Trainable()
	return &Graph{G: g, Binding: bind, Input: io.xn, Target: io.tn, Output: out, Loss: l,
		Params: trainable, ParamNodes: bind.Nodes(trainable), Kind: kind, io: io}, nil
}

// Batch is the batch size the graph was built for.
func (g *Graph) Batch() int { return g.io.batch }

// Fill writes examples idx of ds into the input and target tensors; with
// fewer indices than the batch size, the remaining rows are zero.
func (g *Graph) Fill(ds *data.Dataset, idx []int) error {
	if len(idx) > g.io.batch {
		return fmt.Errorf("objective: %d examples for a graph built for batches of %d", len(idx), g.io.batch)
	}
	g.io.fill(ds, idx)
	return nil
}

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
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// GradProgram computes a model's loss and the gradient with respect to its
// trainable parameters on one batch.
type GradProgram struct {
	obj   *objective.Graph
	prog  *engine.Program
	grads tensor.List
	stats nn.BatchStatser // nil when the model keeps no running statistics
	nstat int
}

// NewGradProgram builds and compiles the loss-and-gradient graph of model,
// in training mode (nn.InMode), on batches of the given size drawn from ds.
// For a model that keeps running statistics (nn.BatchStatser) the program
// also computes the batch statistics, which UpdateRunningStats folds in.
func NewGradProgram(model nn.Model, ds *data.Dataset, batch int, loss objective.Kind, flatten bool) (*GradProgram, error) {
	model = nn.InMode(model, nn.Training)
	obj, err := objective.Build(model, ds, batch, loss, flatten)
	if err != nil {
		return nil, err
	}
	grads, err := autodiff.Grad(obj.Loss, obj.ParamNodes...)
	if err != nil {
		return nil, fmt.Errorf("train: gradient graph: %w", err)
	}
	outputs := append(gorgonia.Nodes{obj.Loss}, grads...)
	p := &GradProgram{obj: obj, grads: make(tensor.List, len(grads))}
	if bs, ok := model.(nn.BatchStatser); ok {
		stats := bs.BatchStatNodes(obj.G)
		if len(stats) > 0 {
			p.stats, p.nstat = bs, len(stats)
			outputs = append(outputs, stats...)
		}
	}
	if p.prog, err = engine.Compile(obj.G, outputs...); err != nil {
		return nil, err
	}
	return p, nil
}

// UpdateRunningStats folds the batch statistics of the last Run into the
// model's running statistics; call it once after each optimizer step. It
// does nothing for a model without running statistics.
func (p *GradProgram) UpdateRunningStats() error {
	if p.stats == nil {
		return nil
	}
	vals := make([]*gt.Dense, p.nstat)
	for i := range vals {
		d, err := p.prog.Dense(1 + len(p.grads) + i)
		if err != nil {
			return fmt.Errorf("train: batch statistics: %w", err)
		}
		vals[i] = d
	}
	if err := p.stats.UpdateRunningStats(p.obj.G, vals); err != nil {
		return fmt.Errorf("train: running statistics: %w", err)
	}
	return nil
}

// Run computes the loss and gradients on examples idx of ds. The returned
// gradient tensors are valid until the next Run.
func (p *GradProgram) Run(ds *data.Dataset, idx []int) (float64, tensor.List, error) {
	if len(idx) != p.obj.Batch() {
		return math.NaN(), nil, fmt.Errorf("train: batch of %d examples for a program built for %d", len(idx), p.obj.Batch())
	}
	if err := p.obj.Fill(ds, idx); err != nil {
		return math.NaN(), nil, err
	}
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
func (p *GradProgram) Params() nn.Params { return p.obj.Params }

// Close releases the program.
func (p *GradProgram) Close() error {
	if p.stats != nil {
		p.stats.ReleaseGraph(p.obj.G)
	}
	return p.prog.Close()
}

// EvalProgram computes a model's outputs on batches, for evaluation.
type EvalProgram struct {
	obj  *objective.Graph
	prog *engine.Program
	loss objective.Kind
	// refresh lists resident inputs Run uploads once at its start
	// (parameters a device evaluation program keeps on the set).
	refresh gorgonia.Nodes
}

// NewEvalProgram builds the forward graph of model, in evaluation mode
// (nn.InMode), for batches of the given size.
func NewEvalProgram(model nn.Model, ds *data.Dataset, batch int, loss objective.Kind, flatten bool) (*EvalProgram, error) {
	model = nn.InMode(model, nn.Evaluation)
	obj, err := objective.Build(model, ds, batch, loss, flatten)
	if err != nil {
		return nil, err
	}
	prog, err := engine.Compile(obj.G, obj.Output)
	if err != nil {
		return nil, err
	}
	return &EvalProgram{obj: obj, prog: prog, loss: loss}, nil
}

// Eval is the result of an evaluation pass.
type Eval struct {
	Loss     float64
	Accuracy float64 // NaN for regression data
	N        int
}

// Run evaluates on the first n examples of ds (all when n ≤ 0); a short
// last batch is padded and only its real rows count.
func (p *EvalProgram) Run(ds *data.Dataset, n int) (Eval, error) {
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	if len(p.refresh) > 0 {
		if err := p.prog.Upload(p.refresh...); err != nil {
			return Eval{}, fmt.Errorf("train: evaluation parameters: %w", err)
		}
	}
	b := p.obj.Batch()
	idx := make([]int, 0, b)
	od := objective.TargetDim(ds)
	row := make([]float64, od)
	var lossSum float64
	correct := 0
	for start := 0; start < n; start += b {
		idx = idx[:0]
		for i := start; i < min(start+b, n); i++ {
			idx = append(idx, i)
		}
		if err := p.obj.Fill(ds, idx); err != nil {
			return Eval{}, err
		}
		if err := p.prog.Run(); err != nil {
			return Eval{}, err
		}
		out, err := p.prog.Dense(0)
		if err != nil {
			return Eval{}, err
		}
		// One type switch per batch, not per example (Data boxes the slice).
		var o32 []float32
		var o64 []float64
		switch d := out.Data().(type) {
		case []float32:
			o32 = d
		case []float64:
			o64 = d
		default:
			return Eval{}, fmt.Errorf("train: evaluation output has dtype %v", out.Dtype())
		}
		for r, i := range idx {
			if o32 != nil {
				for j := range row {
					row[j] = float64(o32[r*od+j])
				}
			} else {
				copy(row, o64[r*od:(r+1)*od])
			}
			l, hit := objective.ExampleLoss(p.loss, row, ds, i)
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

// Close releases the program.
func (p *EvalProgram) Close() error { return p.prog.Close() }

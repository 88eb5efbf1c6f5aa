package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// Mode says how a model builds its graph: Training graphs normalize batch
// norm layers with the batch statistics and apply dropout; Evaluation graphs
// use the running statistics and no dropout. A graph keeps the mode it was
// built in.
type Mode int

// The two modes.
const (
	Training Mode = iota
	Evaluation
)

func (m Mode) String() string {
	switch m {
	case Training:
		return "train"
	case Evaluation:
		return "eval"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Moded is a model whose graphs depend on the mode. WithMode returns a view
// of the model in that mode: it shares the parameters (and running
// statistics) with the receiver, so training one view trains all.
type Moded interface {
	Model
	Mode() Mode
	WithMode(Mode) Model
}

// InMode returns m in the given mode: m.WithMode(mode) for a Moded model, m
// itself otherwise (a model without batch norm or dropout builds the same
// graph in both modes).
func InMode(m Model, mode Mode) Model {
	if mm, ok := m.(Moded); ok {
		return mm.WithMode(mode)
	}
	return m
}

// BatchStatser is a model whose training-mode graphs compute batch
// statistics (batch norm) that feed running statistics kept as frozen
// parameters. A training loop compiles BatchStatNodes(g) as extra outputs
// of its gradient program and, after the optimizer step, passes their values
// to UpdateRunningStats; nothing else changes the running statistics, so
// Hessian-vector probes and evaluations never do.
type BatchStatser interface {
	Model
	// BatchStatNodes returns the nodes of graph g (built by Forward in
	// training mode) whose values UpdateRunningStats takes, in order; none
	// for a graph built in evaluation mode.
	BatchStatNodes(g *gorgonia.ExprGraph) gorgonia.Nodes
	// UpdateRunningStats folds the values of BatchStatNodes(g), read after a
	// run of g, into the running statistics.
	UpdateRunningStats(g *gorgonia.ExprGraph, vals []*gt.Dense) error
	// ReleaseGraph forgets what Forward recorded about g.
	ReleaseGraph(g *gorgonia.ExprGraph)
}

// BNMomentum is the weight of a new batch in the running statistics.
const BNMomentum = 0.1

// BNEps is added to the variance in batch norm layers.
const BNEps = 1e-5

// bnRecord is one training-mode batch norm node of a graph.
type bnRecord struct {
	name           string // layer prefix; params name+".running_mean"/".running_var"
	mean, variance *gorgonia.Node
	count          int
}

// statsRecorder remembers, per graph, the batch statistics nodes that
// training-mode Forward calls created. Views of a model in different modes
// share one recorder.
type statsRecorder struct {
	mu     sync.Mutex
	graphs map[*gorgonia.ExprGraph][]bnRecord
	masks  map[*gorgonia.ExprGraph]gorgonia.Nodes // dropout mask inputs
}

func (r *statsRecorder) add(g *gorgonia.ExprGraph, rec bnRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.graphs == nil {
		r.graphs = map[*gorgonia.ExprGraph][]bnRecord{}
	}
	r.graphs[g] = append(r.graphs[g], rec)
}

func (r *statsRecorder) get(g *gorgonia.ExprGraph) []bnRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.graphs[g]
}

// core holds what every zoo model shares: its parameters, its mode and the
// recorder of batch statistics. Models embed it.
type core struct {
	params Params
	mode   Mode
	rec    *statsRecorder
	byName map[string]*Param
}

func newCore() core { return core{rec: &statsRecorder{}, byName: map[string]*Param{}} }

// Params implements Model.
func (c *core) Params() Params { return c.params }

// Mode is the mode the model builds graphs in.
func (c *core) Mode() Mode { return c.mode }

// BatchStatNodes implements BatchStatser.
func (c *core) BatchStatNodes(g *gorgonia.ExprGraph) gorgonia.Nodes {
	var out gorgonia.Nodes
	for _, r := range c.rec.get(g) {
		out = append(out, r.mean, r.variance)
	}
	return out
}

// ReleaseGraph implements BatchStatser.
func (c *core) ReleaseGraph(g *gorgonia.ExprGraph) {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	delete(c.rec.graphs, g)
	delete(c.rec.masks, g)
}

// UpdateRunningStats implements BatchStatser: running ← (1−m)·running +
// m·batch with m = BNMomentum, the variance with Bessel's correction.
func (c *core) UpdateRunningStats(g *gorgonia.ExprGraph, vals []*gt.Dense) error {
	recs := c.rec.get(g)
	if len(vals) != 2*len(recs) {
		return fmt.Errorf("nn: %d batch statistics for %d batch norm layers", len(vals), len(recs))
	}
	for i, r := range recs {
		unbias := 1.0
		if r.count > 1 {
			unbias = float64(r.count) / float64(r.count-1)
		}
		for j, suffix := range []string{".running_mean", ".running_var"} {
			p, ok := c.byName[r.name+suffix]
			if !ok {
				return fmt.Errorf("nn: no parameter %q", r.name+suffix)
			}
			f := 1.0
			if j == 1 {
				f = unbias
			}
			if err := ema(p.Value, vals[2*i+j], BNMomentum, f); err != nil {
				return fmt.Errorf("nn: %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

// ema sets dst ← (1−m)·dst + m·f·src elementwise.
func ema(dst, src *gt.Dense, m, f float64) error {
	if dst.Shape().TotalSize() != src.Shape().TotalSize() {
		return fmt.Errorf("statistics of shape %v for a buffer of shape %v", src.Shape(), dst.Shape())
	}
	sv := make([]float64, src.Shape().TotalSize())
	switch s := src.Data().(type) {
	case []float64:
		copy(sv, s)
	case []float32:
		for i, v := range s {
			sv[i] = float64(v)
		}
	default:
		return fmt.Errorf("unsupported statistics dtype %v", src.Dtype())
	}
	switch d := dst.Data().(type) {
	case []float64:
		for i := range d {
			d[i] = (1-m)*d[i] + m*f*sv[i]
		}
	case []float32:
		for i := range d {
			d[i] = float32((1-m)*float64(d[i]) + m*f*sv[i])
		}
	default:
		return fmt.Errorf("unsupported buffer dtype %v", dst.Dtype())
	}
	return nil
}

// builder creates a model's parameters with a seeded generator; the first
// error sticks.
type builder struct {
	rng *rand.Rand
	dt  gt.Dtype
	c   *core
	err error
}

func (b *builder) add(name string, frozen bool, init tensor.Init, shape ...int) {
	if b.err != nil {
		return
	}
	if _, dup := b.c.byName[name]; dup {
		b.err = fmt.Errorf("nn: duplicate parameter %q", name)
		return
	}
	for _, s := range shape {
		if s <= 0 {
			b.err = fmt.Errorf("nn: parameter %q has shape %v", name, shape)
			return
		}
	}
	v, err := init(b.rng, b.dt, shape...)
	if err != nil {
		b.err = fmt.Errorf("nn: parameter %q: %w", name, err)
		return
	}
	p := &Param{Name: name, Value: v, Frozen: frozen}
	b.c.params = append(b.c.params, p)
	b.c.byName[name] = p
}

// conv adds the OIHW weight "name.w" (He-normal, fan-in) and, with bias,
// the zero bias "name.b".
func (b *builder) conv(name string, in, out, k int, bias bool) {
	b.add(name+".w", false, tensor.HeNormal(math.Sqrt2), out, in, k, k)
	if bias {
		b.add(name+".b", false, tensor.Constant(0), out)
	}
}

// convT adds the [in,out,k,k] weight of a transposed convolution and its bias.
func (b *builder) convT(name string, in, out, k int, bias bool) {
	std := math.Sqrt(2 / float64(in*k*k))
	b.add(name+".w", false, tensor.Normal(0, std), in, out, k, k)
	if bias {
		b.add(name+".b", false, tensor.Constant(0), out)
	}
}

// linear adds the in×out weight "name.w" (uniform ±1/√in, PyTorch's
// default) and the bias "name.b".
func (b *builder) linear(name string, in, out int, bias bool) {
	a := 1 / math.Sqrt(float64(in))
	b.add(name+".w", false, tensor.Uniform(-a, a), in, out)
	if bias {
		b.add(name+".b", false, tensor.Uniform(-a, a), out)
	}
}

// bn adds a batch norm layer's scale, shift and frozen running statistics.
func (b *builder) bn(name string, c int) {
	b.add(name+".gamma", false, tensor.Constant(1), c)
	b.add(name+".beta", false, tensor.Constant(0), c)
	b.add(name+".running_mean", true, tensor.Constant(0), c)
	b.add(name+".running_var", true, tensor.Constant(1), c)
}

// ln adds a layer norm's scale and shift.
func (b *builder) ln(name string, d int) {
	b.add(name+".gamma", false, tensor.Constant(1), d)
	b.add(name+".beta", false, tensor.Constant(0), d)
}

// batchNorm applies the batch norm layer name to x ([N,C] or [N,C,H,W]) in
// the model's mode: y = (x − μ)·γ/√(σ² + ε) + β per channel, with the batch
// mean and biased variance in training mode (recorded for
// UpdateRunningStats) and the running statistics in evaluation mode.
func (c *core) batchNorm(b *Binding, name string, x *gorgonia.Node) (*gorgonia.Node, error) {
	gamma, beta := b.Node(name+".gamma"), b.Node(name+".beta")
	ch := gamma.Shape()[0]
	axes := []int{0}
	if x.Dims() == 4 {
		axes = []int{0, 2, 3}
	} else if x.Dims() != 2 {
		return nil, fmt.Errorf("nn: %s: input shape %v is not [N,C] or [N,C,H,W]", name, x.Shape())
	}
	if x.Shape()[1] != ch {
		return nil, fmt.Errorf("nn: %s: input shape %v, want %d channels", name, x.Shape(), ch)
	}
	shape := x.Shape().Clone()
	wrap := func(err error) error { return fmt.Errorf("nn: %s: %w", name, err) }
	if c.mode == Training {
		// One fused op; its statistics node feeds the running statistics.
		y, mean, variance, err := ops.BatchNormTrain(x, gamma, beta, BNEps)
		if err != nil {
			return nil, wrap(err)
		}
		c.rec.add(x.Graph(), bnRecord{name: name, mean: mean, variance: variance, count: shape.TotalSize() / ch})
		return y, nil
	}
	// Evaluation mode: the running statistics are inputs.
	mean, variance := b.Node(name+".running_mean"), b.Node(name+".running_var")
	me, err := ops.ExpandAs(mean, shape, axes...)
	if err != nil {
		return nil, wrap(err)
	}
	xc, err := gorgonia.Sub(x, me)
	if err != nil {
		return nil, wrap(err)
	}
	inv, err := ops.Pow(variance, -0.5, BNEps)
	if err != nil {
		return nil, wrap(err)
	}
	// Fold the scale into the per-channel factor: y = (x − μ)·(γ/σ) + β.
	sc, err := gorgonia.HadamardProd(inv, gamma)
	if err != nil {
		return nil, wrap(err)
	}
	se, err := ops.ExpandAs(sc, shape, axes...)
	if err != nil {
		return nil, wrap(err)
	}
	be, err := ops.ExpandAs(beta, shape, axes...)
	if err != nil {
		return nil, wrap(err)
	}
	y, err := gorgonia.HadamardProd(xc, se)
	if err != nil {
		return nil, wrap(err)
	}
	return gorgonia.Add(y, be)
}

// conv2d applies the convolution name (weight and optional bias bound in b).
func conv2d(b *Binding, name string, x *gorgonia.Node, stride, pad int, bias bool) (*gorgonia.Node, error) {
	y, err := ops.Conv2d(x, b.Node(name+".w"), ops.ConvParams{Stride: [2]int{stride, stride}, Pad: [2]int{pad, pad}})
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", name, err)
	}
	if bias {
		if y, err = ops.AddBias(y, b.Node(name+".b"), 1); err != nil {
			return nil, fmt.Errorf("nn: %s bias: %w", name, err)
		}
	}
	return y, nil
}

// linear applies x·w + b for the layer name; x is [N, in].
func linear(b *Binding, name string, x *gorgonia.Node, bias bool) (*gorgonia.Node, error) {
	y, err := gorgonia.Mul(x, b.Node(name+".w"))
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", name, err)
	}
	if bias {
		if y, err = ops.AddBias(y, b.Node(name+".b"), 1); err != nil {
			return nil, fmt.Errorf("nn: %s bias: %w", name, err)
		}
	}
	return y, nil
}

// ParamCounts returns the number of trainable scalar parameters of m and
// the number of frozen ones (e.g. batch norm running statistics).
func ParamCounts(m interface{ Params() Params }) (trainable, frozen int) {
	for _, p := range m.Params() {
		n := p.Value.Shape().TotalSize()
		if p.Frozen {
			frozen += n
		} else {
			trainable += n
		}
	}
	return trainable, frozen
}

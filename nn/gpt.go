package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// GPTConfig is a nanoGPT-style decoder configuration.
type GPTConfig struct {
	Vocab   int // tokens
	Context int // longest sequence (position embeddings)
	Layers  int
	Heads   int
	Width   int // embedding width, a multiple of Heads
	// TieWeights computes the logits with the token embedding table
	// (logits = h·wteᵀ) instead of a separate head.
	TieWeights bool
	// Dropout is the probability of zeroing an activation after the
	// embeddings and after each residual branch in training mode.
	Dropout float64
}

// GPT is a decoder-only transformer over token ids: token and position
// embeddings, Layers pre-norm blocks of causal multi-head self-attention
// (additive −∞ mask above the diagonal) and a GELU MLP of width 4·Width,
// a final LayerNorm and a linear head to Vocab logits.
//
// Each head j has its own query, key and value maps "h<i>.attn.q<j>.w"
// [Width,Width/Heads] (and ".b", likewise k<j> and v<j>) and its slice of
// the output projection "h<i>.attn.proj<j>.w" [Width/Heads,Width], so the
// heads never need a transpose; this is the usual multi-head attention with
// its fused matrices cut into per-head blocks.
//
// Parameter names: "wte" [Vocab,Width], "wpe" [Context,Width],
// "h<i>.ln1.gamma/beta", the attention maps above and "h<i>.attn.proj.b",
// "h<i>.ln2.gamma/beta", "h<i>.mlp.fc.w/b", "h<i>.mlp.proj.w/b",
// "lnf.gamma/beta" and, without weight tying, "head.w" [Width,Vocab].
type GPT struct {
	core
	cfg GPTConfig
}

// NewGPT creates a GPT with nanoGPT's initialization: weights and embeddings
// N(0, 0.02²), the residual projections N(0, (0.02/√(2·Layers))²), zero
// biases and unit LayerNorm scales.
func NewGPT(rng *rand.Rand, dt gt.Dtype, cfg GPTConfig) (*GPT, error) {
	if cfg.Vocab <= 0 || cfg.Context <= 0 || cfg.Layers <= 0 || cfg.Heads <= 0 || cfg.Width <= 0 || cfg.Width%cfg.Heads != 0 {
		return nil, fmt.Errorf("nn: GPT config %+v: want positive sizes and a width divisible by the heads", cfg)
	}
	if cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("nn: GPT dropout %v: want [0, 1)", cfg.Dropout)
	}
	m := &GPT{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &m.core}
	std := tensor.Normal(0, 0.02)
	resid := tensor.Normal(0, 0.02/math.Sqrt(2*float64(cfg.Layers)))
	zero := tensor.Constant(0)
	d := cfg.Width
	b.add("wte", false, std, cfg.Vocab, d)
	b.add("wpe", false, std, cfg.Context, d)
	for i := 0; i < cfg.Layers; i++ {
		p := fmt.Sprintf("h%d.", i)
		b.ln(p+"ln1", d)
		hd := d / cfg.Heads
		for j := 0; j < cfg.Heads; j++ {
			for _, n := range []string{"q", "k", "v"} {
				name := fmt.Sprintf("%sattn.%s%d", p, n, j)
				b.add(name+".w", false, std, d, hd)
				b.add(name+".b", false, zero, hd)
			}
		}
		for j := 0; j < cfg.Heads; j++ {
			b.add(fmt.Sprintf("%sattn.proj%d.w", p, j), false, resid, hd, d)
		}
		b.add(p+"attn.proj.b", false, zero, d)
		b.ln(p+"ln2", d)
		b.add(p+"mlp.fc.w", false, std, d, 4*d)
		b.add(p+"mlp.fc.b", false, zero, 4*d)
		b.add(p+"mlp.proj.w", false, resid, 4*d, d)
		b.add(p+"mlp.proj.b", false, zero, d)
	}
	b.ln("lnf", d)
	if !cfg.TieWeights {
		b.add("head.w", false, std, d, cfg.Vocab)
	}
	if b.err != nil {
		return nil, b.err
	}
	return m, nil
}

// Config returns the model's configuration.
func (m *GPT) Config() GPTConfig { return m.cfg }

// WithMode implements Moded.
func (m *GPT) WithMode(mode Mode) Model {
	cp := *m
	cp.mode = mode
	return &cp
}

// DropoutMasks returns the dropout mask inputs that Forward created on g in
// training mode (none without dropout); ResampleDropout refills them.
func (m *GPT) DropoutMasks(g *gorgonia.ExprGraph) gorgonia.Nodes {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	return m.rec.masks[g]
}

// ResampleDropout draws new dropout masks for every mask input of g.
func (m *GPT) ResampleDropout(g *gorgonia.ExprGraph, rng *rand.Rand) error {
	for _, n := range m.DropoutMasks(g) {
		d, ok := n.Value().(*gt.Dense)
		if !ok {
			return fmt.Errorf("nn: dropout mask %s has no tensor", n.Name())
		}
		keep := 1 / (1 - m.cfg.Dropout)
		switch s := d.Data().(type) {
		case []float32:
			for i := range s {
				s[i] = 0
				if rng.Float64() >= m.cfg.Dropout {
					s[i] = float32(keep)
				}
			}
		case []float64:
			for i := range s {
				s[i] = 0
				if rng.Float64() >= m.cfg.Dropout {
					s[i] = keep
				}
			}
		}
	}
	return nil
}

func (m *GPT) dropout(x *gorgonia.Node) (*gorgonia.Node, error) {
	if m.mode != Training || m.cfg.Dropout == 0 {
		return x, nil
	}
	g := x.Graph()
	m.rec.mu.Lock()
	k := len(m.rec.masks[g])
	m.rec.mu.Unlock()
	mask, err := ops.DropoutMask(rand.New(rand.NewPCG(uint64(k), 0x6d61736b)), x.Shape().Clone(), m.cfg.Dropout, x.Dtype())
	if err != nil {
		return nil, err
	}
	mn := gorgonia.NewTensor(g, x.Dtype(), x.Dims(), gorgonia.WithShape(x.Shape().Clone()...),
		gorgonia.WithValue(mask), gorgonia.WithName(fmt.Sprintf("dropout_mask.%d", k)))
	m.rec.mu.Lock()
	if m.rec.masks == nil {
		m.rec.masks = map[*gorgonia.ExprGraph]gorgonia.Nodes{}
	}
	m.rec.masks[g] = append(m.rec.masks[g], mn)
	m.rec.mu.Unlock()
	return ops.Dropout(x, mn)
}

// Forward implements Model: x holds token ids (as floats, see ops.IDs) of
// shape [B,T] with T ≤ Context; the result is the logits [B·T, Vocab], row
// b·T+t predicting the token after position t of sequence b.
func (m *GPT) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 2 || x.Shape()[1] > m.cfg.Context {
		return nil, fmt.Errorf("nn: GPT input has shape %v, want [B,T] with T ≤ %d", x.Shape(), m.cfg.Context)
	}
	bs, T, d, H := x.Shape()[0], x.Shape()[1], m.cfg.Width, m.cfg.Heads
	hd := d / H
	g, dt := x.Graph(), x.Dtype()
	tok, err := ops.Embedding(b.Node("wte"), x)
	if err != nil {
		return nil, fmt.Errorf("nn: GPT token embedding: %w", err)
	}
	pos := make([]int, T)
	for i := range pos {
		pos[i] = i
	}
	pids, err := ops.IDs(pos, gt.Shape{T}, dt)
	if err != nil {
		return nil, err
	}
	pn := gorgonia.NewTensor(g, dt, 1, gorgonia.WithShape(T), gorgonia.WithValue(pids), gorgonia.WithName("positions"))
	pe, err := ops.Embedding(b.Node("wpe"), pn)
	if err != nil {
		return nil, fmt.Errorf("nn: GPT position embedding: %w", err)
	}
	pe, err = ops.ExpandAs(pe, gt.Shape{bs, T, d}, 0)
	if err != nil {
		return nil, err
	}
	h, err := gorgonia.Add(tok, pe)
	if err != nil {
		return nil, err
	}
	if h, err = ops.Reshape(h, gt.Shape{bs * T, d}); err != nil {
		return nil, err
	}
	if h, err = m.dropout(h); err != nil {
		return nil, err
	}
	mask, err := causalMask(g, dt, bs, T)
	if err != nil {
		return nil, err
	}
	scale := 1 / math.Sqrt(float64(hd))
	for i := 0; i < m.cfg.Layers; i++ {
		p := fmt.Sprintf("h%d.", i)
		a, err := ops.LayerNorm(h, b.Node(p+"ln1.gamma"), b.Node(p+"ln1.beta"), 1e-5)
		if err != nil {
			return nil, err
		}
		if a, err = m.attention(b, p+"attn.", a, mask, bs, T, H, hd, scale); err != nil {
			return nil, fmt.Errorf("nn: GPT block %d attention: %w", i, err)
		}
		if a, err = m.dropout(a); err != nil {
			return nil, err
		}
		if h, err = gorgonia.Add(h, a); err != nil {
			return nil, err
		}
		f, err := ops.LayerNorm(h, b.Node(p+"ln2.gamma"), b.Node(p+"ln2.beta"), 1e-5)
		if err != nil {
			return nil, err
		}
		if f, err = linear(b, p+"mlp.fc", f, true); err != nil {
			return nil, err
		}
		if f, err = ops.GELUTanh(f); err != nil {
			return nil, err
		}
		if f, err = linear(b, p+"mlp.proj", f, true); err != nil {
			return nil, err
		}
		if f, err = m.dropout(f); err != nil {
			return nil, err
		}
		if h, err = gorgonia.Add(h, f); err != nil {
			return nil, err
		}
	}
	if h, err = ops.LayerNorm(h, b.Node("lnf.gamma"), b.Node("lnf.beta"), 1e-5); err != nil {
		return nil, err
	}
	if m.cfg.TieWeights {
		// logits = h·wteᵀ as a one-element batched product with a transposed
		// second operand (the reshapes copy).
		h3, err := ops.Reshape(h, gt.Shape{1, bs * T, d})
		if err != nil {
			return nil, err
		}
		w3, err := ops.Reshape(b.Node("wte"), gt.Shape{1, m.cfg.Vocab, d})
		if err != nil {
			return nil, err
		}
		lg, err := gorgonia.BatchedMatMul(h3, w3, false, true)
		if err != nil {
			return nil, err
		}
		return ops.Reshape(lg, gt.Shape{bs * T, m.cfg.Vocab})
	}
	return gorgonia.Mul(h, b.Node("head.w"))
}

// causalMask is a [n,T,T] input holding 0 on and below the diagonal and a
// large negative number above it, added to attention scores.
func causalMask(g *gorgonia.ExprGraph, dt gt.Dtype, n, T int) (*gorgonia.Node, error) {
	v := make([]float64, T*T)
	for i := 0; i < T; i++ {
		for j := i + 1; j < T; j++ {
			v[i*T+j] = -1e9
		}
	}
	var md *gt.Dense
	if dt == gt.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		md = gt.New(gt.WithShape(T, T), gt.WithBacking(f))
	} else {
		md = gt.New(gt.WithShape(T, T), gt.WithBacking(v))
	}
	mn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(T, T), gorgonia.WithValue(md), gorgonia.WithName("causal_mask"))
	return ops.ExpandAs(mn, gt.Shape{n, T, T}, 0)
}

// attention is causal multi-head self-attention of x [B·T, D]; mask is the
// [B,T,T] additive causal mask.
func (m *GPT) attention(b *Binding, p string, x, mask *gorgonia.Node, bs, T, H, hd int, scale float64) (*gorgonia.Node, error) {
	var out *gorgonia.Node
	for j := 0; j < H; j++ {
		var qkv [3]*gorgonia.Node
		for i, n := range []string{"q", "k", "v"} {
			y, err := linear(b, fmt.Sprintf("%s%s%d", p, n, j), x, true)
			if err != nil {
				return nil, err
			}
			if qkv[i], err = ops.Reshape(y, gt.Shape{bs, T, hd}); err != nil {
				return nil, err
			}
		}
		s, err := gorgonia.BatchedMatMul(qkv[0], qkv[1], false, true)
		if err != nil {
			return nil, err
		}
		if s, err = gorgonia.Mul(s, scalarLike(s, scale)); err != nil {
			return nil, err
		}
		if s, err = gorgonia.Add(s, mask); err != nil {
			return nil, err
		}
		if s, err = ops.Softmax(s); err != nil {
			return nil, err
		}
		o, err := gorgonia.BatchedMatMul(s, qkv[2])
		if err != nil {
			return nil, err
		}
		if o, err = ops.Reshape(o, gt.Shape{bs * T, hd}); err != nil {
			return nil, err
		}
		if o, err = gorgonia.Mul(o, b.Node(fmt.Sprintf("%sproj%d.w", p, j))); err != nil {
			return nil, err
		}
		if out == nil {
			out = o
		} else if out, err = gorgonia.Add(out, o); err != nil {
			return nil, err
		}
	}
	return ops.AddBias(out, b.Node(p+"proj.b"), 1)
}

// LMProgram is a compiled next-token objective of a GPT on batches of Batch
// windows of Context tokens: the mean per-token cross-entropy over the
// (Batch·Context, Vocab) logits and, when built with gradients, its gradient
// with respect to the trainable parameters.
type LMProgram struct {
	m        *GPT
	mode     Mode
	batch, T int
	ids, oh  *gt.Dense
	nodes    LMNodes
	prog     *engine.Program
	g        *gorgonia.ExprGraph
	params   Params
	grads    tensor.List
	drop     *rand.Rand
}

// LMNodes are the nodes of an LMProgram's graph that engine options refer
// to (NewLMProgramWith).
type LMNodes struct {
	// Params are the trainable parameter inputs, in the order of
	// LMProgram.Params.
	Params gorgonia.Nodes
	// Grads are the gradients of Loss with respect to Params, outputs 2,
	// 3, … of the program (nil for a program without gradients).
	Grads gorgonia.Nodes
	// Loss and Logits are outputs 0 and 1 of the program.
	Loss, Logits *gorgonia.Node
}

// NewLMProgram builds the objective of m in the given mode for batches of
// batch windows of context tokens; grad adds the gradient. seed drives the
// dropout masks of training-mode programs. It compiles with the engine's
// default options.
func NewLMProgram(m *GPT, mode Mode, batch, context int, grad bool, seed uint64) (*LMProgram, error) {
	return NewLMProgramWith(m, mode, batch, context, grad, seed, nil)
}

// NewLMProgramWith is NewLMProgram compiled with the engine options that
// opts returns for the graph's nodes (e.g. a kernel set, resident
// parameters, gradients left on the set, parameters bound to another
// program's buffers); nil opts means the default options. The program's
// graph and its outputs are the same either way.
func NewLMProgramWith(m *GPT, mode Mode, batch, context int, grad bool, seed uint64,
	opts func(LMNodes) (engine.Options, error)) (*LMProgram, error) {
	if batch <= 0 || context <= 0 || context > m.cfg.Context {
		return nil, fmt.Errorf("nn: LM program for %d windows of %d tokens (context %d)", batch, context, m.cfg.Context)
	}
	mm := m.WithMode(mode).(*GPT)
	g := gorgonia.NewGraph()
	bind, err := Bind(g, m.Params())
	if err != nil {
		return nil, err
	}
	dt := m.params[0].Value.Dtype()
	ids, err := tensor.Zeros(dt, batch, context)
	if err != nil {
		return nil, err
	}
	oh, err := tensor.Zeros(dt, batch*context, m.cfg.Vocab)
	if err != nil {
		return nil, err
	}
	xn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(batch, context), gorgonia.WithValue(ids), gorgonia.WithName("tokens"))
	tn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(batch*context, m.cfg.Vocab), gorgonia.WithValue(oh), gorgonia.WithName("next_tokens"))
	logits, err := mm.Forward(bind, xn)
	if err != nil {
		return nil, err
	}
	loss, err := ops.SoftmaxCrossEntropy(logits, tn)
	if err != nil {
		return nil, err
	}
	p := &LMProgram{m: mm, mode: mode, batch: batch, T: context, ids: ids, oh: oh, g: g,
		params: m.Params().Trainable(), drop: rand.New(rand.NewPCG(seed, 0x64726f70))}
	p.nodes = LMNodes{Params: bind.Nodes(p.params), Loss: loss, Logits: logits}
	outs := gorgonia.Nodes{loss, logits}
	if grad {
		if p.nodes.Grads, err = autodiff.Grad(loss, p.nodes.Params...); err != nil {
			return nil, fmt.Errorf("nn: LM gradient: %w", err)
		}
		outs = append(outs, p.nodes.Grads...)
		p.grads = make(tensor.List, len(p.nodes.Grads))
	}
	var o engine.Options
	if opts != nil {
		if o, err = opts(p.nodes); err != nil {
			p.forget()
			return nil, fmt.Errorf("nn: LM program options: %w", err)
		}
	}
	if p.prog, err = engine.CompileWith(g, o, outs...); err != nil {
		p.forget()
		return nil, err
	}
	return p, nil
}

// forget drops the model's record of the graph's dropout masks.
func (p *LMProgram) forget() {
	p.m.rec.mu.Lock()
	delete(p.m.rec.masks, p.g)
	p.m.rec.mu.Unlock()
}

// Params returns the trainable parameters in the order of the gradients.
func (p *LMProgram) Params() Params { return p.params }

// Nodes returns the graph's parameter, gradient, loss and logit nodes.
func (p *LMProgram) Nodes() LMNodes { return p.nodes }

// Program returns the compiled program (for its buffers on a kernel set,
// Upload and Download).
func (p *LMProgram) Program() *engine.Program { return p.prog }

// Fill writes a batch into the program's inputs: inputs and targets are
// batch×context row-major token ids (as a WindowSampler gives them);
// targets may be nil for logits only (the loss is then meaningless). A
// training-mode program also draws new dropout masks.
func (p *LMProgram) Fill(inputs, targets []int) error {
	n := p.batch * p.T
	if len(inputs) != n || (targets != nil && len(targets) != n) {
		return fmt.Errorf("nn: LM batch of %d inputs and %d targets, want %d", len(inputs), len(targets), n)
	}
	V := p.m.cfg.Vocab
	switch s := p.ids.Data().(type) {
	case []float32:
		oh := p.oh.Data().([]float32)
		clear(oh)
		for i, t := range inputs {
			s[i] = float32(t)
			if targets != nil {
				oh[i*V+targets[i]] = 1
			}
		}
	case []float64:
		oh := p.oh.Data().([]float64)
		clear(oh)
		for i, t := range inputs {
			s[i] = float64(t)
			if targets != nil {
				oh[i*V+targets[i]] = 1
			}
		}
	}
	if p.mode == Training {
		return p.m.ResampleDropout(p.g, p.drop)
	}
	return nil
}

// Loss fills the batch (Fill), runs the program and returns the loss;
// the other outputs stay in the program.
func (p *LMProgram) Loss(inputs, targets []int) (float64, error) {
	if err := p.Fill(inputs, targets); err != nil {
		return math.NaN(), err
	}
	if err := p.prog.Run(); err != nil {
		return math.NaN(), err
	}
	return p.prog.Scalar(0)
}

// Run evaluates the objective on a batch as Loss does and returns the
// gradients too (nil for a program without them). Gradients are valid
// until the next Run.
func (p *LMProgram) Run(inputs, targets []int) (float64, tensor.List, error) {
	l, err := p.Loss(inputs, targets)
	if err != nil {
		return math.NaN(), nil, err
	}
	if p.grads == nil {
		return l, nil, nil
	}
	for i := range p.grads {
		if p.grads[i], err = p.prog.Dense(2 + i); err != nil {
			return math.NaN(), nil, err
		}
	}
	return l, p.grads, nil
}

// Logits returns the [batch·context, Vocab] logits of the last Run.
func (p *LMProgram) Logits() (*gt.Dense, error) { return p.prog.Dense(1) }

// Close releases the program.
func (p *LMProgram) Close() error {
	p.forget()
	return p.prog.Close()
}

// UnigramCrossEntropy is the cross-entropy in nats of the val tokens under
// the unigram distribution of the train tokens (add-one smoothed over the
// vocabulary): the loss of a model that ignores the context.
func UnigramCrossEntropy(train, val []int, vocab int) (float64, error) {
	if len(val) == 0 {
		return math.NaN(), fmt.Errorf("nn: no validation tokens")
	}
	counts := make([]float64, vocab)
	for _, t := range train {
		if t < 0 || t >= vocab {
			return math.NaN(), fmt.Errorf("nn: token %d outside a vocabulary of %d", t, vocab)
		}
		counts[t]++
	}
	total := float64(len(train) + vocab)
	var s float64
	for _, t := range val {
		if t < 0 || t >= vocab {
			return math.NaN(), fmt.Errorf("nn: token %d outside a vocabulary of %d", t, vocab)
		}
		s -= math.Log((counts[t] + 1) / total)
	}
	return s / float64(len(val)), nil
}

// LMConfig configures TrainLM.
type LMConfig struct {
	Steps       int
	Batch       int    // windows per step
	Context     int    // tokens per window (≤ the model's context)
	Seed        uint64 // window sampling and dropout
	EvalEvery   int    // steps between validation passes (0: only at the end)
	EvalBatches int    // validation batches per pass (default 8)
	LR          func(step int) float64
	// Log, when set, receives every validation pass (and the mean training
	// loss since the previous one).
	Log func(step int, trainLoss, valLoss float64)
}

// LMResult summarises TrainLM.
type LMResult struct {
	Steps     int
	TrainLoss float64 // mean over the steps since the last validation pass
	ValLoss   float64 // last validation loss
}

// LMStepper takes TrainLM's steps and validation passes: it holds a
// training-mode program with gradients, an evaluation-mode program and an
// optimizer, on the host (TrainLM) or elsewhere (TrainLMWith). Batches are
// batch×context row-major token ids as a data.WindowSampler gives them.
type LMStepper interface {
	// SetLR sets the optimizer's learning rate.
	SetLR(lr float64)
	// Grad computes the training loss of a batch and its gradient, and
	// reports whether every gradient element is finite.
	Grad(inputs, targets []int) (loss float64, finite bool, err error)
	// Update applies one optimizer step with the gradient of the last Grad.
	Update() error
	// Validate returns the evaluation-mode loss of a batch.
	Validate(inputs, targets []int) (float64, error)
	// Close releases the programs; the model's parameter tensors then
	// hold the trained values.
	Close() error
}

// hostLMStepper is TrainLM's LMStepper: both programs compiled with the
// default engine options, the optimizer stepping the model's tensors.
type hostLMStepper struct {
	opt    optim.Optimizer
	tp, ep *LMProgram
	params tensor.List
	grads  tensor.List
}

func newHostLMStepper(m *GPT, opt optim.Optimizer, c LMConfig) (LMStepper, error) {
	tp, err := NewLMProgram(m, Training, c.Batch, c.Context, true, c.Seed)
	if err != nil {
		return nil, err
	}
	ep, err := NewLMProgram(m, Evaluation, c.Batch, c.Context, false, 0)
	if err != nil {
		return nil, errors.Join(err, tp.Close())
	}
	return &hostLMStepper{opt: opt, tp: tp, ep: ep, params: tp.Params().Values()}, nil
}

func (h *hostLMStepper) SetLR(lr float64) { h.opt.SetLR(lr) }

func (h *hostLMStepper) Grad(inputs, targets []int) (float64, bool, error) {
	l, grads, err := h.tp.Run(inputs, targets)
	if err != nil {
		return l, false, err
	}
	h.grads = grads
	return l, grads.AllFinite(), nil
}

func (h *hostLMStepper) Update() error { return h.opt.Step(h.params, h.grads) }

func (h *hostLMStepper) Validate(inputs, targets []int) (float64, error) {
	l, _, err := h.ep.Run(inputs, targets)
	return l, err
}

func (h *hostLMStepper) Close() error { return errors.Join(h.ep.Close(), h.tp.Close()) }

// TrainLM trains m on next-token prediction with windows drawn from train
// (data.WindowSampler) and measures the validation loss on fixed windows of
// val (the same windows at every pass), in evaluation mode, on the host.
func TrainLM(ctx context.Context, m *GPT, opt optim.Optimizer, train, val []int, c LMConfig) (LMResult, error) {
	return TrainLMWith(ctx, m, train, val, c, func(m *GPT, c LMConfig) (LMStepper, error) {
		return newHostLMStepper(m, opt, c)
	})
}

// TrainLMWith is TrainLM with the steps taken by the stepper that
// newStepper builds for m and c (with Context and EvalBatches defaulted).
// The windows, the learning rates (set before each Grad when c.LR is not
// nil), the divergence test (a non-finite loss or gradient ends the run
// with an error), the validation passes and the logging are TrainLM's.
// The stepper is closed before TrainLMWith returns.
func TrainLMWith(ctx context.Context, m *GPT, train, val []int, c LMConfig,
	newStepper func(*GPT, LMConfig) (LMStepper, error)) (res LMResult, err error) {
	if c.Steps <= 0 || c.Batch <= 0 {
		return LMResult{}, fmt.Errorf("nn: TrainLM needs positive steps and batch, got %d and %d", c.Steps, c.Batch)
	}
	if c.Context <= 0 {
		c.Context = m.cfg.Context
	}
	if c.EvalBatches <= 0 {
		c.EvalBatches = 8
	}
	sampler, err := data.NewWindowSampler(train, c.Context, c.Batch, c.Seed)
	if err != nil {
		return LMResult{}, err
	}
	vs, err := data.NewWindowSampler(val, c.Context, c.Batch, c.Seed^0x76616c)
	if err != nil {
		return LMResult{}, err
	}
	s, err := newStepper(m, c)
	if err != nil {
		return LMResult{}, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	n := c.Batch * c.Context
	in, tg := make([]int, n), make([]int, n)
	validate := func() (float64, error) {
		if err := vs.SetStep(0); err != nil {
			return math.NaN(), err
		}
		var sum float64
		for k := 0; k < c.EvalBatches; k++ {
			if err := vs.NextInto(in, tg); err != nil {
				return math.NaN(), err
			}
			l, err := s.Validate(in, tg)
			if err != nil {
				return math.NaN(), err
			}
			sum += l
		}
		return sum / float64(c.EvalBatches), nil
	}
	var sum float64
	var cnt int
	for step := 0; step < c.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := sampler.NextInto(in, tg); err != nil {
			return res, err
		}
		if c.LR != nil {
			s.SetLR(c.LR(step))
		}
		l, finite, err := s.Grad(in, tg)
		if err != nil {
			return res, fmt.Errorf("nn: LM step %d: %w", step, err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) || !finite {
			return res, fmt.Errorf("nn: LM step %d: loss %v, diverged", step, l)
		}
		if err := s.Update(); err != nil {
			return res, fmt.Errorf("nn: LM step %d: %w", step, err)
		}
		sum += l
		cnt++
		res.Steps = step + 1
		if (c.EvalEvery > 0 && res.Steps%c.EvalEvery == 0) || res.Steps == c.Steps {
			v, err := validate()
			if err != nil {
				return res, fmt.Errorf("nn: LM validation at step %d: %w", res.Steps, err)
			}
			res.TrainLoss, res.ValLoss = sum/float64(cnt), v
			if c.Log != nil {
				c.Log(res.Steps, res.TrainLoss, v)
			}
			sum, cnt = 0, 0
		}
	}
	return res, nil
}

// Sampler generates text from a GPT, one token at a time, with a compiled
// single-sequence evaluation-mode program.
type Sampler struct {
	m    *GPT
	prog *LMProgram
	rng  *rand.Rand
}

// NewSampler compiles a sampling program for m; seed drives the draws.
func NewSampler(m *GPT, seed uint64) (*Sampler, error) {
	p, err := NewLMProgram(m, Evaluation, 1, m.cfg.Context, false, 0)
	if err != nil {
		return nil, err
	}
	return &Sampler{m: m, prog: p, rng: rand.New(rand.NewPCG(seed, 0x73616d70))}, nil
}

// Close releases the program.
func (s *Sampler) Close() error { return s.prog.Close() }

// Generate continues prompt (at least one token) by n tokens drawn from
// softmax(logits/temperature); temperature 0 takes the argmax. Only the
// last Context tokens are seen.
func (s *Sampler) Generate(prompt []int, n int, temperature float64) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("nn: empty prompt")
	}
	T, V := s.m.cfg.Context, s.m.cfg.Vocab
	seq := append([]int(nil), prompt...)
	in := make([]int, T)
	probs := make([]float64, V)
	for k := 0; k < n; k++ {
		win := seq[max(0, len(seq)-T):]
		clear(in)
		copy(in, win)
		if _, _, err := s.prog.Run(in, nil); err != nil {
			return nil, err
		}
		lg, err := s.prog.Logits()
		if err != nil {
			return nil, err
		}
		row := len(win) - 1
		for j := 0; j < V; j++ {
			switch d := lg.Data().(type) {
			case []float32:
				probs[j] = float64(d[row*V+j])
			case []float64:
				probs[j] = d[row*V+j]
			}
		}
		seq = append(seq, drawToken(probs, temperature, s.rng))
	}
	return seq[len(prompt):], nil
}

// drawToken samples from softmax(logits/temperature) (argmax at 0).
func drawToken(logits []float64, temperature float64, rng *rand.Rand) int {
	best := 0
	for j, v := range logits {
		if v > logits[best] {
			best = j
		}
	}
	if temperature <= 0 {
		return best
	}
	var z float64
	w := make([]float64, len(logits))
	for j, v := range logits {
		w[j] = math.Exp((v - logits[best]) / temperature)
		z += w[j]
	}
	u := rng.Float64() * z
	for j, x := range w {
		if u < x {
			return j
		}
		u -= x
	}
	return len(w) - 1
}

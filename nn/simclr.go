package nn

import (
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

// SimCLR is an encoder (any model whose Forward gives features [N, F], e.g.
// a ResNet with Features set) followed by a projection head: linear F→H,
// ReLU, linear H→Out. Its Forward gives the projections [N, Out]; Encoder
// gives the features for downstream use. Head parameters: "proj.0.w/b",
// "proj.1.w/b"; the encoder's names are kept.
type SimCLR struct {
	Encoder Model
	head    core
	mode    Mode
	featDim int
}

// NewSimCLR adds a projection head of widths hidden and out on top of an
// encoder with featDim features.
func NewSimCLR(rng *rand.Rand, dt gt.Dtype, encoder Model, featDim, hidden, out int) (*SimCLR, error) {
	if featDim <= 0 || hidden <= 0 || out <= 0 {
		return nil, fmt.Errorf("nn: SimCLR head %d→%d→%d", featDim, hidden, out)
	}
	s := &SimCLR{Encoder: encoder, head: newCore(), featDim: featDim}
	b := &builder{rng: rng, dt: dt, c: &s.head}
	b.linear("proj.0", featDim, hidden, true)
	b.linear("proj.1", hidden, out, true)
	if b.err != nil {
		return nil, b.err
	}
	for _, p := range encoder.Params() {
		if _, dup := s.head.byName[p.Name]; dup {
			return nil, fmt.Errorf("nn: encoder parameter %q clashes with the head", p.Name)
		}
	}
	return s, nil
}

// Params implements Model: the encoder's parameters, then the head's.
func (s *SimCLR) Params() Params {
	return append(append(Params(nil), s.Encoder.Params()...), s.head.params...)
}

// Mode implements Moded.
func (s *SimCLR) Mode() Mode { return s.mode }

// WithMode implements Moded; the encoder switches with it.
func (s *SimCLR) WithMode(m Mode) Model {
	cp := *s
	cp.mode = m
	cp.Encoder = InMode(s.Encoder, m)
	return &cp
}

// BatchStatNodes implements BatchStatser (the encoder's statistics).
func (s *SimCLR) BatchStatNodes(g *gorgonia.ExprGraph) gorgonia.Nodes {
	if bs, ok := s.Encoder.(BatchStatser); ok {
		return bs.BatchStatNodes(g)
	}
	return nil
}

// UpdateRunningStats implements BatchStatser.
func (s *SimCLR) UpdateRunningStats(g *gorgonia.ExprGraph, vals []*gt.Dense) error {
	if bs, ok := s.Encoder.(BatchStatser); ok {
		return bs.UpdateRunningStats(g, vals)
	}
	if len(vals) > 0 {
		return fmt.Errorf("nn: %d statistics for an encoder without running statistics", len(vals))
	}
	return nil
}

// ReleaseGraph implements BatchStatser.
func (s *SimCLR) ReleaseGraph(g *gorgonia.ExprGraph) {
	if bs, ok := s.Encoder.(BatchStatser); ok {
		bs.ReleaseGraph(g)
	}
}

// FeatureDim is the encoder's feature width.
func (s *SimCLR) FeatureDim() int { return s.featDim }

// Forward implements Model: the projections of x.
func (s *SimCLR) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	f, err := s.Encoder.Forward(b, x)
	if err != nil {
		return nil, err
	}
	if f.Dims() != 2 || f.Shape()[1] != s.featDim {
		return nil, fmt.Errorf("nn: SimCLR encoder gives %v, want [N,%d]", f.Shape(), s.featDim)
	}
	h, err := linear(b, "proj.0", f, true)
	if err != nil {
		return nil, err
	}
	if h, err = ops.ReLU(h); err != nil {
		return nil, err
	}
	return linear(b, "proj.1", h, true)
}

// matMulT is a·bᵀ for matrices, as a one-element batched product.
func matMulT(a, b *gorgonia.Node) (*gorgonia.Node, error) {
	a3, err := ops.Reshape(a, gt.Shape{1, a.Shape()[0], a.Shape()[1]})
	if err != nil {
		return nil, err
	}
	b3, err := ops.Reshape(b, gt.Shape{1, b.Shape()[0], b.Shape()[1]})
	if err != nil {
		return nil, err
	}
	p, err := gorgonia.BatchedMatMul(a3, b3, false, true)
	if err != nil {
		return nil, err
	}
	return ops.Reshape(p, gt.Shape{a.Shape()[0], b.Shape()[0]})
}

// l2Rows divides each row of z [N,D] by its Euclidean norm.
func l2Rows(z *gorgonia.Node) (*gorgonia.Node, error) {
	sq, err := gorgonia.HadamardProd(z, z)
	if err != nil {
		return nil, err
	}
	s, err := ops.SumAxis(sq, 1)
	if err != nil {
		return nil, err
	}
	inv, err := ops.Pow(s, -0.5, 1e-12)
	if err != nil {
		return nil, err
	}
	ie, err := ops.ExpandAs(inv, z.Shape().Clone(), 1)
	if err != nil {
		return nil, err
	}
	return gorgonia.HadamardProd(z, ie)
}

// eyeNode is an n×n constant identity (or 1 − identity with off).
func eyeNode(g *gorgonia.ExprGraph, dt gt.Dtype, n int, off bool, name string) *gorgonia.Node {
	v := make([]float64, n*n)
	for i := range v {
		if (i/n == i%n) != off {
			v[i] = 1
		}
	}
	d, _ := denseFrom(v, dt, n, n)
	return gorgonia.NewMatrix(g, dt, gorgonia.WithShape(n, n), gorgonia.WithValue(d), gorgonia.WithName(name))
}

func denseFrom(v []float64, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
	switch dt {
	case gt.Float64:
		return gt.New(gt.WithShape(shape...), gt.WithBacking(v)), nil
	case gt.Float32:
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return gt.New(gt.WithShape(shape...), gt.WithBacking(f)), nil
	}
	return nil, fmt.Errorf("nn: unsupported dtype %v", dt)
}

// InfoNCE is SimCLR's NT-Xent loss of two views z1, z2 [N,D] of the same N
// examples: with cosine similarities s(a,b) and temperature τ, each of the
// 2N projections is an anchor whose positive is the other view of its
// example and whose negatives are the other 2N−2 projections,
//
//	ℓ(i) = −s(i,i⁺)/τ + log Σ_{k≠i} exp(s(i,k)/τ),
//
// averaged over the anchors. The exponentials are shifted by 1/τ (the
// largest possible similarity), so they never overflow.
func InfoNCE(z1, z2 *gorgonia.Node, temperature float64) (*gorgonia.Node, error) {
	if z1.Dims() != 2 || !z1.Shape().Eq(z2.Shape()) || z1.Shape()[0] < 2 {
		return nil, fmt.Errorf("nn: InfoNCE of %v and %v: want two [N,D] views with N ≥ 2", z1.Shape(), z2.Shape())
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("nn: InfoNCE temperature %v", temperature)
	}
	n := z1.Shape()[0]
	g, dt := z1.Graph(), z1.Dtype()
	n1, err := l2Rows(z1)
	if err != nil {
		return nil, err
	}
	n2, err := l2Rows(z2)
	if err != nil {
		return nil, err
	}
	eye := eyeNode(g, dt, n, false, "infonce.eye")
	off := eyeNode(g, dt, n, true, "infonce.offdiag")
	// Anchors of view a against view a (self masked) and view b.
	half := func(na, nb *gorgonia.Node) (*gorgonia.Node, error) {
		saa, err := matMulT(na, na)
		if err != nil {
			return nil, err
		}
		sab, err := matMulT(na, nb)
		if err != nil {
			return nil, err
		}
		ex := func(s *gorgonia.Node) (*gorgonia.Node, error) {
			t, err := gorgonia.Mul(s, scalarLike(s, 1/temperature))
			if err != nil {
				return nil, err
			}
			if t, err = gorgonia.Sub(t, scalarLike(s, 1/temperature)); err != nil {
				return nil, err
			}
			return gorgonia.Exp(t)
		}
		eaa, err := ex(saa)
		if err != nil {
			return nil, err
		}
		if eaa, err = gorgonia.HadamardProd(eaa, off); err != nil {
			return nil, err
		}
		eab, err := ex(sab)
		if err != nil {
			return nil, err
		}
		den, err := gorgonia.Add(eaa, eab)
		if err != nil {
			return nil, err
		}
		ds, err := ops.SumAxis(den, 1)
		if err != nil {
			return nil, err
		}
		lse, err := gorgonia.Log(ds)
		if err != nil {
			return nil, err
		}
		pos, err := gorgonia.HadamardProd(sab, eye)
		if err != nil {
			return nil, err
		}
		ps, err := ops.SumAxis(pos, 1)
		if err != nil {
			return nil, err
		}
		// ℓ = log Σ exp((s−1)/τ) + 1/τ − s⁺/τ; the constant 1/τ is added
		// once at the end.
		if ps, err = gorgonia.Mul(ps, scalarLike(ps, 1/temperature)); err != nil {
			return nil, err
		}
		d, err := gorgonia.Sub(lse, ps)
		if err != nil {
			return nil, err
		}
		return ops.SumAll(d)
	}
	a, err := half(n1, n2)
	if err != nil {
		return nil, err
	}
	b, err := half(n2, n1)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Add(a, b)
	if err != nil {
		return nil, err
	}
	if s, err = gorgonia.Mul(s, scalarLike(s, 1/float64(2*n))); err != nil {
		return nil, err
	}
	return gorgonia.Add(s, scalarLike(s, 1/temperature))
}

// SpectralContrastive is the spectral contrastive loss of HaoChen et al.
// on two views z1, z2 [N,D] (raw projections, not normalized):
//
//	L = −(2/N) Σ_i z1_i·z2_i + 1/(N(N−1)) Σ_{i≠j} (z1_i·z2_j)².
func SpectralContrastive(z1, z2 *gorgonia.Node) (*gorgonia.Node, error) {
	if z1.Dims() != 2 || !z1.Shape().Eq(z2.Shape()) || z1.Shape()[0] < 2 {
		return nil, fmt.Errorf("nn: spectral contrastive loss of %v and %v: want two [N,D] views with N ≥ 2", z1.Shape(), z2.Shape())
	}
	n := z1.Shape()[0]
	g, dt := z1.Graph(), z1.Dtype()
	s, err := matMulT(z1, z2)
	if err != nil {
		return nil, err
	}
	pos, err := gorgonia.HadamardProd(s, eyeNode(g, dt, n, false, "spectral.eye"))
	if err != nil {
		return nil, err
	}
	ps, err := ops.SumAll(pos)
	if err != nil {
		return nil, err
	}
	neg, err := gorgonia.HadamardProd(s, eyeNode(g, dt, n, true, "spectral.offdiag"))
	if err != nil {
		return nil, err
	}
	if neg, err = gorgonia.HadamardProd(neg, neg); err != nil {
		return nil, err
	}
	ns, err := ops.SumAll(neg)
	if err != nil {
		return nil, err
	}
	a, err := gorgonia.Mul(ps, scalarLike(ps, -2/float64(n)))
	if err != nil {
		return nil, err
	}
	b, err := gorgonia.Mul(ns, scalarLike(ns, 1/float64(n*(n-1))))
	if err != nil {
		return nil, err
	}
	return gorgonia.Add(a, b)
}

// ContrastiveLoss names the two SimCLR objectives.
type ContrastiveLoss string

// The contrastive losses.
const (
	LossInfoNCE  ContrastiveLoss = "infonce"
	LossSpectral ContrastiveLoss = "spectral"
)

// SimCLRTrainer compiles the contrastive loss of a SimCLR model on two
// augmented views of a batch and its gradient.
type SimCLRTrainer struct {
	m      *SimCLR
	opt    optim.Optimizer
	x1, x2 *gt.Dense
	prog   *engine.Program
	g      *gorgonia.ExprGraph
	params Params
	nstat  int
}

// NewSimCLRTrainer builds the training program for batches of n examples
// of the given shape (C, H, W); temperature is used by InfoNCE.
func NewSimCLRTrainer(m *SimCLR, opt optim.Optimizer, loss ContrastiveLoss, n int, shape []int, temperature float64) (*SimCLRTrainer, error) {
	tm := m.WithMode(Training).(*SimCLR)
	g := gorgonia.NewGraph()
	b, err := Bind(g, m.Params())
	if err != nil {
		return nil, err
	}
	dt := m.Params()[0].Value.Dtype()
	full := append([]int{n}, shape...)
	t := &SimCLRTrainer{m: tm, opt: opt, g: g, params: m.Params().Trainable()}
	if t.x1, err = tensor.Zeros(dt, full...); err != nil {
		return nil, err
	}
	if t.x2, err = tensor.Zeros(dt, full...); err != nil {
		return nil, err
	}
	in := func(v *gt.Dense, name string) *gorgonia.Node {
		return gorgonia.NewTensor(g, dt, len(full), gorgonia.WithShape(full...), gorgonia.WithValue(v), gorgonia.WithName(name))
	}
	z1, err := tm.Forward(b, in(t.x1, "view1"))
	if err != nil {
		return nil, err
	}
	z2, err := tm.Forward(b, in(t.x2, "view2"))
	if err != nil {
		return nil, err
	}
	var l *gorgonia.Node
	switch loss {
	case LossInfoNCE:
		l, err = InfoNCE(z1, z2, temperature)
	case LossSpectral:
		l, err = SpectralContrastive(z1, z2)
	default:
		err = fmt.Errorf("nn: unknown contrastive loss %q", loss)
	}
	if err != nil {
		return nil, err
	}
	grads, err := autodiff.Grad(l, b.Nodes(t.params)...)
	if err != nil {
		return nil, err
	}
	outs := append(gorgonia.Nodes{l}, grads...)
	stats := tm.BatchStatNodes(g)
	t.nstat = len(stats)
	if t.prog, err = engine.Compile(g, append(outs, stats...)...); err != nil {
		return nil, err
	}
	return t, nil
}

// Step updates the model on two views (float32, example after example) and
// returns the loss before the update.
func (t *SimCLRTrainer) Step(view1, view2 []float32) (float64, error) {
	if len(view1) != t.x1.Shape().TotalSize() || len(view2) != len(view1) {
		return math.NaN(), fmt.Errorf("nn: SimCLR step with %d and %d values, want %d", len(view1), len(view2), t.x1.Shape().TotalSize())
	}
	for _, p := range []struct {
		d   *gt.Dense
		src []float32
	}{{t.x1, view1}, {t.x2, view2}} {
		switch s := p.d.Data().(type) {
		case []float32:
			copy(s, p.src)
		case []float64:
			for i, v := range p.src {
				s[i] = float64(v)
			}
		}
	}
	if err := t.prog.Run(); err != nil {
		return math.NaN(), err
	}
	l, err := t.prog.Scalar(0)
	if err != nil {
		return math.NaN(), err
	}
	grads := make([]*gt.Dense, len(t.params))
	for i := range grads {
		if grads[i], err = t.prog.Dense(1 + i); err != nil {
			return l, err
		}
	}
	if math.IsNaN(l) || !tensor.List(grads).AllFinite() {
		return l, fmt.Errorf("nn: SimCLR diverged (loss %v)", l)
	}
	if err := t.opt.Step(t.params.Values(), grads); err != nil {
		return l, err
	}
	if t.nstat > 0 {
		vals := make([]*gt.Dense, t.nstat)
		for i := range vals {
			if vals[i], err = t.prog.Dense(1 + len(grads) + i); err != nil {
				return l, err
			}
		}
		if err := t.m.UpdateRunningStats(t.g, vals); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Close releases the program.
func (t *SimCLRTrainer) Close() error {
	t.m.ReleaseGraph(t.g)
	return t.prog.Close()
}

// Features runs model (in evaluation mode) over ds in batches and returns a
// dataset of its outputs [N, F] with ds's labels.
func Features(model Model, ds *data.Dataset, batch int) (*data.Dataset, error) {
	if batch <= 0 || ds.Len() == 0 {
		return nil, fmt.Errorf("nn: features of %d examples in batches of %d", ds.Len(), batch)
	}
	batch = min(batch, ds.Len())
	em := InMode(model, Evaluation)
	g := gorgonia.NewGraph()
	b, err := Bind(g, model.Params())
	if err != nil {
		return nil, err
	}
	dt := model.Params()[0].Value.Dtype()
	shape := append([]int{batch}, ds.Shape...)
	x, err := tensor.Zeros(dt, shape...)
	if err != nil {
		return nil, err
	}
	xn := gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(x), gorgonia.WithName("x"))
	out, err := em.Forward(b, xn)
	if err != nil {
		return nil, err
	}
	if out.Dims() != 2 {
		return nil, fmt.Errorf("nn: features of shape %v, want [N,F]", out.Shape())
	}
	F := out.Shape()[1]
	prog, err := engine.Compile(g, out)
	if err != nil {
		return nil, err
	}
	defer prog.Close()
	res := &data.Dataset{Name: ds.Name + "-features", Shape: []int{F}, Y: ds.Y, Classes: ds.Classes, X: make([]float32, ds.Len()*F)}
	es := ds.ExampleSize()
	for start := 0; start < ds.Len(); start += batch {
		n := min(batch, ds.Len()-start)
		switch s := x.Data().(type) {
		case []float32:
			clear(s)
			copy(s, ds.X[start*es:(start+n)*es])
		case []float64:
			clear(s)
			for i, v := range ds.X[start*es : (start+n)*es] {
				s[i] = float64(v)
			}
		}
		if err := prog.Run(); err != nil {
			return nil, err
		}
		d, err := prog.Dense(0)
		if err != nil {
			return nil, err
		}
		switch s := d.Data().(type) {
		case []float32:
			copy(res.X[start*F:(start+n)*F], s[:n*F])
		case []float64:
			for i, v := range s[:n*F] {
				res.X[start*F+i] = float32(v)
			}
		}
	}
	return res, nil
}

// ProbeConfig configures TrainLinearProbe.
type ProbeConfig struct {
	Epochs int
	Batch  int
	LR     float64 // Adam
	Seed   uint64
}

// TrainLinearProbe fits a linear classifier (softmax regression, Adam) on
// the feature datasets made by Features and returns its train and test
// accuracy. Features are standardized with the training set's per-feature
// mean and deviation first.
func TrainLinearProbe(trainF, testF *data.Dataset, c ProbeConfig) (trainAcc, testAcc float64, err error) {
	if len(trainF.Shape) != 1 || trainF.Classes <= 0 || c.Epochs <= 0 || c.Batch <= 0 || c.LR <= 0 {
		return math.NaN(), math.NaN(), fmt.Errorf("nn: linear probe on %v features with %+v", trainF.Shape, c)
	}
	F, K := trainF.Shape[0], trainF.Classes
	mean, std := make([]float64, F), make([]float64, F)
	n := trainF.Len()
	for i := 0; i < n; i++ {
		for j := 0; j < F; j++ {
			mean[j] += float64(trainF.X[i*F+j]) / float64(n)
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < F; j++ {
			d := float64(trainF.X[i*F+j]) - mean[j]
			std[j] += d * d / float64(n)
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j]) + 1e-6
	}
	standardize := func(ds *data.Dataset) []float32 {
		out := make([]float32, len(ds.X))
		for i := range out {
			j := i % F
			out[i] = float32((float64(ds.X[i]) - mean[j]) / std[j])
		}
		return out
	}
	xtr, xte := standardize(trainF), standardize(testF)
	lin, err := NewMLP(rand.New(rand.NewPCG(c.Seed, 0x70726f)), gt.Float32, []int{F, K}, Activation{Name: "identity"}, tensor.GlorotUniform(1))
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	batch := min(c.Batch, n)
	g := gorgonia.NewGraph()
	b, err := Bind(g, lin.Params())
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	x, _ := tensor.Zeros(gt.Float32, batch, F)
	t, _ := tensor.Zeros(gt.Float32, batch, K)
	xn := gorgonia.NewMatrix(g, gt.Float32, gorgonia.WithShape(batch, F), gorgonia.WithValue(x), gorgonia.WithName("x"))
	tn := gorgonia.NewMatrix(g, gt.Float32, gorgonia.WithShape(batch, K), gorgonia.WithValue(t), gorgonia.WithName("t"))
	logits, err := lin.Forward(b, xn)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	loss, err := ops.SoftmaxCrossEntropy(logits, tn)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	grads, err := autodiff.Grad(loss, b.Nodes(lin.Params())...)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	prog, err := engine.Compile(g, append(gorgonia.Nodes{loss, logits}, grads...)...)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	defer prog.Close()
	opt, err := optim.NewAdam(optim.AdamConfig{LR: c.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	xs, ts := x.Data().([]float32), t.Data().([]float32)
	load := func(X []float32, Y []int, idx []int) {
		clear(xs)
		clear(ts)
		for r, i := range idx {
			copy(xs[r*F:(r+1)*F], X[i*F:(i+1)*F])
			ts[r*K+Y[i]] = 1
		}
	}
	params := lin.Params().Values()
	gs := make([]*gt.Dense, len(grads))
	for e := 0; e < c.Epochs; e++ {
		perm := data.Permutation(n, c.Seed, uint64(e))
		for s := 0; s+batch <= n; s += batch {
			load(xtr, trainF.Y, perm[s:s+batch])
			if err := prog.Run(); err != nil {
				return math.NaN(), math.NaN(), err
			}
			for i := range gs {
				if gs[i], err = prog.Dense(2 + i); err != nil {
					return math.NaN(), math.NaN(), err
				}
			}
			if err := opt.Step(params, gs); err != nil {
				return math.NaN(), math.NaN(), err
			}
		}
	}
	accuracy := func(X []float32, ds *data.Dataset) (float64, error) {
		correct := 0
		idx := make([]int, 0, batch)
		for s := 0; s < ds.Len(); s += batch {
			idx = idx[:0]
			for i := s; i < min(s+batch, ds.Len()); i++ {
				idx = append(idx, i)
			}
			load(X, ds.Y, idx)
			if err := prog.Run(); err != nil {
				return math.NaN(), err
			}
			lg, err := prog.Dense(1)
			if err != nil {
				return math.NaN(), err
			}
			pred := data.ArgMax(nil, lg.Data().([]float32)[:len(idx)*K], K)
			for r, i := range idx {
				if pred[r] == ds.Y[i] {
					correct++
				}
			}
		}
		return float64(correct) / float64(ds.Len()), nil
	}
	if trainAcc, err = accuracy(xtr, trainF); err != nil {
		return math.NaN(), math.NaN(), err
	}
	if testAcc, err = accuracy(xte, testF); err != nil {
		return math.NaN(), math.NaN(), err
	}
	return trainAcc, testAcc, nil
}

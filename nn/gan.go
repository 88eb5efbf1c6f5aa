package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// Conditional is a network of two inputs: x and the one-hot class label y
// [N, Classes]. A generator's x is the noise z [N, ZDim] and its output an
// image batch [N, C, H, W] in (−1, 1); a discriminator's x is such an image
// batch and its output the real-versus-fake logits [N, 1].
type Conditional interface {
	Params() Params
	Forward(b *Binding, x, y *gorgonia.Node) (*gorgonia.Node, error)
}

// Generator is a conditional generator.
type Generator interface {
	Conditional
	ZDim() int
	Classes() int
	// Image is the shape (C, H, W) of one generated example.
	Image() [3]int
}

// GANConfig sizes a conditional GAN's networks.
type GANConfig struct {
	Image   [3]int // channels, height, width
	Classes int
	ZDim    int
	// Hidden are the MLP widths (generator from the noise up,
	// discriminator from the image down), or for the DCGAN the channels of
	// the generator's first feature map (Hidden[0], halved by each
	// upsampling) and of the discriminator's first convolution (doubled by
	// the second).
	Hidden []int
}

// MLPGenerator maps (z, y) through linear layers with leaky ReLU (slope
// 0.2) to tanh pixels. The first layer is z·Wz + y·Wy + b. Parameters:
// "g.fc0.wz", "g.fc0.wy", "g.fc0.b", "g.fc<i>.w/b".
type MLPGenerator struct {
	core
	cfg GANConfig
}

// NewMLPGenerator creates an MLP generator.
func NewMLPGenerator(rng *rand.Rand, dt gt.Dtype, cfg GANConfig) (*MLPGenerator, error) {
	if err := cfg.check(1); err != nil {
		return nil, err
	}
	m := &MLPGenerator{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &m.core}
	widths := append(append([]int(nil), cfg.Hidden...), cfg.Image[0]*cfg.Image[1]*cfg.Image[2])
	condLinear(b, "g.fc0", cfg.ZDim, cfg.Classes, widths[0])
	for i := 1; i < len(widths); i++ {
		b.linear(fmt.Sprintf("g.fc%d", i), widths[i-1], widths[i], true)
	}
	return m, b.err
}

func (c GANConfig) check(minHidden int) error {
	if c.Image[0] <= 0 || c.Image[1] <= 0 || c.Image[2] <= 0 || c.Classes <= 0 || c.ZDim < 0 || len(c.Hidden) < minHidden {
		return fmt.Errorf("nn: GAN config %+v: want a positive image shape and classes and at least %d hidden sizes", c, minHidden)
	}
	for _, h := range c.Hidden {
		if h <= 0 {
			return fmt.Errorf("nn: GAN hidden sizes %v must be positive", c.Hidden)
		}
	}
	return nil
}

// condLinear adds the two weights and the bias of x·Wx + y·Wy + b.
func condLinear(b *builder, name string, in, classes, out int) {
	a := 1 / math.Sqrt(float64(in+classes))
	if in > 0 {
		b.add(name+".wz", false, tensor.Uniform(-a, a), in, out)
	}
	b.add(name+".wy", false, tensor.Uniform(-a, a), classes, out)
	b.add(name+".b", false, tensor.Uniform(-a, a), out)
}

func applyCondLinear(b *Binding, name string, x, y *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := gorgonia.Mul(y, b.Node(name+".wy"))
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", name, err)
	}
	if x != nil {
		hx, err := gorgonia.Mul(x, b.Node(name+".wz"))
		if err != nil {
			return nil, fmt.Errorf("nn: %s: %w", name, err)
		}
		if h, err = gorgonia.Add(hx, h); err != nil {
			return nil, err
		}
	}
	return ops.AddBias(h, b.Node(name+".b"), 1)
}

// ZDim implements Generator.
func (m *MLPGenerator) ZDim() int { return m.cfg.ZDim }

// Classes implements Generator.
func (m *MLPGenerator) Classes() int { return m.cfg.Classes }

// Image implements Generator.
func (m *MLPGenerator) Image() [3]int { return m.cfg.Image }

// Forward implements Conditional.
func (m *MLPGenerator) Forward(b *Binding, z, y *gorgonia.Node) (*gorgonia.Node, error) {
	if z.Dims() != 2 || z.Shape()[1] != m.cfg.ZDim || y.Dims() != 2 || y.Shape()[1] != m.cfg.Classes || y.Shape()[0] != z.Shape()[0] {
		return nil, fmt.Errorf("nn: generator inputs %v and %v, want [N,%d] and [N,%d]", z.Shape(), y.Shape(), m.cfg.ZDim, m.cfg.Classes)
	}
	h, err := applyCondLinear(b, "g.fc0", z, y)
	if err != nil {
		return nil, err
	}
	n := len(m.cfg.Hidden) + 1
	for i := 1; i < n; i++ {
		if h, err = ops.LeakyReLU(h, 0.2); err != nil {
			return nil, err
		}
		if h, err = linear(b, fmt.Sprintf("g.fc%d", i), h, true); err != nil {
			return nil, err
		}
	}
	if h, err = gorgonia.Tanh(h); err != nil {
		return nil, err
	}
	im := m.cfg.Image
	return ops.Reshape(h, gt.Shape{z.Shape()[0], im[0], im[1], im[2]})
}

// MLPDiscriminator flattens the image and maps (x, y) through linear layers
// with leaky ReLU (slope 0.2) to features φ, and gives the logit
// w·φ + b + (y·P)·φ: the label enters at the input and, as in projection
// discriminators, through its inner product with the last features.
// Parameters: "d.fc0.wz" (image weights), "d.fc0.wy", "d.fc0.b",
// "d.fc<i>.w/b", "d.proj.w" [Classes, last hidden width].
type MLPDiscriminator struct {
	core
	cfg GANConfig
}

// NewMLPDiscriminator creates an MLP discriminator.
func NewMLPDiscriminator(rng *rand.Rand, dt gt.Dtype, cfg GANConfig) (*MLPDiscriminator, error) {
	if err := cfg.check(1); err != nil {
		return nil, err
	}
	m := &MLPDiscriminator{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &m.core}
	widths := append(append([]int(nil), cfg.Hidden...), 1)
	condLinear(b, "d.fc0", cfg.Image[0]*cfg.Image[1]*cfg.Image[2], cfg.Classes, widths[0])
	for i := 1; i < len(widths); i++ {
		b.linear(fmt.Sprintf("d.fc%d", i), widths[i-1], widths[i], true)
	}
	b.add("d.proj.w", false, tensor.Normal(0, 1/math.Sqrt(float64(cfg.Hidden[len(cfg.Hidden)-1]))), cfg.Classes, cfg.Hidden[len(cfg.Hidden)-1])
	return m, b.err
}

// projection returns logit + Σ_j (y·P)_j φ_j for features phi [N,H].
func projection(b *Binding, name string, logit, phi, y *gorgonia.Node) (*gorgonia.Node, error) {
	e, err := gorgonia.Mul(y, b.Node(name))
	if err != nil {
		return nil, err
	}
	if e, err = gorgonia.HadamardProd(e, phi); err != nil {
		return nil, err
	}
	s, err := ops.SumAxis(e, 1)
	if err != nil {
		return nil, err
	}
	if s, err = ops.Reshape(s, gt.Shape{phi.Shape()[0], 1}); err != nil {
		return nil, err
	}
	return gorgonia.Add(logit, s)
}

// Forward implements Conditional.
func (m *MLPDiscriminator) Forward(b *Binding, x, y *gorgonia.Node) (*gorgonia.Node, error) {
	f, err := ops.Flatten(x)
	if err != nil {
		return nil, err
	}
	h, err := applyCondLinear(b, "d.fc0", f, y)
	if err != nil {
		return nil, err
	}
	n := len(m.cfg.Hidden) + 1
	var phi *gorgonia.Node
	for i := 1; i < n; i++ {
		if h, err = ops.LeakyReLU(h, 0.2); err != nil {
			return nil, err
		}
		phi = h
		if h, err = linear(b, fmt.Sprintf("d.fc%d", i), h, true); err != nil {
			return nil, err
		}
	}
	return projection(b, "d.proj.w", h, phi, y)
}

// DCGenerator is a conditional DCGAN generator: (z, y) → linear to a
// [Hidden[0], H/4, W/4] feature map → batch norm, ReLU → 4×4 transposed
// convolution (stride 2) to Hidden[0]/2 channels → batch norm, ReLU → 4×4
// transposed convolution (stride 2) to the image channels → tanh. H and W
// must be multiples of 4. Parameters: "g.fc.wz", "g.fc.wy", "g.fc.b",
// "g.bn0.*", "g.up1.w/b", "g.bn1.*", "g.up2.w/b".
type DCGenerator struct {
	core
	cfg GANConfig
}

// NewDCGenerator creates a DCGAN generator.
func NewDCGenerator(rng *rand.Rand, dt gt.Dtype, cfg GANConfig) (*DCGenerator, error) {
	if err := cfg.check(1); err != nil {
		return nil, err
	}
	if cfg.Image[1]%4 != 0 || cfg.Image[2]%4 != 0 || cfg.Hidden[0] < 2 {
		return nil, fmt.Errorf("nn: DCGAN generator for %v images with %d channels: want sides divisible by 4 and ≥ 2 channels", cfg.Image, cfg.Hidden[0])
	}
	m := &DCGenerator{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &m.core}
	c0, h4, w4 := cfg.Hidden[0], cfg.Image[1]/4, cfg.Image[2]/4
	condLinear(b, "g.fc", cfg.ZDim, cfg.Classes, c0*h4*w4)
	b.bn("g.bn0", c0)
	b.convT("g.up1", c0, c0/2, 4, true)
	b.bn("g.bn1", c0/2)
	b.convT("g.up2", c0/2, cfg.Image[0], 4, true)
	return m, b.err
}

// ZDim implements Generator.
func (m *DCGenerator) ZDim() int { return m.cfg.ZDim }

// Classes implements Generator.
func (m *DCGenerator) Classes() int { return m.cfg.Classes }

// Image implements Generator.
func (m *DCGenerator) Image() [3]int { return m.cfg.Image }

// WithMode returns the generator in the given mode (sharing parameters).
func (m *DCGenerator) WithMode(mode Mode) Conditional {
	cp := *m
	cp.mode = mode
	return &cp
}

// Forward implements Conditional.
func (m *DCGenerator) Forward(b *Binding, z, y *gorgonia.Node) (*gorgonia.Node, error) {
	n := y.Shape()[0]
	c0, h4, w4 := m.cfg.Hidden[0], m.cfg.Image[1]/4, m.cfg.Image[2]/4
	var zz *gorgonia.Node
	if m.cfg.ZDim > 0 {
		zz = z
	}
	h, err := applyCondLinear(b, "g.fc", zz, y)
	if err != nil {
		return nil, err
	}
	if h, err = ops.Reshape(h, gt.Shape{n, c0, h4, w4}); err != nil {
		return nil, err
	}
	up := ops.ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}
	for i, name := range []string{"g.up1", "g.up2"} {
		if h, err = m.batchNorm(b, fmt.Sprintf("g.bn%d", i), h); err != nil {
			return nil, err
		}
		if h, err = ops.ReLU(h); err != nil {
			return nil, err
		}
		if h, err = ops.ConvTranspose2d(h, b.Node(name+".w"), up, [2]int{}); err != nil {
			return nil, fmt.Errorf("nn: %s: %w", name, err)
		}
		if h, err = ops.AddBias(h, b.Node(name+".b"), 1); err != nil {
			return nil, err
		}
	}
	return gorgonia.Tanh(h)
}

// DCDiscriminator is a conditional DCGAN discriminator: 4×4 convolution
// (stride 2) of the image plus a per-class bias map → leaky ReLU → 4×4
// convolution (stride 2) to twice the channels → leaky ReLU → features φ
// (flattened) → logit w·φ + b + (y·P)·φ. The class enters twice: as
// conv(x) + y·Wy (one learned bias per class and channel, which equals a
// convolution of the image concatenated with constant one-hot planes away
// from the borders) and through the projection term. Parameters:
// "d.conv1.w/b", "d.cond.w" [Classes, Hidden[0]], "d.conv2.w/b",
// "d.fc.w/b", "d.proj.w" [Classes, features].
type DCDiscriminator struct {
	core
	cfg GANConfig
}

// NewDCDiscriminator creates a DCGAN discriminator.
func NewDCDiscriminator(rng *rand.Rand, dt gt.Dtype, cfg GANConfig) (*DCDiscriminator, error) {
	if err := cfg.check(1); err != nil {
		return nil, err
	}
	if cfg.Image[1]%4 != 0 || cfg.Image[2]%4 != 0 {
		return nil, fmt.Errorf("nn: DCGAN discriminator for %v images: want sides divisible by 4", cfg.Image)
	}
	m := &DCDiscriminator{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &m.core}
	c1 := cfg.Hidden[0]
	b.conv("d.conv1", cfg.Image[0], c1, 4, true)
	b.add("d.cond.w", false, tensor.Normal(0, 0.1), cfg.Classes, c1)
	b.conv("d.conv2", c1, 2*c1, 4, true)
	feat := 2 * c1 * (cfg.Image[1] / 4) * (cfg.Image[2] / 4)
	b.linear("d.fc", feat, 1, true)
	b.add("d.proj.w", false, tensor.Normal(0, 1/math.Sqrt(float64(feat))), cfg.Classes, feat)
	return m, b.err
}

// Forward implements Conditional.
func (m *DCDiscriminator) Forward(b *Binding, x, y *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := conv2d(b, "d.conv1", x, 2, 1, true)
	if err != nil {
		return nil, err
	}
	cb, err := gorgonia.Mul(y, b.Node("d.cond.w"))
	if err != nil {
		return nil, err
	}
	if cb, err = ops.ExpandAs(cb, h.Shape().Clone(), 2, 3); err != nil {
		return nil, err
	}
	if h, err = gorgonia.Add(h, cb); err != nil {
		return nil, err
	}
	if h, err = ops.LeakyReLU(h, 0.2); err != nil {
		return nil, err
	}
	if h, err = conv2d(b, "d.conv2", h, 2, 1, true); err != nil {
		return nil, err
	}
	if h, err = ops.LeakyReLU(h, 0.2); err != nil {
		return nil, err
	}
	if h, err = ops.Flatten(h); err != nil {
		return nil, err
	}
	logit, err := linear(b, "d.fc", h, true)
	if err != nil {
		return nil, err
	}
	return projection(b, "d.proj.w", logit, h, y)
}

// runningStats is the batch-statistics side of BatchStatser, for networks
// that are not single-input Models.
type runningStats interface {
	BatchStatNodes(g *gorgonia.ExprGraph) gorgonia.Nodes
	UpdateRunningStats(g *gorgonia.ExprGraph, vals []*gt.Dense) error
	ReleaseGraph(g *gorgonia.ExprGraph)
}

// condInMode returns c in the given mode when it has modes.
func condInMode(c Conditional, mode Mode) Conditional {
	if m, ok := c.(interface{ WithMode(Mode) Conditional }); ok {
		return m.WithMode(mode)
	}
	return c
}

// GANTrainer trains a conditional GAN with the non-saturating loss:
// the discriminator minimizes BCE(D(x, y), 1) + BCE(D(G(z, y'), y'), 0)
// and the generator BCE(D(G(z, y'), y'), 1). Each Step evaluates both
// gradients at the current parameters (the discriminator on the fakes the
// generator program just produced) and then updates both networks. A
// generator with batch norm (DCGenerator) runs in training mode and its
// running statistics are updated after each step; the discriminator is
// expected to keep none (neither discriminator here does).
type GANTrainer struct {
	g            Generator
	d            Conditional
	optG, optD   optim.Optimizer
	batch        int
	rng          *rand.Rand
	gz, gy       *gt.Dense // generator program inputs
	dx, dy       *gt.Dense // real images and labels
	dfx, dfy     *gt.Dense // fakes and their labels
	gProg, dProg *engine.Program
	gGraph       *gorgonia.ExprGraph
	gParams      Params
	dParams      Params
	nG           int
}

// NewGANTrainer compiles the generator and discriminator programs for
// batches of the given size; seed drives the noise and fake labels.
func NewGANTrainer(g Generator, d Conditional, optG, optD optim.Optimizer, batch int, seed uint64) (*GANTrainer, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("nn: GAN batch %d", batch)
	}
	t := &GANTrainer{g: g, d: d, optG: optG, optD: optD, batch: batch, rng: rand.New(rand.NewPCG(seed, 0x67616e))}
	dt := g.Params()[0].Value.Dtype()
	im := g.Image()
	imShape := []int{batch, im[0], im[1], im[2]}
	var err error
	mk := func(shape ...int) *gt.Dense {
		if err != nil {
			return nil
		}
		var v *gt.Dense
		v, err = tensor.Zeros(dt, shape...)
		return v
	}
	t.gz, t.gy = mk(batch, max(1, g.ZDim())), mk(batch, g.Classes())
	t.dx, t.dy, t.dfx, t.dfy = mk(imShape...), mk(batch, g.Classes()), mk(imShape...), mk(batch, g.Classes())
	ones, zeros := mk(batch, 1), mk(batch, 1)
	if err != nil {
		return nil, err
	}
	fillConst(ones, 1)
	input := func(gr *gorgonia.ExprGraph, v *gt.Dense, name string) *gorgonia.Node {
		s := v.Shape().Clone()
		return gorgonia.NewTensor(gr, dt, len(s), gorgonia.WithShape(s...), gorgonia.WithValue(v), gorgonia.WithName(name))
	}

	// Generator program: fakes, the generator loss and its gradient.
	gm := condInMode(g, Training)
	gg := gorgonia.NewGraph()
	gb, err := Bind(gg, append(append(Params(nil), g.Params()...), d.Params()...))
	if err != nil {
		return nil, err
	}
	yn := input(gg, t.gy, "y")
	fake, err := gm.Forward(gb, input(gg, t.gz, "z"), yn)
	if err != nil {
		return nil, err
	}
	gl, err := d.Forward(gb, fake, yn)
	if err != nil {
		return nil, err
	}
	lossG, err := ops.SigmoidBCE(gl, input(gg, ones, "ones"))
	if err != nil {
		return nil, err
	}
	t.gParams = g.Params().Trainable()
	gradsG, err := autodiff.Grad(lossG, gb.Nodes(t.gParams)...)
	if err != nil {
		return nil, fmt.Errorf("nn: generator gradient: %w", err)
	}
	gouts := append(gorgonia.Nodes{lossG, fake}, gradsG...)
	t.nG = len(gradsG)
	if bs, ok := gm.(runningStats); ok {
		gouts = append(gouts, bs.BatchStatNodes(gg)...)
	}
	if t.gProg, err = engine.Compile(gg, gouts...); err != nil {
		return nil, err
	}
	t.gGraph = gg

	// Discriminator program.
	dg := gorgonia.NewGraph()
	db, err := Bind(dg, d.Params())
	if err != nil {
		return nil, err
	}
	real, err := d.Forward(db, input(dg, t.dx, "x_real"), input(dg, t.dy, "y_real"))
	if err != nil {
		return nil, err
	}
	fl, err := d.Forward(db, input(dg, t.dfx, "x_fake"), input(dg, t.dfy, "y_fake"))
	if err != nil {
		return nil, err
	}
	lr, err := ops.SigmoidBCE(real, input(dg, ones, "ones"))
	if err != nil {
		return nil, err
	}
	lf, err := ops.SigmoidBCE(fl, input(dg, zeros, "zeros"))
	if err != nil {
		return nil, err
	}
	lossD, err := gorgonia.Add(lr, lf)
	if err != nil {
		return nil, err
	}
	t.dParams = d.Params().Trainable()
	gradsD, err := autodiff.Grad(lossD, db.Nodes(t.dParams)...)
	if err != nil {
		return nil, fmt.Errorf("nn: discriminator gradient: %w", err)
	}
	if t.dProg, err = engine.Compile(dg, append(gorgonia.Nodes{lossD}, gradsD...)...); err != nil {
		return nil, err
	}
	return t, nil
}

func fillConst(d *gt.Dense, v float64) {
	switch s := d.Data().(type) {
	case []float32:
		for i := range s {
			s[i] = float32(v)
		}
	case []float64:
		for i := range s {
			s[i] = v
		}
	}
}

// setBatch writes images (float32, batch×example) and one-hot labels.
func setBatch(x, y *gt.Dense, images []float32, labels []int, classes int) {
	switch s := x.Data().(type) {
	case []float32:
		copy(s, images)
		ys := y.Data().([]float32)
		clear(ys)
		for i, l := range labels {
			ys[i*classes+l] = 1
		}
	case []float64:
		for i, v := range images {
			s[i] = float64(v)
		}
		ys := y.Data().([]float64)
		clear(ys)
		for i, l := range labels {
			ys[i*classes+l] = 1
		}
	}
}

// Step performs one update of both networks on a batch of real images
// (batch×C·H·W float32 values in [−1, 1]) with their labels; the fake
// labels are drawn uniformly. It returns the two losses before the update.
func (t *GANTrainer) Step(images []float32, labels []int) (lossD, lossG float64, err error) {
	im := t.g.Image()
	if len(images) != t.batch*im[0]*im[1]*im[2] || len(labels) != t.batch {
		return math.NaN(), math.NaN(), fmt.Errorf("nn: GAN step with %d pixels and %d labels for batches of %d", len(images), len(labels), t.batch)
	}
	K := t.g.Classes()
	fakeLabels := make([]int, t.batch)
	for i := range fakeLabels {
		fakeLabels[i] = t.rng.IntN(K)
	}
	t.fillNoise(fakeLabels)
	if err := t.gProg.Run(); err != nil {
		return math.NaN(), math.NaN(), err
	}
	if lossG, err = t.gProg.Scalar(0); err != nil {
		return math.NaN(), math.NaN(), err
	}
	fake, err := t.gProg.Dense(1)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	copyDense(t.dfx, fake)
	copyDense(t.dfy, t.gy)
	setBatch(t.dx, t.dy, images, labels, K)
	if err := t.dProg.Run(); err != nil {
		return math.NaN(), math.NaN(), err
	}
	if lossD, err = t.dProg.Scalar(0); err != nil {
		return math.NaN(), math.NaN(), err
	}
	gradsG := make([]*gt.Dense, t.nG)
	for i := range gradsG {
		if gradsG[i], err = t.gProg.Dense(2 + i); err != nil {
			return math.NaN(), math.NaN(), err
		}
	}
	gradsD := make([]*gt.Dense, len(t.dParams))
	for i := range gradsD {
		if gradsD[i], err = t.dProg.Dense(1 + i); err != nil {
			return math.NaN(), math.NaN(), err
		}
	}
	if !tensor.List(gradsG).AllFinite() || !tensor.List(gradsD).AllFinite() || math.IsNaN(lossD+lossG) {
		return lossD, lossG, fmt.Errorf("nn: GAN diverged (losses %v, %v)", lossD, lossG)
	}
	if err := t.optG.Step(t.gParams.Values(), gradsG); err != nil {
		return lossD, lossG, err
	}
	if err := t.optD.Step(t.dParams.Values(), gradsD); err != nil {
		return lossD, lossG, err
	}
	if bs, ok := t.g.(runningStats); ok {
		stats := bs.BatchStatNodes(t.gGraph)
		if len(stats) > 0 {
			vals := make([]*gt.Dense, len(stats))
			for i := range vals {
				if vals[i], err = t.gProg.Dense(2 + t.nG + i); err != nil {
					return lossD, lossG, err
				}
			}
			if err := bs.UpdateRunningStats(t.gGraph, vals); err != nil {
				return lossD, lossG, err
			}
		}
	}
	return lossD, lossG, nil
}

func (t *GANTrainer) fillNoise(labels []int) {
	K := t.g.Classes()
	switch s := t.gz.Data().(type) {
	case []float32:
		for i := range s {
			s[i] = float32(t.rng.NormFloat64())
		}
		ys := t.gy.Data().([]float32)
		clear(ys)
		for i, l := range labels {
			ys[i*K+l] = 1
		}
	case []float64:
		for i := range s {
			s[i] = t.rng.NormFloat64()
		}
		ys := t.gy.Data().([]float64)
		clear(ys)
		for i, l := range labels {
			ys[i*K+l] = 1
		}
	}
}

// Close releases the programs.
func (t *GANTrainer) Close() error {
	if bs, ok := t.g.(runningStats); ok {
		bs.ReleaseGraph(t.gGraph)
	}
	return errorsJoin(t.gProg.Close(), t.dProg.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func copyDense(dst, src *gt.Dense) {
	switch d := dst.Data().(type) {
	case []float32:
		copy(d, src.Data().([]float32))
	case []float64:
		copy(d, src.Data().([]float64))
	}
}

// GenerateImages draws len(labels) samples of g (in evaluation mode for a
// generator with modes) for the given class labels from noise seeded by
// seed, as float32 pixels in (−1, 1), example after example.
func GenerateImages(g Generator, labels []int, seed uint64) ([]float32, error) {
	n := len(labels)
	if n == 0 {
		return nil, nil
	}
	gm := condInMode(g, Evaluation)
	dt := g.Params()[0].Value.Dtype()
	rng := rand.New(rand.NewPCG(seed, 0x73616d))
	z, err := tensor.Normal(0, 1)(rng, dt, n, max(1, g.ZDim()))
	if err != nil {
		return nil, err
	}
	y, err := ops.OneHot(labels, g.Classes(), dt)
	if err != nil {
		return nil, err
	}
	gr := gorgonia.NewGraph()
	b, err := Bind(gr, g.Params())
	if err != nil {
		return nil, err
	}
	zn := gorgonia.NewMatrix(gr, dt, gorgonia.WithShape(n, max(1, g.ZDim())), gorgonia.WithValue(z), gorgonia.WithName("z"))
	yn := gorgonia.NewMatrix(gr, dt, gorgonia.WithShape(n, g.Classes()), gorgonia.WithValue(y), gorgonia.WithName("y"))
	out, err := gm.Forward(b, zn, yn)
	if err != nil {
		return nil, err
	}
	p, err := engine.Compile(gr, out)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		return nil, err
	}
	d, err := p.Dense(0)
	if err != nil {
		return nil, err
	}
	switch s := d.Data().(type) {
	case []float32:
		return append([]float32(nil), s...), nil
	case []float64:
		f := make([]float32, len(s))
		for i, v := range s {
			f[i] = float32(v)
		}
		return f, nil
	}
	return nil, fmt.Errorf("nn: generated %v values", d.Dtype())
}

package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// familyGraph is one model family's objective on its own graph: the loss,
// the parameter nodes it is differentiated with respect to, the data
// tensors that are redrawn between runs and further outputs compared as
// they are (model outputs, batch statistics).
type familyGraph struct {
	g      *gorgonia.ExprGraph
	loss   *gorgonia.Node
	wrt    gorgonia.Nodes
	data   []*gt.Dense
	extras gorgonia.Nodes
}

// familyBuilder builds a tiny instance of a family in dtype dt, with its
// parameters and data drawn from rng.
type familyBuilder func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error)

// dataNode makes an input node of g holding normal entries drawn from rng
// (scaled by std) and records its tensor as data to redraw.
func (f *familyGraph) dataNode(rng *rand.Rand, dt gt.Dtype, name string, std float64, shape ...int) *gorgonia.Node {
	d := gt.New(gt.WithShape(shape...), gt.Of(dt))
	randomize(d, rng, std)
	f.data = append(f.data, d)
	return gorgonia.NewTensor(f.g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(d), gorgonia.WithName(name))
}

// oneHotNode makes an input node of one-hot rows for labels drawn from rng.
func oneHotNode(g *gorgonia.ExprGraph, rng *rand.Rand, dt gt.Dtype, name string, rows, classes int) (*gorgonia.Node, error) {
	labels := make([]int, rows)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	oh, err := ops.OneHot(labels, classes, dt)
	if err != nil {
		return nil, err
	}
	return gorgonia.NewMatrix(g, dt, gorgonia.WithShape(rows, classes), gorgonia.WithValue(oh), gorgonia.WithName(name)), nil
}

// randomizeStats gives a model's frozen parameters (batch norm running
// statistics) non-trivial values, with positive variances.
func randomizeStats(m interface{ Params() nn.Params }, rng *rand.Rand) {
	for _, p := range m.Params() {
		if !p.Frozen {
			continue
		}
		randomize(p.Value, rng, 0.5)
		if strings.HasSuffix(p.Name, "_var") {
			switch d := p.Value.Data().(type) {
			case []float64:
				for i := range d {
					d[i] = 0.5 + math.Abs(d[i])
				}
			case []float32:
				for i := range d {
					d[i] = 0.5 + float32(math.Abs(float64(d[i])))
				}
			}
		}
	}
}

// classifier is the mean softmax cross-entropy of m on a random input of
// shape in with random labels; ids, when set, are the token ids of a
// sequence model's input instead (one label per output row).
func classifier(m nn.Model, classes int, in []int, ids bool) familyBuilder {
	return func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error) {
		f := &familyGraph{g: gorgonia.NewGraph()}
		b, err := nn.Bind(f.g, m.Params())
		if err != nil {
			return nil, err
		}
		var x *gorgonia.Node
		if ids {
			tok := make([]int, prodInts(in))
			for i := range tok {
				tok[i] = rng.IntN(classes)
			}
			v, err := ops.IDs(tok, gt.Shape(in), dt)
			if err != nil {
				return nil, err
			}
			x = gorgonia.NewTensor(f.g, dt, len(in), gorgonia.WithShape(in...), gorgonia.WithValue(v), gorgonia.WithName("ids"))
		} else {
			x = f.dataNode(rng, dt, "x", 1, in...)
		}
		out, err := m.Forward(b, x)
		if err != nil {
			return nil, err
		}
		t, err := oneHotNode(f.g, rng, dt, "t", out.Shape()[0], classes)
		if err != nil {
			return nil, err
		}
		if f.loss, err = nn.CrossEntropy(out, t); err != nil {
			return nil, err
		}
		f.wrt = b.Nodes(m.Params().Trainable())
		f.extras = gorgonia.Nodes{out}
		if bs, ok := m.(nn.BatchStatser); ok {
			f.extras = append(f.extras, bs.BatchStatNodes(f.g)...)
		}
		return f, nil
	}
}

// regression is the mean squared error of m on random inputs [n, d] and
// random targets [n, 1].
func regression(m nn.Model, n, d int) familyBuilder {
	return func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error) {
		f := &familyGraph{g: gorgonia.NewGraph()}
		b, err := nn.Bind(f.g, m.Params())
		if err != nil {
			return nil, err
		}
		out, err := m.Forward(b, f.dataNode(rng, dt, "x", 1, n, d))
		if err != nil {
			return nil, err
		}
		if f.loss, err = nn.MSE(out, f.dataNode(rng, dt, "y", 1, n, 1)); err != nil {
			return nil, err
		}
		f.wrt = b.Nodes(m.Params().Trainable())
		f.extras = gorgonia.Nodes{out}
		return f, nil
	}
}

// ganLoss is one side of a conditional GAN's non-saturating objective:
// the generator's BCE(D(G(z,y),y), 1) differentiated with respect to the
// generator, or the discriminator's BCE(D(x,y), 1) + BCE(D(G(z,y'),y'), 0)
// with respect to the discriminator.
func ganLoss(gen nn.Generator, disc nn.Conditional, side string, n int) familyBuilder {
	return func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error) {
		f := &familyGraph{g: gorgonia.NewGraph()}
		b, err := nn.Bind(f.g, append(append(nn.Params(nil), gen.Params()...), disc.Params()...))
		if err != nil {
			return nil, err
		}
		im, classes := gen.Image(), gen.Classes()
		y, err := oneHotNode(f.g, rng, dt, "y", n, classes)
		if err != nil {
			return nil, err
		}
		fake, err := gen.Forward(b, f.dataNode(rng, dt, "z", 1, n, gen.ZDim()), y)
		if err != nil {
			return nil, err
		}
		fl, err := disc.Forward(b, fake, y)
		if err != nil {
			return nil, err
		}
		ones := f.constant(dt, "ones", 1, n, 1)
		if side == "generator" {
			if f.loss, err = ops.SigmoidBCE(fl, ones); err != nil {
				return nil, err
			}
			f.wrt = b.Nodes(gen.Params().Trainable())
			f.extras = gorgonia.Nodes{fake}
			if bs, ok := gen.(interface {
				BatchStatNodes(*gorgonia.ExprGraph) gorgonia.Nodes
			}); ok {
				f.extras = append(f.extras, bs.BatchStatNodes(f.g)...)
			}
			return f, nil
		}
		yr, err := oneHotNode(f.g, rng, dt, "y_real", n, classes)
		if err != nil {
			return nil, err
		}
		real, err := disc.Forward(b, f.dataNode(rng, dt, "x_real", 0.5, n, im[0], im[1], im[2]), yr)
		if err != nil {
			return nil, err
		}
		lr, err := ops.SigmoidBCE(real, ones)
		if err != nil {
			return nil, err
		}
		lf, err := ops.SigmoidBCE(fl, f.constant(dt, "zeros", 0, n, 1))
		if err != nil {
			return nil, err
		}
		if f.loss, err = gorgonia.Add(lr, lf); err != nil {
			return nil, err
		}
		f.wrt = b.Nodes(disc.Params().Trainable())
		f.extras = gorgonia.Nodes{real, fl}
		return f, nil
	}
}

// constant makes an input node holding v everywhere (not redrawn).
func (f *familyGraph) constant(dt gt.Dtype, name string, v float64, shape ...int) *gorgonia.Node {
	d := gt.New(gt.WithShape(shape...), gt.Of(dt))
	switch s := d.Data().(type) {
	case []float64:
		for i := range s {
			s[i] = v
		}
	case []float32:
		for i := range s {
			s[i] = float32(v)
		}
	}
	return gorgonia.NewTensor(f.g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(d), gorgonia.WithName(name))
}

// contrastive is a SimCLR model's loss on two random views [n, in...].
func contrastive(m *nn.SimCLR, loss nn.ContrastiveLoss, n int, in []int) familyBuilder {
	return func(rng *rand.Rand, dt gt.Dtype) (*familyGraph, error) {
		f := &familyGraph{g: gorgonia.NewGraph()}
		b, err := nn.Bind(f.g, m.Params())
		if err != nil {
			return nil, err
		}
		shape := append([]int{n}, in...)
		z1, err := m.Forward(b, f.dataNode(rng, dt, "view1", 1, shape...))
		if err != nil {
			return nil, err
		}
		z2, err := m.Forward(b, f.dataNode(rng, dt, "view2", 1, shape...))
		if err != nil {
			return nil, err
		}
		switch loss {
		case nn.LossInfoNCE:
			f.loss, err = nn.InfoNCE(z1, z2, 0.5)
		case nn.LossSpectral:
			f.loss, err = nn.SpectralContrastive(z1, z2)
		}
		if err != nil {
			return nil, err
		}
		f.wrt = b.Nodes(m.Params().Trainable())
		f.extras = append(gorgonia.Nodes{z1, z2}, m.BatchStatNodes(f.g)...)
		return f, nil
	}
}

// opNames lists the distinct op names (without parameters) of ops.
func opNames(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		name, _, _ := strings.Cut(s, "{")
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func prodInts(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// familyCase names a family and makes its builder for a dtype; host lists
// the ops of package ops the family uses that have no kernel and run
// through their own Do method on the host (any other such op is an error;
// every family now runs as kernels only, so every list is empty).
type familyCase struct {
	name string
	make func(dt gt.Dtype) (familyBuilder, error)
	host []string
}

// familyCases are tiny seeded instances of every model family of package
// nn, in the modes they are trained and evaluated in.
func familyCases() []familyCase {
	act := func(s string) nn.Activation {
		a, err := nn.ParseActivation(s)
		if err != nil {
			panic(err) // fixed names below
		}
		return a
	}
	rng := func(stream uint64) *rand.Rand { return tensor.NewRNG(41, stream) }
	resnet := func(dt gt.Dtype, mode nn.Mode, noBN bool) (familyBuilder, error) {
		m, err := nn.NewResNet(rng(1), dt, nn.ResNetConfig{InChannels: 2, Classes: 3, Widths: []int{2, 3}, Blocks: []int{1, 1}, NoBN: noBN})
		if err != nil {
			return nil, err
		}
		randomizeStats(m, rng(2))
		return classifier(nn.InMode(m, mode), 3, []int{3, 2, 6, 6}, false), nil
	}
	vgg := func(dt gt.Dtype, mode nn.Mode, bn bool) (familyBuilder, error) {
		m, err := nn.NewVGG(rng(3), dt, nn.VGGConfig{Input: [3]int{1, 6, 6}, Classes: 3, Layers: []int{2, nn.VGGPool, 3}, Hidden: []int{4}, BN: bn})
		if err != nil {
			return nil, err
		}
		randomizeStats(m, rng(4))
		return classifier(nn.InMode(m, mode), 3, []int{3, 1, 6, 6}, false), nil
	}
	gpt := func(dt gt.Dtype, mode nn.Mode, cfg nn.GPTConfig) (familyBuilder, error) {
		m, err := nn.NewGPT(rng(5), dt, cfg)
		if err != nil {
			return nil, err
		}
		// nanoGPT's N(0, 0.02²) start makes every activation nearly
		// linear; larger weights exercise the softmax and GELU.
		for _, p := range m.Params() {
			if !strings.Contains(p.Name, "gamma") && !strings.Contains(p.Name, "beta") {
				randomize(p.Value, rng(6), 0.5)
			}
		}
		return classifier(nn.InMode(m, mode), cfg.Vocab, []int{2, 3}, true), nil
	}
	gan := func(dt gt.Dtype, dc bool, side string) (familyBuilder, error) {
		if dc {
			cfg := nn.GANConfig{Image: [3]int{1, 8, 8}, Classes: 3, ZDim: 3, Hidden: []int{4}}
			g, err := nn.NewDCGenerator(rng(7), dt, cfg)
			if err != nil {
				return nil, err
			}
			d, err := nn.NewDCDiscriminator(rng(8), dt, cfg)
			if err != nil {
				return nil, err
			}
			return ganLoss(g, d, side, 3), nil
		}
		cfg := nn.GANConfig{Image: [3]int{1, 3, 3}, Classes: 3, ZDim: 4, Hidden: []int{5, 4}}
		g, err := nn.NewMLPGenerator(rng(9), dt, cfg)
		if err != nil {
			return nil, err
		}
		d, err := nn.NewMLPDiscriminator(rng(10), dt, cfg)
		if err != nil {
			return nil, err
		}
		return ganLoss(g, d, side, 4), nil
	}
	simclr := func(dt gt.Dtype, loss nn.ContrastiveLoss) (familyBuilder, error) {
		enc, err := nn.NewResNet(rng(11), dt, nn.ResNetConfig{InChannels: 1, Widths: []int{2, 3}, Blocks: []int{1, 1}, Features: true})
		if err != nil {
			return nil, err
		}
		m, err := nn.NewSimCLR(rng(12), dt, enc, enc.FeatureDim(), 5, 4)
		if err != nil {
			return nil, err
		}
		return contrastive(m.WithMode(nn.Training).(*nn.SimCLR), loss, 3, []int{1, 6, 6}), nil
	}
	return []familyCase{
		{"mlp tanh", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewMLP(rng(20), dt, []int{5, 7, 6, 3}, act("tanh"), tensor.HeNormal(1))
			return classifier(m, 3, []int{4, 5}, false), err
		}, nil},
		{"mlp gelu", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewMLP(rng(21), dt, []int{5, 7, 3}, act("gelu"), tensor.HeNormal(1))
			return classifier(m, 3, []int{4, 5}, false), err
		}, nil},
		{"two-layer leaky relu", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewTwoLayer(rng(22), nn.TwoLayerConfig{In: 4, Width: 5, Alpha: 0.2, InitScale: 0.7, Dtype: dt})
			return regression(m, 6, 4), err
		}, nil},
		{"two-layer leaky relu, fixed second layer", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewTwoLayer(rng(23), nn.TwoLayerConfig{In: 4, Width: 5, Alpha: 0.1, InitScale: 0.7, FixedSecond: true, Dtype: dt})
			return regression(m, 6, 4), err
		}, nil},
		{"diagonal net", func(dt gt.Dtype) (familyBuilder, error) {
			r := rng(24)
			u, v := make([]float64, 6), make([]float64, 6)
			for i := range u {
				u[i], v[i] = r.NormFloat64(), r.NormFloat64()
			}
			m, err := nn.NewDiagNetFrom(dt, u, v)
			return regression(m, 5, 6), err
		}, nil},
		{"deep diagonal net", func(dt gt.Dtype) (familyBuilder, error) {
			r := rng(25)
			ws := make([][]float64, 3)
			for k := range ws {
				ws[k] = make([]float64, 6)
				for i := range ws[k] {
					ws[k][i] = 0.5 + r.Float64()
				}
			}
			m, err := nn.NewDeepDiagFrom(dt, ws)
			return regression(m, 5, 6), err
		}, nil},
		{"matrix factorization", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewMatrixFactorization(rng(26), dt, 3, 4, 2, false, 0.7)
			return regression(m, 5, 12), err
		}, nil},
		{"scale-invariant mlp", func(dt gt.Dtype) (familyBuilder, error) {
			m, err := nn.NewScaleInvMLP(rng(27), dt, []int{5, 6, 6, 3}, act("relu"), 1e-5)
			return classifier(m, 3, []int{4, 5}, false), err
		}, nil},
		{"vgg batch norm training", func(dt gt.Dtype) (familyBuilder, error) { return vgg(dt, nn.Training, true) }, nil},
		{"vgg batch norm evaluation", func(dt gt.Dtype) (familyBuilder, error) { return vgg(dt, nn.Evaluation, true) }, nil},
		{"vgg without batch norm", func(dt gt.Dtype) (familyBuilder, error) { return vgg(dt, nn.Training, false) }, nil},
		{"resnet training", func(dt gt.Dtype) (familyBuilder, error) { return resnet(dt, nn.Training, false) }, nil},
		{"resnet evaluation", func(dt gt.Dtype) (familyBuilder, error) { return resnet(dt, nn.Evaluation, false) }, nil},
		{"resnet without batch norm", func(dt gt.Dtype) (familyBuilder, error) { return resnet(dt, nn.Training, true) }, nil},
		{"gpt tied", func(dt gt.Dtype) (familyBuilder, error) {
			return gpt(dt, nn.Training, nn.GPTConfig{Vocab: 5, Context: 4, Layers: 2, Heads: 2, Width: 4, TieWeights: true})
		}, nil},
		{"gpt untied with dropout", func(dt gt.Dtype) (familyBuilder, error) {
			return gpt(dt, nn.Training, nn.GPTConfig{Vocab: 5, Context: 3, Layers: 1, Heads: 2, Width: 4, Dropout: 0.2})
		}, nil},
		{"gpt evaluation", func(dt gt.Dtype) (familyBuilder, error) {
			return gpt(dt, nn.Evaluation, nn.GPTConfig{Vocab: 5, Context: 4, Layers: 1, Heads: 2, Width: 4, Dropout: 0.2})
		}, nil},
		{"mlp gan generator", func(dt gt.Dtype) (familyBuilder, error) { return gan(dt, false, "generator") }, nil},
		{"mlp gan discriminator", func(dt gt.Dtype) (familyBuilder, error) { return gan(dt, false, "discriminator") }, nil},
		{"dcgan generator", func(dt gt.Dtype) (familyBuilder, error) { return gan(dt, true, "generator") }, nil},
		{"dcgan discriminator", func(dt gt.Dtype) (familyBuilder, error) { return gan(dt, true, "discriminator") }, nil},
		{"simclr infonce", func(dt gt.Dtype) (familyBuilder, error) { return simclr(dt, nn.LossInfoNCE) }, nil},
		{"simclr spectral", func(dt gt.Dtype) (familyBuilder, error) { return simclr(dt, nn.LossSpectral) }, nil},
	}
}

// groupDiff compares outputs first…first+n−1 of two programs, seen as one
// vector (a gradient or HVP over all parameters): it returns
// max|native−tape| / max|tape| over the whole group, and whether the tape's
// values are all zero. A group-wide scale matters because some gradient
// blocks are zero in exact arithmetic (the bias of a key map in attention, a
// bias followed by batch norm) and hold only rounding noise in both
// programs.
func groupDiff(t *testing.T, nat, tp *engine.Program, first, n int) (rel float64, zero bool, err error) {
	var diff, scale float64
	for i := first; i < first+n; i++ {
		a, b := outputData(t, nat, i), outputData(t, tp, i)
		if len(a) != len(b) {
			return 0, false, fmt.Errorf("output %d: %d elements, tape %d", i, len(a), len(b))
		}
		for j := range a {
			if d := math.Abs(a[j] - b[j]); d > diff || math.IsNaN(d) {
				diff = d
			}
			scale = math.Max(scale, math.Abs(b[j]))
		}
	}
	switch {
	case scale > 0:
		return diff / scale, false, nil
	case diff == 0:
		return 0, true, nil
	}
	return math.Inf(1), true, nil
}

// TestFamiliesMatchTape compiles the loss, gradient and Hessian-vector
// product of every model family both natively and on the TapeMachine and
// requires that the compiled program really runs natively (no fallback)
// and agrees with the tape on every output over several redrawn batches
// and probe vectors.
func TestFamiliesMatchTape(t *testing.T) {
	compareFamilies(t, familyCases(), engine.Options{Workers: 2}, 2, tolerance)
}

// buildFamily builds family fc in dtype dt with rng, and its gradient and
// Hessian-vector product graphs (probe: the HVP's probe vector nodes).
func buildFamily(t *testing.T, fc familyCase, dt gt.Dtype, rng *rand.Rand) (f *familyGraph, probe, grads, hv gorgonia.Nodes) {
	t.Helper()
	build, err := fc.make(dt)
	if err != nil {
		t.Fatal(err)
	}
	if f, err = build(rng, dt); err != nil {
		t.Fatal(err)
	}
	if probe, err = autodiff.NewProbe(f.g, f.wrt); err != nil {
		t.Fatal(err)
	}
	if grads, err = autodiff.Grad(f.loss, f.wrt...); err != nil {
		t.Fatal(err)
	}
	if hv, err = autodiff.HVP(f.loss, f.wrt, probe); err != nil {
		t.Fatal(err)
	}
	return f, probe, grads, hv
}

// compareFamilies compiles the loss, gradient and Hessian-vector product
// of every family in cases with the engine options o (a kernel set, or the
// default CPU set) and on the TapeMachine, and compares them over steps
// redrawn batches and probe vectors: each group (loss, gradient, HVP, other
// outputs) must agree to tol(dtype) relative to the tape's largest
// magnitude in the group (groupDiff). The program must run as kernel calls:
// no TapeMachine fallback and no op run through its Do method unless the
// case lists it. It logs the worst difference per group.
func compareFamilies(t *testing.T, cases []familyCase, o engine.Options, steps int, tol func(gt.Dtype) float64) {
	t.Helper()
	o.Logf = func(string, ...any) {}
	for _, fc := range cases {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("%s/%v", fc.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(43, 44))
				f, probe, grads, hv := buildFamily(t, fc, dt, rng)
				groups := []struct {
					name string
					outs gorgonia.Nodes
				}{{"loss", gorgonia.Nodes{f.loss}}, {"grad", grads}, {"hvp", hv}, {"other", f.extras}}
				var outs gorgonia.Nodes
				for _, gr := range groups {
					outs = append(outs, gr.outs...)
				}
				nat, err := engine.CompileWith(f.g, o, outs...)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				defer nat.Close()
				if nat.Backend() == "tape" || nat.Fallback() != "" {
					t.Fatalf("falls back to the tape: %s", nat.Fallback())
				}
				host := opNames(nat.HostOps())
				for _, h := range host {
					if !slices.Contains(fc.host, h) {
						t.Errorf("op %s runs through its Do method on the host, not as kernels", h)
					}
				}
				tp, err := engine.CompileWith(f.g, engine.Options{Backend: engine.Tape}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer tp.Close()
				limit := tol(dt)
				worst := make([]float64, len(groups))
				for step := 0; step < steps; step++ {
					if step > 0 {
						for _, d := range f.data {
							randomize(d, rng, 1)
						}
					}
					for _, p := range probe {
						randomize(p.Value().(*gt.Dense), rng, 1)
					}
					if err := nat.Run(); err != nil {
						t.Fatalf("native run: %v", err)
					}
					if err := tp.Run(); err != nil {
						t.Fatalf("tape run: %v", err)
					}
					i := 0
					for k, gr := range groups {
						rel, zero, err := groupDiff(t, nat, tp, i, len(gr.outs))
						if err != nil {
							t.Fatalf("%s: %v", gr.name, err)
						}
						worst[k] = math.Max(worst[k], rel)
						if math.IsNaN(rel) || rel > limit {
							t.Errorf("step %d, %s: max difference %.3g relative to the tape's largest magnitude (tolerance %.0e)", step, gr.name, rel, limit)
						}
						if zero && gr.name != "other" {
							t.Errorf("step %d, %s is all zeros on the tape: a vacuous comparison", step, gr.name)
						}
						i += len(gr.outs)
					}
				}
				t.Logf("max relative difference %s vs tape: loss %.2g, grad %.2g, hvp %.2g, other %.2g; ops run through their Do method: %v",
					nat.Backend(), worst[0], worst[1], worst[2], worst[3], host)
			})
		}
	}
}

// TestSigmoidBCEKernels checks the kernel form of ops.SigmoidBCE (the GAN
// losses) against the TapeMachine, with logits far in both tails where a
// naive log(1+eˣ) overflows, including the gradient and an HVP with
// respect to the logits, in both dtypes.
func TestSigmoidBCEKernels(t *testing.T) {
	logits := []float64{-800, -40, -3, -0.5, 0, 0.25, 2, 35, 750, 1.5, -1, 4}
	targets := []float64{1, 0, 0.3, 1, 0.5, 0, 1, 0, 1, 0.9, 0.1, 1}
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			g := gorgonia.NewGraph()
			mk := func(name string, v []float64) *gorgonia.Node {
				d := gt.New(gt.WithShape(3, 4), gt.Of(dt))
				switch s := d.Data().(type) {
				case []float64:
					copy(s, v)
				case []float32:
					for i, x := range v {
						s[i] = float32(x)
					}
				}
				return gorgonia.NewMatrix(g, dt, gorgonia.WithShape(3, 4), gorgonia.WithValue(d), gorgonia.WithName(name))
			}
			x, tn := mk("x", logits), mk("t", targets)
			loss, err := ops.SigmoidBCE(x, tn)
			if err != nil {
				t.Fatal(err)
			}
			probe, err := autodiff.NewProbe(g, gorgonia.Nodes{x})
			if err != nil {
				t.Fatal(err)
			}
			randomize(probe[0].Value().(*gt.Dense), rand.New(rand.NewPCG(7, 7)), 1)
			gr, err := autodiff.Grad(loss, x, tn)
			if err != nil {
				t.Fatal(err)
			}
			hv, err := autodiff.HVP(loss, gorgonia.Nodes{x}, probe)
			if err != nil {
				t.Fatal(err)
			}
			outs := append(gorgonia.Nodes{loss}, append(gr, hv...)...)
			nat, tp := compileBoth(t, g, outs)
			if h := nat.HostOps(); len(h) > 0 {
				t.Errorf("ops run through their Do method: %q", h)
			}
			compare(t, "sigmoid BCE", nat, tp, len(outs), tolerance(dt))
			l, err := nat.Scalar(0)
			if err != nil {
				t.Fatal(err)
			}
			// Independent evaluation: log(1+eˣ) = x + log(1+e⁻ˣ) for x > 0.
			var want float64
			for i, v := range logits {
				sp := math.Log1p(math.Exp(v))
				if v > 0 {
					sp = v + math.Log1p(math.Exp(-v))
				}
				want += sp - targets[i]*v
			}
			want /= float64(len(logits))
			if math.Abs(l-want) > tolerance(dt)*math.Abs(want) {
				t.Errorf("loss %.17g, want %.17g", l, want)
			}
		})
	}
}

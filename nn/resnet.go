package nn

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/ops"
)

// ResNetConfig describes a residual network of basic blocks (two 3×3
// convolutions, each followed by batch norm) for small NCHW images: a 3×3
// stem convolution to Widths[0] channels, then one stage per entry of
// Widths with Blocks[i] blocks (the first block of every stage but the first
// halves the resolution), global average pooling and a linear classifier.
// A block whose shape changes has a 1×1 convolution with batch norm on its
// shortcut.
type ResNetConfig struct {
	InChannels int
	Classes    int
	Widths     []int
	Blocks     []int
	// Act is the activation (default ReLU).
	Act Activation
	// NoBN drops every batch norm layer (convolutions then get biases).
	NoBN bool
	// Features makes Forward return the pooled features [N, last width]
	// instead of logits (no classifier parameters), e.g. for SimCLR.
	Features bool
}

// ResNet20 is the CIFAR-style ResNet-20: widths 16, 32, 64 with three
// blocks each (≈0.27M parameters).
func ResNet20(inChannels, classes int) ResNetConfig {
	return ResNetConfig{InChannels: inChannels, Classes: classes, Widths: []int{16, 32, 64}, Blocks: []int{3, 3, 3}}
}

// ResNet18 is ResNet-18 with a 3×3 stem and no initial pooling (the usual
// variant for 32×32 images): widths 64–512, two blocks per stage (≈11M
// parameters).
func ResNet18(inChannels, classes int) ResNetConfig {
	return ResNetConfig{InChannels: inChannels, Classes: classes, Widths: []int{64, 128, 256, 512}, Blocks: []int{2, 2, 2, 2}}
}

// ResNet is a residual network; see ResNetConfig. Parameter names:
// "stem.conv.w", "stem.bn.*", "layer<s>.<b>.conv1.w", "layer<s>.<b>.bn1.*",
// "layer<s>.<b>.conv2.w", "layer<s>.<b>.bn2.*", "layer<s>.<b>.down.conv.w",
// "layer<s>.<b>.down.bn.*", "fc.w", "fc.b" (stages and blocks counted from
// 1 and 0), where bn.* is gamma, beta and the frozen running_mean and
// running_var.
type ResNet struct {
	core
	cfg ResNetConfig
}

type resBlock struct {
	name          string
	in, out       int
	stride        int
	downsample    bool
	conv1, conv2  string
	bn1, bn2      string
	dconv, dbnorm string
}

func (c ResNetConfig) blocks() []resBlock {
	var out []resBlock
	in := c.Widths[0]
	for s, w := range c.Widths {
		for k := 0; k < c.Blocks[s]; k++ {
			stride := 1
			if k == 0 && s > 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", s+1, k)
			out = append(out, resBlock{name: name, in: in, out: w, stride: stride, downsample: stride != 1 || in != w,
				conv1: name + ".conv1", conv2: name + ".conv2", bn1: name + ".bn1", bn2: name + ".bn2",
				dconv: name + ".down.conv", dbnorm: name + ".down.bn"})
			in = w
		}
	}
	return out
}

// NewResNet creates a ResNet with He-normal convolutions, unit batch norm
// scales and a uniform ±1/√fan-in classifier, drawn from rng.
func NewResNet(rng *rand.Rand, dt gt.Dtype, cfg ResNetConfig) (*ResNet, error) {
	if cfg.InChannels <= 0 || (!cfg.Features && cfg.Classes <= 0) || len(cfg.Widths) == 0 || len(cfg.Widths) != len(cfg.Blocks) {
		return nil, fmt.Errorf("nn: ResNet config %+v: want positive channels and classes and one block count per width", cfg)
	}
	if cfg.Act.Name == "" {
		cfg.Act = Activation{Name: "relu"}
	}
	cfg.Widths = append([]int(nil), cfg.Widths...)
	cfg.Blocks = append([]int(nil), cfg.Blocks...)
	r := &ResNet{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &r.core}
	bias := cfg.NoBN
	norm := func(name string, ch int) {
		if !cfg.NoBN {
			b.bn(name, ch)
		}
	}
	b.conv("stem.conv", cfg.InChannels, cfg.Widths[0], 3, bias)
	norm("stem.bn", cfg.Widths[0])
	for _, blk := range cfg.blocks() {
		b.conv(blk.conv1, blk.in, blk.out, 3, bias)
		norm(blk.bn1, blk.out)
		b.conv(blk.conv2, blk.out, blk.out, 3, bias)
		norm(blk.bn2, blk.out)
		if blk.downsample {
			b.conv(blk.dconv, blk.in, blk.out, 1, bias)
			norm(blk.dbnorm, blk.out)
		}
	}
	if !cfg.Features {
		b.linear("fc", cfg.Widths[len(cfg.Widths)-1], cfg.Classes, true)
	}
	if b.err != nil {
		return nil, b.err
	}
	return r, nil
}

// Config returns the network's configuration.
func (r *ResNet) Config() ResNetConfig { return r.cfg }

// WithMode implements Moded.
func (r *ResNet) WithMode(m Mode) Model {
	cp := *r
	cp.mode = m
	return &cp
}

// FeatureDim is the width of the pooled features.
func (r *ResNet) FeatureDim() int { return r.cfg.Widths[len(r.cfg.Widths)-1] }

// convNorm is convolution then batch norm (or a biased convolution without
// batch norm).
func (r *ResNet) convNorm(b *Binding, conv, bn string, x *gorgonia.Node, stride, pad int) (*gorgonia.Node, error) {
	y, err := conv2d(b, conv, x, stride, pad, r.cfg.NoBN)
	if err != nil || r.cfg.NoBN {
		return y, err
	}
	return r.batchNorm(b, bn, y)
}

// Forward implements Model; x is [N, InChannels, H, W].
func (r *ResNet) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 4 || x.Shape()[1] != r.cfg.InChannels {
		return nil, fmt.Errorf("nn: ResNet input has shape %v, want [N,%d,H,W]", x.Shape(), r.cfg.InChannels)
	}
	h, err := r.convNorm(b, "stem.conv", "stem.bn", x, 1, 1)
	if err != nil {
		return nil, err
	}
	if h, err = r.cfg.Act.Apply(h); err != nil {
		return nil, err
	}
	for _, blk := range r.cfg.blocks() {
		y, err := r.convNorm(b, blk.conv1, blk.bn1, h, blk.stride, 1)
		if err != nil {
			return nil, err
		}
		if y, err = r.cfg.Act.Apply(y); err != nil {
			return nil, err
		}
		if y, err = r.convNorm(b, blk.conv2, blk.bn2, y, 1, 1); err != nil {
			return nil, err
		}
		sc := h
		if blk.downsample {
			if sc, err = r.convNorm(b, blk.dconv, blk.dbnorm, h, blk.stride, 0); err != nil {
				return nil, err
			}
		}
		if y, err = gorgonia.Add(y, sc); err != nil {
			return nil, fmt.Errorf("nn: %s residual: %w", blk.name, err)
		}
		if h, err = r.cfg.Act.Apply(y); err != nil {
			return nil, err
		}
	}
	f, err := ops.GlobalAvgPool(h)
	if err != nil {
		return nil, err
	}
	if r.cfg.Features {
		return f, nil
	}
	return linear(b, "fc", f, true)
}

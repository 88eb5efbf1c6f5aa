package nn

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/ops"
)

// VGGPool marks a 2×2 max pooling (stride 2) in VGGConfig.Layers.
const VGGPool = 0

// VGGConfig describes a VGG network for NCHW images of shape Input:
// Layers lists the output channels of the 3×3 convolutions (padding 1,
// each followed by batch norm when BN is set, then the activation), with
// VGGPool for a 2×2 max pooling; the feature map is flattened and passed
// through linear layers of widths Hidden (with the activation) and a final
// linear layer to Classes outputs.
type VGGConfig struct {
	Input   [3]int // channels, height, width
	Classes int
	Layers  []int
	Hidden  []int
	BN      bool
	Act     Activation // default ReLU
}

// VGG11 is the 11-layer VGG (configuration "A") for 32×32 inputs with a
// single linear classifier on the 512 final features, the network of the
// edge-of-stability experiments; bn selects the batch-normalized variant
// (without batch norm, the convolutions have biases).
func VGG11(inChannels, classes int, bn bool) VGGConfig {
	return VGGConfig{Input: [3]int{inChannels, 32, 32}, Classes: classes, BN: bn,
		Layers: []int{64, VGGPool, 128, VGGPool, 256, 256, VGGPool, 512, 512, VGGPool, 512, 512, VGGPool}}
}

// VGGSmall is a narrow VGG for 28×28 or 32×32 inputs: conv widths 32, 32,
// pool, 64, 64, pool, 128, pool, and one hidden layer of 128.
func VGGSmall(input [3]int, classes int, bn bool) VGGConfig {
	return VGGConfig{Input: input, Classes: classes, BN: bn,
		Layers: []int{32, 32, VGGPool, 64, 64, VGGPool, 128, VGGPool}, Hidden: []int{128}}
}

// VGG is a VGG network; see VGGConfig. Parameter names: "features.<i>.conv.w"
// (and ".b" without batch norm), "features.<i>.bn.*" (gamma, beta, frozen
// running_mean and running_var), "classifier.<j>.w" and ".b", with i the
// index in Layers and j counting the linear layers from 0.
type VGG struct {
	core
	cfg  VGGConfig
	flat int // features entering the classifier
}

// NewVGG creates a VGG network with weights drawn from rng.
func NewVGG(rng *rand.Rand, dt gt.Dtype, cfg VGGConfig) (*VGG, error) {
	if cfg.Input[0] <= 0 || cfg.Input[1] <= 0 || cfg.Input[2] <= 0 || cfg.Classes <= 0 {
		return nil, fmt.Errorf("nn: VGG config %+v: want a positive input shape and classes", cfg)
	}
	if cfg.Act.Name == "" {
		cfg.Act = Activation{Name: "relu"}
	}
	cfg.Layers = append([]int(nil), cfg.Layers...)
	cfg.Hidden = append([]int(nil), cfg.Hidden...)
	v := &VGG{core: newCore(), cfg: cfg}
	b := &builder{rng: rng, dt: dt, c: &v.core}
	c, h, w := cfg.Input[0], cfg.Input[1], cfg.Input[2]
	for i, l := range cfg.Layers {
		if l == VGGPool {
			h, w = h/2, w/2
			if h == 0 || w == 0 {
				return nil, fmt.Errorf("nn: VGG layer %d pools a %v input down to nothing", i, cfg.Input)
			}
			continue
		}
		name := fmt.Sprintf("features.%d", i)
		b.conv(name+".conv", c, l, 3, !cfg.BN)
		if cfg.BN {
			b.bn(name+".bn", l)
		}
		c = l
	}
	v.flat = c * h * w
	in := v.flat
	for j, hd := range append(append([]int(nil), cfg.Hidden...), cfg.Classes) {
		b.linear(fmt.Sprintf("classifier.%d", j), in, hd, true)
		in = hd
	}
	if b.err != nil {
		return nil, b.err
	}
	return v, nil
}

// Config returns the network's configuration.
func (v *VGG) Config() VGGConfig { return v.cfg }

// WithMode implements Moded.
func (v *VGG) WithMode(m Mode) Model {
	cp := *v
	cp.mode = m
	return &cp
}

// Forward implements Model; x is [N, C, H, W] with the configured shape.
func (v *VGG) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	s := x.Shape()
	if x.Dims() != 4 || s[1] != v.cfg.Input[0] || s[2] != v.cfg.Input[1] || s[3] != v.cfg.Input[2] {
		return nil, fmt.Errorf("nn: VGG input has shape %v, want [N %d %d %d]", s, v.cfg.Input[0], v.cfg.Input[1], v.cfg.Input[2])
	}
	h := x
	var err error
	for i, l := range v.cfg.Layers {
		if l == VGGPool {
			if h, err = ops.MaxPool2d(h, ops.PoolParams{Kernel: [2]int{2, 2}}); err != nil {
				return nil, fmt.Errorf("nn: VGG pool %d: %w", i, err)
			}
			continue
		}
		name := fmt.Sprintf("features.%d", i)
		if h, err = conv2d(b, name+".conv", h, 1, 1, !v.cfg.BN); err != nil {
			return nil, err
		}
		if v.cfg.BN {
			if h, err = v.batchNorm(b, name+".bn", h); err != nil {
				return nil, err
			}
		}
		if h, err = v.cfg.Act.Apply(h); err != nil {
			return nil, err
		}
	}
	if h, err = ops.Flatten(h); err != nil {
		return nil, err
	}
	n := len(v.cfg.Hidden) + 1
	for j := 0; j < n; j++ {
		if h, err = linear(b, fmt.Sprintf("classifier.%d", j), h, true); err != nil {
			return nil, err
		}
		if j+1 < n {
			if h, err = v.cfg.Act.Apply(h); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

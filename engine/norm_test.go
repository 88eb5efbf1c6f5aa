package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/ops"
)

// normNet is a small network with layer or batch norms, fused or composed.
type normNet struct {
	g      *gorgonia.ExprGraph
	loss   *gorgonia.Node
	wrt    gorgonia.Nodes
	extras gorgonia.Nodes // batch statistics
	data   []*gt.Dense
}

func normParam(g *gorgonia.ExprGraph, rng *rand.Rand, dt gt.Dtype, name string, std, add float64, shape ...int) *gorgonia.Node {
	d := gt.New(gt.WithShape(shape...), gt.Of(dt))
	randomize(d, rng, std)
	if add != 0 {
		switch x := d.Data().(type) {
		case []float64:
			for i := range x {
				x[i] += add
			}
		case []float32:
			for i := range x {
				x[i] += float32(add)
			}
		}
	}
	return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(d), gorgonia.WithName(name))
}

// lnMLP builds x → [linear → layer norm → tanh] × depth → linear →
// softmax cross-entropy.
func lnMLP(rng *rand.Rand, dt gt.Dtype, fused bool, batch, din, hid, depth, classes int) (*normNet, error) {
	nt := &normNet{g: gorgonia.NewGraph()}
	x := normParam(nt.g, rng, dt, "x", 1, 0, batch, din)
	nt.data = append(nt.data, x.Value().(*gt.Dense))
	t, err := oneHotNode(nt.g, rng, dt, "t", batch, classes)
	if err != nil {
		return nil, err
	}
	h, in := x, din
	for l := 0; l < depth; l++ {
		w := normParam(nt.g, rng, dt, fmt.Sprintf("w%d", l), 1/math.Sqrt(float64(in)), 0, in, hid)
		gm := normParam(nt.g, rng, dt, fmt.Sprintf("g%d", l), 0.2, 1, hid)
		bt := normParam(nt.g, rng, dt, fmt.Sprintf("b%d", l), 0.2, 0, hid)
		nt.wrt = append(nt.wrt, w, gm, bt)
		if h, err = gorgonia.Mul(h, w); err != nil {
			return nil, err
		}
		if fused {
			h, err = ops.LayerNorm(h, gm, bt, 1e-5)
		} else {
			h, err = ops.LayerNormComposed(h, gm, bt, 1e-5)
		}
		if err != nil {
			return nil, err
		}
		if h, err = gorgonia.Tanh(h); err != nil {
			return nil, err
		}
		in = hid
	}
	w := normParam(nt.g, rng, dt, "wout", 1/math.Sqrt(float64(in)), 0, in, classes)
	nt.wrt = append(nt.wrt, w)
	if h, err = gorgonia.Mul(h, w); err != nil {
		return nil, err
	}
	nt.loss, err = ops.SoftmaxCrossEntropy(h, t)
	return nt, err
}

// convBNNet builds x → [conv 3×3 → batch norm → ReLU] × depth (with a
// residual sum from the second block on) → global average pool → linear →
// softmax cross-entropy, keeping the batch statistics as extras.
func convBNNet(rng *rand.Rand, dt gt.Dtype, fused bool, batch, cin, hw, ch, depth, classes int) (*normNet, error) {
	nt := &normNet{g: gorgonia.NewGraph()}
	x := normParam(nt.g, rng, dt, "x", 1, 0, batch, cin, hw, hw)
	nt.data = append(nt.data, x.Value().(*gt.Dense))
	t, err := oneHotNode(nt.g, rng, dt, "t", batch, classes)
	if err != nil {
		return nil, err
	}
	h, in := x, cin
	for l := 0; l < depth; l++ {
		w := normParam(nt.g, rng, dt, fmt.Sprintf("w%d", l), math.Sqrt(2/float64(9*in)), 0, ch, in, 3, 3)
		gm := normParam(nt.g, rng, dt, fmt.Sprintf("g%d", l), 0.2, 1, ch)
		bt := normParam(nt.g, rng, dt, fmt.Sprintf("b%d", l), 0.2, 0, ch)
		nt.wrt = append(nt.wrt, w, gm, bt)
		y, err := ops.Conv2d(h, w, ops.ConvParams{Pad: [2]int{1, 1}})
		if err != nil {
			return nil, err
		}
		bn := ops.NewBatchNorm(ch)
		var st *ops.BNStats
		if fused {
			y, st, err = bn.Train(y, gm, bt)
		} else {
			y, st, err = bn.TrainComposed(y, gm, bt)
		}
		if err != nil {
			return nil, err
		}
		nt.extras = append(nt.extras, st.Mean, st.Var)
		if l > 0 {
			if y, err = gorgonia.Add(y, h); err != nil {
				return nil, err
			}
		}
		if h, err = ops.ReLU(y); err != nil {
			return nil, err
		}
		in = ch
	}
	p, err := ops.GlobalAvgPool(h)
	if err != nil {
		return nil, err
	}
	if p, err = ops.Reshape(p, gt.Shape{batch, ch}); err != nil {
		return nil, err
	}
	w := normParam(nt.g, rng, dt, "wout", 1/math.Sqrt(float64(ch)), 0, ch, classes)
	nt.wrt = append(nt.wrt, w)
	if p, err = gorgonia.Mul(p, w); err != nil {
		return nil, err
	}
	nt.loss, err = ops.SoftmaxCrossEntropy(p, t)
	return nt, err
}

// TestNormRunsAsFusedKernels compiles the loss, gradient, HVP and batch
// statistics of small layer-norm and batch-norm networks built with the
// fused ops, checks that the normalization nodes run as the fused kernels
// (no host op; in the gradient program no composed reduction or power
// step at all) and that every value matches the TapeMachine.
func TestNormRunsAsFusedKernels(t *testing.T) {
	nets := []struct {
		name  string
		build func(rng *rand.Rand, dt gt.Dtype) (*normNet, error)
		fwd   string
	}{
		{"ln-mlp", func(rng *rand.Rand, dt gt.Dtype) (*normNet, error) { return lnMLP(rng, dt, true, 6, 5, 7, 2, 3) }, "LayerNorm"},
		{"conv-bn", func(rng *rand.Rand, dt gt.Dtype) (*normNet, error) {
			return convBNNet(rng, dt, true, 3, 2, 5, 4, 2, 3)
		}, "BatchNorm"},
	}
	for _, nc := range nets {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("%s/%v", nc.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(5, 6))
				nt, err := nc.build(rng, dt)
				if err != nil {
					t.Fatal(err)
				}
				grads, err := autodiff.Grad(nt.loss, nt.wrt...)
				if err != nil {
					t.Fatal(err)
				}
				// The gradient program alone: fused steps only.
				gp, err := engine.CompileWith(nt.g, engine.Options{Workers: 2}, append(gorgonia.Nodes{nt.loss}, grads...)...)
				if err != nil {
					t.Fatal(err)
				}
				prof, err := gp.Profile(1)
				if err != nil {
					t.Fatal(err)
				}
				// A step is named "node (op description)".
				count := func(op string) int {
					n := 0
					for _, st := range prof {
						if strings.Contains(st.Step, " ("+op+"{") {
							n++
						}
					}
					return n
				}
				gp.Close()
				const depth = 2
				want := map[string]int{nc.fwd: depth, "NormStats": depth, "NormGradX": depth, "NormGradParam": 2 * depth}
				for name, n := range want {
					if c := count(name); c != n {
						t.Errorf("gradient program: %d %s steps, want %d", c, name, n)
					}
				}
				// The composed normalization's 1/√(var+ε) is a Pow step.
				if c := count("Pow"); c > 0 {
					t.Errorf("gradient program runs %d composed Pow steps", c)
				}

				probe, err := autodiff.NewProbe(nt.g, nt.wrt)
				if err != nil {
					t.Fatal(err)
				}
				hv, err := autodiff.HVP(nt.loss, nt.wrt, probe)
				if err != nil {
					t.Fatal(err)
				}
				groups := [][]*gorgonia.Node{{nt.loss}, grads, hv, nt.extras}
				var outs gorgonia.Nodes
				for _, gr := range groups {
					outs = append(outs, gr...)
				}
				nat, err := engine.CompileWith(nt.g, engine.Options{Workers: 2}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer nat.Close()
				if nat.Backend() == "tape" || len(nat.HostOps()) > 0 {
					t.Fatalf("backend %s, host ops %v", nat.Backend(), nat.HostOps())
				}
				tp, err := engine.CompileWith(nt.g, engine.Options{Backend: engine.Tape}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer tp.Close()
				for step := 0; step < 2; step++ {
					for _, d := range nt.data {
						randomize(d, rng, 1)
					}
					for _, p := range probe {
						randomize(p.Value().(*gt.Dense), rng, 1)
					}
					if err := nat.Run(); err != nil {
						t.Fatal(err)
					}
					if err := tp.Run(); err != nil {
						t.Fatal(err)
					}
					i := 0
					for k, gr := range groups {
						if len(gr) == 0 {
							continue
						}
						rel, zero, err := groupDiff(t, nat, tp, i, len(gr))
						if err != nil {
							t.Fatal(err)
						}
						if math.IsNaN(rel) || rel > tolerance(dt) || zero {
							t.Errorf("step %d, group %d (loss, grad, hvp, stats): relative difference %.3g (all zero: %v)", step, k, rel, zero)
						}
						i += len(gr)
					}
				}
			})
		}
	}
}

// benchNormStep measures one compiled gradient evaluation (loss and every
// parameter gradient) of a network.
func benchNormStep(b *testing.B, build func(fused bool) (*normNet, error), fused bool) {
	nt, err := build(fused)
	if err != nil {
		b.Fatal(err)
	}
	grads, err := autodiff.Grad(nt.loss, nt.wrt...)
	if err != nil {
		b.Fatal(err)
	}
	p, err := engine.CompileWith(nt.g, engine.Options{}, append(gorgonia.Nodes{nt.loss}, grads...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := p.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormGradStep compares the engine's gradient step of a
// layer-norm MLP (batch 128, 3 hidden layers of 256) and of a residual
// conv/batch-norm net (batch 32, 16 channels, 16×16, 4 blocks) in float32,
// with the fused normalization ops and with their compositions.
func BenchmarkNormGradStep(b *testing.B) {
	nets := []struct {
		name  string
		build func(fused bool) (*normNet, error)
	}{
		{"ln-mlp", func(fused bool) (*normNet, error) {
			return lnMLP(rand.New(rand.NewPCG(1, 2)), gt.Float32, fused, 128, 256, 256, 3, 10)
		}},
		{"conv-bn", func(fused bool) (*normNet, error) {
			return convBNNet(rand.New(rand.NewPCG(1, 2)), gt.Float32, fused, 32, 3, 16, 16, 4, 10)
		}},
	}
	for _, n := range nets {
		for _, fused := range []bool{false, true} {
			name := "composed"
			if fused {
				name = "fused"
			}
			b.Run(n.name+"/"+name, func(b *testing.B) { benchNormStep(b, n.build, fused) })
		}
	}
}

// BenchmarkNormLayerGrad isolates one normalization layer: the gradient of
// Σ c⊙norm(x) with respect to x, γ and β (forward and backward of the
// layer alone), for a layer norm over [256, 512] and a batch norm over
// [32, 32, 16, 16], float32, fused and composed.
func BenchmarkNormLayerGrad(b *testing.B) {
	layers := []struct {
		name  string
		shape []int
		c     int
	}{{"ln-256x512", []int{256, 512}, 512}, {"bn-32x32x16x16", []int{32, 32, 16, 16}, 32}}
	for _, l := range layers {
		for _, fused := range []bool{false, true} {
			name := "composed"
			if fused {
				name = "fused"
			}
			b.Run(l.name+"/"+name, func(b *testing.B) {
				benchNormStep(b, func(fused bool) (*normNet, error) {
					rng := rand.New(rand.NewPCG(3, 4))
					nt := &normNet{g: gorgonia.NewGraph()}
					x := normParam(nt.g, rng, gt.Float32, "x", 1, 0.5, l.shape...)
					c := normParam(nt.g, rng, gt.Float32, "c", 1, 0, l.shape...)
					gm := normParam(nt.g, rng, gt.Float32, "gamma", 0.2, 1, l.c)
					bt := normParam(nt.g, rng, gt.Float32, "beta", 0.2, 0, l.c)
					nt.wrt = gorgonia.Nodes{x, gm, bt}
					var y *gorgonia.Node
					var err error
					switch {
					case len(l.shape) == 2 && fused:
						y, err = ops.LayerNorm(x, gm, bt, 1e-5)
					case len(l.shape) == 2:
						y, err = ops.LayerNormComposed(x, gm, bt, 1e-5)
					case fused:
						y, _, err = ops.NewBatchNorm(l.c).Train(x, gm, bt)
					default:
						y, _, err = ops.NewBatchNorm(l.c).TrainComposed(x, gm, bt)
					}
					if err != nil {
						return nil, err
					}
					if y, err = gorgonia.HadamardProd(y, c); err != nil {
						return nil, err
					}
					nt.loss, err = ops.SumAll(y)
					return nt, err
				}, fused)
			})
		}
	}
}

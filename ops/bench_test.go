package ops

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// benchGraph compiles loss = sum(y ⊙ c) of y = b(x, w) in float32, with the
// autodiff gradients with respect to both inputs when grad is set.
func benchGraph(b *testing.B, bld builder, shapes []tensor.Shape, grad bool) gorgonia.VM {
	b.Helper()
	g := gorgonia.NewGraph()
	rng := newRNG(1)
	in := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		in[i] = inputNodeOf(g, string(rune('a'+i)), s, randData(rng, s.TotalSize()), tensor.Float32)
	}
	y, err := bld(g, in)
	if err != nil {
		b.Fatal(err)
	}
	c := inputNodeOf(g, "c", y.Shape(), randData(rng, y.Shape().TotalSize()), tensor.Float32)
	p, err := gorgonia.HadamardProd(y, c)
	if err != nil {
		b.Fatal(err)
	}
	loss, err := SumAll(p)
	if err != nil {
		b.Fatal(err)
	}
	if grad {
		if _, err := autodiff.Grad(loss, in...); err != nil {
			b.Fatal(err)
		}
	}
	return gorgonia.NewTapeMachine(g)
}

func benchRun(b *testing.B, m gorgonia.VM) {
	b.ReportAllocs()
	for b.Loop() {
		m.Reset()
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

var benchConv = func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
	return Conv2d(in[0], in[1], ConvParams{Pad: [2]int{1, 1}})
}

// BenchmarkConv2d: batch 64, 16→32 channels, 14×14, 3×3, padding 1, float32.
func BenchmarkConv2d(b *testing.B) {
	shapes := []tensor.Shape{{64, 16, 14, 14}, {32, 16, 3, 3}}
	b.Run("forward", func(b *testing.B) { benchRun(b, benchGraph(b, benchConv, shapes, false)) })
	b.Run("forward+backward", func(b *testing.B) { benchRun(b, benchGraph(b, benchConv, shapes, true)) })
	b.Run("gorgonia-builtin-forward", func(b *testing.B) {
		benchRun(b, benchGraph(b, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			return gorgonia.Conv2d(in[0], in[1], tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
		}, shapes, false))
	})
}

// BenchmarkMaxPool2d: batch 64, 32 channels, 28×28, 2×2 windows, float32.
func BenchmarkMaxPool2d(b *testing.B) {
	shapes := []tensor.Shape{{64, 32, 28, 28}}
	pool := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return MaxPool2d(in[0], PoolParams{Kernel: [2]int{2, 2}})
	}
	b.Run("forward+backward", func(b *testing.B) { benchRun(b, benchGraph(b, pool, shapes, true)) })
}

// BenchmarkSoftmaxCE: 128 rows of 10 logits, float32.
func BenchmarkSoftmaxCE(b *testing.B) {
	shapes := []tensor.Shape{{128, 10}, {128, 10}}
	ce := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SoftmaxCrossEntropy(in[0], in[1])
	}
	b.Run("forward+backward", func(b *testing.B) { benchRun(b, benchGraph(b, ce, shapes, true)) })
}

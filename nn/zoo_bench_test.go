package nn

import (
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// benchStep times the loss and gradient of m on a random batch of the
// given NCHW shape.
func benchStep(b *testing.B, m Model, classes int, shape ...int) {
	g := gorgonia.NewGraph()
	bind, err := Bind(g, m.Params())
	if err != nil {
		b.Fatal(err)
	}
	rng := tensor.NewRNG(1, 1)
	x, _ := tensor.Normal(0, 1)(rng, gt.Float32, shape...)
	xn := gorgonia.NewTensor(g, gt.Float32, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(x), gorgonia.WithName("x"))
	labels := make([]int, shape[0])
	for i := range labels {
		labels[i] = i % classes
	}
	oh, _ := ops.OneHot(labels, classes, gt.Float32)
	tn := gorgonia.NewMatrix(g, gt.Float32, gorgonia.WithShape(shape[0], classes), gorgonia.WithValue(oh), gorgonia.WithName("t"))
	out, err := m.Forward(bind, xn)
	if err != nil {
		b.Fatal(err)
	}
	loss, err := ops.SoftmaxCrossEntropy(out, tn)
	if err != nil {
		b.Fatal(err)
	}
	grads, err := autodiff.Grad(loss, bind.Nodes(m.Params().Trainable())...)
	if err != nil {
		b.Fatal(err)
	}
	prog, err := engine.Compile(g, append(gorgonia.Nodes{loss}, grads...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := prog.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResNet20Step times one loss-and-gradient evaluation of ResNet-20
// on a batch of 128 Fashion-MNIST-sized images (float32).
func BenchmarkResNet20Step(b *testing.B) {
	m, err := NewResNet(tensor.NewRNG(1, 0), gt.Float32, ResNet20(1, 10))
	if err != nil {
		b.Fatal(err)
	}
	benchStep(b, m, 10, 128, 1, 28, 28)
}

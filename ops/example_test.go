package ops_test

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/ops"
)

// A softmax cross-entropy over two rows of three logits and its gradient
// (softmax minus one-hot, divided by the number of rows).
func ExampleSoftmaxCrossEntropy() {
	g := gorgonia.NewGraph()
	logits := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("logits"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{0, 0, 0, 1, 2, 3}))))
	oh, err := ops.OneHot([]int{0, 2}, 3, tensor.Float64)
	if err != nil {
		panic(err)
	}
	targets := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(2, 3), gorgonia.WithName("targets"), gorgonia.WithValue(oh))
	loss, err := ops.SoftmaxCrossEntropy(logits, targets)
	if err != nil {
		panic(err)
	}
	grads, err := autodiff.Grad(loss, logits)
	if err != nil {
		panic(err)
	}
	var l, d gorgonia.Value
	gorgonia.Read(loss, &l)
	gorgonia.Read(grads[0], &d)
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f\n", l.Data())
	fmt.Printf("grad %.4f\n", d.Data())
	// Output:
	// loss 0.7531
	// grad [-0.3333 0.1667 0.1667 0.0450 0.1224 -0.1674]
}

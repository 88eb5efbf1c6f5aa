package curvature

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// Tiny float64 models for the Hessian-operator tests: a conv + batch-norm
// net (batch statistics, as in training) and a single-head attention block.
// The MLP comes from nn.NewMLP.

func randParam(t testing.TB, rng *rand.Rand, name string, std float64, shape ...int) *nn.Param {
	t.Helper()
	v, err := tensor.Normal(0, std)(rng, gt.Float64, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return &nn.Param{Name: name, Value: v}
}

// convBN is conv3×3(1→2, pad 1) → batch norm (batch statistics) → GELU →
// global average pool → dense(2→3).
type convBN struct {
	ps nn.Params
	bn *ops.BatchNorm
}

func newConvBN(t testing.TB, seed uint64) *convBN {
	rng := rand.New(rand.NewPCG(seed, 1))
	gamma := randParam(t, rng, "bn.gamma", 0.2, 2)
	for i, x := range gamma.Value.Data().([]float64) {
		gamma.Value.Data().([]float64)[i] = 1 + x
	}
	return &convBN{
		ps: nn.Params{
			randParam(t, rng, "conv.w", 0.5, 2, 1, 3, 3),
			gamma,
			randParam(t, rng, "bn.beta", 0.2, 2),
			randParam(t, rng, "fc.w", 1, 2, 3),
			randParam(t, rng, "fc.b", 0.1, 3),
		},
		bn: ops.NewBatchNorm(2),
	}
}

func (m *convBN) Params() nn.Params { return m.ps }

func (m *convBN) Forward(b *nn.Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := ops.Conv2d(x, b.Node("conv.w"), ops.ConvParams{Pad: [2]int{1, 1}})
	if err != nil {
		return nil, err
	}
	if h, _, err = m.bn.Train(h, b.Node("bn.gamma"), b.Node("bn.beta")); err != nil {
		return nil, err
	}
	if h, err = ops.GELU(h); err != nil {
		return nil, err
	}
	if h, err = ops.GlobalAvgPool(h); err != nil {
		return nil, err
	}
	return nn.Dense(h, b.Node("fc.w"), b.Node("fc.b"))
}

// attention is one softmax attention head over T tokens of width d,
// mean-pooled over tokens, then dense(d→classes).
type attention struct {
	ps         nn.Params
	t, d, outs int
}

func newAttention(tb testing.TB, seed uint64, t, d, classes int) *attention {
	rng := rand.New(rand.NewPCG(seed, 2))
	return &attention{
		ps: nn.Params{
			randParam(tb, rng, "q", 0.5, d, d),
			randParam(tb, rng, "k", 0.5, d, d),
			randParam(tb, rng, "v", 0.5, d, d),
			randParam(tb, rng, "out.w", 0.7, d, classes),
			randParam(tb, rng, "out.b", 0.1, classes),
		},
		t: t, d: d, outs: classes,
	}
}

func (m *attention) Params() nn.Params { return m.ps }

func (m *attention) Forward(b *nn.Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	batch := x.Shape()[0]
	flat, err := autodiff.Reshape(x, gt.Shape{batch * m.t, m.d})
	if err != nil {
		return nil, err
	}
	proj := func(name string) (*gorgonia.Node, error) {
		p, err := gorgonia.Mul(flat, b.Node(name))
		if err != nil {
			return nil, err
		}
		return autodiff.Reshape(p, gt.Shape{batch, m.t, m.d})
	}
	q, err := proj("q")
	if err != nil {
		return nil, err
	}
	k, err := proj("k")
	if err != nil {
		return nil, err
	}
	v, err := proj("v")
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.BatchedMatMul(q, k, false, true)
	if err != nil {
		return nil, err
	}
	a, err := ops.Softmax(s)
	if err != nil {
		return nil, err
	}
	o, err := gorgonia.BatchedMatMul(a, v)
	if err != nil {
		return nil, err
	}
	pooled, err := ops.MeanAxis(o, 1)
	if err != nil {
		return nil, err
	}
	return nn.Dense(pooled, b.Node("out.w"), b.Node("out.b"))
}

// gaussianData is n examples of the given shape with N(0,1) entries and
// uniform labels in [0, classes).
func gaussianData(n, classes int, seed uint64, shape ...int) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	size := 1
	for _, s := range shape {
		size *= s
	}
	x := make([]float32, n*size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int, n)
	for i := range y {
		y[i] = rng.IntN(classes)
	}
	return &data.Dataset{Name: fmt.Sprintf("gauss%v", shape), X: x, Shape: shape, Y: y, Classes: classes}
}

func newTinyMLP(t testing.TB, dt gt.Dtype, seed uint64, widths ...int) *nn.MLP {
	t.Helper()
	act, err := nn.ParseActivation("tanh")
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP(tensor.NewRNG(seed, 0), dt, widths, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

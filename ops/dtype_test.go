package ops

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// inputNodeOf is inputNode for dtype Float64 or Float32.
func inputNodeOf(g *gorgonia.ExprGraph, name string, shape tensor.Shape, data []float64, dt tensor.Dtype) *gorgonia.Node {
	if dt == tensor.Float64 {
		return inputNode(g, name, shape, data)
	}
	d := make([]float32, len(data))
	for i, v := range data {
		d[i] = float32(v)
	}
	if len(shape) == 0 {
		return gorgonia.NewScalar(g, dt, gorgonia.WithName(name), gorgonia.WithValue(d[0]))
	}
	v := tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(d))
	return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithName(name), gorgonia.WithShape(shape.Clone()...), gorgonia.WithValue(v))
}

// runGrads evaluates the loss sum(y ⊙ (y + c)), c fixed (y² for a scalar y), and its autodiff gradients with
// respect to inputs wrt in dtype dt, returning all of them as float64.
func runGrads(t *testing.T, b builder, shapes []tensor.Shape, data [][]float64, wrt []int, dt tensor.Dtype) [][]float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	in := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		in[i] = inputNodeOf(g, string(rune('a'+i)), s, data[i], dt)
	}
	y, err := b(g, in)
	if err != nil {
		t.Fatal(err)
	}
	outs := gorgonia.Nodes{y}
	var loss *gorgonia.Node
	if y.IsScalar() {
		loss, err = gorgonia.Mul(y, y)
	} else {
		c := inputNodeOf(g, "c", y.Shape(), randData(newRNG(77), y.Shape().TotalSize()), dt)
		var s, p *gorgonia.Node
		if s, err = gorgonia.Add(y, c); err == nil {
			if p, err = gorgonia.HadamardProd(y, s); err == nil {
				loss, err = SumAll(p)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	nodes := make(gorgonia.Nodes, len(wrt))
	for k, i := range wrt {
		nodes[k] = in[i]
	}
	grads, err := autodiff.Grad(loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, grads...)
	vals := make([]gorgonia.Value, len(outs))
	for k := range outs {
		gorgonia.Read(outs[k], &vals[k])
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(vals))
	for k, v := range vals {
		if v.Dtype() != dt {
			t.Fatalf("output %d has dtype %v, want %v", k, v.Dtype(), dt)
		}
		if res[k], err = toFloat64s(v); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

// TestFloat32MatchesFloat64 runs every op and its gradient in float32 and
// compares with float64.
func TestFloat32MatchesFloat64(t *testing.T) {
	op1 := func(f func(*gorgonia.Node) (*gorgonia.Node, error)) builder {
		return func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return f(in[0]) }
	}
	ids := func(rng *rand.Rand, i, n int) []float64 {
		d := randData(rng, n)
		if i == 1 {
			for k := range d {
				d[k] = float64(rng.IntN(4))
			}
		}
		return d
	}
	cases := []opCase{
		{name: "sum axis", shapes: []tensor.Shape{{2, 3, 4, 2}}, wrt: []int{0}, b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) { return Mean(x, 0, 2) })},
		{name: "logsoftmax", shapes: []tensor.Shape{{3, 5}}, wrt: []int{0}, b: op1(LogSoftmax)},
		{name: "softmax", shapes: []tensor.Shape{{3, 5}}, wrt: []int{0}, b: op1(Softmax)},
		{name: "CE", shapes: []tensor.Shape{{3, 4}, {3, 4}}, wrt: []int{0, 1}, data: softProbs(4),
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return SoftmaxCrossEntropy(in[0], in[1])
			}},
		{name: "conv", shapes: []tensor.Shape{{2, 3, 7, 6}, {4, 3, 3, 3}}, wrt: []int{0, 1},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Conv2d(in[0], in[1], ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}})
			}},
		{name: "convT", shapes: []tensor.Shape{{2, 3, 4, 3}, {3, 2, 3, 3}}, wrt: []int{0, 1},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return ConvTranspose2d(in[0], in[1], ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, [2]int{1, 0})
			}},
		{name: "maxpool", shapes: []tensor.Shape{{2, 2, 5, 5}}, wrt: []int{0}, data: spacedData,
			b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) {
				return MaxPool2d(x, PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}})
			})},
		{name: "avgpool", shapes: []tensor.Shape{{2, 2, 5, 5}}, wrt: []int{0},
			b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) {
				return AvgPool2d(x, PoolParams{Kernel: [2]int{2, 2}, Pad: [2]int{1, 1}})
			})},
		{name: "gelu", shapes: []tensor.Shape{{4, 3}}, wrt: []int{0}, b: op1(GELU)},
		{name: "gelu tanh", shapes: []tensor.Shape{{4, 3}}, wrt: []int{0}, b: op1(GELUTanh)},
		{name: "layernorm", shapes: []tensor.Shape{{3, 5}, {5}, {5}}, wrt: []int{0, 1, 2},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return LayerNorm(in[0], in[1], in[2], 1e-5)
			}},
		{name: "batchnorm", shapes: []tensor.Shape{{2, 3, 2, 2}, {3}, {3}}, wrt: []int{0, 1, 2},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				y, _, err := NewBatchNorm(3).Train(in[0], in[1], in[2])
				return y, err
			}},
		{name: "embedding", shapes: []tensor.Shape{{4, 3}, {5}}, wrt: []int{0}, data: ids,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Embedding(in[0], in[1])
			}},
		{name: "upsample", shapes: []tensor.Shape{{1, 2, 3, 2}}, wrt: []int{0}, b: op1(func(x *gorgonia.Node) (*gorgonia.Node, error) { return UpsampleNearest(x, 2) })},
		{name: "relu", shapes: []tensor.Shape{{3, 4}}, wrt: []int{0}, b: op1(ReLU)},
	}
	worst := 0.0
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRNG(uint64(ci) + 100)
			data := make([][]float64, len(tc.shapes))
			for i, s := range tc.shapes {
				if tc.data != nil {
					data[i] = tc.data(rng, i, s.TotalSize())
				} else {
					data[i] = randData(rng, s.TotalSize())
				}
			}
			r64 := runGrads(t, tc.b, tc.shapes, data, tc.wrt, tensor.Float64)
			r32 := runGrads(t, tc.b, tc.shapes, data, tc.wrt, tensor.Float32)
			for k := range r64 {
				e := relErr(r32[k], r64[k])
				worst = max(worst, e)
				if e > 1e-5 {
					t.Errorf("output %d: float32 vs float64 rel err %g", k, e)
				}
			}
		})
	}
	t.Logf("worst float32 vs float64 rel err (values and gradients): %.2g", worst)
}

// TestOpsWithDifferentParametersStayDistinct guards against the compiler
// merging nodes whose ops hash equally: two convolutions and two poolings of
// the same input that differ only in a parameter must give different
// values.
func TestOpsWithDifferentParametersStayDistinct(t *testing.T) {
	g := gorgonia.NewGraph()
	rng := newRNG(4)
	x := inputNode(g, "x", tensor.Shape{1, 1, 6, 6}, randData(rng, 36))
	w := inputNode(g, "w", tensor.Shape{1, 1, 3, 3}, randData(rng, 9))
	c1, err := Conv2d(x, w, ConvParams{Pad: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Conv2d(x, w, ConvParams{Pad: [2]int{1, 1}, Dilation: [2]int{1, 1}, Stride: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 {
		t.Log("equal convolutions were not merged (allowed)")
	}
	c3, err := Conv2d(x, w, ConvParams{Pad: [2]int{2, 2}, Dilation: [2]int{2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := AvgPool2d(x, PoolParams{Kernel: [2]int{2, 2}, Pad: [2]int{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := AvgPool2d(x, PoolParams{Kernel: [2]int{2, 2}, Pad: [2]int{1, 1}, CountIncludePad: true})
	if err != nil {
		t.Fatal(err)
	}
	var v1, v3, q1, q2 gorgonia.Value
	gorgonia.Read(c1, &v1)
	gorgonia.Read(c3, &v3)
	gorgonia.Read(p1, &q1)
	gorgonia.Read(p2, &q2)
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	if relErr(valueData(t, v1), valueData(t, v3)) < 1e-3 {
		t.Error("convolutions with different dilation gave the same values")
	}
	if relErr(valueData(t, q1), valueData(t, q2)) < 1e-3 {
		t.Error("average poolings with different border divisors gave the same values")
	}
}

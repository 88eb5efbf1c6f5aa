package checks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/ops"
)

// Case is one derivative check.
type Case struct {
	Name   string
	Family string // "op" or "model"
	Params []fdcheck.Param
	Build  fdcheck.Builder
}

// Row is the outcome of one case.
type Row struct {
	Name    string
	Family  string
	Dim     int
	GradErr float64
	HVPErr  float64
	Pass    bool
	Err     error
}

// Run checks every case; a case passes when both relative errors are at
// most tol and it ran without error.
func Run(cases []Case, tol float64, seed uint64) []Row {
	rows := make([]Row, 0, len(cases))
	for _, c := range cases {
		r := Row{Name: c.Name, Family: c.Family}
		for _, p := range c.Params {
			r.Dim += len(p.Data)
		}
		rep, err := fdcheck.Check(c.Build, c.Params, fdcheck.Options{Seed: seed, Directions: 3})
		if err != nil {
			r.Err, r.GradErr, r.HVPErr = err, math.NaN(), math.NaN()
		} else {
			r.GradErr, r.HVPErr = rep.MaxGradRelErr, rep.MaxHVPRelErr
			r.Pass = rep.Pass(tol)
		}
		rows = append(rows, r)
	}
	return rows
}

// Filter keeps the cases whose name contains any of the substrings (all
// when none are given).
func Filter(cases []Case, subs ...string) []Case {
	if len(subs) == 0 {
		return cases
	}
	var out []Case
	for _, c := range cases {
		for _, s := range subs {
			if strings.Contains(c.Name, s) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// scalarize returns Σ r⊙y + ½ Σ y⊙y for a fixed random r of y's shape.
func scalarize(y *gorgonia.Node, rng *rand.Rand) (*gorgonia.Node, error) {
	n := y.Shape().TotalSize()
	rv := make([]float64, n)
	for i := range rv {
		rv[i] = rng.NormFloat64()
	}
	shape := y.Shape().Clone()
	var r *gorgonia.Node
	if len(shape) == 0 {
		r = gorgonia.NewConstant(rv[0])
	} else {
		r = gorgonia.NewConstant(gt.New(gt.WithShape(shape...), gt.WithBacking(rv)))
	}
	lin, err := gorgonia.HadamardProd(y, r)
	if err != nil {
		return nil, err
	}
	sq, err := gorgonia.Square(y)
	if err != nil {
		return nil, err
	}
	half, err := gorgonia.Mul(sq, gorgonia.NewConstant(0.5))
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Add(lin, half)
	if err != nil {
		return nil, err
	}
	return ops.SumAll(s)
}

// opCase builds a case for an op applied to differentiable inputs of the
// given shapes; fixed inputs (labels, ids) are built inside op.
func opCase(name string, seed uint64, shapes [][]int, op func(g *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error)) Case {
	rng := rand.New(rand.NewPCG(seed, uint64(len(name))))
	params := make([]fdcheck.Param, len(shapes))
	for i, s := range shapes {
		params[i] = fdcheck.RandomParam(fmt.Sprintf("in%d", i), rng, 1, s...)
	}
	rseed := rng.Uint64()
	return Case{Name: name, Family: "op", Params: params, Build: func(g *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		y, err := op(g, in)
		if err != nil {
			return nil, err
		}
		return scalarize(y, rand.New(rand.NewPCG(rseed, 1)))
	}}
}

func constant(shape []int, vals []float64) *gorgonia.Node {
	return gorgonia.NewConstant(gt.New(gt.WithShape(shape...), gt.WithBacking(vals)))
}

// Catalogue returns every registered check, with inputs drawn from seed.
func Catalogue(seed uint64) []Case {
	var cs []Case
	add := func(c Case) { cs = append(cs, c) }
	conv := []struct {
		x, w []int
		p    ops.ConvParams
	}{
		{[]int{2, 3, 5, 5}, []int{4, 3, 3, 3}, ops.ConvParams{Stride: [2]int{1, 1}, Dilation: [2]int{1, 1}}},
		{[]int{1, 2, 7, 6}, []int{3, 2, 3, 3}, ops.ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, Dilation: [2]int{1, 1}}},
		{[]int{2, 1, 7, 7}, []int{2, 1, 3, 2}, ops.ConvParams{Stride: [2]int{1, 1}, Dilation: [2]int{2, 1}, Pad: [2]int{1, 0}}},
	}
	for _, c := range conv {
		p := c.p
		add(opCase(fmt.Sprintf("conv2d x%v w%v stride%v pad%v dil%v", c.x, c.w, p.Stride, p.Pad, p.Dilation), seed,
			[][]int{c.x, c.w}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
				return ops.Conv2d(in[0], in[1], p)
			}))
	}
	add(opCase("conv-transpose2d x[1 3 4 4] w[3 2 3 3] stride2 pad1 outpad1", seed, [][]int{{1, 3, 4, 4}, {3, 2, 3, 3}},
		func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
			return ops.ConvTranspose2d(in[0], in[1], ops.ConvParams{Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, [2]int{1, 1})
		}))
	pools := []struct {
		name string
		p    ops.PoolParams
		max  bool
	}{
		{"maxpool2d k2 s2", ops.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}, true},
		{"maxpool2d k3 s2 pad1", ops.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, true},
		{"avgpool2d k2 s2", ops.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}, false},
		{"avgpool2d k3 s2 pad1", ops.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}, false},
	}
	for _, pc := range pools {
		pc := pc
		add(opCase(pc.name+" x[2 2 5 5]", seed, [][]int{{2, 2, 5, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
			if pc.max {
				return ops.MaxPool2d(in[0], pc.p)
			}
			return ops.AvgPool2d(in[0], pc.p)
		}))
	}
	add(opCase("global-avgpool x[2 3 3 5]", seed, [][]int{{2, 3, 3, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.GlobalAvgPool(in[0])
	}))
	for axis := 0; axis < 4; axis++ {
		axis := axis
		add(opCase(fmt.Sprintf("sum axis %d of x[2 3 4 5]", axis), seed, [][]int{{2, 3, 4, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
			return ops.SumAxis(in[0], axis)
		}))
	}
	add(opCase("mean axes 0,2 of x[3 2 4]", seed, [][]int{{3, 2, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.Mean(in[0], 0, 2)
	}))
	add(opCase("log-softmax x[3 5]", seed, [][]int{{3, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.LogSoftmax(in[0])
	}))
	add(opCase("softmax x[2 3 4]", seed, [][]int{{2, 3, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.Softmax(in[0])
	}))
	add(opCase("softmax-cross-entropy x[4 5]", seed, [][]int{{4, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		oh, err := ops.OneHot([]int{0, 3, 4, 1}, 5, gt.Float64)
		if err != nil {
			return nil, err
		}
		return ops.SoftmaxCrossEntropy(in[0], gorgonia.NewConstant(oh))
	}))
	add(opCase("sigmoid-bce (GAN loss) logits[3 4] targets[3 4]", seed, [][]int{{3, 4}, {3, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.SigmoidBCE(in[0], in[1])
	}))
	add(opCase("info-nce τ=0.5 (SimCLR loss) z1[4 3] z2[4 3]", seed, [][]int{{4, 3}, {4, 3}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return nn.InfoNCE(in[0], in[1], 0.5)
	}))
	add(opCase("spectral contrastive loss z1[4 3] z2[4 3]", seed, [][]int{{4, 3}, {4, 3}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return nn.SpectralContrastive(in[0], in[1])
	}))
	add(opCase("layer-norm x[3 6]", seed, [][]int{{3, 6}, {6}, {6}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.LayerNorm(in[0], in[1], in[2], 1e-5)
	}))
	add(opCase("batch-norm train x[4 3 2 2]", seed, [][]int{{4, 3, 2, 2}, {3}, {3}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		y, _, err := ops.NewBatchNorm(3).Train(in[0], in[1], in[2])
		return y, err
	}))
	add(opCase("batch-norm train x[5 4]", seed, [][]int{{5, 4}, {4}, {4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		y, _, err := ops.NewBatchNorm(4).Train(in[0], in[1], in[2])
		return y, err
	}))
	add(opCase("gelu-erf x[3 4]", seed, [][]int{{3, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.GELU(in[0])
	}))
	add(opCase("gelu-tanh x[3 4]", seed, [][]int{{3, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.GELUTanh(in[0])
	}))
	add(opCase("leaky-relu 0.2 x[4 5]", seed, [][]int{{4, 5}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.LeakyReLU(in[0], 0.2)
	}))
	add(opCase("embedding table[6 3] ids[2 3]", seed, [][]int{{6, 3}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		ids, err := ops.IDs([]int{0, 5, 2, 2, 1, 5}, gt.Shape{2, 3}, gt.Float64)
		if err != nil {
			return nil, err
		}
		return ops.Embedding(in[0], gorgonia.NewConstant(ids))
	}))
	add(opCase("upsample-nearest x2 x[1 2 3 2]", seed, [][]int{{1, 2, 3, 2}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		return ops.UpsampleNearest(in[0], 2)
	}))
	add(opCase("dropout seeded mask x[3 4]", seed, [][]int{{3, 4}}, func(_ *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		m, err := ops.DropoutMask(rand.New(rand.NewPCG(seed, 9)), gt.Shape{3, 4}, 0.5, gt.Float64)
		if err != nil {
			return nil, err
		}
		return ops.Dropout(in[0], gorgonia.NewConstant(m))
	}))
	cs = append(cs, modelCases(seed)...)
	return cs
}

// modelCase checks a model's loss on a fixed random batch with respect to
// all of its trainable parameters: softmax cross-entropy on random labels
// when classes > 1, ½·mean squared error on random targets when the model
// has one output (classes = 1). ids, when not nil, replaces the random input
// by token ids (language models).
func modelCase(name string, seed uint64, m nn.Model, inShape []int, classes int, ids []int) Case {
	rng := rand.New(rand.NewPCG(seed, 77))
	ps := m.Params().Trainable()
	params := make([]fdcheck.Param, len(ps))
	for i, p := range ps {
		params[i] = fdcheck.Param{Name: p.Name, Shape: p.Value.Shape().Clone(), Data: append([]float64(nil), p.Value.Data().([]float64)...)}
	}
	n := 1
	for _, s := range inShape {
		n *= s
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	rows := inShape[0]
	if ids != nil {
		rows = len(ids)
	}
	labels := make([]int, rows)
	targets := make([]float64, rows)
	for i := range labels {
		labels[i] = rng.IntN(max(classes, 1))
		targets[i] = rng.NormFloat64()
	}
	return Case{Name: name, Family: "model", Params: params, Build: func(g *gorgonia.ExprGraph, in gorgonia.Nodes) (*gorgonia.Node, error) {
		b, err := nn.BindNodes(g, m.Params(), in)
		if err != nil {
			return nil, err
		}
		// The input is a node of g (not a free constant): models such as
		// the GPT build further nodes on their input's graph.
		iv := gt.New(gt.WithShape(inShape...), gt.WithBacking(x))
		if ids != nil {
			if iv, err = ops.IDs(ids, gt.Shape(inShape), gt.Float64); err != nil {
				return nil, err
			}
		}
		input := gorgonia.NewTensor(g, gt.Float64, len(inShape), gorgonia.WithShape(inShape...), gorgonia.WithName("input"), gorgonia.WithValue(iv))
		out, err := m.Forward(b, input)
		if err != nil {
			return nil, err
		}
		if classes == 1 {
			return nn.MSE(out, constant([]int{rows, 1}, targets))
		}
		oh, err := ops.OneHot(labels, classes, gt.Float64)
		if err != nil {
			return nil, err
		}
		return ops.SoftmaxCrossEntropy(out, gorgonia.NewConstant(oh))
	}}
}

func modelCases(seed uint64) []Case {
	var cs []Case
	for _, a := range []string{"tanh", "gelu", "leaky_relu:0.2", "sigmoid"} {
		act, err := nn.ParseActivation(a)
		if err != nil {
			panic(err) // fixed names above
		}
		m, err := nn.NewMLP(rand.New(rand.NewPCG(seed, 3)), gt.Float64, []int{5, 7, 6, 3}, act, initNormal(0.6))
		if err != nil {
			panic(err)
		}
		cs = append(cs, modelCase("mlp 5-7-6-3 "+a, seed, m, []int{4, 5}, 3, nil))
	}
	return append(cs, zooCases(seed)...)
}

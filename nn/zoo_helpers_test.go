package nn

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// fdParams returns the trainable parameters of a float64 model as fdcheck
// parameters (copies of their values).
func fdParams(t *testing.T, m interface{ Params() Params }) []fdcheck.Param {
	t.Helper()
	var out []fdcheck.Param
	for _, p := range m.Params().Trainable() {
		d, ok := p.Value.Data().([]float64)
		if !ok {
			t.Fatalf("parameter %s is %v, want float64", p.Name, p.Value.Dtype())
		}
		out = append(out, fdcheck.Param{Name: p.Name, Shape: p.Value.Shape().Clone(), Data: append([]float64(nil), d...)})
	}
	return out
}

// bindFD binds a model's parameters on g: the trainable ones to the nodes
// fdcheck created (in order), the frozen ones to new nodes holding their
// current values.
func bindFD(g *gorgonia.ExprGraph, m interface{ Params() Params }, nodes gorgonia.Nodes) *Binding {
	b := &Binding{g: g, params: m.Params(), nodes: map[string]*gorgonia.Node{}}
	i := 0
	for _, p := range m.Params() {
		if p.Frozen {
			sh := p.Value.Shape().Clone()
			b.nodes[p.Name] = gorgonia.NewTensor(g, p.Value.Dtype(), len(sh), gorgonia.WithShape(sh...),
				gorgonia.WithName(p.Name), gorgonia.WithValue(p.Value.Clone().(*gt.Dense)))
			continue
		}
		b.nodes[p.Name] = nodes[i]
		i++
	}
	return b
}

// randDense is a float64 tensor with entries uniform in [-1, 1).
func randDense(rng *rand.Rand, shape ...int) *gt.Dense {
	d, err := tensor.Uniform(-1, 1)(rng, gt.Float64, shape...)
	if err != nil {
		panic(err)
	}
	return d
}

// classifierBuilder is the mean cross-entropy of m on fixed random inputs of
// shape xshape and labels in [0, classes).
func classifierBuilder(m Model, seed uint64, classes int, xshape ...int) fdcheck.Builder {
	rng := tensor.NewRNG(seed, 7)
	x := randDense(rng, xshape...)
	labels := make([]int, xshape[0])
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	oh, err := ops.OneHot(labels, classes, gt.Float64)
	if err != nil {
		panic(err)
	}
	return func(g *gorgonia.ExprGraph, nodes gorgonia.Nodes) (*gorgonia.Node, error) {
		b := bindFD(g, m, nodes)
		xn := gorgonia.NewTensor(g, gt.Float64, len(xshape), gorgonia.WithShape(xshape...), gorgonia.WithName("x"), gorgonia.WithValue(x))
		out, err := m.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		tn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(xshape[0], classes), gorgonia.WithName("t"), gorgonia.WithValue(oh))
		return ops.SoftmaxCrossEntropy(out, tn)
	}
}

// checkDerivatives runs fdcheck's gradient and HVP checks and fails above tol.
func checkDerivatives(t *testing.T, build fdcheck.Builder, params []fdcheck.Param, step, tol float64) {
	t.Helper()
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 3, Directions: 2, Step: step})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.RelErr > tol {
			t.Errorf("%s direction %d: analytic %.10g numeric %.10g rel err %.2g", r.Check, r.Direction, r.Analytic, r.Numeric, r.RelErr)
		}
	}
	t.Logf("max rel err: grad %.2g, hvp %.2g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
}

// randomizeRunningStats gives every running statistic of m a non-trivial
// value (positive variances) so that evaluation-mode checks mean something.
func randomizeRunningStats(m Model, seed uint64) {
	rng := tensor.NewRNG(seed, 11)
	for _, p := range m.Params() {
		if !p.Frozen {
			continue
		}
		d := p.Value.Data().([]float64)
		for i := range d {
			d[i] = rng.Float64() - 0.5
			if len(p.Name) > 4 && p.Name[len(p.Name)-4:] == "_var" {
				d[i] = 0.5 + rng.Float64()
			}
		}
	}
}

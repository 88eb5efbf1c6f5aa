package ops

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// normPair builds the fused and the composed form of one normalization.
type normPair struct {
	name     string
	shapes   []tensor.Shape // x, then γ and β when used
	gamma    bool
	beta     bool
	fused    func(x, g, b *gorgonia.Node) (*gorgonia.Node, error)
	composed func(x, g, b *gorgonia.Node) (*gorgonia.Node, error)
}

func normPairs() []normPair {
	ln := func(x, g, b *gorgonia.Node) (*gorgonia.Node, error) { return LayerNorm(x, g, b, 1e-5) }
	lnc := func(x, g, b *gorgonia.Node) (*gorgonia.Node, error) { return LayerNormComposed(x, g, b, 1e-5) }
	bn := func(c int) (func(x, g, b *gorgonia.Node) (*gorgonia.Node, error), func(x, g, b *gorgonia.Node) (*gorgonia.Node, error)) {
		return func(x, g, b *gorgonia.Node) (*gorgonia.Node, error) {
				y, _, err := NewBatchNorm(c).Train(x, g, b)
				return y, err
			}, func(x, g, b *gorgonia.Node) (*gorgonia.Node, error) {
				y, _, err := NewBatchNorm(c).TrainComposed(x, g, b)
				return y, err
			}
	}
	bn3, bn3c := bn(3)
	bn4, bn4c := bn(4)
	return []normPair{
		{"layer norm 3x5", []tensor.Shape{{3, 5}, {5}, {5}}, true, true, ln, lnc},
		{"layer norm 2x2x4 gamma only", []tensor.Shape{{2, 2, 4}, {4}}, true, false, ln, lnc},
		{"layer norm 6 beta only", []tensor.Shape{{6}, {6}}, false, true, ln, lnc},
		{"layer norm 4x3 plain", []tensor.Shape{{4, 3}}, false, false, ln, lnc},
		{"batch norm 2x3x2x3", []tensor.Shape{{2, 3, 2, 3}, {3}, {3}}, true, true, bn3, bn3c},
		{"batch norm 5x4", []tensor.Shape{{5, 4}, {4}}, true, false, bn4, bn4c},
		{"batch norm 3x3x1x2 plain", []tensor.Shape{{3, 3, 1, 2}}, false, false, bn3, bn3c},
	}
}

// evalNorm returns y, the gradient of Σ c⊙y⊙y over every input and the
// Hessian-vector product along v, all run on the TapeMachine.
func evalNorm(t *testing.T, p normPair, build func(x, g, b *gorgonia.Node) (*gorgonia.Node, error), data [][]float64, c []float64, v [][]float64) [][]float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	in := make(gorgonia.Nodes, len(p.shapes))
	for i, s := range p.shapes {
		in[i] = inputNode(g, fmt.Sprintf("in%d", i), s, data[i])
	}
	var gm, bt *gorgonia.Node
	k := 1
	if p.gamma {
		gm, k = in[k], k+1
	}
	if p.beta {
		bt = in[k]
	}
	y, err := build(in[0], gm, bt)
	if err != nil {
		t.Fatal(err)
	}
	yy, err := gorgonia.HadamardProd(y, y)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := weightedCost(g, yy, c)
	if err != nil {
		t.Fatal(err)
	}
	vs := make(gorgonia.Nodes, len(in))
	for i, s := range p.shapes {
		vs[i] = inputNode(g, fmt.Sprintf("v%d", i), s, v[i])
	}
	grads, err := autodiff.Grad(cost, in...)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := autodiff.HVP(cost, in, vs)
	if err != nil {
		t.Fatal(err)
	}
	outs := append(append(gorgonia.Nodes{y}, grads...), hv...)
	vals := make([]gorgonia.Value, len(outs))
	for i, o := range outs {
		gorgonia.Read(o, &vals[i])
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(vals))
	for i, val := range vals {
		res[i] = valueData(t, val)
	}
	return res
}

// TestFusedNormMatchesComposed compares the fused layer and batch norm ops
// with their compositions of reductions and elementwise ops: outputs,
// gradients and Hessian-vector products of a quartic loss, with and
// without γ and β.
func TestFusedNormMatchesComposed(t *testing.T) {
	for pi, p := range normPairs() {
		t.Run(p.name, func(t *testing.T) {
			rng := newRNG(uint64(40 + pi))
			var data, v [][]float64
			for _, s := range p.shapes {
				data = append(data, randData(rng, s.TotalSize()))
				v = append(v, randData(rng, s.TotalSize()))
			}
			c := randData(rng, p.shapes[0].TotalSize())
			got := evalNorm(t, p, p.fused, data, c, v)
			want := evalNorm(t, p, p.composed, data, c, v)
			for i := range want {
				if e := relErr(got[i], want[i]); e > 1e-11 {
					t.Errorf("result %d (0: y, then gradients, then HVPs): rel err %g", i, e)
				}
			}
		})
	}
}

// TestFusedNormGraph checks that LayerNorm and BatchNorm.Train are single
// fused nodes and that their gradients use the fused gradient ops.
func TestFusedNormGraph(t *testing.T) {
	for _, p := range normPairs() {
		g := gorgonia.NewGraph()
		in := make(gorgonia.Nodes, len(p.shapes))
		for i, s := range p.shapes {
			in[i] = inputNode(g, fmt.Sprintf("in%d", i), s, randData(newRNG(1), s.TotalSize()))
		}
		var gm, bt *gorgonia.Node
		k := 1
		if p.gamma {
			gm, k = in[k], k+1
		}
		if p.beta {
			bt = in[k]
		}
		y, err := p.fused(in[0], gm, bt)
		if err != nil {
			t.Fatal(err)
		}
		cost, err := SumAll(y)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := autodiff.Grad(cost, in...); err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, n := range g.AllNodes() {
			if n.Op() != nil {
				name, _, _ := strings.Cut(n.Op().String(), "{")
				counts[name]++
			}
		}
		want := map[string]int{"NormStats": 1, "NormGradX": 1, "NormGradParam": len(p.shapes) - 1}
		for name, n := range want {
			if counts[name] != n {
				t.Errorf("%s: %d %s nodes, want %d (ops: %v)", p.name, counts[name], name, n, counts)
			}
		}
		if counts["LayerNorm"]+counts["BatchNorm"] != 1 || counts["Pow"] != 0 || counts["SumAxis"] != 0 {
			t.Errorf("%s: not one fused forward node: %v", p.name, counts)
		}
	}
}

// TestLayerNormMLPHVP checks gradient and Hessian-vector products of a
// small MLP with a layer norm (linear → layer norm → tanh → linear →
// softmax cross-entropy) against float64 finite differences.
func TestLayerNormMLPHVP(t *testing.T) {
	const n, din, hid, classes = 4, 6, 5, 3
	rng := newRNG(21)
	x := randData(rng, n*din)
	labels := []int{2, 0, 1, 1}
	params := []fdcheck.Param{
		fdcheck.RandomParam("w1", rng, 0.6, din, hid),
		fdcheck.RandomParam("ln.gamma", rng, 0.5, hid),
		fdcheck.RandomParam("ln.beta", rng, 0.5, hid),
		fdcheck.RandomParam("w2", rng, 0.6, hid, classes),
	}
	for i := range params[1].Data {
		params[1].Data[i] += 1
	}
	build := func(g *gorgonia.ExprGraph, p gorgonia.Nodes) (*gorgonia.Node, error) {
		xn := inputNode(g, "x", tensor.Shape{n, din}, x)
		oh, err := OneHot(labels, classes, tensor.Float64)
		if err != nil {
			return nil, err
		}
		tn := gorgonia.NewMatrix(g, tensor.Float64, gorgonia.WithShape(n, classes), gorgonia.WithName("targets"), gorgonia.WithValue(oh))
		h, err := gorgonia.Mul(xn, p[0])
		if err != nil {
			return nil, err
		}
		if h, err = LayerNorm(h, p[1], p[2], 1e-5); err != nil {
			return nil, err
		}
		if h, err = gorgonia.Tanh(h); err != nil {
			return nil, err
		}
		if h, err = gorgonia.Mul(h, p[3]); err != nil {
			return nil, err
		}
		return SoftmaxCrossEntropy(h, tn)
	}
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 3, Directions: 4, Coordinates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("layer-norm MLP: max grad rel err %.2g, max HVP rel err %.2g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
	for _, r := range rep.Results {
		if r.Check == "hvp" && math.Abs(r.Numeric) < 1e-3 {
			t.Errorf("HVP direction %d has norm %g: the check would be vacuous", r.Direction, r.Numeric)
		}
	}
	if rep.MaxGradRelErr > tol || rep.MaxHVPRelErr > tol {
		for _, r := range rep.Results {
			t.Logf("%+v", r)
		}
		t.Errorf("relative errors above %g", tol)
	}
}

// TestBatchNormTrainStatistics checks the statistics nodes BatchNormTrain
// returns against the reference batch mean and biased variance, in
// float64 and float32.
func TestBatchNormTrainStatistics(t *testing.T) {
	const n, c, h, w = 3, 4, 2, 5
	x := randData(newRNG(8), n*c*h*w)
	for i := range x {
		x[i] = 3 + 2*x[i]
	}
	_, wantM, wantV := refBatchNorm(x, n, c, h*w, 1e-5, []float64{1, 1, 1, 1}, []float64{0, 0, 0, 0})
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		g := gorgonia.NewGraph()
		var xv *tensor.Dense
		if dt == tensor.Float64 {
			xv = tensor.New(tensor.WithShape(n, c, h, w), tensor.WithBacking(append([]float64(nil), x...)))
		} else {
			f := make([]float32, len(x))
			for i, v := range x {
				f[i] = float32(v)
			}
			xv = tensor.New(tensor.WithShape(n, c, h, w), tensor.WithBacking(f))
		}
		xn := gorgonia.NewTensor(g, dt, 4, gorgonia.WithShape(n, c, h, w), gorgonia.WithName("x"), gorgonia.WithValue(xv))
		_, mean, vr, err := BatchNormTrain(xn, nil, nil, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		var mv, vv gorgonia.Value
		gorgonia.Read(mean, &mv)
		gorgonia.Read(vr, &vv)
		m := gorgonia.NewTapeMachine(g)
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		m.Close()
		gm, _ := toFloat64s(mv)
		gv, _ := toFloat64s(vv)
		tolr := 1e-12
		if dt == tensor.Float32 {
			tolr = 1e-5
		}
		if e := relErr(gm, wantM); e > tolr {
			t.Errorf("%v: mean rel err %g", dt, e)
		}
		if e := relErr(gv, wantV); e > tolr {
			t.Errorf("%v: variance rel err %g", dt, e)
		}
	}
}

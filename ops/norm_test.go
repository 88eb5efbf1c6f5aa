package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refNorm normalizes x viewed as [outer, n, inner] over the n and (when
// overOuter) outer axes, per remaining index: returns y, mean, biased var.
func refBatchNorm(x []float64, n, c, hw int, eps float64, gamma, beta []float64) (y, mean, vr []float64) {
	y = make([]float64, len(x))
	mean = make([]float64, c)
	vr = make([]float64, c)
	cnt := float64(n * hw)
	for ch := 0; ch < c; ch++ {
		for b := 0; b < n; b++ {
			for i := 0; i < hw; i++ {
				mean[ch] += x[(b*c+ch)*hw+i] / cnt
			}
		}
		for b := 0; b < n; b++ {
			for i := 0; i < hw; i++ {
				d := x[(b*c+ch)*hw+i] - mean[ch]
				vr[ch] += d * d / cnt
			}
		}
		for b := 0; b < n; b++ {
			for i := 0; i < hw; i++ {
				k := (b*c+ch)*hw + i
				y[k] = (x[k]-mean[ch])/math.Sqrt(vr[ch]+eps)*gamma[ch] + beta[ch]
			}
		}
	}
	return y, mean, vr
}

func TestLayerNormForward(t *testing.T) {
	rng := newRNG(1)
	x, gm, bt := randData(rng, 2*3*5), randData(rng, 5), randData(rng, 5)
	got, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return LayerNorm(in[0], in[1], in[2], 1e-5)
	}, []tensor.Shape{{2, 3, 5}, {5}, {5}}, [][]float64{x, gm, bt})
	for r := 0; r < 6; r++ {
		row := x[r*5 : (r+1)*5]
		var m, v float64
		for _, a := range row {
			m += a / 5
		}
		for _, a := range row {
			v += (a - m) * (a - m) / 5
		}
		for j, a := range row {
			want := (a-m)/math.Sqrt(v+1e-5)*gm[j] + bt[j]
			if math.Abs(got[r*5+j]-want) > 1e-13 {
				t.Errorf("[%d,%d] = %v, want %v", r, j, got[r*5+j], want)
			}
		}
	}
}

func TestNormGradients(t *testing.T) {
	bnTrain := func(c int) builder {
		return func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
			bn := NewBatchNorm(c)
			y, _, err := bn.Train(in[0], in[1], in[2])
			return y, err
		}
	}
	bnEval := func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		bn := NewBatchNorm(3)
		copy(bn.RunningMean, []float64{0.3, -1, 0.5})
		copy(bn.RunningVar, []float64{0.5, 2, 1.3})
		return bn.Eval(in[0], in[1], in[2])
	}
	runOpCases(t, []opCase{
		{name: "pow -0.5", shapes: []tensor.Shape{{2, 3}}, wrt: []int{0},
			data: func(_ *rand.Rand, _, n int) []float64 { return []float64{0.3, 1, 2.5, 0.7, 4, 0.1}[:n] },
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Pow(in[0], -0.5, 1e-3)
			}},
		{name: "pow 3 scalar", shapes: []tensor.Shape{{}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Pow(in[0], 3, 0.5) }},
		{name: "layernorm 3x5", shapes: []tensor.Shape{{3, 5}, {5}, {5}}, wrt: []int{0, 1, 2}, multi: true,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return LayerNorm(in[0], in[1], in[2], 1e-5)
			}},
		{name: "layernorm 2x2x3 no affine", shapes: []tensor.Shape{{2, 2, 3}}, wrt: []int{0}, multi: true,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return LayerNorm(in[0], nil, nil, 1e-5)
			}},
		{name: "batchnorm 2x3x3x2", shapes: []tensor.Shape{{2, 3, 3, 2}, {3}, {3}}, wrt: []int{0, 1, 2}, multi: true, b: bnTrain(3)},
		{name: "batchnorm batch 1 5x3", shapes: []tensor.Shape{{1, 2, 5, 3}, {2}, {2}}, wrt: []int{0, 1, 2}, multi: true, b: bnTrain(2)},
		{name: "batchnorm eval 2x3x2x3", shapes: []tensor.Shape{{2, 3, 2, 3}, {3}, {3}}, wrt: []int{0, 1, 2}, multi: true, b: bnEval},
		{name: "batchnorm 1d 4x3", shapes: []tensor.Shape{{4, 3}, {3}, {3}}, wrt: []int{0, 1, 2}, multi: true, b: bnTrain(3)},
	})
}

func TestBatchNormRunningStatistics(t *testing.T) {
	const n, c, h, w = 3, 2, 2, 3
	rng := newRNG(5)
	x, gm, bt := randData(rng, n*c*h*w), randData(rng, c), randData(rng, c)
	g := gorgonia.NewGraph()
	xn := inputNode(g, "x", tensor.Shape{n, c, h, w}, x)
	gn := inputNode(g, "gamma", tensor.Shape{c}, gm)
	bn := inputNode(g, "beta", tensor.Shape{c}, bt)
	layer := NewBatchNorm(c)
	y, st, err := layer.Train(xn, gn, bn)
	if err != nil {
		t.Fatal(err)
	}
	ye, err := layer.Eval(xn, gn, bn)
	if err != nil {
		t.Fatal(err)
	}
	var yv, yev gorgonia.Value
	gorgonia.Read(y, &yv)
	gorgonia.Read(ye, &yev)
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := layer.Update(st); err == nil {
		t.Error("Update before any run accepted")
	}
	// Running the graph several times (as HVP probes do) must leave the
	// running statistics alone.
	for range 3 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < c; i++ {
		if layer.RunningMean[i] != 0 || layer.RunningVar[i] != 1 {
			t.Fatalf("running statistics changed without Update: %v %v", layer.RunningMean, layer.RunningVar)
		}
	}
	wantY, mean, vr := refBatchNorm(x, n, c, h*w, 1e-5, gm, bt)
	if e := relErr(valueData(t, yv), wantY); e > 1e-13 {
		t.Errorf("train output rel err %g", e)
	}
	ones := []float64{1, 1}
	// eval with running mean 0, var 1
	wantEval := make([]float64, len(x))
	for k := range x {
		ch := (k / (h * w)) % c
		wantEval[k] = x[k]/math.Sqrt(1+1e-5)*gm[ch] + bt[ch]
	}
	if e := relErr(valueData(t, yev), wantEval); e > 1e-13 {
		t.Errorf("eval output rel err %g", e)
	}
	if err := layer.Update(st); err != nil {
		t.Fatal(err)
	}
	cnt := float64(n * h * w)
	for i := 0; i < c; i++ {
		wm := 0.1 * mean[i]
		wv := 0.9*ones[i] + 0.1*vr[i]*cnt/(cnt-1)
		if math.Abs(layer.RunningMean[i]-wm) > 1e-15 || math.Abs(layer.RunningVar[i]-wv) > 1e-15 {
			t.Errorf("channel %d: running (%v, %v), want (%v, %v)", i, layer.RunningMean[i], layer.RunningVar[i], wm, wv)
		}
	}
	if err := layer.SyncEval(); err != nil {
		t.Fatal(err)
	}
	m.Reset()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	for k := range x {
		ch := (k / (h * w)) % c
		wantEval[k] = (x[k]-layer.RunningMean[ch])/math.Sqrt(layer.RunningVar[ch]+1e-5)*gm[ch] + bt[ch]
	}
	if e := relErr(valueData(t, yev), wantEval); e > 1e-13 {
		t.Errorf("eval output after SyncEval rel err %g", e)
	}
}

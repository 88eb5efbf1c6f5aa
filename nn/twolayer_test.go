package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/tensor"
)

// tlBindNodes makes a Binding from nodes created elsewhere (fdcheck's
// parameter nodes) plus constant nodes for the parameters not listed.
func tlBindNodes(g *gorgonia.ExprGraph, ps Params, given gorgonia.Nodes, names []string) *Binding {
	b := &Binding{g: g, params: ps, nodes: map[string]*gorgonia.Node{}}
	for i, n := range names {
		b.nodes[n] = given[i]
	}
	for _, p := range ps {
		if _, ok := b.nodes[p.Name]; !ok {
			b.nodes[p.Name] = gorgonia.NewTensor(g, p.Value.Dtype(), p.Value.Dims(), gorgonia.WithShape(p.Value.Shape().Clone()...),
				gorgonia.WithName(p.Name), gorgonia.WithValue(p.Value.Clone().(*gt.Dense)))
		}
	}
	return b
}

// tlRunForward evaluates a model's output on x (batch × in) through a
// compiled graph.
func tlRunForward(t *testing.T, m Model, x []float64, batch, in int) []float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	b, err := Bind(g, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, in), gorgonia.WithName("x"),
		gorgonia.WithValue(gt.New(gt.WithShape(batch, in), gt.WithBacking(append([]float64(nil), x...)))))
	out, err := m.Forward(b, xn)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(g, out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	d, err := p.Dense(0)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), d.Data().([]float64)...)
}

func tlRandVec(seed uint64, n int, scale float64) []float64 {
	rng := tensor.NewRNG(seed, 77)
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}

func TestTwoLayerForwardMatchesLoops(t *testing.T) {
	cases := []struct {
		name string
		cfg  TwoLayerConfig
	}{
		{"trained second layer", TwoLayerConfig{In: 5, Width: 6, Alpha: 0.2, InitScale: 0.8}},
		{"fixed second layer", TwoLayerConfig{In: 3, Width: 4, Alpha: 0.1, InitScale: 1, FixedSecond: true}},
		{"relu", TwoLayerConfig{In: 4, Width: 3, Alpha: 0, InitScale: 0.5}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewTwoLayer(tensor.NewRNG(5, uint64(i)), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 7
			x := tlRandVec(uint64(i), batch*c.cfg.In, 1)
			got := tlRunForward(t, m, x, batch, c.cfg.In)
			beta := m.EffectiveLinear()
			for n := 0; n < batch; n++ {
				xn := x[n*c.cfg.In : (n+1)*c.cfg.In]
				// Independent loop over the raw parameter tensors.
				w := m.Params()[0].Value.Data().([]float64)
				a := m.Params()[1].Value.Data().([]float64)
				var want float64
				for k := 0; k < c.cfg.Width; k++ {
					var z float64
					for j := range xn {
						z += xn[j] * w[j*c.cfg.Width+k]
					}
					if z < 0 {
						z *= c.cfg.Alpha
					}
					want += a[k] * z
				}
				if math.Abs(got[n]-want) > 1e-12*(1+math.Abs(want)) || math.Abs(m.Eval(xn)-want) > 1e-12*(1+math.Abs(want)) {
					t.Errorf("example %d: graph %v, Eval %v, loops %v", n, got[n], m.Eval(xn), want)
				}
				neg := make([]float64, len(xn))
				var bx float64
				for j := range xn {
					neg[j] = -xn[j]
					bx += beta[j] * xn[j]
				}
				if odd := (m.Eval(xn) - m.Eval(neg)) / 2; math.Abs(odd-bx) > 1e-12*(1+math.Abs(bx)) {
					t.Errorf("example %d: odd part %v, βᵀx %v", n, odd, bx)
				}
			}
			if c.cfg.FixedSecond {
				tr := m.Params().Trainable()
				if len(tr) != 1 || tr[0].Name != "w" {
					t.Errorf("trainable parameters %v, want only w", tr)
				}
				a := m.Params()[1].Value.Data().([]float64)
				for k, v := range a {
					want := 1 / math.Sqrt(float64(c.cfg.Width))
					if k%2 == 1 {
						want = -want
					}
					if v != want {
						t.Errorf("a[%d] = %v, want %v", k, v, want)
					}
				}
			}
		})
	}
}

func TestTwoLayerRejectsBadConfig(t *testing.T) {
	for _, c := range []TwoLayerConfig{
		{In: 0, Width: 3, Alpha: 0.2, InitScale: 1},
		{In: 3, Width: 3, Alpha: 1, InitScale: 1},
		{In: 3, Width: 3, Alpha: 0.2, InitScale: math.NaN()},
		{In: 3, Width: 3, Alpha: 0.2, InitScale: 1, Dtype: gt.Int},
	} {
		if _, err := NewTwoLayer(tensor.NewRNG(1, 1), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestTwoLayerDerivativesMatchFiniteDifferences(t *testing.T) {
	for _, fixed := range []bool{false, true} {
		cfg := TwoLayerConfig{In: 4, Width: 5, Alpha: 0.2, InitScale: 0.7, FixedSecond: fixed}
		m, err := NewTwoLayer(tensor.NewRNG(9, 1), cfg)
		if err != nil {
			t.Fatal(err)
		}
		const batch = 6
		x := tlRandVec(3, batch*cfg.In, 1)
		y := tlRandVec(4, batch, 1)
		names := []string{"w", "a"}
		if fixed {
			names = names[:1] // a is a constant of the graph
		}
		build := func(g *gorgonia.ExprGraph, ps gorgonia.Nodes) (*gorgonia.Node, error) {
			b := tlBindNodes(g, m.Params(), ps, names)
			xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, cfg.In), gorgonia.WithName("x"),
				gorgonia.WithValue(gt.New(gt.WithShape(batch, cfg.In), gt.WithBacking(x))))
			yn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, 1), gorgonia.WithName("y"),
				gorgonia.WithValue(gt.New(gt.WithShape(batch, 1), gt.WithBacking(y))))
			out, err := m.Forward(b, xn)
			if err != nil {
				return nil, err
			}
			return MSE(out, yn)
		}
		var params []fdcheck.Param
		for _, p := range m.Params().Trainable() {
			params = append(params, fdcheck.Param{Name: p.Name, Shape: []int(p.Value.Shape().Clone()), Data: append([]float64(nil), p.Value.Data().([]float64)...)})
		}
		if len(params) != len(names) {
			t.Fatalf("fixed=%v: %d trainable parameters, want %d", fixed, len(params), len(names))
		}
		rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 2, Directions: 4, Step: 1e-5, Coordinates: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Pass(1e-6) {
			t.Errorf("fixed=%v: max gradient rel. error %g, max HVP rel. error %g", fixed, rep.MaxGradRelErr, rep.MaxHVPRelErr)
		}
	}
}

package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/engine"
)

// reparamCase builds one reparametrized model from a seeded generator, with
// its parameters at a generic (non-symmetric) point.
type reparamCase struct {
	name  string
	build func(rng *rand.Rand) (Reparametrized, error)
	// naive computes x from the flat parameter values with loops.
	naive func(theta []float64) []float64
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * (2*rng.Float64() - 1)
	}
	return v
}

func reparamCases() []reparamCase {
	const d = 5
	return []reparamCase{
		{
			name: "diag",
			build: func(rng *rand.Rand) (Reparametrized, error) {
				return NewDiagNetFrom(gt.Float64, randVec(rng, d, 1), randVec(rng, d, 1))
			},
			naive: func(th []float64) []float64 {
				x := make([]float64, d)
				for i := range x {
					x[i] = th[i]*th[i] - th[d+i]*th[d+i]
				}
				return x
			},
		},
		{
			name: "deep3",
			build: func(rng *rand.Rand) (Reparametrized, error) {
				return NewDeepDiagFrom(gt.Float64, [][]float64{randVec(rng, d, 1), randVec(rng, d, 1), randVec(rng, d, 1)})
			},
			naive: func(th []float64) []float64 {
				x := make([]float64, d)
				for i := range x {
					x[i] = th[i] * th[d+i] * th[2*d+i]
				}
				return x
			},
		},
		{
			name: "deep1",
			build: func(rng *rand.Rand) (Reparametrized, error) {
				return NewDeepDiagFrom(gt.Float64, [][]float64{randVec(rng, d, 1)})
			},
			naive: func(th []float64) []float64 { return append([]float64(nil), th...) },
		},
		{
			name: "uut",
			build: func(rng *rand.Rand) (Reparametrized, error) {
				return NewMatrixFactorization(rng, gt.Float64, 3, 3, 2, true, 0.7)
			},
			naive: func(th []float64) []float64 { return naiveUV(th, th, 3, 3, 2) },
		},
		{
			name: "uvt",
			build: func(rng *rand.Rand) (Reparametrized, error) {
				return NewMatrixFactorization(rng, gt.Float64, 3, 4, 2, false, 0.7)
			},
			naive: func(th []float64) []float64 { return naiveUV(th[:6], th[6:], 3, 4, 2) },
		},
	}
}

func naiveUV(u, v []float64, rows, cols, rank int) []float64 {
	x := make([]float64, rows*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			for k := 0; k < rank; k++ {
				x[i*cols+j] += u[i*rank+k] * v[j*rank+k]
			}
		}
	}
	return x
}

func flatParams(m Model) []float64 {
	var th []float64
	for _, p := range m.Params() {
		th = append(th, float64s(p.Value)...)
	}
	return th
}

// TestReparamForward compares Forward on a batch with ⟨x, z⟩ computed by
// loops from the parameter values, and EffectiveValues with the same loops.
func TestReparamForward(t *testing.T) {
	for _, tc := range reparamCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			m, err := tc.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.naive(flatParams(m))
			got := m.EffectiveValues()
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-14 {
					t.Fatalf("EffectiveValues[%d] = %g, want %g", i, got[i], want[i])
				}
			}
			const batch = 4
			z := randVec(rng, batch*m.Dim(), 2)
			g := gorgonia.NewGraph()
			b, err := Bind(g, m.Params())
			if err != nil {
				t.Fatal(err)
			}
			in := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, m.Dim()), gorgonia.WithName("z"),
				gorgonia.WithValue(gt.New(gt.WithShape(batch, m.Dim()), gt.WithBacking(z))))
			out, err := m.Forward(b, in)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Shape().Eq(gt.Shape{batch, 1}) {
				t.Fatalf("output shape %v, want (%d, 1)", out.Shape(), batch)
			}
			p, err := engine.Compile(g, out)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			o, err := p.Dense(0)
			if err != nil {
				t.Fatal(err)
			}
			od := o.Data().([]float64)
			for r := 0; r < batch; r++ {
				var s float64
				for i, xi := range want {
					s += xi * z[r*m.Dim()+i]
				}
				if math.Abs(od[r]-s) > 1e-12*(1+math.Abs(s)) {
					t.Fatalf("row %d: f = %g, want %g", r, od[r], s)
				}
			}
		})
	}
}

// TestReparamDerivatives checks the gradient and the Hessian-vector product
// of ½Σ(f(z)−y)² through each model against float64 finite differences.
func TestReparamDerivatives(t *testing.T) {
	for _, tc := range reparamCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			m, err := tc.build(rng)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			z := randVec(rng, batch*m.Dim(), 1)
			y := randVec(rng, batch, 1)
			var fps []fdcheck.Param
			for _, p := range m.Params() {
				fps = append(fps, fdcheck.Param{Name: p.Name, Shape: p.Value.Shape().Clone(), Data: float64s(p.Value)})
			}
			build := func(g *gorgonia.ExprGraph, nodes gorgonia.Nodes) (*gorgonia.Node, error) {
				b := &Binding{g: g, params: m.Params(), nodes: map[string]*gorgonia.Node{}}
				for i, p := range m.Params() {
					b.nodes[p.Name] = nodes[i]
				}
				in := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, m.Dim()), gorgonia.WithName("z"),
					gorgonia.WithValue(gt.New(gt.WithShape(batch, m.Dim()), gt.WithBacking(append([]float64(nil), z...)))))
				tn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, 1), gorgonia.WithName("y"),
					gorgonia.WithValue(gt.New(gt.WithShape(batch, 1), gt.WithBacking(append([]float64(nil), y...)))))
				out, err := m.Forward(b, in)
				if err != nil {
					return nil, err
				}
				return MSE(out, tn)
			}
			rep, err := fdcheck.Check(build, fps, fdcheck.Options{Seed: 7, Directions: 4, Coordinates: true})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Pass(1e-8) {
				t.Fatalf("derivatives disagree with finite differences: grad %.3g, HVP %.3g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
			}
		})
	}
}

func TestReparamErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name string
		err  error
	}{
		{"diag zero dim", func() error { _, err := NewDiagNet(gt.Float64, 0, 1); return err }()},
		{"diag unequal", func() error { _, err := NewDiagNetFrom(gt.Float64, []float64{1}, []float64{1, 2}); return err }()},
		{"deep ragged", func() error {
			_, err := NewDeepDiagFrom(gt.Float64, [][]float64{{1, 2}, {1}})
			return err
		}()},
		{"uut not square", func() error {
			_, err := NewMatrixFactorization(rng, gt.Float64, 2, 3, 1, true, 1)
			return err
		}()},
		{"bad dtype", func() error { _, err := NewDiagNet(gt.Int, 2, 1); return err }()},
	}
	for _, tc := range tests {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestDiagNetInit(t *testing.T) {
	m, err := NewDiagNet(gt.Float32, 4, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if !p.Value.Shape().Eq(gt.Shape{4, 1}) {
			t.Fatalf("%s has shape %v", p.Name, p.Value.Shape())
		}
		for _, v := range p.Value.Data().([]float32) {
			if v != 0.5 {
				t.Fatalf("%s entry %g, want 0.5", p.Name, v)
			}
		}
	}
	for _, x := range m.EffectiveValues() {
		if x != 0 {
			t.Fatalf("x = %g at u = v", x)
		}
	}
	dd, err := NewDeepDiag(gt.Float64, 3, 4, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range dd.EffectiveValues() {
		if x != 0.0625 {
			t.Fatalf("deep x = %g, want α^L = 0.0625", x)
		}
	}
}

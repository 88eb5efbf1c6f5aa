package autodiff_test

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

func scalarInput(g *G.ExprGraph, name string, v float64) *G.Node {
	return G.NewScalar(g, tensor.Float64, G.WithName(name), G.WithValue(v))
}

func vectorInput(g *G.ExprGraph, name string, v []float64) *G.Node {
	return G.NewTensor(g, tensor.Float64, 1, G.WithShape(len(v)), G.WithName(name),
		G.WithValue(tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(append([]float64(nil), v...)))))
}

// TestHigherOrderScalar differentiates scalar functions four times and
// compares every derivative with its closed form.
func TestHigherOrderScalar(t *testing.T) {
	const x0 = 0.7
	th := math.Tanh(x0)
	tests := []struct {
		name string
		f    func(x *G.Node) *G.Node
		want [4]float64 // f', f'', f''', f''''
	}{
		{"x^4 by squares", func(x *G.Node) *G.Node { return G.Must(G.Square(G.Must(G.Square(x)))) },
			[4]float64{4 * x0 * x0 * x0, 12 * x0 * x0, 24 * x0, 24}},
		{"x^4 by pow", func(x *G.Node) *G.Node { return G.Must(G.Pow(x, G.NewConstant(4.0))) },
			[4]float64{4 * x0 * x0 * x0, 12 * x0 * x0, 24 * x0, 24}},
		{"exp(2x)", func(x *G.Node) *G.Node { return G.Must(G.Exp(G.Must(G.Mul(G.NewConstant(2.0), x)))) },
			[4]float64{2 * math.Exp(2*x0), 4 * math.Exp(2*x0), 8 * math.Exp(2*x0), 16 * math.Exp(2*x0)}},
		{"tanh", func(x *G.Node) *G.Node { return G.Must(G.Tanh(x)) },
			[4]float64{1 - th*th, -2 * th * (1 - th*th), -2 * (1 - th*th) * (1 - 3*th*th),
				8 * th * (1 - th*th) * (2 - 3*th*th)}},
		{"custom cube op times x", func(x *G.Node) *G.Node {
			return G.Must(G.Mul(G.Must(G.ApplyOp(cubeOp{}, x)), x))
		}, [4]float64{4 * x0 * x0 * x0, 12 * x0 * x0, 24 * x0, 24}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			x := scalarInput(g, "x", x0)
			d := tc.f(x)
			var ders G.Nodes
			for k := 0; k < 4; k++ {
				gr, err := autodiff.Grad(d, x)
				if err != nil {
					t.Fatalf("derivative %d: %v", k+1, err)
				}
				d = gr[0]
				ders = append(ders, d)
			}
			vals := eval(t, g, ders...)
			for k, v := range vals {
				if e := maxRel(v, []float64{tc.want[k]}); e > 1e-12 {
					t.Errorf("derivative %d: got %.15g want %.15g (rel err %.2g)", k+1, v[0], tc.want[k], e)
				}
			}
		})
	}
}

// TestThirdDirectionalDerivative checks D³f[u,u,u] of f(x) = Σ w·tanh(x) built
// as Grad(uᵀ H u)·u against Σ w u³ tanh⁽³⁾(x).
func TestThirdDirectionalDerivative(t *testing.T) {
	xs := []float64{0.3, -0.6, 1.1, 0.05}
	ws := []float64{1.5, -0.7, 0.4, 2.0}
	us := []float64{0.5, 0.1, -0.8, 0.3}
	g := G.NewGraph()
	x, w, u := vectorInput(g, "x", xs), vectorInput(g, "w", ws), vectorInput(g, "u", us)
	f := G.Must(G.Sum(G.Must(G.HadamardProd(w, G.Must(G.Tanh(x))))))
	hu, err := autodiff.HVP(f, G.Nodes{x}, G.Nodes{u})
	if err != nil {
		t.Fatal(err)
	}
	uhu, err := autodiff.Dot(hu, G.Nodes{u})
	if err != nil {
		t.Fatal(err)
	}
	g3, err := autodiff.Grad(uhu, x)
	if err != nil {
		t.Fatal(err)
	}
	d3, err := autodiff.Dot(g3, G.Nodes{u})
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for i := range xs {
		th := math.Tanh(xs[i])
		want += ws[i] * us[i] * us[i] * us[i] * (-2 * (1 - th*th) * (1 - 3*th*th))
	}
	got := eval(t, g, d3)[0][0]
	if e := maxRel([]float64{got}, []float64{want}); e > 1e-12 {
		t.Errorf("D³f[u,u,u] = %.15g, want %.15g (rel err %.2g)", got, want, e)
	}
}

func TestCustomSDOp(t *testing.T) {
	r := rngFor(5)
	runFDCases(t, []fdCase{
		{"cube-op-in-mlp", []fdcheck.Param{fdcheck.RandomParam("W", r, 0.8, 3, 4), fdcheck.RandomParam("x", r, 1, 4)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
				h := G.Must(G.Mul(p[0], p[1]))
				return curved(G.Must(G.ApplyOp(cubeOp{}, G.Must(G.Tanh(h)))), 1)
			})},
	})
}

func TestVJP(t *testing.T) {
	xs := []float64{0.2, -0.4, 0.9}
	ss := []float64{1.0, -2.0, 0.5}
	rs := []float64{0.3, 0.7, -1.2}
	g := G.NewGraph()
	x, s, rr := vectorInput(g, "x", xs), vectorInput(g, "s", ss), vectorInput(g, "r", rs)
	y := G.Must(G.Tanh(x))
	vjp, err := autodiff.VJP(G.Nodes{y}, G.Nodes{s}, G.Nodes{x})
	if err != nil {
		t.Fatal(err)
	}
	// The VJP is linear in the seed: ∂/∂s Σ r ⊙ VJP = r ⊙ (1 − tanh²).
	lin := G.Must(G.Sum(G.Must(G.HadamardProd(vjp[0], rr))))
	ds, err := autodiff.Grad(lin, s)
	if err != nil {
		t.Fatal(err)
	}
	vals := eval(t, g, vjp[0], ds[0])
	want1, want2 := make([]float64, 3), make([]float64, 3)
	for i := range xs {
		d := 1 - math.Tanh(xs[i])*math.Tanh(xs[i])
		want1[i], want2[i] = ss[i]*d, rs[i]*d
	}
	if e := maxRel(vals[0], want1); e > 1e-14 {
		t.Errorf("VJP = %v, want %v", vals[0], want1)
	}
	if e := maxRel(vals[1], want2); e > 1e-14 {
		t.Errorf("d/ds = %v, want %v", vals[1], want2)
	}
}

// TestGradSpecialNodes covers wrt nodes the cost does not depend on, paths
// through non-differentiable ops, and intermediate wrt nodes.
func TestGradSpecialNodes(t *testing.T) {
	xs := []float64{0.5, -1.5, 2.0}
	ys := []float64{3.0, 4.0, -1.0}
	g := G.NewGraph()
	x, y := vectorInput(g, "x", xs), vectorInput(g, "y", ys)
	unused := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("unused"),
		G.WithValue(tensor.New(tensor.WithShape(2, 2), tensor.Of(tensor.Float64))))
	unusedScalar := scalarInput(g, "unusedScalar", 1)
	mask := G.Must(G.Gte(x, G.NewConstant(0.0), true)) // not differentiable in x
	h := G.Must(G.Tanh(y))
	cost := G.Must(G.Sum(G.Must(G.HadamardProd(mask, G.Must(G.Square(h))))))
	grads, err := autodiff.Grad(cost, x, y, unused, unusedScalar, h)
	if err != nil {
		t.Fatal(err)
	}
	vals := eval(t, g, grads...)
	wantY, wantH := make([]float64, 3), make([]float64, 3)
	for i := range ys {
		m := 0.0
		if xs[i] >= 0 {
			m = 1
		}
		th := math.Tanh(ys[i])
		wantH[i] = 2 * m * th
		wantY[i] = wantH[i] * (1 - th*th)
	}
	checks := []struct {
		name      string
		got, want []float64
	}{
		{"x (only through a mask)", vals[0], []float64{0, 0, 0}},
		{"y", vals[1], wantY},
		{"unused", vals[2], []float64{0, 0, 0, 0}},
		{"unused scalar", vals[3], []float64{0}},
		{"intermediate h", vals[4], wantH},
	}
	for _, c := range checks {
		if len(c.got) != len(c.want) || maxRel(c.got, c.want) > 1e-14 {
			t.Errorf("gradient wrt %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestGradErrors(t *testing.T) {
	g := G.NewGraph()
	x := vectorInput(g, "x", []float64{1, 2})
	other := vectorInput(G.NewGraph(), "other", []float64{1, 2})
	y := G.Must(G.Tanh(x))
	blocked := G.Must(G.Sum(G.Must(G.ApplyOp(notDifferentiableOp{}, x))))
	tests := []struct {
		name    string
		run     func() error
		mention string
	}{
		{"non-scalar cost", func() error { _, err := autodiff.Grad(y, x); return err }, "scalar"},
		{"nil cost", func() error { _, err := autodiff.Grad(nil, x); return err }, "nil"},
		{"wrt in another graph", func() error { _, err := autodiff.Grad(G.Must(G.Sum(y)), other); return err }, "another graph"},
		{"op without SDOp on the path", func() error { _, err := autodiff.Grad(blocked, x); return err }, "twice"},
		{"seed shape", func() error {
			_, err := autodiff.VJP(G.Nodes{y}, G.Nodes{vectorInput(g, "s3", []float64{1, 2, 3})}, G.Nodes{x})
			return err
		}, "shape"},
		{"HVP vector shape", func() error {
			_, err := autodiff.HVP(G.Must(G.Sum(y)), G.Nodes{x}, G.Nodes{vectorInput(g, "v3", []float64{1, 2, 3})})
			return err
		}, "shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestNewProbe(t *testing.T) {
	g := G.NewGraph()
	w := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("W"))
	b := G.NewScalar(g, tensor.Float32, G.WithName("b"))
	probes, err := autodiff.NewProbe(g, G.Nodes{w, b})
	if err != nil {
		t.Fatal(err)
	}
	if probes[0].Name() != "probe/W" || !probes[0].Shape().Eq(w.Shape()) || probes[0].Dtype() != tensor.Float64 {
		t.Errorf("probe for W: %v %v %v", probes[0].Name(), probes[0].Shape(), probes[0].Dtype())
	}
	if probes[1].Name() != "probe/b" || !probes[1].IsScalar() || probes[1].Dtype() != tensor.Float32 {
		t.Errorf("probe for b: %v %v %v", probes[1].Name(), probes[1].Shape(), probes[1].Dtype())
	}
}

// TestFloat32MatchesFloat64 builds the same small tanh network in float32 and
// float64 and compares gradients and HVPs (float32 rounding only).
func TestFloat32MatchesFloat64(t *testing.T) {
	r := rngFor(30)
	w := fdcheck.RandomParam("W", r, 0.8, 3, 4)
	x := fdcheck.RandomParam("x", r, 1, 4)
	v := fdcheck.RandomParam("v", r, 1, 3, 4)
	results := make([][]float64, 2)
	for k, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		g := G.NewGraph()
		mk := func(p fdcheck.Param) *G.Node {
			var val *tensor.Dense
			if dt == tensor.Float32 {
				d := make([]float32, len(p.Data))
				for i, f := range p.Data {
					d[i] = float32(f)
				}
				val = tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(d))
			} else {
				val = tensorOf(p)
			}
			return G.NewTensor(g, dt, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(val))
		}
		wn, xn, vn := mk(w), mk(x), mk(v)
		loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Tanh(G.Must(G.Mul(wn, xn))))))))
		gr, err := autodiff.Grad(loss, wn)
		if err != nil {
			t.Fatal(err)
		}
		hv, err := autodiff.HVP(loss, G.Nodes{wn}, G.Nodes{vn})
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]G.Value, 2)
		vm := G.NewTapeMachine(g.SubgraphRoots(G.Read(gr[0], &vals[0]), G.Read(hv[0], &vals[1])))
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		for _, val := range vals {
			switch d := val.Data().(type) {
			case []float64:
				results[k] = append(results[k], d...)
			case []float32:
				for _, f := range d {
					results[k] = append(results[k], float64(f))
				}
			}
		}
	}
	if len(results[0]) != 24 || len(results[1]) != 24 {
		t.Fatalf("got %d and %d values, want 24 each", len(results[0]), len(results[1]))
	}
	if e := fdcheck.RelErr(results[1], results[0], 1e-6); e > 1e-5 {
		t.Errorf("float32 vs float64 rel err %.2g", e)
	}
}

// TestOneElementCost differentiates a (1, 1) matrix cost a·b for a (1, 3)
// row a and a (3, 1) column b.
func TestOneElementCost(t *testing.T) {
	g := G.NewGraph()
	as, bs := []float64{1, 2, 3}, []float64{-1, 0.5, 4}
	a := G.NewMatrix(g, tensor.Float64, G.WithShape(1, 3), G.WithName("a"),
		G.WithValue(tensor.New(tensor.WithShape(1, 3), tensor.WithBacking(append([]float64(nil), as...)))))
	b := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 1), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(3, 1), tensor.WithBacking(append([]float64(nil), bs...)))))
	cost := G.Must(G.Mul(a, b))
	gr, err := autodiff.Grad(cost, a, b)
	if err != nil {
		t.Fatal(err)
	}
	vals := eval(t, g, gr...)
	if maxRel(vals[0], bs) > 1e-15 || maxRel(vals[1], as) > 1e-15 {
		t.Errorf("gradients %v, want %v and %v", vals, bs, as)
	}
}

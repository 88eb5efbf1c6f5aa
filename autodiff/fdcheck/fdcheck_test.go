package fdcheck_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// quadratic is L(x) = ½ xᵀAx + bᵀx + c·x₀³ with symmetric A: gradient
// Ax + b + 3c x₀² e₀ and Hessian A + 6c x₀ e₀e₀ᵀ in closed form.
type quadratic struct {
	n    int
	a, b []float64
	c    float64
}

func newQuadratic(n int, seed uint64) quadratic {
	r := rand.New(rand.NewPCG(seed, 1))
	q := quadratic{n: n, a: make([]float64, n*n), b: make([]float64, n), c: 0.7}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			v := r.NormFloat64()
			q.a[i*n+j], q.a[j*n+i] = v, v
		}
		q.b[i] = r.NormFloat64()
	}
	return q
}

func (q quadratic) build(g *G.ExprGraph, p G.Nodes) (n *G.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	x := p[0]
	A := G.NewTensor(g, tensor.Float64, 2, G.WithShape(q.n, q.n), G.WithName("A"),
		G.WithValue(tensor.New(tensor.WithShape(q.n, q.n), tensor.WithBacking(slices.Clone(q.a)))))
	b := G.NewTensor(g, tensor.Float64, 1, G.WithShape(q.n), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(q.n), tensor.WithBacking(slices.Clone(q.b)))))
	quad := G.Must(G.Mul(G.NewConstant(0.5), G.Must(G.Mul(x, G.Must(G.Mul(A, x))))))
	lin := G.Must(G.Mul(b, x))
	x0 := G.Must(G.Slice(x, G.S(0)))
	cube := G.Must(G.Mul(G.NewConstant(q.c), G.Must(G.Mul(x0, G.Must(G.Square(x0))))))
	return G.Must(G.Add(G.Must(G.Add(quad, lin)), cube)), nil
}

func (q quadratic) grad(x []float64) []float64 {
	g := make([]float64, q.n)
	for i := range g {
		for j := range x {
			g[i] += q.a[i*q.n+j] * x[j]
		}
		g[i] += q.b[i]
	}
	g[0] += 3 * q.c * x[0] * x[0]
	return g
}

func (q quadratic) hvp(x, v []float64) []float64 {
	h := make([]float64, q.n)
	for i := range h {
		for j := range v {
			h[i] += q.a[i*q.n+j] * v[j]
		}
	}
	h[0] += 6 * q.c * x[0] * v[0]
	return h
}

func TestProblemAgainstClosedForm(t *testing.T) {
	q := newQuadratic(5, 1)
	r := rand.New(rand.NewPCG(2, 2))
	x := fdcheck.RandomParam("x", r, 1, 5)
	p, err := fdcheck.NewProblem(q.build, []fdcheck.Param{x})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	theta := p.Point()
	_, g, err := p.Grad(theta)
	if err != nil {
		t.Fatal(err)
	}
	if e := fdcheck.RelErr(g, q.grad(theta), 1e-12); e > 1e-12 {
		t.Errorf("gradient rel err %g against closed form", e)
	}
	v := fdcheck.Directions(9, 1, 5)[0]
	hv, err := p.HVP(theta, v)
	if err != nil {
		t.Fatal(err)
	}
	if e := fdcheck.RelErr(hv, q.hvp(theta, v), 1e-12); e > 1e-12 {
		t.Errorf("HVP rel err %g against closed form", e)
	}
	num, err := p.NumericHVP(theta, v, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if e := fdcheck.RelErr(num, q.hvp(theta, v), 1e-12); e > 1e-9 {
		t.Errorf("numeric HVP rel err %g against closed form", e)
	}
	rep, err := fdcheck.Check(q.build, []fdcheck.Param{x}, fdcheck.Options{Coordinates: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxGradRelErr > 1e-9 || rep.MaxHVPRelErr > 1e-9 {
		t.Errorf("Check: max rel errs %g, %g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
	}
	if len(rep.Results) != 3+1+3 {
		t.Errorf("got %d results, want 7", len(rep.Results))
	}
}

// TestRepeatedRunsAgree runs the gradient and HVP machines several times at
// the same point: values must not accumulate between runs (the slice
// gradient op adds into its output buffer).
func TestRepeatedRunsAgree(t *testing.T) {
	q := newQuadratic(4, 3)
	p, err := fdcheck.NewProblem(q.build, []fdcheck.Param{fdcheck.RandomParam("x", rand.New(rand.NewPCG(1, 1)), 1, 4)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	theta := p.Point()
	v := fdcheck.Directions(1, 1, 4)[0]
	_, g0, err := p.Grad(theta)
	if err != nil {
		t.Fatal(err)
	}
	h0, err := p.HVP(theta, v)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, g, err := p.Grad(theta)
		if err != nil {
			t.Fatal(err)
		}
		h, err := p.HVP(theta, v)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(g, g0) || !slices.Equal(h, h0) {
			t.Fatalf("repeated run differs: grad %v vs %v, hvp %v vs %v", g, g0, h, h0)
		}
	}
	if !slices.Equal(theta, p.Point()) {
		t.Error("running changed the problem's initial point")
	}
}

// TestDetectsWrongDerivative makes sure the checker is not vacuous: a
// gorgonia.Reshape of an intermediate value followed by in-place ops corrupts
// the value that tanh's derivative reads, so the gradient is silently wrong,
// and the check must flag it.
func TestDetectsWrongDerivative(t *testing.T) {
	build := func(g *G.ExprGraph, p G.Nodes) (n *G.Node, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		y := G.Must(G.Reshape(G.Must(G.Tanh(p[0])), tensor.Shape{3, 2}))
		return G.Sum(G.Must(G.Add(G.Must(G.Square(y)), y)))
	}
	x := fdcheck.Param{Name: "x", Shape: []int{2, 3}, Data: []float64{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}}
	rep, err := fdcheck.CheckGrad(build, []fdcheck.Param{x}, fdcheck.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxGradRelErr < 1e-2 {
		t.Errorf("a wrong gradient passed the check: max rel err %g", rep.MaxGradRelErr)
	}
}

func TestScalarParameter(t *testing.T) {
	build := func(g *G.ExprGraph, p G.Nodes) (*G.Node, error) {
		e, err := G.Exp(G.Must(G.Mul(p[0], p[1])))
		if err != nil {
			return nil, err
		}
		return G.Mul(e, p[0])
	}
	params := []fdcheck.Param{{Name: "a", Data: []float64{0.3}}, {Name: "b", Data: []float64{-0.8}}}
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Coordinates: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxGradRelErr > 1e-9 || rep.MaxHVPRelErr > 1e-9 {
		t.Errorf("max rel errs %g, %g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
	}
	// closed form: L = a e^{ab}; ∂L/∂a = e^{ab}(1 + ab), ∂L/∂b = a² e^{ab}
	p, err := fdcheck.NewProblem(build, params)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, g, err := p.Grad(p.Point())
	if err != nil {
		t.Fatal(err)
	}
	a, b := 0.3, -0.8
	want := []float64{math.Exp(a*b) * (1 + a*b), a * a * math.Exp(a*b)}
	if e := fdcheck.RelErr(g, want, 1e-12); e > 1e-12 {
		t.Errorf("gradient %v, want %v", g, want)
	}
}

func TestDirections(t *testing.T) {
	a := fdcheck.Directions(5, 3, 7)
	b := fdcheck.Directions(5, 3, 7)
	c := fdcheck.Directions(6, 3, 7)
	for k := range a {
		if !slices.Equal(a[k], b[k]) {
			t.Fatal("same seed gave different directions")
		}
		var n float64
		for _, x := range a[k] {
			n += x * x
		}
		if math.Abs(n-1) > 1e-12 {
			t.Errorf("direction %d has squared norm %g", k, n)
		}
	}
	if slices.Equal(a[0], c[0]) {
		t.Error("different seeds gave the same direction")
	}
}

func TestErrors(t *testing.T) {
	nonScalar := func(g *G.ExprGraph, p G.Nodes) (*G.Node, error) { return G.Tanh(p[0]) }
	x := fdcheck.Param{Name: "x", Shape: []int{2}, Data: []float64{1, 2}}
	tests := []struct {
		name   string
		build  fdcheck.Builder
		params []fdcheck.Param
	}{
		{"non-scalar loss", nonScalar, []fdcheck.Param{x}},
		{"shape and data disagree", nonScalar, []fdcheck.Param{{Name: "x", Shape: []int{3}, Data: []float64{1}}}},
		{"no parameters", nonScalar, nil},
		{"builder error", func(*G.ExprGraph, G.Nodes) (*G.Node, error) { return nil, fmt.Errorf("boom") }, []fdcheck.Param{x}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fdcheck.NewProblem(tc.build, tc.params); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestReportPass(t *testing.T) {
	rep := fdcheck.Report{Results: []fdcheck.Result{{RelErr: 1e-9}, {RelErr: 2e-7}}}
	if !rep.Pass(1e-6) || rep.Pass(1e-7) {
		t.Error("Pass disagrees with the relative errors")
	}
	if (fdcheck.Report{Results: []fdcheck.Result{{RelErr: math.NaN()}}}).Pass(1) {
		t.Error("a NaN error passed")
	}
}

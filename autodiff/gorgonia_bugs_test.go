package autodiff_test

// Regression tests for the gorgonia v0.9.18 derivative bugs that this package
// works around. Each test shows that gorgonia's own result disagrees with an
// independent oracle (finite differences or a closed form) while ours agrees.
// If a gorgonia result starts to agree, the test fails with a message saying
// the bug seems fixed, so that the workaround can be revisited.

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// expectBug asserts that gorgonia's result is still off by at least 1e-3
// relative to the oracle.
func expectBug(t *testing.T, what string, relErr float64) {
	t.Helper()
	if relErr < 1e-3 {
		t.Errorf("%s now agrees with the oracle (rel err %.2g): the gorgonia bug this test documents seems fixed; revisit the workaround in autodiff", what, relErr)
		return
	}
	t.Logf("%s is still wrong, as documented (rel err %.2g)", what, relErr)
}

func inputFor(g *G.ExprGraph, p fdcheck.Param) *G.Node {
	if len(p.Shape) == 0 {
		return G.NewScalar(g, tensor.Float64, G.WithName(p.Name), G.WithValue(p.Data[0]))
	}
	return G.NewTensor(g, tensor.Float64, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(tensorOf(p)))
}

// split cuts a flat vector into pieces shaped like params.
func split(params []fdcheck.Param, flat []float64) []fdcheck.Param {
	out := make([]fdcheck.Param, len(params))
	off := 0
	for i, p := range params {
		out[i] = fdcheck.Param{Name: "probe/" + p.Name, Shape: p.Shape, Data: flat[off : off+len(p.Data)]}
		off += len(p.Data)
	}
	return out
}

func concat(vals [][]float64) []float64 {
	var out []float64
	for _, v := range vals {
		out = append(out, v...)
	}
	return out
}

// TestGorgoniaGradTwiceIsWrong: gorgonia.Grad applied to an expression that
// contains gorgonia.Grad's output reuses the derivatives cached in the nodes
// by the first pass, so a Hessian-vector product built that way is wrong.
func TestGorgoniaGradTwiceIsWrong(t *testing.T) {
	r := rngFor(21)
	P := fdcheck.RandomParam
	const n, d, h, c = 4, 3, 5, 3
	xs, ys := P("xs", r, 1, n, d), oneHot("ys", n, c, 4)
	build := safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
		x, y := constant(g, xs), constant(g, ys)
		a := G.Must(G.Tanh(G.Must(G.BroadcastAdd(G.Must(G.Mul(x, p[0])), p[1], nil, []byte{0}))))
		return crossEntropy(G.Must(G.Mul(a, p[2])), y)
	})
	params := []fdcheck.Param{P("W1", r, 0.8, d, h), P("b1", r, 0.3, h), P("W2", r, 0.8, h, c)}

	prob, err := fdcheck.NewProblem(build, params)
	if err != nil {
		t.Fatal(err)
	}
	defer prob.Close()
	theta := prob.Point()
	v := fdcheck.Directions(5, 1, prob.Dim())[0]
	numeric, err := prob.NumericHVP(theta, v, 1e-3)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := prob.HVP(theta, v)
	if err != nil {
		t.Fatal(err)
	}
	if e := fdcheck.RelErr(ours, numeric, 1e-8); e > tol {
		t.Errorf("autodiff.HVP rel err %.2g against finite differences", e)
	} else {
		t.Logf("autodiff.HVP rel err %.2g against finite differences", e)
	}

	// The same HVP with gorgonia.Grad twice, in a fresh graph.
	g := G.NewGraph()
	var ps, vs G.Nodes
	for i, p := range params {
		ps = append(ps, inputFor(g, p))
		vs = append(vs, inputFor(g, split(params, v)[i]))
	}
	loss, err := build(g, ps)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, ps...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := autodiff.Dot(grads, vs)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := G.Grad(s, ps...)
	if err != nil {
		t.Errorf("gorgonia.Grad twice fails outright instead of silently: %v", err)
	} else {
		theirs := concat(eval(t, g, hv...))
		expectBug(t, "gorgonia.Grad applied twice", fdcheck.RelErr(theirs, numeric, 1e-8))
	}

	// autodiff ignores the derivatives gorgonia cached in this graph's nodes.
	hvOurs, err := autodiff.HVP(loss, ps, vs)
	if err != nil {
		t.Fatal(err)
	}
	if e := fdcheck.RelErr(concat(eval(t, g, hvOurs...)), numeric, 1e-8); e > tol {
		t.Errorf("autodiff.HVP on a graph already differentiated by gorgonia: rel err %.2g", e)
	}
}

// elementwiseGrads returns gorgonia.Grad's and autodiff.Grad's gradient of
// Σ w ⊙ f(x), each in its own graph.
func elementwiseGrads(t *testing.T, f func(*G.Node) (*G.Node, error), xs, ws []float64) (theirs, ours []float64) {
	t.Helper()
	for _, useOurs := range []bool{false, true} {
		g := G.NewGraph()
		x, w := vectorInput(g, "x", xs), vectorInput(g, "w", ws)
		y, err := f(x)
		if err != nil {
			t.Fatal(err)
		}
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(w, y))))
		var gr G.Nodes
		if useOurs {
			gr, err = autodiff.Grad(loss, x)
		} else {
			gr, err = G.Grad(loss, x)
		}
		if err != nil {
			t.Fatal(err)
		}
		v := eval(t, g, gr[0])[0]
		if useOurs {
			ours = v
		} else {
			theirs = v
		}
	}
	return theirs, ours
}

// TestInverseSqrtGradientIsWrong: gorgonia's InverseSqrt derivative is wrong
// (in its SymDiff); autodiff replaces it, and 1/Sqrt(x) written with
// HadamardDiv is right as well, to any order.
func TestInverseSqrtGradientIsWrong(t *testing.T) {
	xs := []float64{0.5, 1.3, 2.7}
	ws := []float64{1, -0.5, 2}
	want := make([]float64, len(xs))
	for i, x := range xs {
		want[i] = -0.5 * ws[i] * math.Pow(x, -1.5)
	}
	theirs, ours := elementwiseGrads(t, G.InverseSqrt, xs, ws)
	expectBug(t, "gorgonia.Grad of InverseSqrt", maxRel(theirs, want))
	if e := maxRel(ours, want); e > 1e-14 {
		t.Errorf("autodiff.Grad of InverseSqrt: %v, want %v", ours, want)
	}

	invSqrt := func(x *G.Node) (*G.Node, error) {
		return G.HadamardDiv(G.NewConstant(1.0), G.Must(G.Sqrt(x)))
	}
	_, composed := elementwiseGrads(t, invSqrt, xs, ws)
	if e := maxRel(composed, want); e > 1e-14 {
		t.Errorf("1/Sqrt(x): gradient %v, want %v", composed, want)
	}
	runFDCases(t, []fdCase{{"one-over-sqrt", []fdcheck.Param{positive("x", rngFor(3), 0.5, 2, 2, 3)},
		safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(invSqrt(p[0])), 1) })}})
}

// TestLog2GradientIsWrong: gorgonia's Log2 derivative is wrong; autodiff
// replaces it, and Log(x)/ln 2 is right as well.
func TestLog2GradientIsWrong(t *testing.T) {
	xs := []float64{0.5, 1.3, 2.7}
	ws := []float64{1, -0.5, 2}
	want := make([]float64, len(xs))
	for i, x := range xs {
		want[i] = ws[i] / (x * math.Ln2)
	}
	theirs, ours := elementwiseGrads(t, G.Log2, xs, ws)
	expectBug(t, "gorgonia.Grad of Log2", maxRel(theirs, want))
	if e := maxRel(ours, want); e > 1e-14 {
		t.Errorf("autodiff.Grad of Log2: %v, want %v", ours, want)
	}

	log2 := func(x *G.Node) (*G.Node, error) {
		return G.HadamardProd(G.Must(G.Log(x)), G.NewConstant(1/math.Ln2))
	}
	_, composed := elementwiseGrads(t, log2, xs, ws)
	if e := maxRel(composed, want); e > 1e-14 {
		t.Errorf("Log(x)/ln2: gradient %v, want %v", composed, want)
	}
	runFDCases(t, []fdCase{{"log-over-ln2", []fdcheck.Param{positive("x", rngFor(4), 0.5, 2, 2, 3)},
		safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(log2(p[0])), 2) })}})
}

// TestOuterProdGradientIsWrong: gorgonia's OuterProd derivative returns x·z̄
// for x (the gradient of y) and y·z̄ for y. autodiff replaces it; this also
// matters for every second derivative through a matrix-vector product, whose
// gradient gorgonia builds as an OuterProd.
func TestOuterProdGradientIsWrong(t *testing.T) {
	as := []float64{0.4, -1.1, 0.7}
	bs := []float64{1.5, 0.2, -0.3}
	ws := []float64{1, 2, -1, 0.5, -0.25, 3, 0.1, -2, 1.5}
	// L = Σ W ⊙ (a bᵀ): ∂L/∂a = W b, ∂L/∂b = Wᵀ a.
	wantA, wantB := make([]float64, 3), make([]float64, 3)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			wantA[i] += ws[i*3+j] * bs[j]
			wantB[j] += ws[i*3+j] * as[i]
		}
	}
	want := append(append([]float64(nil), wantA...), wantB...)
	for _, useOurs := range []bool{false, true} {
		g := G.NewGraph()
		a, b := vectorInput(g, "a", as), vectorInput(g, "b", bs)
		w := G.NewMatrix(g, tensor.Float64, G.WithShape(3, 3), G.WithName("W"),
			G.WithValue(tensor.New(tensor.WithShape(3, 3), tensor.WithBacking(append([]float64(nil), ws...)))))
		loss := G.Must(G.Sum(G.Must(G.HadamardProd(w, G.Must(G.OuterProd(a, b))))))
		grad := G.Grad
		if useOurs {
			grad = autodiff.Grad
		}
		gr, err := grad(loss, a, b)
		if err != nil {
			t.Fatal(err)
		}
		got := concat(eval(t, g, gr...))
		if useOurs {
			if e := maxRel(got, want); e > 1e-14 {
				t.Errorf("autodiff.Grad of OuterProd: %v, want %v", got, want)
			}
		} else {
			expectBug(t, "gorgonia.Grad of OuterProd", maxRel(got, want))
		}
	}
	r := rngFor(6)
	runFDCases(t, []fdCase{
		{"outer-3x2", []fdcheck.Param{fdcheck.RandomParam("a", r, 1, 3), fdcheck.RandomParam("b", r, 1, 2)},
			safe(func(g *G.ExprGraph, p G.Nodes) *G.Node { return curved(G.Must(G.OuterProd(p[0], p[1])), 3) })},
	})
}

// TestReshapeAliasing: gorgonia.Reshape shares memory with its input while
// the compiler treats them as separate registers, so an in-place op after the
// reshape overwrites the input; the derivative of tanh, which reads tanh's
// output, then reads garbage. Both gorgonia.Grad and autodiff.Grad are wrong
// on such a graph; autodiff.Reshape (which copies) is right.
func TestReshapeAliasing(t *testing.T) {
	xs := []float64{0.1, -0.2, 0.3, 0.4, -0.5, 0.6}
	want := make([]float64, len(xs))
	for i, v := range xs {
		th := math.Tanh(v)
		want[i] = (2*th + 1) * (1 - th*th)
	}
	for _, tc := range []struct {
		name    string
		reshape func(*G.Node, tensor.Shape) (*G.Node, error)
		grad    func(*G.Node, ...*G.Node) (G.Nodes, error)
		buggy   bool
	}{
		{"gorgonia.Reshape with gorgonia.Grad", G.Reshape, G.Grad, true},
		{"gorgonia.Reshape with autodiff.Grad", G.Reshape, autodiff.Grad, true},
		{"autodiff.Reshape with autodiff.Grad", autodiff.Reshape, autodiff.Grad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			x := G.NewTensor(g, tensor.Float64, 2, G.WithShape(2, 3), G.WithName("x"),
				G.WithValue(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(append([]float64(nil), xs...)))))
			r := G.Must(tc.reshape(G.Must(G.Tanh(x)), tensor.Shape{3, 2}))
			loss := G.Must(G.Sum(G.Must(G.Add(G.Must(G.Square(r)), r))))
			gr, err := tc.grad(loss, x)
			if err != nil {
				t.Fatal(err)
			}
			got := eval(t, g, gr[0])[0]
			if tc.buggy {
				expectBug(t, tc.name, maxRel(got, want))
			} else if e := maxRel(got, want); e > 1e-14 {
				t.Errorf("gradient %v, want %v", got, want)
			}
		})
	}
}

// TestTensordotFullContractionFails: when Tensordot contracts every axis of
// its second operand, the gradient of the first operand is a Tensordot with
// no axes, which fails at run time (gorgonia's derivative, not ours).
func TestTensordotFullContractionFails(t *testing.T) {
	r := rngFor(8)
	build := safe(func(g *G.ExprGraph, p G.Nodes) *G.Node {
		return G.Must(G.Sum(G.Must(G.Tensordot([]int{1, 2}, []int{1, 0}, p[0], p[1]))))
	})
	rep, err := fdcheck.CheckGrad(build, []fdcheck.Param{fdcheck.RandomParam("A", r, 1, 2, 3, 4), fdcheck.RandomParam("B", r, 1, 4, 3)}, fdcheck.Options{})
	if err == nil {
		expectBug(t, "Tensordot with a fully contracted operand", rep.MaxGradRelErr)
		return
	}
	t.Logf("fails as documented: %v", err)
}

// TestSliceGradientDiffWRT: the slice-gradient op claims to depend on its
// first operand (used only for the shape) and not on the incoming gradient;
// autodiff.DiffWRT corrects that, which the second-order Slice tests rely on.
func TestSliceGradientDiffWRT(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(4, 3), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(4, 3), tensor.Of(tensor.Float64))))
	loss := G.Must(G.Sum(G.Must(G.Slice(x, G.S(1)))))
	gr, err := autodiff.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	var incr *G.Node
	for _, n := range g.AllNodes() {
		if fmt.Sprintf("%T", n.Op()) == "gorgonia.sliceIncrOp" {
			incr = n
		}
	}
	if incr == nil {
		t.Fatalf("no slice-gradient node in the graph; gradient is %v", gr[0])
	}
	theirs := incr.Op().(G.SDOp).DiffWRT(2)
	if fmt.Sprint(theirs) == "[false true]" {
		t.Errorf("gorgonia's slice-gradient DiffWRT is now %v: the bug seems fixed; revisit autodiff.DiffWRT", theirs)
	}
	ours, err := autodiff.DiffWRT(incr, 2)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ours) != "[false true]" {
		t.Errorf("autodiff.DiffWRT = %v, want [false true]", ours)
	}
}

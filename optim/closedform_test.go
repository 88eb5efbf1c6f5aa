package optim

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gorgonia.org/tensor"
)

// twoTensors returns a [2,3] and a [4] tensor of the given dtype.
func twoTensors(mk func([]float64, ...int) *tensor.Dense, a, b []float64) []*tensor.Dense {
	return []*tensor.Dense{mk(a, 2, 3), mk(b, 4)}
}

var (
	cfA = []float64{0.8, -1.3, 2.1, 0.05, -0.4, 1.7}
	cfB = []float64{3.0, -2.2, 0.6, -0.9}
	cgA = []float64{0.5, -0.1, 0.3, 2.0, -1.0, 0.25}
	cgB = []float64{-0.7, 0.2, 0.0, 1.1}
)

func flat(ts []*tensor.Dense) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, values(t)...)
	}
	return out
}

func TestNormalizedGDClosedForm(t *testing.T) {
	for _, mk := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
		params, grads := twoTensors(mk, cfA, cfB), twoTensors(mk, cgA, cgB)
		x0, g := flat(params), flat(grads)
		norm := floats.Norm(g, 2)
		const lr = 0.3
		opt, err := NewNormalizedGD(lr)
		mustNoErr(t, err)
		mustNoErr(t, opt.Step(params, grads))
		rel := 1e-14
		if params[0].Dtype() == tensor.Float32 {
			rel = 1e-6
		}
		for i, x := range flat(params) {
			if want := x0[i] - lr*g[i]/norm; !closeRel(x, want, rel, rel) {
				t.Fatalf("%v element %d: got %g, want %g", params[0].Dtype(), i, x, want)
			}
		}
		if !closeRel(opt.LastGradNorm(), norm, 1e-6, 0) {
			t.Errorf("LastGradNorm %g, want %g", opt.LastGradNorm(), norm)
		}
		// Step length is exactly lr.
		d := flat(params)
		floats.Sub(d, x0)
		if got := floats.Norm(d, 2); !closeRel(got, lr, 10*rel, 0) {
			t.Errorf("step length %g, want %g", got, lr)
		}
	}
	// A zero gradient leaves the parameters unchanged.
	params := twoTensors(f64, cfA, cfB)
	zero := twoTensors(f64, make([]float64, 6), make([]float64, 4))
	opt, _ := NewNormalizedGD(1)
	mustNoErr(t, opt.Step(params, zero))
	if !floats.Equal(flat(params), append(append([]float64{}, cfA...), cfB...)) {
		t.Error("zero gradient moved the parameters")
	}
}

// TestSqrtLossGDMatchesGradientOfSqrt checks θ ← θ − η∇L/(2√L) against plain
// GD on √L with ∇√L taken by central differences of √L, for
// L(θ) = ½‖Aθ − b‖² + 0.1.
func TestSqrtLossGDMatchesGradientOfSqrt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n = 5, 4
	A := make([]float64, m*n)
	b := make([]float64, m)
	for i := range A {
		A[i] = rng.NormFloat64()
	}
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	loss := func(x []float64) float64 {
		var l float64
		for i := range m {
			r := floats.Dot(A[i*n:(i+1)*n], x) - b[i]
			l += 0.5 * r * r
		}
		return l + 0.1
	}
	grad := func(x, g []float64) {
		clear(g)
		for i := range m {
			r := floats.Dot(A[i*n:(i+1)*n], x) - b[i]
			floats.AddScaled(g, r, A[i*n:(i+1)*n])
		}
	}
	x := []float64{0.3, -0.2, 1.0, 0.5}
	want := append([]float64(nil), x...)
	params := []*tensor.Dense{f64(x, n)}
	grads := []*tensor.Dense{f64(make([]float64, n), n)}
	const lr, h = 0.05, 1e-6
	opt, err := NewSqrtLossGD(lr)
	mustNoErr(t, err)
	fd := make([]float64, n)
	for step := range 10 {
		cur := params[0].Float64s()
		grad(cur, grads[0].Float64s())
		mustNoErr(t, opt.StepLoss(loss(cur), params, grads))
		for j := range want {
			xp := append([]float64(nil), want...)
			xm := append([]float64(nil), want...)
			xp[j] += h
			xm[j] -= h
			fd[j] = (math.Sqrt(loss(xp)) - math.Sqrt(loss(xm))) / (2 * h)
		}
		floats.AddScaled(want, -lr, fd)
		for j, v := range params[0].Float64s() {
			if !closeRel(v, want[j], 1e-8, 1e-9) {
				t.Fatalf("step %d, coordinate %d: got %.12g, finite-difference GD on √L %.12g", step+1, j, v, want[j])
			}
		}
	}
	// The loss must be supplied before every step and must be positive.
	if err := opt.Step(params, grads); !errors.Is(err, ErrNoLoss) {
		t.Errorf("step without SetLoss: got %v, want ErrNoLoss", err)
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if err := opt.StepLoss(bad, params, grads); err == nil {
			t.Errorf("loss %v accepted", bad)
		}
	}
}

func TestSGDDecoupledWeightDecayClosedForm(t *testing.T) {
	// Constant gradient g, no momentum: θₜ₊₁ = (1−ηλ)θₜ − ηg, so
	// θₜ = qᵗθ₀ − ηg(1−qᵗ)/(1−q) with q = 1−ηλ.
	const lr, wd, steps = 0.1, 0.5, 12
	opt, err := NewSGD(SGDConfig{LR: lr, DecoupledWeightDecay: wd})
	mustNoErr(t, err)
	params, grads := twoTensors(f64, cfA, cfB), twoTensors(f64, cgA, cgB)
	x0, g := flat(params), flat(grads)
	for range steps {
		mustNoErr(t, opt.Step(params, grads))
	}
	q := 1 - lr*wd
	qt := math.Pow(q, steps)
	for i, x := range flat(params) {
		want := qt*x0[i] - lr*g[i]*(1-qt)/(1-q)
		if !closeRel(x, want, 1e-12, 1e-14) {
			t.Fatalf("element %d: got %.15g, want %.15g", i, x, want)
		}
	}
}

func TestLegendreFunctions(t *testing.T) {
	fns := []struct {
		name string
		r    Legendre
		xs   []float64
	}{
		{"hyperbolic α=0.01", HyperbolicEntropy{Alpha: 0.01}, []float64{-0.3, -1e-4, 0, 2e-4, 0.7}},
		{"hyperbolic α=0.3", HyperbolicEntropy{Alpha: 0.3}, []float64{-2, -0.1, 0, 0.05, 1.5}},
		{"hyperbolic α=3", HyperbolicEntropy{Alpha: 3}, []float64{-20, -1, 0, 0.5, 40}},
		{"negentropy", NegEntropy{}, []float64{0.01, 0.5, 1, 3}},
		{"squared norm", SquaredNorm{}, []float64{-2, 0, 0.3, 5}},
	}
	for _, f := range fns {
		for _, x := range f.xs {
			h := 1e-6 * math.Max(1e-3, math.Abs(x))
			fd := (f.r.Value(x+h) - f.r.Value(x-h)) / (2 * h)
			if g := f.r.Grad(x); !closeRel(g, fd, 1e-5, 1e-7) {
				t.Errorf("%s: Grad(%g) = %g, central difference of Value %g", f.name, x, g, fd)
			}
			if back := f.r.GradInv(f.r.Grad(x)); !closeRel(back, x, 1e-12, 1e-15) {
				t.Errorf("%s: GradInv(Grad(%g)) = %g", f.name, x, back)
			}
		}
	}
	// R_α(0) = 0 is its minimum.
	for _, a := range []float64{0.01, 0.3, 3} {
		h := HyperbolicEntropy{Alpha: a}
		if v := h.Value(0); v != 0 {
			t.Errorf("R_%g(0) = %g", a, v)
		}
		if v := h.Value(0.1); v <= 0 {
			t.Errorf("R_%g(0.1) = %g ≤ 0", a, v)
		}
	}
}

func TestMirrorDescentClosedForms(t *testing.T) {
	const lr = 0.2
	xs := append(append([]float64{}, cfA...), cfB...)
	cases := []struct {
		name string
		r    Legendre
		x0   []float64
		want func(x, g float64) float64
	}{
		{"hyperbolic", HyperbolicEntropy{Alpha: 0.5}, xs,
			func(x, g float64) float64 { return 2 * 0.25 * math.Sinh(math.Asinh(x/(2*0.25))-4*lr*g) }},
		{"negentropy", NegEntropy{}, []float64{0.8, 1.3, 2.1, 0.05, 0.4, 1.7, 3, 2.2, 0.6, 0.9},
			func(x, g float64) float64 { return x * math.Exp(-lr*g) }},
		{"squared norm", SquaredNorm{}, xs,
			func(x, g float64) float64 { return x - lr*g }},
	}
	for _, c := range cases {
		for _, mk := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
			params := twoTensors(mk, c.x0[:6], c.x0[6:])
			grads := twoTensors(mk, cgA, cgB)
			opt, err := NewMirrorDescent(c.r, lr)
			mustNoErr(t, err)
			rel := 1e-12
			if params[0].Dtype() == tensor.Float32 {
				rel = 1e-5
			}
			for range 3 {
				x, g := flat(params), flat(grads)
				mustNoErr(t, opt.Step(params, grads))
				for i, got := range flat(params) {
					if want := c.want(x[i], g[i]); !closeRel(got, want, rel, rel) {
						t.Fatalf("%s %v element %d: got %g, want %g", c.name, params[0].Dtype(), i, got, want)
					}
				}
			}
		}
	}
	if _, err := NewMirrorDescent(HyperbolicEntropy{}, 0.1); err == nil {
		t.Error("alpha = 0 accepted")
	}
}

// TestMirrorDescentImplicitBias runs mirror descent with R_α from x = 0 on
// the §1 under-determined least squares (A ∈ ℝ^{10×40}, 3-sparse w*) and
// checks the limit against the optimality conditions of argmin_{Ax=b} R_α(x):
// Ax = b and ∇R_α(x) in the row space of A. It also checks that ‖x‖₁ grows
// with α and that R = ½‖x‖² gives the minimum-norm interpolator (gonum).
func TestMirrorDescentImplicitBias(t *testing.T) {
	const m, n = 10, 40
	rng := rand.New(rand.NewPCG(7, 7))
	A := mat.NewDense(m, n, nil)
	for i := range m {
		for j := range n {
			A.Set(i, j, rng.NormFloat64()/math.Sqrt(m))
		}
	}
	wStar := make([]float64, n)
	wStar[3], wStar[17], wStar[31] = 1, -0.8, 0.6
	b := mat.NewVecDense(m, nil)
	b.MulVec(A, mat.NewVecDense(n, wStar))

	// Projector onto the row space of A: P = Aᵀ(AAᵀ)⁻¹A.
	var aat, inv mat.Dense
	aat.Mul(A, A.T())
	mustNoErr(t, inv.Inverse(&aat))
	var P, tmp mat.Dense
	tmp.Mul(A.T(), &inv)
	P.Mul(&tmp, A)
	var minNorm mat.VecDense
	minNorm.MulVec(&tmp, b) // Aᵀ(AAᵀ)⁻¹b
	xl2 := minNorm.RawVector().Data

	run := func(r Legendre, lr float64, steps int) []float64 {
		opt, err := NewMirrorDescent(r, lr)
		mustNoErr(t, err)
		params := []*tensor.Dense{f64(make([]float64, n), n)}
		grads := []*tensor.Dense{f64(make([]float64, n), n)}
		res := mat.NewVecDense(m, nil)
		x := mat.NewVecDense(n, params[0].Float64s())
		g := mat.NewVecDense(n, grads[0].Float64s())
		for range steps {
			res.MulVec(A, x)
			res.SubVec(res, b)
			g.MulVec(A.T(), res)
			mustNoErr(t, opt.Step(params, grads))
		}
		return params[0].Float64s()
	}
	kkt := func(name string, r Legendre, x []float64) {
		res := mat.NewVecDense(m, nil)
		res.MulVec(A, mat.NewVecDense(n, x))
		res.SubVec(res, b)
		if rn := mat.Norm(res, 2); rn > 1e-8 {
			t.Errorf("%s: ‖Ax − b‖ = %g", name, rn)
		}
		gr := make([]float64, n)
		for i, v := range x {
			gr[i] = r.Grad(v)
		}
		proj := mat.NewVecDense(n, nil)
		proj.MulVec(&P, mat.NewVecDense(n, gr))
		if off := floats.Distance(proj.RawVector().Data, gr, 2) / floats.Norm(gr, 2); off > 1e-8 {
			t.Errorf("%s: ∇R(x) leaves the row space of A (relative %g)", name, off)
		}
	}
	l2 := run(SquaredNorm{}, 0.2, 4000)
	kkt("squared norm", SquaredNorm{}, l2)
	if d := floats.Distance(l2, xl2, 2); d > 1e-8 {
		t.Errorf("squared norm: distance to the minimum-norm interpolator %g", d)
	}
	var prevL1 float64
	for _, c := range []struct {
		alpha, lr float64
		steps     int
	}{{0.01, 0.05, 60000}, {0.3, 0.05, 20000}, {3, 0.002, 20000}} {
		r := HyperbolicEntropy{Alpha: c.alpha}
		x := run(r, c.lr, c.steps)
		kkt("hyperbolic", r, x)
		l1 := floats.Norm(x, 1)
		dist := floats.Distance(x, xl2, 2) / floats.Norm(xl2, 2)
		t.Logf("α = %g: ‖x‖₁ = %.5f, ‖x − x_ℓ2‖/‖x_ℓ2‖ = %.2e, ‖x − w*‖ = %.2e", c.alpha, l1, dist, floats.Distance(x, wStar, 2))
		if prevL1 != 0 && l1 <= prevL1 {
			t.Errorf("‖x‖₁ = %g at α = %g is not above %g at the smaller α", l1, c.alpha, prevL1)
		}
		prevL1 = l1
	}
}

package curvature

import (
	"errors"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestSharpnessFormulas(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{"EoS ratio at 2/η", EoSRatio(0.01, 200), 2},
		{"spherical", SphericalSharpness(4, 2.5), 10},
		{"normalized GD", NormalizedGDSharpness(0.1, 30, 1.5), 2},
		{"sqrt-loss GD", SqrtLossGDSharpness(0.1, 40, 1), 2},
		{"sqrt-loss GD, L = 1/4", SqrtLossGDSharpness(0.05, 20, 0.25), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-12*math.Abs(tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// For the scale-invariant loss L(θ) = θᵀAθ/θᵀθ the Hessian scales as
// 1/c² under θ → cθ, so ‖θ‖²·λ₁ must not depend on c. Hessians come from
// central differences of the analytic gradient 2(Aθ − Lθ)/‖θ‖².
func TestSphericalSharpnessScaleInvariant(t *testing.T) {
	const n = 6
	a := spectra[0].build(t, n, 51).h
	theta0 := []float64{0.9, 0.3, 0.3, -0.2, 0.5, 0.1}
	grad := func(th []float64) []float64 {
		x := mat.NewVecDense(n, th)
		var ax mat.VecDense
		ax.MulVec(a, x)
		nn := mat.Dot(x, x)
		l := mat.Dot(x, &ax) / nn
		g := make([]float64, n)
		for i := range g {
			g[i] = 2 * (ax.AtVec(i) - l*th[i]) / nn
		}
		return g
	}
	lambda1 := func(th []float64) float64 {
		h := mat.NewSymDense(n, nil)
		eps := 1e-5 * nrm2(th)
		cols := make([][]float64, n)
		for j := 0; j < n; j++ {
			p, m := slices.Clone(th), slices.Clone(th)
			p[j] += eps
			m[j] -= eps
			gp, gm := grad(p), grad(m)
			cols[j] = make([]float64, n)
			for i := range gp {
				cols[j][i] = (gp[i] - gm[i]) / (2 * eps)
			}
		}
		for i := 0; i < n; i++ {
			for j := i; j < n; j++ {
				h.SetSym(i, j, 0.5*(cols[j][i]+cols[i][j]))
			}
		}
		return oracle(t, h).values[n-1]
	}
	l0 := lambda1(theta0)
	ref := SphericalSharpness(dot(theta0, theta0), l0)
	for _, c := range []float64{0.25, 3, 40} {
		th := slices.Clone(theta0)
		scal(th, c)
		lc := lambda1(th)
		if e := relErr(lc*c*c, l0); e > 1e-6 {
			t.Errorf("c = %v: λ₁(cθ)·c² = %.9g, λ₁(θ) = %.9g", c, lc*c*c, l0)
		}
		got := SphericalSharpness(dot(th, th), lc)
		if e := relErr(got, ref); e > 1e-6 {
			t.Errorf("c = %v: spherical sharpness %.9g, at c = 1 %.9g (rel %.1e)", c, got, ref, e)
		}
	}
}

// λ₁(P^{-1/2}HP^{-1/2}) equals the largest eigenvalue of the
// non-symmetric P^{-1}H, computed here by gonum's general eigensolver.
func TestPreconditionedSharpness(t *testing.T) {
	for _, c := range spectra[:2] {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 53)
			vhat := make([]float64, testDim)
			rng := newRNG(54)
			for i := range vhat {
				vhat[i] = math.Exp(4 * rng.NormFloat64()) // second moments over many scales
			}
			p := make([]float64, testDim)
			if err := AdamPreconditioner(p, vhat, 1e-8); err != nil {
				t.Fatal(err)
			}
			pinvH := mat.NewDense(testDim, testDim, nil)
			for i := 0; i < testDim; i++ {
				for j := 0; j < testDim; j++ {
					pinvH.Set(i, j, m.h.At(i, j)/p[i])
				}
			}
			var eig mat.Eigen
			if !eig.Factorize(pinvH, mat.EigenNone) {
				t.Fatal("oracle eigen failed")
			}
			vals := eig.Values(nil)
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, v := range vals {
				lo, hi = min(lo, real(v)), max(hi, real(v))
			}
			// Top algebraic eigenvalue: shift by −lo so it dominates.
			r, err := PreconditionedSharpness(NewDense(m.h), p, newRNG(55), PowerOptions{Tol: 1e-14, MaxIter: 200000, Shift: -lo})
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(r.Value, hi); e > 1e-6 {
				t.Errorf("preconditioned λ₁ %.10g, oracle %.10g (rel %.1e), converged %v after %d", r.Value, hi, e, r.Converged, r.Iterations)
			}
			t.Logf("preconditioned λ₁ %.6g (unpreconditioned %.6g), rel err %.1e, %d iterations", r.Value, m.values[testDim-1], relErr(r.Value, hi), r.Iterations)
		})
	}
}

func TestPreconditionerErrors(t *testing.T) {
	op := NewDense(spectra[0].build(t, 3, 1).h)
	for _, p := range [][]float64{{1, 0, 1}, {1, -1, 1}, {1, math.Inf(1), 1}, {1, math.NaN(), 1}, {1, 1}} {
		if _, err := NewPreconditioned(op, p); err == nil {
			t.Errorf("preconditioner %v accepted", p)
		} else if len(p) == 3 && !errors.Is(err, ErrNonPositivePreconditioner) {
			t.Errorf("preconditioner %v: error %v", p, err)
		}
	}
	if err := AdamPreconditioner(make([]float64, 2), []float64{1, 1}, 0); err == nil {
		t.Error("eps = 0 accepted")
	}
	if err := AdamPreconditioner(make([]float64, 2), []float64{1, -1}, 1e-8); err == nil {
		t.Error("negative second moment accepted")
	}
	dst := make([]float64, 2)
	if err := AdamPreconditioner(dst, []float64{4, 0}, 0.5); err != nil || dst[0] != 2.5 || dst[1] != 0.5 {
		t.Errorf("AdamPreconditioner = %v, %v", dst, err)
	}
}

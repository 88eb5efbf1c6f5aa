package experiments

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

// TestMirrorSolveKKT checks the Newton solution against the optimality
// conditions of argmin_{Ax=b} R_α(x): feasibility, and ∇R_α(x) =
// ¼ arcsinh(x/(2α²)) lying in the row space of A (its component in the null
// space of A must vanish).
func TestMirrorSolveKKT(t *testing.T) {
	p, err := newMirrorProblem(6, 20, 2, 9)
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range []float64{0.01, 0.1, 1, 10} {
		sol, err := mirrorSolve(p.a, p.b, alpha)
		if err != nil {
			t.Fatalf("α = %g: %v", alpha, err)
		}
		x := mat.NewVecDense(p.d, sol.x)
		var r mat.VecDense
		r.MulVec(p.a, x)
		r.SubVec(&r, p.b)
		if res := mat.Norm(&r, 2) / mat.Norm(p.b, 2); res > 1e-9 {
			t.Errorf("α = %g: residual %.3g", alpha, res)
		}
		grad := mat.NewVecDense(p.d, nil)
		for j := 0; j < p.d; j++ {
			grad.SetVec(j, 0.25*math.Asinh(sol.x[j]/(2*alpha*alpha)))
		}
		// Project ∇R onto the row space: Aᵀ(AAᵀ)⁻¹A·∇R.
		var ag mat.VecDense
		ag.MulVec(p.a, grad)
		proj, err := mirrorMinNorm(p.a, &ag)
		if err != nil {
			t.Fatal(err)
		}
		if e := mirrorRelDist(grad.RawVector().Data, proj); e > 1e-7 {
			t.Errorf("α = %g: ∇R has a null-space component of relative size %.3g", alpha, e)
		}
	}
}

// TestMirrorDescentOnXMatchesNewton: on a linear least-squares loss, the
// discrete mirror-descent iterates keep ∇R(x) in the row space of A, so their
// limit solves the same KKT system as the dual Newton solve.
func TestMirrorDescentOnXMatchesNewton(t *testing.T) {
	p, err := newMirrorProblem(5, 12, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range []float64{0.1, 2} {
		sol, err := mirrorSolve(p.a, p.b, alpha)
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := mirrorDescentX(p, alpha, 1e-3, 1e-24, 3000000)
		if err != nil {
			t.Fatal(err)
		}
		if e := mirrorRelDist(x, sol.x); e > 1e-8 {
			t.Errorf("α = %g: mirror descent and Newton differ by %.3g", alpha, e)
		}
	}
}

// uutBracketsClosedForm returns max_{pairs} ‖∂²G_q∇G_p − ∂²G_p∇G_q‖ for
// G_(a,b)(U) = Σ_k U_ak U_bk with loops over the closed forms
// ∂G_ab/∂U_ck = δ_ca U_bk + δ_cb U_ak and
// ∂²G_ab/∂U_ck∂U_el = δ_kl (δ_ca δ_eb + δ_cb δ_ea).
func uutBracketsClosedForm(u []float64, n, r int) float64 {
	grad := func(a, b int) []float64 {
		g := make([]float64, n*r)
		for k := 0; k < r; k++ {
			g[a*r+k] += u[b*r+k]
			g[b*r+k] += u[a*r+k]
		}
		return g
	}
	hv := func(a, b int, v []float64) []float64 {
		out := make([]float64, n*r)
		for c := 0; c < n; c++ {
			for k := 0; k < r; k++ {
				var s float64
				for e := 0; e < n; e++ {
					h := 0.0
					if c == a && e == b {
						h++
					}
					if c == b && e == a {
						h++
					}
					s += h * v[e*r+k]
				}
				out[c*r+k] = s
			}
		}
		return out
	}
	var best float64
	for p := 0; p < n*n; p++ {
		for q := p + 1; q < n*n; q++ {
			a1, b1, a2, b2 := p/n, p%n, q/n, q%n
			x := hv(a2, b2, grad(a1, b1))
			y := hv(a1, b1, grad(a2, b2))
			for i := range x {
				x[i] -= y[i]
			}
			best = math.Max(best, mirrorNorm2(x))
		}
	}
	return best
}

func TestMirrorLieBrackets(t *testing.T) {
	rng := tensor.NewRNG(3, 3)
	diag, err := nn.NewDiagNetFrom(gt.Float64, mirrorUniform(rng, 5), mirrorUniform(rng, 5))
	if err != nil {
		t.Fatal(err)
	}
	deep, err := nn.NewDeepDiagFrom(gt.Float64, [][]float64{mirrorUniform(rng, 4), mirrorUniform(rng, 4), mirrorUniform(rng, 4)})
	if err != nil {
		t.Fatal(err)
	}
	uut, err := nn.NewMatrixFactorization(rng, gt.Float64, 3, 3, 2, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		model     nn.Reparametrized
		commuting bool
	}{
		{"diag", diag, true},
		{"deep3", deep, true},
		{"uut", uut, false},
	} {
		res, err := mirrorLieBrackets(tc.model)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.commuting {
			if res.normalized > 1e-12 {
				t.Errorf("%s: commuting map has normalised bracket %.3g", tc.name, res.normalized)
			}
			if res.fdMax > 1e-6 {
				t.Errorf("%s: finite-difference bracket %.3g", tc.name, res.fdMax)
			}
			continue
		}
		want := uutBracketsClosedForm(tc.model.Params()[0].Value.Data().([]float64), 3, 2)
		if math.Abs(res.max-want) > 1e-10*want {
			t.Errorf("%s: bracket %.12g, closed form %.12g", tc.name, res.max, want)
		}
		if res.fdAgreement > 1e-6 {
			t.Errorf("%s: finite differences disagree by %.3g", tc.name, res.fdAgreement)
		}
	}
}

// TestMirrorEndToEnd runs a tiny configuration through the runner: every
// check is present and finite, and the GD-vs-mirror and bracket checks pass.
func TestMirrorEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"data.m=4", "data.d=12", "data.sparsity=2", "model.alphas=[0.05, 2]", "train.lr=[5e-3, 2e-3]",
		"md.lr=[5e-3, 2e-3]", "train.log_every=500", "bracket.d=3", "bracket.k=2"}
	s, err := Run(context.Background(), Mirror(), RunOptions{Sets: sets, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"md_relerr_alpha0p05": true, "md_relerr_alpha2": true, "l1_increase_with_alpha_min_gap": true,
		"l2_relerr_largest_alpha": false, "bracket_diag_normalized": true, "bracket_deep3_normalized": true, "bracket_uut_normalized": true}
	for _, c := range s.Checks {
		must, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected check %s", c.Name)
			continue
		}
		delete(want, c.Name)
		if !finite(c.Value) {
			t.Errorf("%s: value %v", c.Name, c.Value)
		}
		if must && !c.Pass {
			t.Errorf("%s = %v fails (%s)", c.Name, c.Value, c.Want)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing checks %v", want)
	}
	for _, f := range []string{"summary.json", "metrics.jsonl", "plots/x_alpha0p05.png", "plots/x_alpha2.png", "plots/md_relerr_alpha2.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
}

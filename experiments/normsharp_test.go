package experiments

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// toyClosedForm returns L and ∇L of L(θ) = (1 + 4θ₁²/n)θ₂²/n, n = ‖θ‖².
func toyClosedForm(th []float64) (float64, []float64) {
	n := th[0]*th[0] + th[1]*th[1] + th[2]*th[2]
	t1, t2 := th[0]*th[0], th[1]*th[1]
	l := t2/n + 4*t1*t2/(n*n)
	g := make([]float64, 3)
	for j := range g {
		dt1, dt2, dn := 0.0, 0.0, 2*th[j]
		if j == 0 {
			dt1 = 2 * th[0]
		}
		if j == 1 {
			dt2 = 2 * th[1]
		}
		g[j] = dt2/n - t2*dn/(n*n) + 4*(dt1*t2+t1*dt2)/(n*n) - 8*t1*t2*dn/(n*n*n)
	}
	return l, g
}

func TestToyGradientAndHessian(t *testing.T) {
	tp, err := newToyProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	points := [][]float64{{0.9, 0.3, 0.3}, {-0.2, 1.5, 0.7}, {2, -0.1, -3}}
	for _, th := range points {
		copy(tp.theta, th)
		g := make([]float64, 3)
		l, err := tp.gradient(g)
		if err != nil {
			t.Fatal(err)
		}
		wl, wg := toyClosedForm(th)
		if math.Abs(l-wl) > 1e-14 || fdcheck.RelErr(g, wg, 1e-12) > 1e-13 {
			t.Errorf("θ = %v: L %v ∇L %v, closed form %v %v", th, l, g, wl, wg)
		}
		// Scale invariance: θ·∇L = 0.
		if d := dot(th, g); math.Abs(d) > 1e-14 {
			t.Errorf("θ = %v: θ·∇L = %g", th, d)
		}
		// Hessian columns against central differences of the closed-form gradient.
		h, err := tp.hessian()
		if err != nil {
			t.Fatal(err)
		}
		const eps = 1e-6
		for j := 0; j < 3; j++ {
			p, m := append([]float64(nil), th...), append([]float64(nil), th...)
			p[j] += eps
			m[j] -= eps
			_, gp := toyClosedForm(p)
			_, gm := toyClosedForm(m)
			for i := 0; i < 3; i++ {
				fd := (gp[i] - gm[i]) / (2 * eps)
				if math.Abs(h.At(i, j)-fd) > 1e-7*(1+math.Abs(fd)) {
					t.Errorf("θ = %v: H[%d][%d] = %v, finite difference %v", th, i, j, h.At(i, j), fd)
				}
			}
		}
	}
	// On the minimizing circle ĥ₂ = 0 the spherical sharpness is 2(1 + 4ĥ₁²).
	for _, phi := range []float64{0, 0.4, 1.1, math.Pi / 2} {
		for _, r := range []float64{0.3, 2} {
			copy(tp.theta, []float64{r * math.Cos(phi), 0, r * math.Sin(phi)})
			lam, err := tp.lambdaMax()
			if err != nil {
				t.Fatal(err)
			}
			want := 2 * (1 + 4*math.Cos(phi)*math.Cos(phi))
			if got := r * r * lam; math.Abs(got-want) > 1e-12*want {
				t.Errorf("φ = %v, r = %v: spherical sharpness %v, want %v", phi, r, got, want)
			}
		}
	}
}

func TestToyLossDerivativesMatchFiniteDifferences(t *testing.T) {
	build := func(g *gorgonia.ExprGraph, ps gorgonia.Nodes) (*gorgonia.Node, error) { return toyLoss(ps[0]) }
	params := []fdcheck.Param{{Name: "theta", Shape: []int{3}, Data: []float64{0.9, 0.3, 0.3}}}
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 3, Directions: 3, Coordinates: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Pass(1e-8) {
		t.Errorf("gradient rel. error %g, HVP rel. error %g", rep.MaxGradRelErr, rep.MaxHVPRelErr)
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}}
	for _, c := range cases {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
}

// TestNormSharpEndToEnd runs a tiny configuration through the runner: a
// short toy run with WD 1e-2 (long enough to settle at the edge of
// stability) and without WD, and a small net on 100 MNIST images.
func TestNormSharpEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"toy.steps=20000", "toy.wds=[0.01]", "toy.log_every=500",
		"net.train_size=100", "net.hidden=[16,16]", "net.steps=20", "net.probe_every=5", "net.power_iters=10"}
	s, err := Run(context.Background(), NormSharp(), RunOptions{Sets: sets, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustPass := map[string]bool{
		"toy_wd0.01_final_spherical_sharpness":     true,
		"toy_wd0.01_median_eta_lambda_second_half": true,
		"toy_wd0_min_spherical_sharpness":          true,
		"toy_wd0_max_eta_lambda":                   true,
		"net_final_sph_ratio_wd_over_nowd":         false,
		"net_wd_norm_sq_final_over_initial":        false,
	}
	for _, c := range s.Checks {
		must, ok := mustPass[c.Name]
		if !ok {
			t.Errorf("unexpected check %s", c.Name)
			continue
		}
		delete(mustPass, c.Name)
		if !finite(c.Value) {
			t.Errorf("%s: value %v", c.Name, c.Value)
		}
		if must && !c.Pass {
			t.Errorf("%s = %v fails (%s)", c.Name, c.Value, c.Want)
		}
	}
	if len(mustPass) != 0 {
		t.Errorf("missing checks %v", mustPass)
	}
	for _, p := range []string{"toy_eta_lambda.png", "toy_spherical_sharpness.png", "toy_norm_sq.png",
		"net_eta_lambda.png", "net_spherical_sharpness.png", "net_norm_sq.png"} {
		if _, err := os.Stat(filepath.Join(dir, "plots", p)); err != nil {
			t.Errorf("plot %s: %v", p, err)
		}
	}
}

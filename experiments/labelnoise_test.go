package experiments

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// lnRandomModel returns a diagonal net at a generic point.
func lnRandomModel(t *testing.T, d int, seed uint64) *nn.DiagNet {
	t.Helper()
	rng := tensor.NewRNG(seed, 5)
	m, err := nn.NewDiagNetFrom(gt.Float64, mirrorUniform(rng, d), mirrorUniform(rng, d))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLNExactTrace compares the closed-form trace with Σᵢ eᵢᵀHeᵢ from the
// autodiff Hessian operator at a point with non-zero residuals.
func TestLNExactTrace(t *testing.T) {
	ds, _, err := data.SparseRegression(7, 6, 2, 0.3, 3)
	if err != nil {
		t.Fatal(err)
	}
	m := lnRandomModel(t, 6, 1)
	hop, err := curvature.NewHessianOperator(m, ds, curvature.HVPOptions{Loss: objective.MSE, Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hop.Close()
	n := hop.Dim()
	e := make([]float64, n)
	col := make([]float64, n)
	var tr float64
	for i := 0; i < n; i++ {
		clear(e)
		e[i] = 1
		if err := hop.Apply(col, e); err != nil {
			t.Fatal(err)
		}
		tr += col[i]
	}
	if want := lnExactTrace(ds, m); math.Abs(tr-want) > 1e-9*want {
		t.Fatalf("trace from HVPs %.12g, closed form %.12g", tr, want)
	}
}

// TestLNSGDStep checks one compiled label-noise step against the update
// u ← u − 2η·u⊙z·(f − y′), v ← v + 2η·v⊙z·(f − y′) with y′ = y ± σ
// computed by hand for the example the step draws.
func TestLNSGDStep(t *testing.T) {
	const d, n, eta, sigma, seed = 5, 4, 0.01, 0.5, 7
	ds, _, err := data.SparseRegression(n, d, 2, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	m := lnRandomModel(t, d, 3)
	u0 := append([]float64(nil), m.Params()[0].Value.Data().([]float64)...)
	v0 := append([]float64(nil), m.Params()[1].Value.Data().([]float64)...)
	s, err := newLNSGD(m, ds, eta, sigma, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.run(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	i := tensor.NewRNG(seed, 1000).IntN(n)
	z := ds.X[i*d : (i+1)*d]
	var f float64
	for j := range z {
		f += float64(z[j]) * (u0[j]*u0[j] - v0[j]*v0[j])
	}
	u := m.Params()[0].Value.Data().([]float64)
	v := m.Params()[1].Value.Data().([]float64)
	best := math.Inf(1)
	for _, sign := range []float64{1, -1} {
		r := f - (float64(ds.Targets[i]) + sign*sigma)
		var diff float64
		for j := range z {
			wu := u0[j] - 2*eta*u0[j]*float64(z[j])*r
			wv := v0[j] + 2*eta*v0[j]*float64(z[j])*r
			diff = math.Max(diff, math.Max(math.Abs(u[j]-wu), math.Abs(v[j]-wv)))
		}
		best = math.Min(best, diff)
	}
	if best > 1e-12 {
		t.Fatalf("step differs from the hand update by %.3g for both signs of the noise", best)
	}
}

// TestLabelNoiseEndToEnd runs a tiny configuration through the runner.
func TestLabelNoiseEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"data.d=20", "data.kappa=2", "data.n=12", "ln.steps=100000", "ln.log_every=10000",
		"sweep.gd_n=[6, 30]", "sweep.ln_n=[12]", "sweep.ln_steps=20000", "gd.max_steps=5000"}
	s, err := Run(context.Background(), LabelNoise(), RunOptions{Sets: sets, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"gd_relerr": true, "ln_relerr": true, "trace_drop": true, "late_loss_max": true, "sample_ratio_gd_over_ln": true}
	for _, c := range s.Checks {
		if !want[c.Name] {
			t.Errorf("unexpected check %s", c.Name)
			continue
		}
		delete(want, c.Name)
		if !finite(c.Value) {
			t.Errorf("%s: value %v", c.Name, c.Value)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing checks %v", want)
	}
	// Hutchinson with 100 probes against the closed-form trace.
	if v, ok := s.Values["trace_hutchinson_vs_exact_max_reldiff"].(float64); !ok || v > 0.2 {
		t.Errorf("Hutchinson estimates differ from the closed-form trace by up to %v", s.Values["trace_hutchinson_vs_exact_max_reldiff"])
	}
	for _, f := range []string{"summary.json", "metrics.jsonl", "sweep.csv", "plots/sweep_relerr_vs_n.png", "plots/trace_along_run.png", "plots/trace_hutchinson.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
}

package experiments

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/train/checkpoint"
)

// TestEOSToyFlow checks the RK4 integration of the two flows against their
// closed forms: log x + x²/2 = log x₀ + x₀²/2 − t/2 (normalized GD) and
// x = x₀·e^{−t/2} (GD on √L).
func TestEOSToyFlow(t *testing.T) {
	for _, c := range []struct{ x0, T float64 }{{3, 8}, {3, 1}, {0.5, 4}, {2, 0}} {
		ngd := eosToyFlow("ngd", c.x0, c.T, 20000)
		lhs := math.Log(ngd) + ngd*ngd/2
		rhs := math.Log(c.x0) + c.x0*c.x0/2 - c.T/2
		if math.Abs(lhs-rhs) > 1e-10 {
			t.Errorf("ngd x0=%g T=%g: x=%g, invariant off by %.2g", c.x0, c.T, ngd, lhs-rhs)
		}
		sq := eosToyFlow("sqrt", c.x0, c.T, 20000)
		if want := c.x0 * math.Exp(-c.T/2); math.Abs(sq-want) > 1e-10*want {
			t.Errorf("sqrt x0=%g T=%g: x=%.12g, want %.12g", c.x0, c.T, sq, want)
		}
	}
}

// TestEOSToyProgram checks the graph's loss, gradient and Hessian–vector
// product of (1+x²)y² against the hand-derived formulas.
func TestEOSToyProgram(t *testing.T) {
	tp, err := eosNewToyProgram()
	if err != nil {
		t.Fatal(err)
	}
	defer tp.prog.Close()
	for _, p := range [][2]float64{{3, 0.05}, {-1.3, 0.7}, {0.2, -2}} {
		x, y := p[0], p[1]
		tp.x.Data().([]float64)[0] = x
		tp.y.Data().([]float64)[0] = y
		v := []float64{0.3, -1.1}
		hv := make([]float64, 2)
		l, err := tp.run(v, hv)
		if err != nil {
			t.Fatal(err)
		}
		wantL := (1 + x*x) * y * y
		gx, gy := 2*x*y*y, 2*(1+x*x)*y
		hxx, hxy, hyy := 2*y*y, 4*x*y, 2*(1+x*x)
		want := []float64{hxx*v[0] + hxy*v[1], hxy*v[0] + hyy*v[1]}
		got := []float64{l, tp.grads[0].Data().([]float64)[0], tp.grads[1].Data().([]float64)[0], hv[0], hv[1]}
		exp := []float64{wantL, gx, gy, want[0], want[1]}
		for i := range got {
			if math.Abs(got[i]-exp[i]) > 1e-12*math.Max(1, math.Abs(exp[i])) {
				t.Errorf("(%g,%g) output %d = %.15g, want %.15g", x, y, i, got[i], exp[i])
			}
		}
	}
}

func TestEOSHelpers(t *testing.T) {
	if m := eosMedian([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %g", m)
	}
	if m := eosMedian([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %g", m)
	}
	if !math.IsNaN(eosMedian(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if r := eosWindowRatioMax([]float64{8, 8, 4, 4, 2, 2, 1, 1}, 4); r != 0.5 {
		t.Errorf("window ratio = %g", r)
	}
	if r := eosWindowRatioMax([]float64{1, 1, 2, 2, 1, 1, 0.5, 0.5}, 4); r != 2 {
		t.Errorf("window ratio = %g", r)
	}
}

// TestEOSTinyRun runs the whole experiment with tiny sizes and checks that
// it reports every check and writes its plots (the verdict itself needs
// the real sizes).
func TestEOSTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST")
	}
	dir := filepath.Join(t.TempDir(), "eos")
	s, err := Run(context.Background(), EOS(), RunOptions{Out: dir, Sets: []string{
		"toy.etas=0.2", "toy.time=1", "data.train_size=64", "model.hidden=8",
		"gd.steps=30", "ngd.steps=20", "probe.every=5", "ngd.probe_every=5", "probe.lanczos_steps=5"}})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range s.Checks {
		names[c.Name] = true
	}
	if _, ok := s.Values["toy_sqrt_eta0.2_median_eta_lambda_over_2sqrt_loss"]; !ok {
		t.Error("the √L toy's ratio is not recorded")
	}
	for _, want := range []string{"toy_ngd_eta0.2_x_rel_err", "toy_sqrt_eta0.2_x_rel_err", "toy_ngd_eta0.2_median_eta_lambda_over_grad_norm",
		"gd_initial_eta_lambda", "gd_median_eta_lambda_last_third", "ngd_median_eta_lambda_over_grad_norm_second_half", "ngd_lambda_end_over_start"} {
		if !names[want] {
			t.Errorf("missing check %s (have %v)", want, names)
		}
	}
	for _, p := range []string{"plots/eos_lambda_max.png", "plots/eos_loss.png", "plots/eos_toy_x.png", "summary.json", "ngd/metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if _, ok := sum["values"].(map[string]any)["gd_initial_lambda_max"]; !ok {
		t.Error("summary lacks gd_initial_lambda_max")
	}

	// The curvature setup rebuilds a model whose parameters match the GD
	// phase's checkpoint, and the training subset.
	cfg, _, err := Resolve(EOS(), RunOptions{ConfigFile: filepath.Join(dir, "config.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := EOS().Curvature(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup.Train.Len() != 64 || setup.Loss != objective.MSE || !setup.Flatten {
		t.Errorf("setup: %d examples, loss %s, flatten %v", setup.Train.Len(), setup.Loss, setup.Flatten)
	}
	ck, ok, err := checkpoint.Latest(filepath.Join(dir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no checkpoint: %v", err)
	}
	ts, _, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range setup.Model.Params() {
		w, ok := ts["param/"+p.Name]
		if !ok || !w.Shape().Eq(p.Value.Shape()) {
			t.Errorf("parameter %s %v not in the checkpoint with that shape", p.Name, p.Value.Shape())
		}
	}
}

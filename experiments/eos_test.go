package experiments

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

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
		"gd.steps=30", "ngd.steps=20", "probe.every=5", "ngd.probe_every=5", "probe.lanczos_steps=5", "probe.min_lanczos_steps=3", "probe.verify_every=3"}})
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
	// Every measurement reports its Lanczos step count; every third is
	// repeated cold for reference (gd: steps 0…30 in fives, ngd: 5…20).
	for key, want := range map[string]float64{"gd_probe_cold_checks": 2, "ngd_probe_cold_checks": 1} {
		if got, ok := s.Values[key].(int); !ok || float64(got) != want {
			t.Errorf("%s = %v, want %g", key, s.Values[key], want)
		}
	}
	for _, key := range []string{"gd_probe_mean_lanczos_steps", "ngd_probe_mean_lanczos_steps", "gd_probe_cold_max_abs_rel_diff", "ngd_probe_cold_max_abs_rel_diff"} {
		if v, ok := s.Values[key].(float64); !ok || math.IsNaN(v) || v < 0 {
			t.Errorf("%s = %v", key, s.Values[key])
		}
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

// eosQuadratic is the loss ½θᵀAθ at a fixed θ: its Hessian is A and its
// gradient Aθ. It stands in for a network's Hessian operator in the λ₁
// probe's tests, with gonum's dense eigensolver as the oracle.
type eosQuadratic struct {
	a     *mat.SymDense
	theta []float64
}

func (q *eosQuadratic) Dim() int { return len(q.theta) }

func (q *eosQuadratic) Apply(dst, v []float64) error {
	mat.NewVecDense(len(dst), dst).MulVec(q.a, mat.NewVecDense(len(v), v))
	return nil
}

func (q *eosQuadratic) Gradient(grad []float64) (float64, error) {
	if err := q.Apply(grad, q.theta); err != nil {
		return 0, err
	}
	return floats.Dot(q.theta, grad) / 2, nil
}

func (q *eosQuadratic) ParamVector(dst []float64) []float64 {
	return append(dst[:0], q.theta...)
}

// eosSpectrumMatrix returns Q·diag(eig)·Qᵀ for a seeded random orthogonal Q.
func eosSpectrumMatrix(eig []float64, seed uint64) *mat.SymDense {
	n := len(eig)
	rng := rand.New(rand.NewPCG(seed, 1))
	g := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	var m mat.Dense
	m.Mul(&q, mat.NewDiagDense(n, eig))
	m.Mul(&m, q.T())
	s := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	return s
}

func eosTopEigen(a *mat.SymDense) float64 {
	var es mat.EigenSym
	if !es.Factorize(a, false) {
		panic("eigen decomposition failed")
	}
	v := es.Values(nil)
	return v[len(v)-1]
}

// TestEOSLambdaProbe follows slowly drifting quadratics with the
// warm-started λ₁ probe and checks every measurement, the derived values
// and the cold reference against the dense eigenvalues, and that the warm
// starts need fewer Lanczos steps than the first (cold) measurement.
func TestEOSLambdaProbe(t *testing.T) {
	const n = 60
	spectrum := func(top ...float64) []float64 {
		e := make([]float64, n)
		for i := range e {
			e[i] = -1 + 3*float64(i)/float64(n) // bulk in [-1, 2)
		}
		return append(e[:n-len(top)], top...)
	}
	cases := []struct {
		name string
		eig  []float64
	}{
		{"separated top", spectrum(6, 10)},
		{"close top pair", spectrum(9.9, 10)},
		{"larger negative curvature", append(spectrum(10)[1:], -30)},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a0 := eosSpectrumMatrix(c.eig, uint64(ci))
			drift := eosSpectrumMatrix(spectrum(1, 2), uint64(100+ci))
			theta := make([]float64, n)
			for i := range theta {
				theta[i] = math.Sin(float64(i + 1))
			}
			q := &eosQuadratic{theta: theta}
			const eta = 0.15
			p, err := newEOSLambdaProbe(q, eosLambdaOptions{every: 1, lr: func() float64 { return eta }, minSteps: 3, maxSteps: 30, tol: 1e-8, verifyEvery: 4, seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			var iters []float64
			for k := 0; k < 12; k++ {
				var a mat.SymDense
				a.AddSym(a0, scaledSym(drift, 0.01*float64(k)))
				q.a = &a
				want := eosTopEigen(&a)
				m, err := p.Measure(k)
				if err != nil {
					t.Fatal(err)
				}
				if got := m["lambda_max"]; math.Abs(got-want) > 1e-6*want {
					t.Errorf("measurement %d: λ₁ = %.10g, want %.10g", k, got, want)
				}
				g := make([]float64, n)
				if _, err := q.Gradient(g); err != nil {
					t.Fatal(err)
				}
				if got, want := m["ngd_sharpness"], eta*m["lambda_max"]/floats.Norm(g, 2); math.Abs(got-want) > 1e-12*want {
					t.Errorf("measurement %d: ngd_sharpness = %g, want %g", k, got, want)
				}
				if got := m["eta_lambda"]; math.Abs(got-eta*m["lambda_max"]) > 1e-12 {
					t.Errorf("measurement %d: eta_lambda = %g", k, got)
				}
				if cold, ok := m["lambda_max_cold"]; ok != ((k+1)%4 == 0) {
					t.Errorf("measurement %d: cold reference present = %v", k, ok)
				} else if ok && math.Abs(cold-want) > 1e-9*want {
					t.Errorf("measurement %d: cold reference %.10g, want %.10g", k, cold, want)
				}
				if m["lambda_max_iters"] < 3 {
					t.Errorf("measurement %d: %g Lanczos steps, below the minimum 3", k, m["lambda_max_iters"])
				}
				iters = append(iters, m["lambda_max_iters"])
			}
			t.Logf("Lanczos steps per measurement: %v", iters)
			var warm float64
			for _, v := range iters[1:] {
				warm += v
			}
			warm /= float64(len(iters) - 1)
			if !(warm < iters[0]) {
				t.Errorf("warm starts took %.2f steps on average, the cold first measurement %g (%v)", warm, iters[0], iters)
			}
			if p.verified != 3 || p.maxRelDiff > 1e-6 {
				t.Errorf("%d cold checks, max relative difference %g", p.verified, p.maxRelDiff)
			}
		})
	}
}

func scaledSym(a *mat.SymDense, s float64) *mat.SymDense {
	var b mat.SymDense
	b.ScaleSym(s, a)
	return &b
}

// TestEOSLambdaProbeErrors checks the option validation.
func TestEOSLambdaProbeErrors(t *testing.T) {
	q := &eosQuadratic{a: eosSpectrumMatrix([]float64{1, 2, 3, 4}, 1), theta: []float64{1, 0, 0, 0}}
	lr := func() float64 { return 0.1 }
	for _, o := range []eosLambdaOptions{
		{every: 0, lr: lr, minSteps: 3, maxSteps: 10},
		{every: 1, lr: lr, minSteps: eosMinLanczosSteps - 1, maxSteps: 10},
		{every: 1, lr: lr, minSteps: 6, maxSteps: 5},
		{every: 1, lr: lr, minSteps: 3, maxSteps: 10, tol: -1},
		{every: 1, lr: lr, minSteps: 3, maxSteps: 10, verifyEvery: -1},
		{every: 1, minSteps: 3, maxSteps: 10},
	} {
		if _, err := newEOSLambdaProbe(q, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"
	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
	"github.com/gradlab/gradlab/train/metrics"
	"github.com/gradlab/gradlab/train/plot"
)

// NormSharp is the study of PAPERS.md §2: with a scale-invariant loss,
// gradient descent plus weight decay shrinks ‖θ‖ until the effective step
// η/‖θ‖² puts it at the edge of stability (η·λ₁ ≈ 2), and then drifts
// towards minima of lower spherical sharpness ‖θ‖²·λ₁; without weight decay
// ‖θ‖ grows, the effective step falls and nothing of the kind happens.
//
// Part (a) is the exact 3-D toy L(θ) = (1 + 4ĥ₁²)·ĥ₂², ĥ = θ/‖θ‖, trained by
// GD through a compiled gorgonia graph (one step per run, nothing batched)
// with a tiny seeded gradient noise, λ₁ from the 3×3 Hessian assembled from
// three autodiff Hessian–vector products. Part (b) is a scale-invariant
// layer-norm MLP (nn.ScaleInvMLP) on an MNIST subset, full-batch GD with and
// without weight decay through the trainer, λ₁ by power iteration on the
// curvature package's Hessian operator.
func NormSharp() *Experiment {
	params := []config.Param{
		{Key: "toy.lr", Default: 0.1, Help: "toy: GD step η"},
		{Key: "toy.steps", Default: 400000, Help: "toy: GD steps"},
		{Key: "toy.theta0", Default: []float64{0.9, 0.3, 0.3}, Help: "toy: initial θ"},
		{Key: "toy.wds", Default: []float64{1e-2, 1e-3}, Help: "toy: weight decays expected to reach the edge of stability"},
		{Key: "toy.noise", Default: 1e-9, Help: "toy: standard deviation of the seeded noise added to each gradient entry"},
		{Key: "toy.log_every", Default: 1000, Help: "toy: steps between λ₁ measurements"},
		{Key: "net.enabled", Default: true, Help: "run part (b), the scale-invariant MLP on MNIST"},
		{Key: "net.data_dir", Default: "", Help: "folder with the MNIST IDX files (default: the GoMNIST module's data folder)"},
		{Key: "net.train_size", Default: 1000, Help: "first N MNIST training images"},
		{Key: "net.hidden", Default: []int{128, 128}, Help: "hidden widths (each followed by layer norm and ReLU)"},
		{Key: "net.dtype", Default: "float32", Help: "float32 or float64"},
		{Key: "net.lr", Default: 0.1, Help: "GD step η"},
		{Key: "net.wd", Default: 1e-2, Help: "weight decay of the WD run (the other run has none)"},
		{Key: "net.steps", Default: 1800, Help: "full-batch GD steps per run (the paper's measurement used 6,000; the small preset stops earlier)"},
		{Key: "net.probe_every", Default: 50, Help: "steps between λ₁ measurements"},
		{Key: "net.power_iters", Default: 20, Help: "cap on power iterations per λ₁ measurement (warm-started)"},
		{Key: "check.toy_max_sph_ratio", Default: 1.05, Help: "verdict: final toy spherical sharpness ≤ this × 2 with WD"},
		{Key: "check.toy_eos_lo", Default: 1.6, Help: "verdict: median η·λ₁ over the second half ≥ this (toy, WD)"},
		{Key: "check.toy_eos_hi", Default: 2.4, Help: "verdict: median η·λ₁ over the second half ≤ this (toy, WD)"},
		{Key: "check.toy_nowd_min_sph", Default: 4.0, Help: "verdict: toy spherical sharpness stays ≥ this without WD"},
		{Key: "check.toy_nowd_max_eta_lambda", Default: 1.0, Help: "verdict: toy max η·λ₁ ≤ this without WD (PAPERS.md: < 1)"},
		{Key: "check.net_max_sph_ratio", Default: 1.0, Help: "verdict: final spherical sharpness with WD / without WD ≤ this"},
		{Key: "check.net_max_norm_ratio", Default: 1.0, Help: "verdict: final ‖θ‖² / initial ‖θ‖² with WD ≤ this"},
	}
	return &Experiment{
		Name:        "normsharp",
		Description: "normalization + weight decay reduce spherical sharpness: the 3-D scale-invariant toy and a layer-norm MLP on 1,000 MNIST images (PAPERS.md §2)",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"net.steps": 6000, "net.probe_every": 50, "net.dtype": "float32"},
		},
		FullRuntime: "not measured on a GPU: this build has no CUDA kernel set (--device cuda is refused). On a 2-core CPU the toy " +
			"part takes about 6 s and the net part about 40–50 ms per full-batch step with λ₁ every 50 steps, so the two " +
			"6,000-step runs take about 10 minutes",
		Run: runNormSharp,
	}
}

// toyLoss builds L(θ) = (1 + 4θ₁²/‖θ‖²)·θ₂²/‖θ‖² for a (3,) node θ.
func toyLoss(theta *gorgonia.Node) (*gorgonia.Node, error) {
	if theta.Dims() != 1 || theta.Shape()[0] != 3 {
		return nil, fmt.Errorf("normsharp toy: θ has shape %v, want (3)", theta.Shape())
	}
	dt := theta.Dtype()
	unit := func(i int) *gorgonia.Node {
		e := make([]float64, 3)
		e[i] = 1
		return gorgonia.NewConstant(gt.New(gt.WithShape(3), gt.WithBacking(e)), gorgonia.WithName(fmt.Sprintf("e%d", i)))
	}
	if dt != gt.Float64 {
		return nil, fmt.Errorf("normsharp toy: θ must be float64")
	}
	sq, err := gorgonia.HadamardProd(theta, theta)
	if err != nil {
		return nil, err
	}
	n2, err := gorgonia.Sum(sq)
	if err != nil {
		return nil, err
	}
	t1, err := gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(sq, unit(0))))
	if err != nil {
		return nil, err
	}
	t2, err := gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(sq, unit(1))))
	if err != nil {
		return nil, err
	}
	inv, err := ops.Pow(n2, -1, 0)
	if err != nil {
		return nil, err
	}
	h1, err := gorgonia.Mul(t1, inv)
	if err != nil {
		return nil, err
	}
	h2, err := gorgonia.Mul(t2, inv)
	if err != nil {
		return nil, err
	}
	four := gorgonia.NewConstant(4.0)
	one := gorgonia.NewConstant(1.0)
	f, err := gorgonia.Add(one, gorgonia.Must(gorgonia.Mul(four, h1)))
	if err != nil {
		return nil, err
	}
	return gorgonia.Mul(f, h2)
}

// toyProgram is the compiled toy: a gradient program and an HVP program
// on the same graph, with θ and the probe backed by slices we write.
type toyProgram struct {
	theta, probe []float64
	grad, hvp    *engine.Program
}

func newToyProgram() (*toyProgram, error) {
	g := gorgonia.NewGraph()
	tp := &toyProgram{theta: make([]float64, 3), probe: make([]float64, 3)}
	th := gorgonia.NewVector(g, gt.Float64, gorgonia.WithShape(3), gorgonia.WithName("theta"),
		gorgonia.WithValue(gt.New(gt.WithShape(3), gt.WithBacking(tp.theta))))
	loss, err := toyLoss(th)
	if err != nil {
		return nil, err
	}
	grads, err := autodiff.Grad(loss, th)
	if err != nil {
		return nil, fmt.Errorf("normsharp toy: gradient: %w", err)
	}
	pr := gorgonia.NewVector(g, gt.Float64, gorgonia.WithShape(3), gorgonia.WithName("probe"),
		gorgonia.WithValue(gt.New(gt.WithShape(3), gt.WithBacking(tp.probe))))
	hv, err := autodiff.HVP(loss, gorgonia.Nodes{th}, gorgonia.Nodes{pr})
	if err != nil {
		return nil, fmt.Errorf("normsharp toy: HVP: %w", err)
	}
	if tp.grad, err = engine.Compile(g, loss, grads[0]); err != nil {
		return nil, err
	}
	if tp.hvp, err = engine.Compile(g, hv[0]); err != nil {
		tp.grad.Close()
		return nil, err
	}
	return tp, nil
}

func (tp *toyProgram) Close() error { return errors.Join(tp.grad.Close(), tp.hvp.Close()) }

// gradient writes ∇L(θ) into g and returns L(θ) at the current θ.
func (tp *toyProgram) gradient(g []float64) (float64, error) {
	if err := tp.grad.Run(); err != nil {
		return 0, err
	}
	l, err := tp.grad.Scalar(0)
	if err != nil {
		return 0, err
	}
	d, err := tp.grad.Dense(1)
	if err != nil {
		return 0, err
	}
	copy(g, d.Data().([]float64))
	return l, nil
}

// hessian assembles the 3×3 Hessian at the current θ column by column from
// HVPs and returns its symmetric part.
func (tp *toyProgram) hessian() (*mat.SymDense, error) {
	var h [3][3]float64
	for j := 0; j < 3; j++ {
		clear(tp.probe)
		tp.probe[j] = 1
		if err := tp.hvp.Run(); err != nil {
			return nil, err
		}
		d, err := tp.hvp.Dense(0)
		if err != nil {
			return nil, err
		}
		for i, v := range d.Data().([]float64) {
			h[i][j] = v
		}
	}
	s := mat.NewSymDense(3, nil)
	for i := 0; i < 3; i++ {
		for j := i; j < 3; j++ {
			s.SetSym(i, j, (h[i][j]+h[j][i])/2)
		}
	}
	return s, nil
}

// lambdaMax is the largest eigenvalue of the Hessian at the current θ.
func (tp *toyProgram) lambdaMax() (float64, error) {
	h, err := tp.hessian()
	if err != nil {
		return 0, err
	}
	var es mat.EigenSym
	if !es.Factorize(h, false) {
		return 0, fmt.Errorf("normsharp toy: eigen-decomposition failed")
	}
	v := es.Values(nil)
	return slices.Max(v), nil
}

// toyPoint is one λ₁ measurement of a toy run.
type toyPoint struct {
	Step                              int
	Loss, NormSq, EtaLambda, Sph, H1s float64
}

// toyRun is one toy trajectory.
type toyRun struct {
	WD      float64
	Trace   []toyPoint
	Seconds float64
}

// runToy trains the toy by θ ← (1 − ηλ)θ − η(∇L(θ) + noise).
func runToy(ctx context.Context, tp *toyProgram, theta0 []float64, eta, wd, noise float64, steps, every int, seed uint64) (*toyRun, error) {
	copy(tp.theta, theta0)
	rng := tensor.NewRNG(seed, 0x70)
	g := make([]float64, 3)
	run := &toyRun{WD: wd}
	t0 := time.Now()
	for step := 0; step <= steps; step++ {
		if step%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		l, err := tp.gradient(g)
		if err != nil {
			return nil, fmt.Errorf("normsharp toy step %d: %w", step, err)
		}
		if step%every == 0 || step == steps {
			lam, err := tp.lambdaMax()
			if err != nil {
				return nil, err
			}
			n2 := tp.theta[0]*tp.theta[0] + tp.theta[1]*tp.theta[1] + tp.theta[2]*tp.theta[2]
			run.Trace = append(run.Trace, toyPoint{Step: step, Loss: l, NormSq: n2, EtaLambda: eta * lam,
				Sph: n2 * lam, H1s: tp.theta[0] * tp.theta[0] / n2})
			if math.IsNaN(l) || math.IsInf(l, 0) || math.IsNaN(lam) {
				return nil, fmt.Errorf("normsharp toy: non-finite value at step %d", step)
			}
		}
		if step == steps {
			break
		}
		for i := range tp.theta {
			tp.theta[i] = (1-eta*wd)*tp.theta[i] - eta*(g[i]+noise*rng.NormFloat64())
		}
	}
	run.Seconds = time.Since(t0).Seconds()
	return run, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// netRun is one run of the scale-invariant MLP.
type netRun struct {
	WD                  float64
	Steps               []float64
	Loss, EtaLambda     []float64
	NormSq, Sph         []float64
	InitNormSq, Seconds float64
}

func runNormSharp(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	out := &Outcome{Values: map[string]any{}}
	eta, steps, every := cfg.Float("toy.lr"), cfg.Int("toy.steps"), cfg.Int("toy.log_every")
	theta0 := cfg.Floats("toy.theta0")
	if len(theta0) != 3 || eta <= 0 || steps <= 0 || every <= 0 {
		return nil, fmt.Errorf("normsharp: want toy.theta0 of length 3 and positive toy.lr, toy.steps, toy.log_every")
	}
	if err := os.MkdirAll(filepath.Join(env.Dir, "plots"), 0o755); err != nil {
		return nil, err
	}
	tp, err := newToyProgram()
	if err != nil {
		return nil, err
	}
	defer tp.Close()
	wds := append(cfg.Floats("toy.wds"), 0)
	var toys []*toyRun
	for k, wd := range wds {
		r, err := runToy(ctx, tp, theta0, eta, wd, cfg.Float("toy.noise"), steps, every, env.Seed+uint64(k)*1000)
		if err != nil {
			return nil, err
		}
		toys = append(toys, r)
		last := r.Trace[len(r.Trace)-1]
		env.Logf("toy WD=%g: %d steps in %.1f s (%.1f µs/step incl. λ₁ every %d): final ‖θ‖² %.4g, η·λ₁ %.3f, spherical sharpness %.4f, ĥ₁² %.3g",
			wd, steps, r.Seconds, r.Seconds/float64(steps)*1e6, every, last.NormSq, last.EtaLambda, last.Sph, last.H1s)
		out.Values[fmt.Sprintf("toy_wd%g_seconds", wd)] = math.Round(r.Seconds*100) / 100
	}
	maxRatio := cfg.Float("check.toy_max_sph_ratio")
	for _, r := range toys {
		last := r.Trace[len(r.Trace)-1]
		var second, sph, el []float64
		for _, p := range r.Trace {
			if p.Step >= steps/2 {
				second = append(second, p.EtaLambda)
			}
			sph = append(sph, p.Sph)
			el = append(el, p.EtaLambda)
		}
		tag := fmt.Sprintf("toy_wd%g", r.WD)
		if r.WD > 0 {
			med := median(second)
			out.Checks = append(out.Checks,
				AtMost(tag+"_final_spherical_sharpness", last.Sph, maxRatio*2),
				Within(tag+"_median_eta_lambda_second_half", med, cfg.Float("check.toy_eos_lo"), cfg.Float("check.toy_eos_hi")))
			out.Values[tag+"_median_eta_lambda_second_half"] = med
		} else {
			out.Checks = append(out.Checks,
				AtLeast(tag+"_min_spherical_sharpness", slices.Min(sph), cfg.Float("check.toy_nowd_min_sph")),
				AtMost(tag+"_max_eta_lambda", slices.Max(el), cfg.Float("check.toy_nowd_max_eta_lambda")))
		}
		out.Values[tag+"_final_spherical_sharpness"] = last.Sph
		out.Values[tag+"_final_norm_sq"] = last.NormSq
		out.Values[tag+"_final_eta_lambda"] = last.EtaLambda
	}
	if err := writeToyMetrics(env.Dir, toys); err != nil {
		return nil, err
	}
	if err := toyPlots(env.Dir, toys, eta); err != nil {
		env.Logf("warning: toy plots: %v", err)
	}
	if !cfg.Bool("net.enabled") {
		return out, nil
	}
	nets, err := runNormSharpNet(ctx, env)
	if err != nil {
		return nil, err
	}
	wdRun, plain := nets[0], nets[1]
	sphRatio := wdRun.Sph[len(wdRun.Sph)-1] / plain.Sph[len(plain.Sph)-1]
	normRatio := wdRun.NormSq[len(wdRun.NormSq)-1] / wdRun.InitNormSq
	out.Checks = append(out.Checks,
		AtMost("net_final_sph_ratio_wd_over_nowd", sphRatio, cfg.Float("check.net_max_sph_ratio")),
		AtMost("net_wd_norm_sq_final_over_initial", normRatio, cfg.Float("check.net_max_norm_ratio")))
	half := func(v []float64) []float64 { return v[len(v)/2:] }
	for _, r := range nets {
		tag := "net_nowd"
		if r.WD > 0 {
			tag = "net_wd"
		}
		n := len(r.Sph) - 1
		out.Values[tag+"_final_spherical_sharpness"] = r.Sph[n]
		out.Values[tag+"_final_norm_sq"] = r.NormSq[n]
		out.Values[tag+"_initial_norm_sq"] = r.InitNormSq
		out.Values[tag+"_final_eta_lambda"] = r.EtaLambda[n]
		out.Values[tag+"_max_eta_lambda"] = slices.Max(r.EtaLambda)
		out.Values[tag+"_median_eta_lambda_last_half"] = median(half(r.EtaLambda))
		out.Values[tag+"_final_loss"] = r.Loss[n]
		out.Values[tag+"_seconds"] = math.Round(r.Seconds*100) / 100
	}
	out.Values["net_final_sph_ratio_wd_over_nowd"] = sphRatio
	out.Values["net_wd_norm_sq_final_over_initial"] = normRatio
	if err := netPlots(env.Dir, nets, cfg.Float("net.lr")); err != nil {
		env.Logf("warning: net plots: %v", err)
	}
	return out, nil
}

// runNormSharpNet trains the scale-invariant MLP twice (WD, then no WD)
// from the same initialization and returns the two probe traces.
func runNormSharpNet(ctx context.Context, env *Env) ([]*netRun, error) {
	cfg := env.Config
	ds, err := data.LoadMNIST("train", cfg.String("net.data_dir"))
	if err != nil {
		return nil, err
	}
	n := cfg.Int("net.train_size")
	if n <= 0 || n > ds.Len() {
		return nil, fmt.Errorf("net.train_size %d: want 1..%d", n, ds.Len())
	}
	ds = ds.Head(n)
	mean, std := ds.MeanStd()
	if err := ds.Normalize(mean, std); err != nil {
		return nil, err
	}
	dt, err := parseDtype(cfg.String("net.dtype"))
	if err != nil {
		return nil, err
	}
	act, _ := nn.ParseActivation("relu")
	widths := append([]int{ds.ExampleSize()}, cfg.Ints("net.hidden")...)
	widths = append(widths, ds.Classes)
	eta, steps, every := cfg.Float("net.lr"), cfg.Int("net.steps"), cfg.Int("net.probe_every")
	if eta <= 0 || steps <= 0 || every <= 0 {
		return nil, fmt.Errorf("normsharp: net.lr, net.steps and net.probe_every must be positive")
	}
	var runs []*netRun
	for _, wd := range []float64{cfg.Float("net.wd"), 0} {
		model, err := nn.NewScaleInvMLP(tensor.NewRNG(env.Seed, 0x51), dt, widths, act, 0)
		if err != nil {
			return nil, err
		}
		op, err := curvature.NewHessianOperator(model, ds, curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true})
		if err != nil {
			return nil, err
		}
		probe, err := curvature.NewSharpnessProbe(op, curvature.SharpnessOptions{
			Every: every, LR: func() float64 { return eta }, Method: curvature.PowerMethod,
			Power: curvature.PowerOptions{MaxIter: cfg.Int("net.power_iters")}, WarmStart: true, Seed: env.Seed,
		})
		if err != nil {
			op.Close()
			return nil, err
		}
		opt, err := optim.NewSGD(optim.SGDConfig{LR: eta, WeightDecay: wd})
		if err != nil {
			op.Close()
			return nil, err
		}
		sub := filepath.Join(env.Dir, fmt.Sprintf("net-wd%g", wd))
		tr, err := train.New(model, opt, ds, nil, train.Options{
			Epochs: steps, BatchSize: ds.Len(), Seed: env.Seed, Loss: objective.CrossEntropy, Flatten: true,
			LogEvery: every, EvalEvery: steps, CheckpointEvery: steps, Dir: sub,
			Probes: []train.Probe{probe},
		})
		if err != nil {
			op.Close()
			return nil, err
		}
		env.Logf("net WD=%g: MLP %v with layer norm, fixed last layer, %d trainable parameters, %d full-batch steps on %d images",
			wd, widths, model.Params().Trainable().Count(), steps, ds.Len())
		theta0 := model.Params().Trainable().Values().Norm()
		t0 := time.Now()
		if _, err := tr.Run(ctx); err != nil {
			op.Close()
			return nil, err
		}
		op.Close()
		r, err := readNetRun(filepath.Join(sub, metrics.JSONLFile), wd)
		if err != nil {
			return nil, err
		}
		r.Seconds = time.Since(t0).Seconds()
		r.InitNormSq = theta0 * theta0
		k := len(r.Steps) - 1
		env.Logf("net WD=%g: %.1f s; ‖θ‖² %.4g → %.4g, η·λ₁ %.3f → %.3f (max %.3f), spherical sharpness %.4g → %.4g, loss %.3g",
			wd, r.Seconds, r.InitNormSq, r.NormSq[k], r.EtaLambda[0], r.EtaLambda[k], slices.Max(r.EtaLambda), r.Sph[0], r.Sph[k], r.Loss[k])
		runs = append(runs, r)
	}
	return runs, nil
}

// readNetRun extracts the probe values from a run's metrics.jsonl.
func readNetRun(path string, wd float64) (*netRun, error) {
	recs, err := metrics.Read(path)
	if err != nil {
		return nil, err
	}
	r := &netRun{WD: wd}
	for _, rec := range recs {
		sph, ok := rec.Get("spherical_sharpness")
		if !ok {
			continue
		}
		el, _ := rec.Get("eta_lambda")
		ns, _ := rec.Get("param_norm_sq")
		pl, _ := rec.Get("probe_loss")
		r.Steps = append(r.Steps, float64(rec.Step))
		r.Sph, r.EtaLambda, r.NormSq, r.Loss = append(r.Sph, sph), append(r.EtaLambda, el), append(r.NormSq, ns), append(r.Loss, pl)
	}
	if len(r.Steps) < 2 {
		return nil, fmt.Errorf("normsharp: %s has %d sharpness records, want at least 2", path, len(r.Steps))
	}
	return r, nil
}

func writeToyMetrics(dir string, toys []*toyRun) error {
	w, err := metrics.Create(dir)
	if err != nil {
		return err
	}
	for i, p := range toys[0].Trace {
		v := map[string]float64{}
		for _, r := range toys {
			if i >= len(r.Trace) {
				continue
			}
			q := r.Trace[i]
			tag := fmt.Sprintf("toy_wd%g_", r.WD)
			v[tag+"eta_lambda"], v[tag+"spherical_sharpness"], v[tag+"norm_sq"] = q.EtaLambda, q.Sph, q.NormSq
		}
		if err := w.Write(metrics.Record{Step: p.Step, Loss: p.Loss, Values: v}); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.WriteSummary(); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func toyPlots(dir string, toys []*toyRun, eta float64) error {
	mk := func(get func(toyPoint) float64) []plot.Series {
		var ss []plot.Series
		for _, r := range toys {
			s := plot.Series{Name: fmt.Sprintf("WD %g", r.WD)}
			for _, p := range r.Trace {
				s.X, s.Y = append(s.X, float64(p.Step)), append(s.Y, get(p))
			}
			ss = append(ss, s)
		}
		return ss
	}
	pd := filepath.Join(dir, "plots")
	if err := plot.Lines(filepath.Join(pd, "toy_eta_lambda.png"), fmt.Sprintf("toy: η·λ₁ (η = %g)", eta), "step", "η·λ₁",
		mk(func(p toyPoint) float64 { return p.EtaLambda }), plot.Options{HLines: []plot.HLine{{Y: 2, Label: "2"}}}); err != nil {
		return err
	}
	if err := plot.Lines(filepath.Join(pd, "toy_spherical_sharpness.png"), "toy: spherical sharpness ‖θ‖²·λ₁", "step", "‖θ‖²·λ₁",
		mk(func(p toyPoint) float64 { return p.Sph }), plot.Options{HLines: []plot.HLine{{Y: 2, Label: "minimum 2"}}}); err != nil {
		return err
	}
	return plot.Lines(filepath.Join(pd, "toy_norm_sq.png"), "toy: ‖θ‖²", "step", "‖θ‖²",
		mk(func(p toyPoint) float64 { return p.NormSq }), plot.Options{LogY: true})
}

func netPlots(dir string, nets []*netRun, eta float64) error {
	mk := func(get func(*netRun) []float64) []plot.Series {
		var ss []plot.Series
		for _, r := range nets {
			ss = append(ss, plot.Series{Name: fmt.Sprintf("WD %g", r.WD), X: r.Steps, Y: get(r)})
		}
		return ss
	}
	pd := filepath.Join(dir, "plots")
	if err := plot.Lines(filepath.Join(pd, "net_eta_lambda.png"), fmt.Sprintf("layer-norm MLP: η·λ₁ (η = %g)", eta), "step", "η·λ₁",
		mk(func(r *netRun) []float64 { return r.EtaLambda }), plot.Options{HLines: []plot.HLine{{Y: 2, Label: "2"}}}); err != nil {
		return err
	}
	if err := plot.Lines(filepath.Join(pd, "net_spherical_sharpness.png"), "layer-norm MLP: spherical sharpness ‖θ‖²·λ₁", "step", "‖θ‖²·λ₁",
		mk(func(r *netRun) []float64 { return r.Sph }), plot.Options{LogY: true}); err != nil {
		return err
	}
	return plot.Lines(filepath.Join(pd, "net_norm_sq.png"), "layer-norm MLP: ‖θ‖²", "step", "‖θ‖²",
		mk(func(r *netRun) []float64 { return r.NormSq }), plot.Options{LogY: true})
}

package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
	"github.com/gradlab/gradlab/train/metrics"
	"github.com/gradlab/gradlab/train/plot"
)

// Mirror checks that gradient descent on the diagonal linear network
// x = u⊙u − v⊙v, started at u = v = α·1, ends at the interpolator that mirror
// descent with the hyperbolic entropy R_α predicts (PAPERS.md §1), and
// measures the Lie brackets of the gradient fields of a commuting and a
// non-commuting parametrization.
func Mirror() *Experiment {
	params := []config.Param{
		{Key: "data.m", Default: 10, Help: "number of measurements (rows of A)"},
		{Key: "data.d", Default: 40, Help: "dimension of x (columns of A)"},
		{Key: "data.sparsity", Default: 3, Help: "non-zeros of the planted w* (entries ±1)"},
		{Key: "model.alphas", Default: []float64{0.01, 0.3, 3}, Help: "initialisation scales α (u₀ = v₀ = α·1), decreasing order not required"},
		{Key: "train.lr", Default: []float64{5e-3, 5e-3, 1e-3}, Help: "GD step size on (u, v), one per α or one for all; GD's limit point differs from gradient flow's by O(lr), and the largest α needs lr below about 2/(4·2α²·λ_max(AᵀA/m)) for stability"},
		{Key: "train.max_steps", Default: 2000000, Help: "GD step limit per α"},
		{Key: "train.loss_tol", Default: 1e-22, Help: "GD stops once the training loss ½·mean (⟨a_i,x⟩ − b_i)² is at most this"},
		{Key: "train.log_every", Default: 1000, Help: "steps between metric records"},
		{Key: "md.lr", Default: []float64{5e-3, 5e-3, 1e-3}, Help: "step size of the mirror-descent optimizer run directly on x (a second, discrete prediction), one per α or one for all"},
		{Key: "bracket.d", Default: 6, Help: "dimension of the diagonal maps (u⊙u − v⊙v and w₁⊙w₂⊙w₃) whose Lie brackets are measured"},
		{Key: "bracket.k", Default: 3, Help: "U is k×rank for the non-commuting map x = vec(UUᵀ)"},
		{Key: "bracket.rank", Default: 2, Help: "rank of U for x = vec(UUᵀ)"},
		{Key: "check.max_md_relerr", Default: 1e-2, Help: "verdict: ‖x_GD − x_MD‖/‖x_MD‖ at most this for every α"},
		{Key: "check.max_l2_relerr", Default: 1e-3, Help: "verdict: at the largest α, ‖x_GD − x_ℓ₂‖/‖x_ℓ₂‖ at most this"},
		{Key: "check.max_bracket_commuting", Default: 1e-10, Help: "verdict: normalised Lie bracket of the diagonal map at most this"},
		{Key: "check.min_bracket_noncommuting", Default: 1e-2, Help: "verdict: normalised Lie bracket of vec(UUᵀ) at least this"},
	}
	return &Experiment{
		Name: "mirror",
		Description: "GD on the diagonal net u⊙u − v⊙v vs the mirror-descent (hyperbolic entropy) prediction for several α, " +
			"ℓ₁→ℓ₂ transition, and Lie brackets of commuting vs non-commuting parametrizations",
		Params: params,
		Presets: map[string]map[string]any{
			"small": {},
			"full": {"data.m": 100, "data.d": 1000, "data.sparsity": 10, "train.lr": []float64{2e-3, 2e-3, 2e-4},
				"train.max_steps": 5000000, "train.log_every": 5000, "md.lr": []float64{2e-3, 2e-3, 2e-4}, "bracket.d": 20, "bracket.k": 5},
		},
		FullRuntime: "about 1 minute, all on the CPU (measured: 31 s of CPU time, 223 s wall on a loaded 2-core machine; 2·10⁵ GD steps on a 100×1000 system). " +
			"The models are too small for the GPU to matter; d = 10⁴–10⁵ as in the paper would need GPU kernels for the matrix products",
		Run: runMirror,
	}
}

// mirrorAlphaKey turns α into a metric-name fragment without dots: 0.01 → "0p01".
func mirrorAlphaKey(a float64) string {
	return strings.ReplaceAll(fmt.Sprintf("%g", a), ".", "p")
}

// mirrorProblem is the under-determined system Ax = b. A and b are stored in
// float32 in the dataset; the float64 copies here hold exactly those values,
// so that the graph and the reference solve the same system.
type mirrorProblem struct {
	m, d  int
	a     *mat.Dense
	b     *mat.VecDense
	wStar []float64
	ds    *data.Dataset
}

func newMirrorProblem(m, d, k int, seed uint64) (*mirrorProblem, error) {
	if m <= 0 || d <= m || k <= 0 || k > d {
		return nil, fmt.Errorf("mirror: want 0 < m < d and 0 < sparsity ≤ d, got m=%d d=%d sparsity=%d", m, d, k)
	}
	rng := tensor.NewRNG(seed, 11)
	x32 := make([]float32, m*d)
	a := mat.NewDense(m, d, nil)
	for i := range x32 {
		x32[i] = float32(rng.NormFloat64())
		a.Set(i/d, i%d, float64(x32[i]))
	}
	w := make([]float64, d)
	for _, j := range rng.Perm(d)[:k] {
		w[j] = 1
		if rng.IntN(2) == 0 {
			w[j] = -1
		}
	}
	t32 := make([]float32, m)
	b := mat.NewVecDense(m, nil)
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < d; j++ {
			s += a.At(i, j) * w[j]
		}
		t32[i] = float32(s)
		b.SetVec(i, float64(t32[i]))
	}
	ds := &data.Dataset{Name: "mirror-linear", X: x32, Shape: []int{d}, Targets: t32, TargetDim: 1}
	return &mirrorProblem{m: m, d: d, a: a, b: b, wStar: w, ds: ds}, nil
}

// mirrorSolution is x(ν) = 2α² sinh(4Aᵀν) at the ν solving A x(ν) = b.
type mirrorSolution struct {
	x        []float64
	iters    int
	residual float64 // ‖A x − b‖ / ‖b‖
}

// mirrorSolve finds argmin_{Ax=b} R_α(x) through its dual: ν minimises the
// convex φ(ν) = Σᵢ (α²/2)·cosh(4(Aᵀν)ᵢ) − νᵀb, whose gradient is A x(ν) − b
// and whose Hessian is A·diag(8α² cosh(4Aᵀν))·Aᵀ. Damped Newton in float64.
func mirrorSolve(a *mat.Dense, b *mat.VecDense, alpha float64) (mirrorSolution, error) {
	m, d := a.Dims()
	a2 := alpha * alpha
	nu := mat.NewVecDense(m, nil)
	y := mat.NewVecDense(d, nil)
	x := mat.NewVecDense(d, nil)
	grad := mat.NewVecDense(m, nil)
	step := mat.NewVecDense(m, nil)
	trial := mat.NewVecDense(m, nil)
	phi := func(n *mat.VecDense) float64 {
		y.MulVec(a.T(), n)
		var s float64
		for j := 0; j < d; j++ {
			s += a2 / 2 * math.Cosh(4*y.AtVec(j))
		}
		return s - mat.Dot(n, b)
	}
	eval := func(n *mat.VecDense) {
		y.MulVec(a.T(), n)
		for j := 0; j < d; j++ {
			x.SetVec(j, 2*a2*math.Sinh(4*y.AtVec(j)))
		}
		grad.MulVec(a, x)
		grad.SubVec(grad, b)
	}
	bn := mat.Norm(b, 2)
	h := mat.NewSymDense(m, nil)
	var chol mat.Cholesky
	prev := math.Inf(1)
	for it := 0; it < 500; it++ {
		eval(nu)
		res := mat.Norm(grad, 2) / bn
		// Converged, or stuck at the rounding floor of A·x(ν) − b.
		if res < 1e-14 || (res < 1e-10 && res > prev/2) {
			return mirrorSolution{x: append([]float64(nil), x.RawVector().Data...), iters: it, residual: res}, nil
		}
		for i := 0; i < m; i++ {
			for k := i; k < m; k++ {
				var s float64
				for j := 0; j < d; j++ {
					s += a.At(i, j) * 8 * a2 * math.Cosh(4*y.AtVec(j)) * a.At(k, j)
				}
				h.SetSym(i, k, s)
			}
		}
		if ok := chol.Factorize(h); !ok {
			return mirrorSolution{}, fmt.Errorf("mirror: dual Hessian not positive definite at Newton step %d (α = %g)", it, alpha)
		}
		if err := chol.SolveVecTo(step, grad); err != nil {
			return mirrorSolution{}, fmt.Errorf("mirror: Newton step %d: %w", it, err)
		}
		f0, slope := phi(nu), mat.Dot(grad, step)
		t := 1.0
		for {
			trial.AddScaledVec(nu, -t, step)
			if f := phi(trial); f <= f0-0.25*t*slope {
				break
			}
			// Near the solution φ's decrease drops below its rounding
			// error; a clear decrease of the residual ‖∇φ‖ is then the
			// test that still measures progress.
			eval(trial)
			if mat.Norm(grad, 2)/bn <= (1-t/4)*res {
				break
			}
			if t /= 2; t < 1e-12 {
				// No decrease is measurable any more: φ is at its
				// minimum to rounding. Accept a small residual.
				eval(nu)
				if res < 1e-9 {
					return mirrorSolution{x: append([]float64(nil), x.RawVector().Data...), iters: it, residual: res}, nil
				}
				return mirrorSolution{}, fmt.Errorf("mirror: Newton line search stalled at relative residual %.3g (α = %g)", res, alpha)
			}
		}
		nu.CopyVec(trial)
		prev = res
	}
	eval(nu)
	if res := mat.Norm(grad, 2) / bn; res < 1e-9 {
		return mirrorSolution{x: append([]float64(nil), x.RawVector().Data...), iters: 500, residual: res}, nil
	}
	return mirrorSolution{}, fmt.Errorf("mirror: Newton did not converge for α = %g (relative residual %.3g)", alpha, mat.Norm(grad, 2)/bn)
}

// mirrorMinNorm is Aᵀ(AAᵀ)⁻¹b.
func mirrorMinNorm(a *mat.Dense, b *mat.VecDense) ([]float64, error) {
	m, d := a.Dims()
	var aat mat.SymDense
	aat.SymOuterK(1, a)
	var chol mat.Cholesky
	if ok := chol.Factorize(&aat); !ok {
		return nil, errors.New("mirror: AAᵀ is singular")
	}
	z := mat.NewVecDense(m, nil)
	if err := chol.SolveVecTo(z, b); err != nil {
		return nil, err
	}
	x := mat.NewVecDense(d, nil)
	x.MulVec(a.T(), z)
	return x.RawVector().Data, nil
}

func mirrorRelDist(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func mirrorNorm1(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += math.Abs(v)
	}
	return s
}

// mirrorDescentX runs optim.MirrorDescent with the hyperbolic entropy on x
// itself (x₀ = 0, L(x) = ½·mean (⟨a_i,x⟩ − b_i)²) until the loss reaches tol:
// the discrete mirror descent whose continuous limit the diagonal net follows.
func mirrorDescentX(p *mirrorProblem, alpha, lr, tol float64, maxSteps int) ([]float64, int, error) {
	md, err := optim.NewMirrorDescent(optim.HyperbolicEntropy{Alpha: alpha}, lr)
	if err != nil {
		return nil, 0, err
	}
	xs := make([]float64, p.d)
	gs := make([]float64, p.d)
	xt := gt.New(gt.WithShape(p.d), gt.WithBacking(xs))
	gtn := gt.New(gt.WithShape(p.d), gt.WithBacking(gs))
	r := mat.NewVecDense(p.m, nil)
	g := mat.NewVecDense(p.d, gs)
	xv := mat.NewVecDense(p.d, xs)
	for s := 0; s < maxSteps; s++ {
		r.MulVec(p.a, xv)
		r.SubVec(r, p.b)
		if l := mat.Dot(r, r) / (2 * float64(p.m)); l <= tol {
			return xs, s, nil
		}
		g.MulVec(p.a.T(), r)
		g.ScaleVec(1/float64(p.m), g)
		if err := md.Step([]*gt.Dense{xt}, []*gt.Dense{gtn}); err != nil {
			return nil, s, err
		}
	}
	return xs, maxSteps, fmt.Errorf("mirror descent on x did not reach loss %g in %d steps (α = %g)", tol, maxSteps, alpha)
}

// mirrorGDRun is one diagonal net trained by full-batch GD.
type mirrorGDRun struct {
	alpha     float64
	model     *nn.DiagNet
	prog      *train.GradProgram
	opt       optim.Optimizer
	steps     int
	loss      float64
	done      bool
	predicted []float64
	mdLR      float64
}

// mirrorSharpness is λ_max of the training loss's Hessian at the model's
// current parameters.
func mirrorSharpness(model nn.Model, ds *data.Dataset, seed uint64) (float64, error) {
	hop, err := curvature.NewHessianOperator(model, ds, curvature.HVPOptions{Loss: objective.MSE, Flatten: true})
	if err != nil {
		return 0, err
	}
	defer hop.Close()
	top, err := curvature.PowerIterate(hop, tensor.NewRNG(seed, 13), curvature.PowerOptions{Tol: 1e-6, MaxIter: 1000})
	if err != nil {
		return 0, fmt.Errorf("mirror: sharpness at initialisation: %w", err)
	}
	return math.Abs(top.Value), nil
}

// mirrorPerAlpha reads a list of positive step sizes with one entry for all
// scales or one per scale.
func mirrorPerAlpha(cfg *config.Config, key string, n int) ([]float64, error) {
	v := cfg.Floats(key)
	if len(v) == 1 {
		for len(v) < n {
			v = append(v, v[0])
		}
	}
	if len(v) != n {
		return nil, fmt.Errorf("%s: want one step size or one per α (%d), got %v", key, n, v)
	}
	for _, x := range v {
		if !(x > 0) {
			return nil, fmt.Errorf("%s: step sizes must be positive, got %v", key, v)
		}
	}
	return v, nil
}

func runMirror(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	start := time.Now()
	p, err := newMirrorProblem(cfg.Int("data.m"), cfg.Int("data.d"), cfg.Int("data.sparsity"), env.Seed)
	if err != nil {
		return nil, err
	}
	alphas := cfg.Floats("model.alphas")
	if len(alphas) < 2 {
		return nil, fmt.Errorf("model.alphas: want at least two scales, got %v", alphas)
	}
	tol, maxSteps, logEvery := cfg.Float("train.loss_tol"), cfg.Int("train.max_steps"), cfg.Int("train.log_every")
	lrs, err := mirrorPerAlpha(cfg, "train.lr", len(alphas))
	if err != nil {
		return nil, err
	}
	mdLRs, err := mirrorPerAlpha(cfg, "md.lr", len(alphas))
	if err != nil {
		return nil, err
	}
	if maxSteps <= 0 || logEvery <= 0 {
		return nil, fmt.Errorf("train.max_steps and train.log_every must be positive")
	}
	xl2, err := mirrorMinNorm(p.a, p.b)
	if err != nil {
		return nil, err
	}
	values := map[string]any{}
	runs := make([]*mirrorGDRun, len(alphas))
	for i, a := range alphas {
		if a <= 0 {
			return nil, fmt.Errorf("model.alphas: scales must be positive, got %g", a)
		}
		sol, err := mirrorSolve(p.a, p.b, a)
		if err != nil {
			return nil, err
		}
		model, err := nn.NewDiagNet(gt.Float64, p.d, a)
		if err != nil {
			return nil, err
		}
		prog, err := train.NewGradProgram(model, p.ds, p.m, objective.MSE, true)
		if err != nil {
			return nil, fmt.Errorf("mirror: α = %g: %w", a, err)
		}
		defer prog.Close()
		// Stability at the start: GD on (u, v) needs lr < 2/λ_max. A step
		// size above 1/λ_max (measured by power iteration on the model's
		// Hessian at initialisation) is lowered to it, and the change is
		// logged and recorded.
		lam, err := mirrorSharpness(model, p.ds, env.Seed)
		if err != nil {
			return nil, err
		}
		values["lambda_max_init_alpha"+mirrorAlphaKey(a)] = lam
		if lrs[i]*lam > 1 {
			env.Logf("α = %g: train.lr %g exceeds 1/λ_max = %.4g at initialisation; using %.4g", a, lrs[i], 1/lam, 1/lam)
			lrs[i] = 1 / lam
		}
		values["gd_lr_alpha"+mirrorAlphaKey(a)] = lrs[i]
		opt, err := optim.NewSGD(optim.SGDConfig{LR: lrs[i]})
		if err != nil {
			return nil, err
		}
		runs[i] = &mirrorGDRun{alpha: a, model: model, prog: prog, opt: opt, predicted: sol.x, mdLR: mdLRs[i]}
		env.Logf("α = %g: mirror prediction by Newton on ν in %d steps (relative residual %.2g), ‖x_MD‖₁ = %.4f",
			a, sol.iters, sol.residual, mirrorNorm1(sol.x))
		values["newton_iters_alpha"+mirrorAlphaKey(a)] = sol.iters
	}
	values["wall_seconds_setup"] = time.Since(start).Seconds()

	mw, err := metrics.Create(env.Dir)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	idx := make([]int, p.m)
	for i := range idx {
		idx[i] = i
	}
	trainStart := time.Now()
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		active := false
		for _, r := range runs {
			if r.done {
				continue
			}
			loss, grads, err := r.prog.Run(p.ds, idx)
			if err != nil {
				return nil, err
			}
			r.loss = loss
			if !(loss > tol) || step >= maxSteps {
				// NaN ends the run as well; the check below reports it.
				r.done, r.steps = true, step
				continue
			}
			active = true
			if err := r.opt.Step(r.prog.Params().Values(), grads); err != nil {
				return nil, err
			}
		}
		if step%logEvery == 0 || !active {
			rec := metrics.Record{Step: step, Loss: math.NaN(), Values: map[string]float64{}}
			for _, r := range runs {
				x := r.model.EffectiveValues()
				k := mirrorAlphaKey(r.alpha)
				rec.Values["loss_alpha"+k] = r.loss
				rec.Values["md_relerr_alpha"+k] = mirrorRelDist(x, r.predicted)
				if r.alpha == alphas[0] || math.IsNaN(rec.Loss) {
					rec.Loss = r.loss
				}
			}
			if err := mw.Write(rec); err != nil {
				return nil, err
			}
		}
		if !active {
			break
		}
	}
	trainWall := time.Since(trainStart).Seconds()
	values["wall_seconds_gd"] = trainWall

	var checks []Check
	maxTol := cfg.Float("check.max_md_relerr")
	type summaryRow struct {
		alpha, l1 float64
	}
	var rows []summaryRow
	totalSteps := 0
	for _, r := range runs {
		x := r.model.EffectiveValues()
		k := mirrorAlphaKey(r.alpha)
		e := mirrorRelDist(x, r.predicted)
		totalSteps += r.steps
		env.Logf("α = %g: %d GD steps, loss %.3g, ‖x_GD − x_MD‖/‖x_MD‖ = %.3g, ‖x_GD‖₁ = %.4f, ‖x_GD − w*‖/‖w*‖ = %.3g, ‖x_GD − x_ℓ₂‖/‖x_ℓ₂‖ = %.3g",
			r.alpha, r.steps, r.loss, e, mirrorNorm1(x), mirrorRelDist(x, p.wStar), mirrorRelDist(x, xl2))
		if r.loss > tol {
			env.Logf("α = %g: GD stopped at the step limit before reaching loss %g", r.alpha, tol)
		}
		checks = append(checks, AtMost("md_relerr_alpha"+k, e, maxTol))
		values["gd_steps_alpha"+k] = r.steps
		values["gd_loss_alpha"+k] = r.loss
		values["l1_gd_alpha"+k] = mirrorNorm1(x)
		values["l1_md_alpha"+k] = mirrorNorm1(r.predicted)
		values["recovery_relerr_alpha"+k] = mirrorRelDist(x, p.wStar)
		values["l2_relerr_alpha"+k] = mirrorRelDist(x, xl2)
		rows = append(rows, summaryRow{r.alpha, mirrorNorm1(x)})

		xmd, mdSteps, err := mirrorDescentX(p, r.alpha, r.mdLR, tol, maxSteps)
		if err != nil {
			env.Logf("warning: %v", err)
		}
		if xmd != nil {
			values["mdopt_vs_newton_relerr_alpha"+k] = mirrorRelDist(xmd, r.predicted)
			values["mdopt_vs_gd_relerr_alpha"+k] = mirrorRelDist(x, xmd)
			values["mdopt_steps_alpha"+k] = mdSteps
		}
	}
	values["gd_steps_total"] = totalSteps
	values["gd_microseconds_per_step"] = trainWall / float64(max(totalSteps, 1)) * 1e6
	// ℓ₁ ordering: sort by α and require ‖x‖₁ to increase strictly with α.
	minGap := math.Inf(1)
	for i := range rows {
		for j := range rows {
			if rows[i].alpha < rows[j].alpha {
				minGap = math.Min(minGap, rows[j].l1-rows[i].l1)
			}
		}
	}
	checks = append(checks, AtLeast("l1_increase_with_alpha_min_gap", minGap, 1e-9))
	big := runs[0]
	for _, r := range runs {
		if r.alpha > big.alpha {
			big = r
		}
	}
	checks = append(checks, AtMost("l2_relerr_largest_alpha", mirrorRelDist(big.model.EffectiveValues(), xl2), cfg.Float("check.max_l2_relerr")))
	values["largest_alpha"] = big.alpha
	values["md_l2_relerr_largest_alpha"] = mirrorRelDist(big.predicted, xl2)

	// Lie brackets.
	brng := tensor.NewRNG(env.Seed, 12)
	bd, bk, br := cfg.Int("bracket.d"), cfg.Int("bracket.k"), cfg.Int("bracket.rank")
	diag, err := nn.NewDiagNetFrom(gt.Float64, mirrorUniform(brng, bd), mirrorUniform(brng, bd))
	if err != nil {
		return nil, err
	}
	deep, err := nn.NewDeepDiagFrom(gt.Float64, [][]float64{mirrorUniform(brng, bd), mirrorUniform(brng, bd), mirrorUniform(brng, bd)})
	if err != nil {
		return nil, err
	}
	uut, err := nn.NewMatrixFactorization(brng, gt.Float64, bk, bk, br, true, 1)
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name  string
		model nn.Reparametrized
		check func(v float64) Check
	}{
		{"diag", diag, func(v float64) Check {
			return AtMost("bracket_diag_normalized", v, cfg.Float("check.max_bracket_commuting"))
		}},
		{"deep3", deep, func(v float64) Check {
			return AtMost("bracket_deep3_normalized", v, cfg.Float("check.max_bracket_commuting"))
		}},
		{"uut", uut, func(v float64) Check {
			return AtLeast("bracket_uut_normalized", v, cfg.Float("check.min_bracket_noncommuting"))
		}},
	} {
		br, err := mirrorLieBrackets(c.model)
		if err != nil {
			return nil, fmt.Errorf("mirror: Lie brackets of %s: %w", c.name, err)
		}
		env.Logf("Lie brackets of %s: max ‖[∇G_i, ∇G_j]‖ = %.3g (normalised %.3g); finite-difference cross-check %.3g (agreement %.2g)",
			c.name, br.max, br.normalized, br.fdMax, br.fdAgreement)
		values["bracket_"+c.name+"_max"] = br.max
		values["bracket_"+c.name+"_fd_max"] = br.fdMax
		values["bracket_"+c.name+"_fd_agreement"] = br.fdAgreement
		checks = append(checks, c.check(br.normalized))
	}

	if err := mirrorPlots(env.Dir, p, runs, xl2); err != nil {
		env.Logf("warning: plots: %v", err)
	}
	values["wall_seconds"] = time.Since(start).Seconds()
	return &Outcome{Checks: checks, Values: values}, nil
}

func mirrorUniform(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

func mirrorPlots(dir string, p *mirrorProblem, runs []*mirrorGDRun, xl2 []float64) error {
	idx := make([]float64, p.d)
	for i := range idx {
		idx[i] = float64(i)
	}
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return err
	}
	var errs []error
	for _, r := range runs {
		k := mirrorAlphaKey(r.alpha)
		series := []plot.Series{
			{Name: "x_GD", X: idx, Y: r.model.EffectiveValues()},
			{Name: "x_MD (Newton on ν)", X: idx, Y: r.predicted},
			{Name: "w*", X: idx, Y: p.wStar},
			{Name: "min-ℓ₂ interpolator", X: idx, Y: xl2},
		}
		path := filepath.Join(dir, "plots", "x_alpha"+k+".png")
		errs = append(errs, plot.Lines(path, fmt.Sprintf("coordinates of x, α = %g", r.alpha), "coordinate", "x_i", series, plot.Options{}))
	}
	return errors.Join(errs...)
}

// mirrorBrackets summarises the Lie brackets [∇G_i, ∇G_j] = ∂²G_j·∇G_i −
// ∂²G_i·∇G_j over all pairs i < j at the model's current parameters.
type mirrorBrackets struct {
	max        float64 // max over pairs of the bracket's ℓ₂ norm (autodiff)
	normalized float64 // max / (max_i ‖∇G_i‖ · max_j ‖∂²G_j‖_F)
	// fdMax is the same maximum with ∂²G_j·∇G_i replaced by a central
	// difference of the autodiff gradient ∇G_j along ∇G_i; fdAgreement is
	// the largest ‖fd − autodiff‖ over pairs, relative to max(max, 1e-300).
	fdMax, fdAgreement float64
}

// mirrorLieBrackets builds, for x = G(w) of model, one program computing the
// gradient c ↦ ∇⟨c, G⟩ = Jᵀc and the Hessian-vector product of ⟨c, G⟩ along
// a probe, with c and the probe as inputs. Setting c = e_j gives ∇G_j and
// ∂²G_j·v.
func mirrorLieBrackets(model nn.Reparametrized) (mirrorBrackets, error) {
	g := gorgonia.NewGraph()
	bind, err := nn.Bind(g, model.Params())
	if err != nil {
		return mirrorBrackets{}, err
	}
	x, err := model.Effective(bind)
	if err != nil {
		return mirrorBrackets{}, err
	}
	d := model.Dim()
	cData := make([]float64, d)
	c := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(d, 1), gorgonia.WithName("select"),
		gorgonia.WithValue(gt.New(gt.WithShape(d, 1), gt.WithBacking(cData))))
	prod, err := gorgonia.HadamardProd(x, c)
	if err != nil {
		return mirrorBrackets{}, err
	}
	cost, err := gorgonia.Sum(prod)
	if err != nil {
		return mirrorBrackets{}, err
	}
	wrt := bind.Nodes(model.Params())
	grads, err := autodiff.Grad(cost, wrt...)
	if err != nil {
		return mirrorBrackets{}, err
	}
	probe, err := autodiff.NewProbe(g, wrt)
	if err != nil {
		return mirrorBrackets{}, err
	}
	hv, err := autodiff.HVP(cost, wrt, probe)
	if err != nil {
		return mirrorBrackets{}, err
	}
	prog, err := engine.Compile(g, append(append(gorgonia.Nodes{}, grads...), hv...)...)
	if err != nil {
		return mirrorBrackets{}, err
	}
	defer prog.Close()
	params := model.Params().Values()
	pdim := params.Len()
	probeVals := make(tensor.List, len(probe))
	for i, n := range probe {
		probeVals[i] = n.Value().(*gt.Dense)
	}
	np := len(grads)
	// run sets c = e_j and the probe to v (nil: zero) and returns (∇G_j, ∂²G_j v).
	run := func(j int, v []float64) ([]float64, []float64, error) {
		clear(cData)
		cData[j] = 1
		if v == nil {
			probeVals.Zero()
		} else if err := probeVals.Unflatten(v); err != nil {
			return nil, nil, err
		}
		if err := prog.Run(); err != nil {
			return nil, nil, err
		}
		gl := make(tensor.List, np)
		hl := make(tensor.List, np)
		for i := 0; i < np; i++ {
			if gl[i], err = prog.Dense(i); err != nil {
				return nil, nil, err
			}
			if hl[i], err = prog.Dense(np + i); err != nil {
				return nil, nil, err
			}
		}
		return gl.Flatten(nil), hl.Flatten(nil), nil
	}
	jac := make([][]float64, d)
	for j := 0; j < d; j++ {
		if jac[j], _, err = run(j, nil); err != nil {
			return mirrorBrackets{}, err
		}
	}
	// ‖∂²G_j‖_F from Hessian columns (for the normalisation).
	var maxGrad, maxHess float64
	unit := make([]float64, pdim)
	for j := 0; j < d; j++ {
		maxGrad = math.Max(maxGrad, mirrorNorm2(jac[j]))
		var fro float64
		for q := 0; q < pdim; q++ {
			clear(unit)
			unit[q] = 1
			_, col, err := run(j, unit)
			if err != nil {
				return mirrorBrackets{}, err
			}
			fro += mirrorDot(col, col)
		}
		maxHess = math.Max(maxHess, math.Sqrt(fro))
	}
	// hj[i][j] = ∂²G_j·∇G_i
	hj := make([][][]float64, d)
	for i := 0; i < d; i++ {
		hj[i] = make([][]float64, d)
		for j := 0; j < d; j++ {
			if _, hj[i][j], err = run(j, jac[i]); err != nil {
				return mirrorBrackets{}, err
			}
		}
	}
	// Finite differences: ∂²G_j·∇G_i ≈ (∇G_j(w + h∇G_i) − ∇G_j(w − h∇G_i)) / 2h.
	theta := params.Flatten(nil)
	const h = 1e-5
	fdDir := func(i, j int) ([]float64, error) {
		out := make([]float64, pdim)
		for _, sgn := range []float64{1, -1} {
			shifted := make([]float64, pdim)
			for q := range shifted {
				shifted[q] = theta[q] + sgn*h*jac[i][q]
			}
			if err := params.Unflatten(shifted); err != nil {
				return nil, err
			}
			gj, _, err := run(j, nil)
			if err != nil {
				return nil, err
			}
			for q := range out {
				out[q] += sgn * gj[q] / (2 * h)
			}
		}
		return out, params.Unflatten(theta)
	}
	var res mirrorBrackets
	var fdDiff float64
	for i := 0; i < d; i++ {
		for j := i + 1; j < d; j++ {
			br := make([]float64, pdim)
			for q := range br {
				br[q] = hj[i][j][q] - hj[j][i][q]
			}
			res.max = math.Max(res.max, mirrorNorm2(br))
			a, err := fdDir(i, j)
			if err != nil {
				return mirrorBrackets{}, err
			}
			b, err := fdDir(j, i)
			if err != nil {
				return mirrorBrackets{}, err
			}
			fd := make([]float64, pdim)
			for q := range fd {
				fd[q] = a[q] - b[q]
			}
			res.fdMax = math.Max(res.fdMax, mirrorNorm2(fd))
			for q := range fd {
				fd[q] -= br[q]
			}
			fdDiff = math.Max(fdDiff, mirrorNorm2(fd))
		}
	}
	res.normalized = res.max / (maxGrad * maxHess)
	res.fdAgreement = fdDiff / math.Max(res.max, 1e-300)
	return res, nil
}

func mirrorDot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func mirrorNorm2(a []float64) float64 { return math.Sqrt(mirrorDot(a, a)) }

package experiments

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/metrics"
	"github.com/gradlab/gradlab/train/plot"
)

// Margin is the study of PAPERS.md §9: a two-layer leaky-ReLU network
// trained from a tiny initialization on linearly separable, symmetric data
// first aligns all its neurons with ±μ (μ = mean yᵢxᵢ) and then converges to
// a linear classifier of maximal normalized margin (1+α)/4·γ*, γ* the data's
// ℓ₂ max margin; a control without symmetry ends at a linear classifier
// whose margin a witness network beats.
//
// The control (control.mode). The paper's warning is that the result is
// fragile: a simple change of the data can leave gradient flow at a linear
// classifier whose margin is sub-optimal. On data that are not symmetric
// the yardstick (1+α)/4·γ* no longer gives the optimum (a net that is not
// linear can do better, and a converged linear net scores at least that
// much), so the default control, "wedge", is judged against a witness: a
// net of the same width with a larger normalized margin on the same data.
//
// The wedge data (wedgeData): strongly unbalanced classes. data.n positives
// in a tight cluster around a random unit axis u (u + control.spread·g/√d),
// two more positives of norm 1 at angle θ = control.angle on either side of
// u in one plane (cos θ·u ± sin θ·v), and max(2, n/10) negatives around
// −control.far·u. Why small-init GD ends linear there, and stays: early on
// the family a_k > 0 grows at the rate max G ≈ (S₊ + αS₋)/N and the family
// a_k < 0 at (αS₊ + S₋)/N (S± = Σ|uᵀx| over each class, N points), so with
// S₊ ≈ n > S₋ ≈ far·n/10 the second family is left behind by a power of
// the initial scale and the net is one family along u. Late, the smallest
// margins are those of the two wide positives (cos θ = 0.34 against 1 for
// the cluster and α·far = 0.8 for the negatives), so the loss weights λ sit
// on them, symmetric about u, and the family stays on u: the rate of a
// neuron of sign s in direction w is s·Σλᵢyᵢφ(wᵀxᵢ), which for s = +1 is
// linear near u (within 90° − θ of u both wide points are on the slope-1
// side) with its maximum at u, and for s = −1 is at most α·cos θ, α times
// the rate of the family on u (at w = −u): no neuron of the small family,
// wherever it points, can catch up (control_family_growth_ratio = α). The
// limit is the linear classifier sign(uᵀx), which is also the SVM's, with
// normalized margin cos θ/2. It is not optimal: two neurons of sign +1 at
// ±β from u in the plane of the wide points score min{(cos(θ−β) +
// α·cos(θ+β))/4, cos β/2, α·far·cos β/2}, 0.2128 at β = 55° against
// 0.1710 (a ratio of 0.80). In terms of rates: a +1 neuron pointing at a
// wide point would grow at ½(1 + α·cos 2θ) = 0.42, faster than the family
// on u (cos θ = 0.34), so the KKT point is not a global maximum; but every
// +1 neuron sits on u, a strict local maximum of that rate, and none is
// there to use it.
//
// The witness is found independently of that reasoning (findWitness): a
// direct maximization of minᵢ yᵢf(xᵢ)/‖θ‖² over nets of width
// min(witness.width, model.width),
// by ascent of a smoothed minimum on the sphere ‖θ‖ = 1 from witness.starts
// random points; its margin is recomputed exactly in float64 from its
// weights. The checks: control_margin_over_witness ≤ 0.95 (a certified gap
// of at least 5%: the witness exists, so the control's margin is at most
// 0.95 of the optimum), control_linear_alignment ≥ 0.99 and
// control_family_growth_ratio ≤ 1 (the end state is a limit, not a
// transient), control_minority_best_growth ≤ 1 (no neuron of the small
// family's sign could catch up wherever it pointed; rateCertificate). The
// value control_majority_best_growth is the same for the big family's sign:
// above 1 it says independently of the witness that the state is not a
// global maximum (on the symmetric run both are 1, the dual certificate of
// its global optimality). Measured (seeds 1–10, data.n 15/20/30, data.d
// 8/10/12, model.width 8/16/32): control margin 0.17100–0.17101, witness
// 0.2100–0.2129, ratio 0.803–0.815, alignment ≥ 0.999999, growth ratios
// 0.2, majority best growth 1.252. The gap needs a wide enough angle: at
// control.angle = 60 the big family's best rate is 1 and the witness only
// ties (ratio 1.000, the linear net is optimal there), at 65 the ratio is
// 0.9994, at 80 it is 0.44.
//
// The other controls are kept as options and keep the check
// control_margin_ratio_minus_symmetric ≤ 0. "repeat": every example of
// label +1 appears control.repeat = K times, every example of label −1
// once; the point set, γ* and the optimum (1+α)/4·γ* are those of the
// symmetric run. Early on neurons with a_k > 0 grow at (K+α)·S and those
// with a_k < 0 at (1+Kα)·S along the direction u that puts the positives on
// the slope-1 side (S = Σ over positives of uᵀxᵢ, divided by the number of
// examples), so the net leaves the early phase as one family along u, with
// normalized margin only 2α/(1+α) of the optimum; but late in training the
// negative side carries the smallest margins, so the second family grows
// faster (control_family_growth_ratio > 1) and the net slowly rebalances:
// its low margin is a finite-time state, and on some seeds it ends within
// about a percent of the symmetric run. With one family only, stability
// (KKT weight on the slope-α side at most α times that on the slope-1 side)
// and the SVM dual force a ratio of at least
// 2/(1+α)·√((1−α+2α²)/(1+α)) ≈ 1.43 for α = 0.2, and with both families a
// converged linear net scores at least (1+α)/4·γ*: that is why the drop and
// perturb controls end above 1, and why the wedge control is measured
// against a witness instead.
//
// Definitions used by the checks (all measured on the trained network):
//   - alignment(t) = Σ_k ‖w_k‖·|cos(w_k, μ)| / Σ_k ‖w_k‖;
//   - the early phase ends at the first step t₁ at which the mean of yᵢf(xᵢ)
//     over the training set reaches phase1.end_fit (the output is then still
//     small: the loss is within about phase1.end_fit/2 of log 2);
//   - normalized margin = minᵢ yᵢf(xᵢ)/‖θ‖², θ = (all w_k, all a_k), and the
//     margin ratio is that divided by (1+α)/4·γ*;
//   - the effective linear predictor is the odd part of f,
//     (f(x) − f(−x))/2 = βᵀx with β = (1+α)/2 Σ_k a_k w_k (exact for leaky ReLU);
//   - γ* and the SVM direction come from a hard-margin SVM without bias,
//     solved in float64 by coordinate ascent on its dual and verified against
//     its KKT conditions.
func Margin() *Experiment {
	params := []config.Param{
		{Key: "data.source", Default: "synthetic", Help: "synthetic (data.SymmetricSeparable) or mnist (two classes made symmetric)"},
		{Key: "data.n", Default: 20, Help: "points before adding mirrors (synthetic) or images (mnist)"},
		{Key: "data.d", Default: 10, Help: "input dimension (synthetic)"},
		{Key: "data.push", Default: 0.1, Help: "synthetic data: each point is pushed this far along the label direction"},
		{Key: "data.classes", Default: []int{0, 1}, Help: "mnist: the two digits (first is y = +1)"},
		{Key: "data.dir", Default: "", Help: "mnist: folder with the IDX files"},
		{Key: "model.width", Default: 16, Help: "hidden width"},
		{Key: "model.alpha", Default: 0.2, Help: "leaky-ReLU slope α"},
		{Key: "model.init", Default: 1e-6, Help: "standard deviation of every initial weight"},
		{Key: "train.lr", Default: 0.1, Help: "GD step η"},
		{Key: "train.steps", Default: 20000, Help: "GD steps"},
		{Key: "train.loss_switch", Default: 0.01, Help: "below this loss L_s the step becomes η·L_s/L (loss-normalized)"},
		{Key: "train.loss_floor", Default: 1e-100, Help: "cap of the normalized step: η·L_s/max(L, floor)"},
		{Key: "train.log_every", Default: 100, Help: "steps between metric records"},
		{Key: "phase1.end_fit", Default: 0.05, Help: "the early phase ends when mean yᵢf(xᵢ) first reaches this"},
		{Key: "control.mode", Default: "wedge", Help: "non-symmetric control: wedge (unbalanced classes with two wide-angle positives: a stable linear limit, certified sub-optimal by a witness net), repeat (every y = +1 example appears control.repeat times; the point set, hence γ* and the optimum, is unchanged), drop (remove the mirrors) or perturb (move each mirror by control.noise·N(0, I))"},
		{Key: "control.angle", Default: 70.0, Help: "wedge control: angle in degrees of the two wide positives from the cluster axis u"},
		{Key: "control.far", Default: 4.0, Help: "wedge control: distance of the negatives from the origin along −u"},
		{Key: "control.spread", Default: 0.3, Help: "wedge control: jitter of the cluster and of the negatives"},
		{Key: "witness.width", Default: 16, Help: "width of the witness nets (capped at model.width)"},
		{Key: "witness.starts", Default: 6, Help: "random starts of the direct maximization of the control data's normalized margin"},
		{Key: "witness.iters", Default: 4000, Help: "ascent steps per witness start"},
		{Key: "control.repeat", Default: 3, Help: "repeat control: copies of each y = +1 example (at least 2)"},
		{Key: "control.noise", Default: 0.3, Help: "perturbation of the mirrors in the perturb control"},
		{Key: "control.probe_points", Default: 10000, Help: "random N(0, I) points on which the control net's decisions are compared with its linear rule"},
		{Key: "check.min_alignment", Default: 0.99, Help: "verdict: minimum phase-1 alignment"},
		{Key: "check.min_margin_ratio", Default: 0.95, Help: "verdict: minimum normalized margin / ((1+α)/4·γ*)"},
		{Key: "check.min_cos_svm", Default: 0.99, Help: "verdict: minimum cosine between β and the SVM direction"},
		{Key: "check.max_control_over_witness", Default: 0.95, Help: "verdict (wedge control): maximum control normalized margin / witness normalized margin"},
		{Key: "check.min_control_alignment", Default: 0.99, Help: "verdict (wedge control): minimum final alignment of the control net's neurons with one ±u"},
		{Key: "check.max_control_growth", Default: 1.0, Help: "verdict (wedge control): maximum growth rate of the smaller family relative to the larger at the end"},
	}
	return &Experiment{
		Name:        "margin",
		Description: "two-layer leaky-ReLU net on symmetric separable data: phase-1 alignment with ±μ, max-margin linear limit (1+α)/4·γ*, non-symmetric control (PAPERS.md §9)",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full": {"data.source": "mnist", "data.n": 1000, "model.width": 1000, "train.steps": 20000,
				"train.log_every": 200},
		},
		FullRuntime: "not measured on a GPU: this build has no CUDA kernel set (--device cuda is refused). Measured on a 2-core CPU: " +
			"about 1.4 s per full-batch step (2,000 MNIST images with mirrors, 784 inputs, width 1000), i.e. about 8 hours for the " +
			"symmetric run's 20,000 steps; the wedge control (1,102 points in data.d = 10 dimensions) and its witness search are " +
			"far smaller: about 1/140 of the symmetric run's multiply-adds per step, so under an hour by proportion (not measured; " +
			"the repeat control, control.mode=repeat, would add about 16 hours); " +
			"at about 6 GFLOP per step, a GPU kernel set should bring the symmetric run to minutes",
		Run: runMargin,
	}
}

// marginData is a binary data set as float64 rows with labels ±1.
type marginData struct {
	X [][]float64
	Y []float64
}

func (d marginData) dim() int { return len(d.X[0]) }

// mu returns mean yᵢxᵢ.
func (d marginData) mu() []float64 {
	m := make([]float64, d.dim())
	for i, x := range d.X {
		for j := range m {
			m[j] += d.Y[i] * x[j] / float64(len(d.X))
		}
	}
	return m
}

func marginFromDataset(ds *data.Dataset) marginData {
	n, d := ds.Len(), ds.ExampleSize()
	out := marginData{X: make([][]float64, n), Y: make([]float64, n)}
	for i := 0; i < n; i++ {
		out.X[i] = make([]float64, d)
		for j, v := range ds.Example(i) {
			out.X[i][j] = float64(v)
		}
		out.Y[i] = float64(ds.Targets[i])
	}
	return out
}

// loadMarginData returns the symmetric training set and the control set.
func loadMarginData(cfg *config.Config, seed uint64) (sym, ctrl marginData, err error) {
	n := cfg.Int("data.n")
	switch src := cfg.String("data.source"); src {
	case "synthetic":
		ds, _, err := data.SymmetricSeparable(n, cfg.Int("data.d"), cfg.Float("data.push"), seed)
		if err != nil {
			return sym, ctrl, err
		}
		sym = marginFromDataset(ds)
	case "mnist":
		if sym, err = mnistPair(cfg, n); err != nil {
			return sym, ctrl, err
		}
	default:
		return sym, ctrl, fmt.Errorf("data.source %q: want synthetic or mnist", src)
	}
	half := len(sym.X) / 2 // examples i and half+i are mirrors
	switch mode := cfg.String("control.mode"); mode {
	case "drop":
		ctrl = marginData{X: sym.X[:half], Y: sym.Y[:half]}
	case "repeat":
		k := cfg.Int("control.repeat")
		if k < 2 {
			return sym, ctrl, fmt.Errorf("control.repeat %d: want at least 2", k)
		}
		ctrl = repeatPositives(sym, k)
	case "wedge":
		ctrl, _, err = wedgeData(wedgeConfig{N: n, D: cfg.Int("data.d"), Angle: cfg.Float("control.angle"),
			Far: cfg.Float("control.far"), Spread: cfg.Float("control.spread"), Seed: seed})
		if err != nil {
			return sym, ctrl, err
		}
	case "perturb":
		rng := tensor.NewRNG(seed, 91)
		sigma := cfg.Float("control.noise")
		ctrl = marginData{Y: sym.Y}
		for i, x := range sym.X {
			c := append([]float64(nil), x...)
			if i >= half {
				for j := range c {
					c[j] += sigma * rng.NormFloat64()
				}
			}
			ctrl.X = append(ctrl.X, c)
		}
	default:
		return sym, ctrl, fmt.Errorf("control.mode %q: want wedge, repeat, drop or perturb", mode)
	}
	return sym, ctrl, nil
}

// repeatPositives returns d with every example of label +1 present k times
// (the copies follow the original in order) and every example of label −1
// once. The set of distinct points is that of d.
func repeatPositives(d marginData, k int) marginData {
	var out marginData
	for i, x := range d.X {
		c := 1
		if d.Y[i] > 0 {
			c = k
		}
		for ; c > 0; c-- {
			out.X, out.Y = append(out.X, x), append(out.Y, d.Y[i])
		}
	}
	return out
}

// mnistPair takes the first n training images of two digits, scales pixels
// to [0, 1], and adds the mirror (−x, −y) of each.
func mnistPair(cfg *config.Config, n int) (marginData, error) {
	cl := cfg.Ints("data.classes")
	if len(cl) != 2 || cl[0] == cl[1] {
		return marginData{}, fmt.Errorf("data.classes %v: want two different digits", cl)
	}
	ds, err := data.LoadMNIST("train", cfg.String("data.dir"))
	if err != nil {
		return marginData{}, err
	}
	var out marginData
	for i := 0; i < ds.Len() && len(out.X) < n; i++ {
		y := 0.0
		switch ds.Y[i] {
		case cl[0]:
			y = 1
		case cl[1]:
			y = -1
		default:
			continue
		}
		x := make([]float64, ds.ExampleSize())
		for j, v := range ds.Example(i) {
			x[j] = float64(v)
		}
		out.X, out.Y = append(out.X, x), append(out.Y, y)
	}
	if len(out.X) < n {
		return marginData{}, fmt.Errorf("mnist: only %d images of digits %v", len(out.X), cl)
	}
	m := len(out.X)
	for i := 0; i < m; i++ {
		x := make([]float64, len(out.X[i]))
		for j, v := range out.X[i] {
			x[j] = -v
		}
		out.X, out.Y = append(out.X, x), append(out.Y, -out.Y[i])
	}
	return out, nil
}

// svmResult is the bias-free hard-margin SVM of a data set: w minimizes ‖w‖²
// subject to yᵢwᵀxᵢ ≥ 1, so γ* = 1/‖w‖ and w/‖w‖ is the max-margin direction.
type svmResult struct {
	W        []float64
	Alpha    []float64 // dual variables
	Gamma    float64
	Sweeps   int
	MaxKKT   float64 // largest violation of the KKT conditions
	DualGap  float64 // |Σα − ‖w‖²| / ‖w‖² (zero at the optimum)
	Support  int     // number of αᵢ > 0
	MinScore float64 // minᵢ yᵢwᵀxᵢ (1 at the optimum)
}

// maxMarginSVM solves the dual max Σα − ½‖Σ αᵢyᵢxᵢ‖², α ≥ 0, by exact
// coordinate ascent until the KKT conditions hold to tol.
func maxMarginSVM(d marginData, tol float64, maxSweeps int) (svmResult, error) {
	n, dim := len(d.X), d.dim()
	z := make([][]float64, n)
	sq := make([]float64, n)
	for i, x := range d.X {
		z[i] = make([]float64, dim)
		for j := range x {
			z[i][j] = d.Y[i] * x[j]
			sq[i] += z[i][j] * z[i][j]
		}
		if sq[i] == 0 {
			return svmResult{}, fmt.Errorf("svm: example %d is zero", i)
		}
	}
	alpha := make([]float64, n)
	w := make([]float64, dim)
	res := svmResult{}
	for sweep := 1; sweep <= maxSweeps; sweep++ {
		for i := range z {
			s := dot(w, z[i])
			na := math.Max(0, alpha[i]+(1-s)/sq[i])
			if da := na - alpha[i]; da != 0 {
				for j := range w {
					w[j] += da * z[i][j]
				}
				alpha[i] = na
			}
		}
		if sweep%10 == 0 || sweep == maxSweeps {
			// Recompute w from α to avoid drift before checking.
			for j := range w {
				w[j] = 0
			}
			for i := range z {
				for j := range w {
					w[j] += alpha[i] * z[i][j]
				}
			}
			res = svmKKT(z, alpha, w)
			res.Sweeps = sweep
			if res.MaxKKT <= tol && res.DualGap <= tol {
				return res, nil
			}
			if norm(w) > 1e12 {
				return res, fmt.Errorf("svm: the data look non-separable (‖w‖ = %g)", norm(w))
			}
		}
	}
	return res, fmt.Errorf("svm: no convergence in %d sweeps (KKT violation %g, dual gap %g)", maxSweeps, res.MaxKKT, res.DualGap)
}

// svmKKT measures how far (α, w) is from the SVM optimum: primal
// feasibility yᵢwᵀxᵢ ≥ 1, complementary slackness αᵢ(yᵢwᵀxᵢ − 1) = 0,
// stationarity w = Σ αᵢyᵢxᵢ (holds by construction), and the duality gap.
func svmKKT(z [][]float64, alpha, w []float64) svmResult {
	r := svmResult{W: append([]float64(nil), w...), Alpha: append([]float64(nil), alpha...), MinScore: math.Inf(1)}
	var sumA float64
	for i := range z {
		s := dot(w, z[i])
		r.MinScore = math.Min(r.MinScore, s)
		v := math.Max(0, 1-s)
		if alpha[i] > 0 {
			r.Support++
			v = math.Max(v, math.Abs(1-s))
		}
		r.MaxKKT = math.Max(r.MaxKKT, v)
		sumA += alpha[i]
	}
	ww := dot(w, w)
	r.DualGap = math.Abs(sumA-ww) / ww
	r.Gamma = 1 / math.Sqrt(ww)
	return r
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func cosine(a, b []float64) float64 { return dot(a, b) / (norm(a) * norm(b)) }

// logisticLoss is the mean of log(1 + exp(−yᵢfᵢ)) over the batch, written
// as relu(−z) + log1p(exp(−|z|)) with z = y⊙f and |z| = relu(z) + relu(−z):
// it neither overflows nor loses a tiny loss or a tiny gradient to rounding.
// (The form −z/2 + |z|/2 + log1p(exp(−|z|)) would be exact at the kink but
// cancels the gradient's tail away.) At exactly z = 0 the derivative takes
// relu's kink convention instead of −1/2; z is never exactly 0 in training.
func logisticLoss(out, y *gorgonia.Node) (*gorgonia.Node, error) {
	z, err := gorgonia.HadamardProd(out, y)
	if err != nil {
		return nil, fmt.Errorf("logistic loss: %w", err)
	}
	nz, err := gorgonia.Neg(z)
	if err != nil {
		return nil, err
	}
	pos, err := gorgonia.Rectify(nz) // max(−z, 0)
	if err != nil {
		return nil, err
	}
	rz, err := gorgonia.Rectify(z)
	if err != nil {
		return nil, err
	}
	abs, err := gorgonia.Add(rz, pos)
	if err != nil {
		return nil, err
	}
	nabs, err := gorgonia.Neg(abs)
	if err != nil {
		return nil, err
	}
	e, err := gorgonia.Exp(nabs)
	if err != nil {
		return nil, err
	}
	l1, err := gorgonia.Log1p(e) // gorgonia turns Log1p(Exp(·)) into its Softplus op
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Add(pos, l1)
	if err != nil {
		return nil, err
	}
	return gorgonia.Mean(s)
}

// marginTrainConfig is one training run of the margin study.
type marginTrainConfig struct {
	Width             int
	Alpha, Init       float64
	LR, LossSwitch    float64
	LossFloor, EndFit float64
	Steps, LogEvery   int
	Seed, Stream      uint64
	GammaStar         float64   // the data's max margin, for the ratio
	SVMDir            []float64 // unit SVM direction
	Logf              func(format string, args ...any)
	Progress          func(step int)
	RecordDenseUntil  int // also record every step below this one
}

// marginPoint is one logged step of a run.
type marginPoint struct {
	Step                        int
	Loss, LR, NormSq            float64
	MarginRatio, AlignMu, CosSV float64
	PosShare                    float64 // share of ‖θ‖² in the neurons with a_k > 0
}

// marginResult is what one training run measured.
type marginResult struct {
	Trace        []marginPoint
	Phase1Step   int     // t₁, or −1 if never reached
	Phase1Align  float64 // alignment with ±μ at t₁
	Phase1NormSq float64
	Phase1Pos    float64 // share of ‖θ‖² in the neurons with a_k > 0 at t₁
	FinalLoss    float64
	NormMargin   float64 // minᵢ yᵢf(xᵢ)/‖θ‖²
	MarginRatio  float64
	CosSVM       float64 // cos(β, SVM direction)
	CosMuSVM     float64 // cos(μ, SVM direction), for reference
	FinalAlignMu float64
	EvenRel      float64 // maxᵢ|f_even(xᵢ)| / maxᵢ|f_odd(xᵢ)|
	Steps        int
}

// alignment is Σ_k ‖w_k‖·|cos(w_k, dir)| / Σ_k ‖w_k‖.
func alignment(w [][]float64, dir []float64) float64 {
	var num, den float64
	for _, wk := range w {
		n := norm(wk)
		if n == 0 {
			continue
		}
		num += n * math.Abs(cosine(wk, dir))
		den += n
	}
	return num / den
}

// trainMargin trains the two-layer net by full-batch GD on the logistic
// loss of d through a compiled gorgonia graph.
func trainMargin(ctx context.Context, d marginData, c marginTrainConfig) (*marginResult, *nn.TwoLayer, error) {
	n, dim := len(d.X), d.dim()
	model, err := nn.NewTwoLayer(tensor.NewRNG(c.Seed, c.Stream), nn.TwoLayerConfig{
		In: dim, Width: c.Width, Alpha: c.Alpha, InitScale: c.Init, Dtype: gt.Float64})
	if err != nil {
		return nil, nil, err
	}
	g := gorgonia.NewGraph()
	b, err := nn.Bind(g, model.Params())
	if err != nil {
		return nil, nil, err
	}
	xb := make([]float64, 0, n*dim)
	for _, x := range d.X {
		xb = append(xb, x...)
	}
	xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, dim), gorgonia.WithName("x"),
		gorgonia.WithValue(gt.New(gt.WithShape(n, dim), gt.WithBacking(xb))))
	yn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, 1), gorgonia.WithName("y"),
		gorgonia.WithValue(gt.New(gt.WithShape(n, 1), gt.WithBacking(append([]float64(nil), d.Y...)))))
	out, err := model.Forward(b, xn)
	if err != nil {
		return nil, nil, err
	}
	loss, err := logisticLoss(out, yn)
	if err != nil {
		return nil, nil, err
	}
	tr := model.Params().Trainable()
	grads, err := autodiff.Grad(loss, b.Nodes(tr)...)
	if err != nil {
		return nil, nil, fmt.Errorf("margin: gradient: %w", err)
	}
	prog, err := engine.Compile(g, append(gorgonia.Nodes{loss, out}, grads...)...)
	if err != nil {
		return nil, nil, err
	}
	defer prog.Close()

	mu := d.mu()
	theta := model.Params().Trainable().Values()
	res := &marginResult{Phase1Step: -1, CosMuSVM: cosine(mu, c.SVMDir)}
	bound := (1 + c.Alpha) / 4 * c.GammaStar
	measure := func(step int, L, lr float64, f []float64) marginPoint {
		minq := math.Inf(1)
		for i := range f {
			minq = math.Min(minq, d.Y[i]*f[i])
		}
		nsq := theta.Norm()
		nsq *= nsq
		w, a := model.Weights()
		return marginPoint{Step: step, Loss: L, LR: lr, NormSq: nsq,
			MarginRatio: minq / nsq / bound, AlignMu: alignment(w, mu), CosSV: cosine(model.EffectiveLinear(), c.SVMDir),
			PosShare: positiveShare(w, a)}
	}
	var last marginPoint
	for step := 0; ; step++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if err := prog.Run(); err != nil {
			return nil, nil, fmt.Errorf("margin: step %d: %w", step, err)
		}
		L, err := prog.Scalar(0)
		if err != nil {
			return nil, nil, err
		}
		if math.IsNaN(L) || math.IsInf(L, 0) {
			return nil, nil, fmt.Errorf("margin: loss %v at step %d", L, step)
		}
		od, err := prog.Dense(1)
		if err != nil {
			return nil, nil, err
		}
		f := od.Data().([]float64)
		lr := c.LR
		if L < c.LossSwitch {
			lr = c.LR * c.LossSwitch / math.Max(L, c.LossFloor)
		}
		if res.Phase1Step < 0 {
			var fit float64
			for i := range f {
				fit += d.Y[i] * f[i] / float64(n)
			}
			if fit >= c.EndFit {
				w, a := model.Weights()
				res.Phase1Step, res.Phase1Align = step, alignment(w, mu)
				nsq := theta.Norm()
				res.Phase1NormSq = nsq * nsq
				res.Phase1Pos = positiveShare(w, a)
				if c.Logf != nil {
					c.Logf("  early phase ends at step %d: alignment with ±μ %.6f, ‖θ‖² %.3g, share of ‖θ‖² in a_k > 0 neurons %.6f",
						step, res.Phase1Align, res.Phase1NormSq, res.Phase1Pos)
				}
			}
		}
		if step%c.LogEvery == 0 || step == c.Steps || step < c.RecordDenseUntil {
			last = measure(step, L, lr, f)
			res.Trace = append(res.Trace, last)
			if c.Progress != nil {
				c.Progress(step)
			}
		}
		if step == c.Steps {
			res.FinalLoss = L
			break
		}
		for i := range tr {
			gd, err := prog.Dense(2 + i)
			if err != nil {
				return nil, nil, err
			}
			if err := (tensor.List{theta[i]}).Axpy(-lr, tensor.List{gd}); err != nil {
				return nil, nil, err
			}
		}
	}
	res.Steps = c.Steps
	res.MarginRatio, res.CosSVM, res.FinalAlignMu = last.MarginRatio, last.CosSV, last.AlignMu
	res.NormMargin = last.MarginRatio * bound
	var maxOdd, maxEven float64
	beta := model.EffectiveLinear()
	for _, x := range d.X {
		neg := make([]float64, len(x))
		for j := range x {
			neg[j] = -x[j]
		}
		fp, fm := model.Eval(x), model.Eval(neg)
		maxOdd = math.Max(maxOdd, math.Abs(dot(beta, x)))
		maxEven = math.Max(maxEven, math.Abs(fp+fm)/2)
	}
	res.EvenRel = maxEven / maxOdd
	return res, model, nil
}

func runMargin(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	sym, ctrl, err := loadMarginData(cfg, env.Seed)
	if err != nil {
		return nil, err
	}
	alpha := cfg.Float("model.alpha")
	tc := marginTrainConfig{
		Width: cfg.Int("model.width"), Alpha: alpha, Init: cfg.Float("model.init"),
		LR: cfg.Float("train.lr"), LossSwitch: cfg.Float("train.loss_switch"), LossFloor: cfg.Float("train.loss_floor"),
		EndFit: cfg.Float("phase1.end_fit"), Steps: cfg.Int("train.steps"), LogEvery: cfg.Int("train.log_every"),
		Seed: env.Seed, Stream: 1, Logf: env.Logf,
	}
	if tc.LR <= 0 || tc.Steps <= 0 || tc.LogEvery <= 0 || tc.Width <= 0 {
		return nil, fmt.Errorf("margin: train.lr, train.steps, train.log_every and model.width must be positive")
	}
	if !(tc.LossSwitch > 0) || !(tc.LossFloor > 0) || tc.LossFloor > tc.LossSwitch {
		return nil, fmt.Errorf("margin: want 0 < train.loss_floor ≤ train.loss_switch")
	}
	runs := []struct {
		name string
		d    marginData
	}{{"symmetric", sym}, {"control", ctrl}}
	results := make([]*marginResult, 2)
	svms := make([]svmResult, 2)
	lins := make([]marginLinearity, 2)
	models := make([]*nn.TwoLayer, 2)
	for k, r := range runs {
		svm, err := maxMarginSVM(r.d, 1e-10, 2_000_000)
		if err != nil {
			return nil, fmt.Errorf("margin: %s data: %w", r.name, err)
		}
		svms[k] = svm
		env.Logf("%s data: %d points in %d dimensions, γ* = %.6g (SVM: %d sweeps, %d support vectors, KKT violation %.2g, dual gap %.2g)",
			r.name, len(r.d.X), r.d.dim(), svm.Gamma, svm.Sweeps, svm.Support, svm.MaxKKT, svm.DualGap)
		c := tc
		c.GammaStar = svm.Gamma
		c.SVMDir = make([]float64, len(svm.W))
		for j, v := range svm.W {
			c.SVMDir[j] = v * svm.Gamma
		}
		res, model, err := trainMargin(ctx, r.d, c)
		if err != nil {
			return nil, fmt.Errorf("margin: %s run: %w", r.name, err)
		}
		results[k], models[k] = res, model
		lins[k] = measureLinearity(model, r.d, c.SVMDir, cfg.Int("control.probe_points"), env.Seed)
		env.Logf("%s run: loss %.3g, margin ratio %.4f, cos(β, SVM) %.5f, cos(μ, SVM) %.4f, even/odd %.2g",
			r.name, res.FinalLoss, res.MarginRatio, res.CosSVM, res.CosMuSVM, res.EvenRel)
		l := lins[k]
		env.Logf("%s net vs the linear rule sign(uᵀx): alignment with ±u %.6f, agreement on data %.4f and on %d random points %.4f, cos(u, SVM) %.5f, share of ‖θ‖² in a_k > 0 neurons %.4f (at t₁ %.6f), growth of the smaller family relative to the larger %.3g",
			r.name, l.Aligned, l.AgreeData, cfg.Int("control.probe_points"), l.AgreeRandom, l.CosSVM, l.PosShare, res.Phase1Pos, l.GrowthRatio)
	}
	s, ct := results[0], results[1]
	ww := min(cfg.Int("witness.width"), tc.Width)
	if ww < 1 {
		return nil, fmt.Errorf("margin: witness.width must be positive")
	}
	wit := findWitness(ctrl, witnessSearch{Width: ww, Alpha: alpha, Starts: cfg.Int("witness.starts"),
		Iters: cfg.Int("witness.iters"), Seed: env.Seed})
	ctrlNet := plainNetOf(models[1])
	ctrlMargin := ctrlNet.normalizedMargin(ctrl)
	symMinor, symMajor := rateCertificate(plainNetOf(models[0]), sym, env.Seed)
	ctMinor, ctMajor := rateCertificate(ctrlNet, ctrl, env.Seed)
	env.Logf("best neuron growth over all directions relative to the larger family: symmetric run %.4g (smaller family's sign), %.4g (larger family's sign); control %.4g, %.4g",
		symMinor, symMajor, ctMinor, ctMajor)
	env.Logf("control: normalized margin %.6g (recomputed from the weights); witness of width %d found by direct maximization: %.6g (best of %d starts: %v); ratio %.4f",
		ctrlMargin, ww, wit.Margin, len(wit.Starts), wit.Starts, ctrlMargin/wit.Margin)
	if err := writeMarginMetrics(env.Dir, s, ct); err != nil {
		return nil, err
	}
	if err := marginPlots(env.Dir, s, ct, cfg.Float("check.min_margin_ratio")); err != nil {
		env.Logf("warning: margin plots: %v", err)
	}
	phase1 := math.NaN()
	if s.Phase1Step >= 0 {
		phase1 = s.Phase1Align
	}
	out := &Outcome{
		Checks: []Check{
			AtLeast("phase1_alignment", phase1, cfg.Float("check.min_alignment")),
			AtLeast("margin_ratio", s.MarginRatio, cfg.Float("check.min_margin_ratio")),
			AtLeast("cos_beta_svm", s.CosSVM, cfg.Float("check.min_cos_svm")),
		},
		Values: map[string]any{
			"gamma_star":               svms[0].Gamma,
			"svm_support_vectors":      svms[0].Support,
			"svm_kkt_violation":        svms[0].MaxKKT,
			"control_gamma_star":       svms[1].Gamma,
			"phase1_step":              s.Phase1Step,
			"phase1_norm_sq":           s.Phase1NormSq,
			"normalized_margin":        s.NormMargin,
			"margin_bound":             (1 + alpha) / 4 * svms[0].Gamma,
			"margin_ratio":             s.MarginRatio,
			"cos_beta_svm":             s.CosSVM,
			"cos_mu_svm":               s.CosMuSVM,
			"final_alignment_mu":       s.FinalAlignMu,
			"even_over_odd":            s.EvenRel,
			"final_loss":               s.FinalLoss,
			"control_mode":             cfg.String("control.mode"),
			"control_margin_ratio":     ct.MarginRatio,
			"control_cos_beta_svm":     ct.CosSVM,
			"control_even_over_odd":    ct.EvenRel,
			"control_phase1_alignment": ct.Phase1Align,
			"control_final_loss":       ct.FinalLoss,
			"control_gamma_ratio":      svms[1].Gamma / svms[0].Gamma,
			"control_points":           len(ctrl.X),
			// How linear the control net is, and how its two families of
			// neurons (a_k > 0, a_k < 0) share ‖θ‖².
			"control_linear_alignment":      lins[1].Aligned,
			"control_linear_alignment_pos":  lins[1].AlignedPos,
			"control_linear_alignment_neg":  lins[1].AlignedNeg,
			"control_linear_agree_data":     lins[1].AgreeData,
			"control_linear_agree_random":   lins[1].AgreeRandom,
			"control_linear_cos_svm":        lins[1].CosSVM,
			"control_positive_share":        lins[1].PosShare,
			"control_phase1_positive_share": ct.Phase1Pos,
			"control_family_growth_ratio":   lins[1].GrowthRatio,
			"linear_alignment":              lins[0].Aligned,
			"linear_agree_random":           lins[0].AgreeRandom,
			"positive_share":                lins[0].PosShare,
			"family_growth_ratio":           lins[0].GrowthRatio,
		},
	}
	if cfg.String("control.mode") == "wedge" {
		out.Checks = append(out.Checks,
			AtMost("control_margin_over_witness", ctrlMargin/wit.Margin, cfg.Float("check.max_control_over_witness")),
			AtLeast("control_linear_alignment", lins[1].Aligned, cfg.Float("check.min_control_alignment")),
			AtMost("control_family_growth_ratio", lins[1].GrowthRatio, cfg.Float("check.max_control_growth")),
			AtMost("control_minority_best_growth", ctMinor, cfg.Float("check.max_control_growth")))
	} else {
		out.Checks = append(out.Checks, AtMost("control_margin_ratio_minus_symmetric", ct.MarginRatio-s.MarginRatio, 0))
	}
	out.Values["minority_best_growth"] = symMinor
	out.Values["majority_best_growth"] = symMajor
	out.Values["control_minority_best_growth"] = ctMinor
	out.Values["control_majority_best_growth"] = ctMajor
	out.Values["control_normalized_margin"] = ctrlMargin
	out.Values["witness_margin"] = wit.Margin
	out.Values["witness_width"] = ww
	out.Values["witness_start_margins"] = wit.Starts
	out.Values["control_margin_over_witness"] = ctrlMargin / wit.Margin
	return out, nil
}

// plainNetOf copies the weights of a trained network into a plainNet.
func plainNetOf(m *nn.TwoLayer) plainNet {
	w, a := m.Weights()
	return plainNet{W: w, A: a, Alpha: m.Config.Alpha}
}

func writeMarginMetrics(dir string, s, ct *marginResult) error {
	w, err := metrics.Create(dir)
	if err != nil {
		return err
	}
	for i, p := range s.Trace {
		v := map[string]float64{
			"lr": p.LR, "norm_sq": p.NormSq, "margin_ratio": p.MarginRatio,
			"alignment_mu": p.AlignMu, "cos_beta_svm": p.CosSV,
		}
		if i < len(ct.Trace) && ct.Trace[i].Step == p.Step {
			q := ct.Trace[i]
			v["control_loss"], v["control_margin_ratio"], v["control_cos_beta_svm"] = q.Loss, q.MarginRatio, q.CosSV
			v["control_positive_share"] = q.PosShare
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

func marginPlots(dir string, s, ct *marginResult, minRatio float64) error {
	series := func(name string, tr []marginPoint, get func(marginPoint) float64) plot.Series {
		se := plot.Series{Name: name}
		for _, p := range tr {
			se.X = append(se.X, float64(p.Step))
			se.Y = append(se.Y, get(p))
		}
		return se
	}
	pd := filepath.Join(dir, "plots")
	if err := os.MkdirAll(pd, 0o755); err != nil {
		return err
	}
	ratio := func(p marginPoint) float64 { return p.MarginRatio }
	if err := plot.Lines(filepath.Join(pd, "margin_ratio_vs_control.png"), "normalized margin / ((1+α)/4·γ*)", "step", "ratio",
		[]plot.Series{series("symmetric", s.Trace, ratio), series("control", ct.Trace, ratio)},
		plot.Options{HLines: []plot.HLine{{Y: 1, Label: "optimum"}, {Y: minRatio, Label: "check"}}}); err != nil {
		return err
	}
	return plot.Lines(filepath.Join(pd, "directions.png"), "alignment with ±μ and cos(β, SVM)", "step", "cosine",
		[]plot.Series{
			series("alignment with ±μ", s.Trace, func(p marginPoint) float64 { return p.AlignMu }),
			series("cos(β, SVM)", s.Trace, func(p marginPoint) float64 { return p.CosSV }),
		}, plot.Options{})
}

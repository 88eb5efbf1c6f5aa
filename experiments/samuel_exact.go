package experiments

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/gradlab/gradlab/train/plot"
)

// Exact expected losses of SGD on samuelQuad.
//
// With a deterministic schedule η_t, coordinate j of SGD on the noisy
// quadratic evolves as θ' = (1−η_t h)θ − η_t σ ξ, with ξ ~ N(0, 1) drawn
// afresh every step and independent of θ and of the other coordinates
// (whether the draw is shared between experts does not matter for one run).
// Hence the mean m and the second moment s = E θ² obey
//
//	m' = (1−η_t h) m,    s' = (1−η_t h)² s + η_t² σ²,
//
// from m₀ = θ₀ and s₀ = θ₀² (the start is deterministic), and the expected
// loss after T steps is ½ Σ hⱼ sⱼ(T). A stretch of n steps at one rate η maps
// s to A·s + B with a = (1−ηh)², A = aⁿ and B = η²σ²(1−aⁿ)/(1−a), which
// makes the expected loss of a piecewise-constant schedule cost O(segments·d).
//
// Lower bound for every deterministic schedule with rates in [lo, hi]: the
// map s ↦ (1−ηh)² s + η²σ² is non-decreasing in s for every η, so for a
// single coordinate the rate that minimises the next second moment (the
// clamped minimiser η = hs/(h²s + σ²) of a convex quadratic in η) is optimal
// at every step, by induction on the cost-to-go, which stays non-decreasing in
// s. A schedule shared by all coordinates cannot do better on any coordinate
// than that coordinate's own optimum, so Σⱼ ½hⱼ sⱼ^greedy(T) bounds the
// expected loss of every deterministic schedule in [lo, hi] from below. In
// particular, when every sⱼ starts above the fixed point s*ⱼ = lo·σⱼ²/(hⱼ(2 −
// lo·hⱼ)) of the smallest rate, no sⱼ can ever go below s*ⱼ (at s = s* the
// minimising η is lo/2 < lo), and the bound is at least ½ Σ lo·σⱼ²/(2 − lo·hⱼ).
//
// The bound says nothing about rules whose rate depends on the noise (SAMUEL
// keeps, every interval, one of its experts' copies after seeing how they did
// on that interval's noise): the cost-to-go of one coordinate is concave in
// s, so fluctuations can in principle be exploited. Those rules are measured
// by oracles instead (samuelHindsight, samuelClairvoyant, samuelFeedbackRule).

// samuelMoments holds the per-coordinate data of the recursion.
type samuelMoments struct {
	h, sig2, w []float64 // curvature, noise variance σ², loss weight ½h
	m0, s0     []float64 // starting mean θ₀ and second moment θ₀²
}

func newSamuelMoments(c samuelSetup) (*samuelMoments, error) {
	q := c.quad(0)
	x0, err := q.init(c.init)
	if err != nil {
		return nil, err
	}
	e := &samuelMoments{h: q.h, sig2: make([]float64, c.d), w: make([]float64, c.d), m0: x0, s0: make([]float64, c.d)}
	for j := range c.d {
		e.sig2[j] = q.sigma[j] * q.sigma[j]
		e.w[j] = 0.5 * q.h[j]
		e.s0[j] = x0[j] * x0[j]
	}
	return e, nil
}

// run applies the per-step recursion for steps steps of the schedule
// (lr(t) is the rate of step t+1, as in runScheduleOnce) and returns the mean
// and second moment of every coordinate.
func (e *samuelMoments) run(lr func(step int) float64, steps int) (m, s []float64) {
	m, s = slices.Clone(e.m0), slices.Clone(e.s0)
	for t := range steps {
		eta := lr(t)
		for j, h := range e.h {
			r := 1 - eta*h
			m[j] *= r
			s[j] = r*r*s[j] + eta*eta*e.sig2[j]
		}
	}
	return m, s
}

// loss is ½ Σ h s.
func (e *samuelMoments) loss(s []float64) float64 {
	var l float64
	for j, v := range s {
		l += e.w[j] * v
	}
	return l
}

// expected is the expected final loss of the schedule after steps steps.
func (e *samuelMoments) expected(lr func(step int) float64, steps int) float64 {
	_, s := e.run(lr, steps)
	return e.loss(s)
}

// samuelSegment returns A and B such that n steps at rate lr map the second
// moment s of a coordinate with curvature h and noise variance sig2 to
// A·s + B. It is accurate for small lr·h (no 1 − a cancellation).
func samuelSegment(h, sig2, lr float64, n int) (A, B float64) {
	x := lr * h
	if n == 0 {
		return 1, 0
	}
	if x == 1 {
		return 0, lr * lr * sig2
	}
	la := 2 * math.Log(math.Abs(1-x)) // log a
	oneMinusA := x * (2 - x)
	nl := float64(n) * la
	A = math.Exp(nl)
	var g float64 // Σ_{i<n} aⁱ
	switch {
	case oneMinusA > 0:
		g = -math.Expm1(nl) / oneMinusA
	case oneMinusA == 0:
		g = float64(n)
	default:
		g = (A - 1) / (-oneMinusA)
	}
	return A, lr * lr * sig2 * g
}

// samuelPiecewise is a schedule of consecutive constant-rate segments.
type samuelPiecewise struct {
	lens []int
	lrs  []float64
}

// equalSegments splits steps into k segments whose lengths differ by at most one.
func equalSegments(steps, k int) []int {
	k = max(1, min(k, steps))
	lens := make([]int, k)
	for i := range lens {
		lens[i] = steps/k + btoi(i < steps%k)
	}
	return lens
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// schedule returns the per-step rate (step t runs at lr(t)).
func (p samuelPiecewise) schedule() func(int) float64 {
	starts := make([]int, len(p.lens))
	for i := 1; i < len(p.lens); i++ {
		starts[i] = starts[i-1] + p.lens[i-1]
	}
	return func(t int) float64 {
		k, found := slices.BinarySearch(starts, t)
		if !found {
			k--
		}
		return p.lrs[max(0, min(k, len(p.lrs)-1))]
	}
}

// piecewise is the expected final loss of the schedule by segments.
func (e *samuelMoments) piecewise(p samuelPiecewise) float64 {
	s := slices.Clone(e.s0)
	for k, n := range p.lens {
		for j := range s {
			A, B := samuelSegment(e.h[j], e.sig2[j], p.lrs[k], n)
			s[j] = A*s[j] + B
		}
	}
	return e.loss(s)
}

// greedyBound is the lower bound over deterministic schedules with rates in
// [lo, hi] described above: every coordinate follows its own optimal rate.
func (e *samuelMoments) greedyBound(steps int, lo, hi float64) float64 {
	s := slices.Clone(e.s0)
	for range steps {
		for j, h := range e.h {
			eta := h * s[j] / (h*h*s[j] + e.sig2[j])
			eta = min(hi, max(lo, eta))
			r := 1 - eta*h
			s[j] = r*r*s[j] + eta*eta*e.sig2[j]
		}
	}
	return e.loss(s)
}

// samuelOptResult is the outcome of one schedule optimisation.
type samuelOptResult struct {
	sched  samuelPiecewise
	loss   float64
	sweeps int
}

// optimise minimises the expected final loss over the rates of the segments
// (lengths fixed), each in [lo, hi], by exact block-coordinate descent:
// alternating forward and backward sweeps, each segment's rate set to the
// minimiser of the loss with all other rates fixed. With the others fixed the
// loss is Σⱼ λⱼ (Aⱼ(η) sⱼ + Bⱼ(η)) + const, sⱼ the second moment entering the
// segment and λⱼ = ½hⱼ Π_{later segments} Aⱼ, so one evaluation costs O(d);
// the minimiser is found by a scan of 64 log-spaced rates and a golden-section
// refinement around the best, and a change is kept only if it lowers the
// loss. It stops when a forward-backward pair improves the loss by less than
// tol relatively, or after maxSweeps sweeps.
func (e *samuelMoments) optimise(start samuelPiecewise, lo, hi, tol float64, maxSweeps int) samuelOptResult {
	K, d := len(start.lens), len(e.h)
	lrs := slices.Clone(start.lrs)
	for k := range lrs {
		lrs[k] = min(hi, max(lo, lrs[k]))
	}
	lens := start.lens
	A, B := make([][]float64, K), make([][]float64, K)
	for k := range K {
		A[k], B[k] = make([]float64, d), make([]float64, d)
		e.segmentAll(lrs[k], lens[k], A[k], B[k])
	}
	// s[k] enters segment k; lam[k] weighs s[k] in the final loss.
	s, lam := make([][]float64, K+1), make([][]float64, K+1)
	for k := range K + 1 {
		s[k], lam[k] = make([]float64, d), make([]float64, d)
	}
	copy(s[0], e.s0)
	forwardS := func(from int) {
		for k := from; k < K; k++ {
			for j := range d {
				s[k+1][j] = A[k][j]*s[k][j] + B[k][j]
			}
		}
	}
	backwardLam := func(from int) {
		for k := from; k >= 0; k-- {
			for j := range d {
				lam[k][j] = lam[k+1][j] * A[k][j]
			}
		}
	}
	copy(lam[K], e.w)
	forwardS(0)
	backwardLam(K - 1)
	cur := e.loss(s[K])
	lglo, lghi := math.Log(lo), math.Log(hi)
	tryA, tryB := make([]float64, d), make([]float64, d)
	phi := func(k int, lg float64) float64 {
		eta := math.Exp(lg)
		var v float64
		for j := range d {
			a, b := samuelSegment(e.h[j], e.sig2[j], eta, lens[k])
			v += lam[k+1][j] * (a*s[k][j] + b)
		}
		return v
	}
	// update re-optimises segment k given s[k] and lam[k+1]; it returns
	// whether the rate changed.
	update := func(k int) bool {
		best := phi(k, math.Log(lrs[k]))
		const grid = 64
		arg, argV := 0, math.Inf(1)
		for i := range grid {
			lg := lglo + (lghi-lglo)*float64(i)/(grid-1)
			if v := phi(k, lg); v < argV {
				arg, argV = i, v
			}
		}
		a := lglo + (lghi-lglo)*float64(max(0, arg-1))/(grid-1)
		b := lglo + (lghi-lglo)*float64(min(grid-1, arg+1))/(grid-1)
		lg, v := goldenMin(func(x float64) float64 { return phi(k, x) }, a, b, 1e-12)
		if argV < v {
			lg, v = lglo+(lghi-lglo)*float64(arg)/(grid-1), argV
		}
		if !(v < best) {
			return false
		}
		lrs[k] = math.Exp(lg)
		e.segmentAll(lrs[k], lens[k], tryA, tryB)
		copy(A[k], tryA)
		copy(B[k], tryB)
		return true
	}
	sweeps := 0
	for sweeps < maxSweeps {
		prev := cur
		// Forward: lam[k+1] is valid (later segments unchanged so far).
		for k := range K {
			update(k)
			for j := range d {
				s[k+1][j] = A[k][j]*s[k][j] + B[k][j]
			}
		}
		// Backward: s[k] is valid (earlier segments unchanged so far).
		for k := K - 1; k >= 0; k-- {
			update(k)
			for j := range d {
				lam[k][j] = lam[k+1][j] * A[k][j]
			}
		}
		sweeps += 2
		forwardS(0)
		cur = e.loss(s[K])
		if prev-cur <= tol*cur {
			break
		}
	}
	return samuelOptResult{sched: samuelPiecewise{lens: slices.Clone(lens), lrs: lrs}, loss: cur, sweeps: sweeps}
}

func (e *samuelMoments) segmentAll(lr float64, n int, A, B []float64) {
	for j := range e.h {
		A[j], B[j] = samuelSegment(e.h[j], e.sig2[j], lr, n)
	}
}

// goldenMin minimises f on [a, b] by golden-section search to width tol.
func goldenMin(f func(float64) float64, a, b, tol float64) (x, fx float64) {
	const r = 0.6180339887498949
	c, d := b-r*(b-a), a+r*(b-a)
	fc, fd := f(c), f(d)
	for b-a > tol {
		if fc <= fd {
			b, d, fd = d, c, fc
			c = b - r*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + r*(b-a)
			fd = f(d)
		}
	}
	if fc <= fd {
		return c, fc
	}
	return d, fd
}

// samuelBestSchedule searches piecewise-constant schedules with rates in
// [lo, hi]: block-coordinate descent from several starts on a coarse grid of
// segments, then the best result refined by halving every segment, level by
// level, up to k segments (each level starts from the previous optimum, so
// the loss never increases). It returns the result of every level (the last
// is the finest) and the coarse losses of all starts (their spread shows
// whether the landscape has competing local minima).
func (e *samuelMoments) samuelBestSchedule(steps, k int, lo, hi float64, extra []samuelPiecewise) (levels []samuelOptResult, startLosses []float64) {
	k = max(1, min(k, steps))
	coarse := k
	for coarse > 25 && coarse%2 == 0 {
		coarse /= 2
	}
	lens := equalSegments(steps, coarse)
	var starts [][]float64
	for _, c := range []float64{lo, math.Sqrt(lo * hi), hi} {
		starts = append(starts, slices.Repeat([]float64{c}, coarse))
	}
	for _, end := range []float64{lo, lo * lo / hi} { // log-linear decays from hi
		r := make([]float64, coarse)
		for i := range r {
			r[i] = hi * math.Pow(end/hi, float64(i)/float64(max(1, coarse-1)))
		}
		starts = append(starts, r)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for range 3 {
		r := make([]float64, coarse)
		for i := range r {
			r[i] = math.Exp(math.Log(lo) + rng.Float64()*(math.Log(hi)-math.Log(lo)))
		}
		starts = append(starts, r)
	}
	for _, p := range extra { // given schedules, averaged in log over each segment
		f := p.schedule()
		r := make([]float64, coarse)
		t := 0
		for i, n := range lens {
			var lg float64
			for u := range n {
				lg += math.Log(f(t+u)) / float64(n)
			}
			r[i], t = math.Exp(lg), t+n
		}
		starts = append(starts, r)
	}
	const tol, maxSweeps = 1e-10, 400
	var best samuelOptResult
	for i, r := range starts {
		res := e.optimise(samuelPiecewise{lens: lens, lrs: r}, lo, hi, tol, maxSweeps)
		startLosses = append(startLosses, res.loss)
		if i == 0 || res.loss < best.loss {
			best = res
		}
	}
	levels = append(levels, best)
	for len(best.sched.lens) < k {
		var nl []int
		var nr []float64
		for i, n := range best.sched.lens {
			if n < 2 {
				nl, nr = append(nl, n), append(nr, best.sched.lrs[i])
				continue
			}
			nl = append(nl, n/2, n-n/2)
			nr = append(nr, best.sched.lrs[i], best.sched.lrs[i])
		}
		if len(nl) == len(best.sched.lens) {
			break
		}
		best = e.optimise(samuelPiecewise{lens: nl, lrs: nr}, lo, hi, tol, maxSweeps)
		levels = append(levels, best)
	}
	return levels, startLosses
}

// samuelCostWeights returns, for every step boundary t = 0…steps, the
// weights cⱼ(t) = ½hⱼ Π_{u ≥ t} (1 − η_u hⱼ)² of the continuation schedule:
// from θ at step t, the expected final loss under that schedule is
// Σⱼ cⱼ(t) θⱼ² plus a term that does not depend on θ. Row t is c(t).
func (e *samuelMoments) samuelCostWeights(lr func(int) float64, steps int) []float64 {
	d := len(e.h)
	c := make([]float64, (steps+1)*d)
	copy(c[steps*d:], e.w)
	for t := steps - 1; t >= 0; t-- {
		eta := lr(t)
		for j, h := range e.h {
			r := 1 - eta*h
			c[t*d+j] = c[(t+1)*d+j] * r * r
		}
	}
	return c
}

// samuelHindsight runs an oracle with SAMUEL's information: every interval
// all candidate rates run from the common state on the same noise (the
// seed's shared table), and the copy whose end state has the smallest
// Σⱼ cⱼ θⱼ² (c from weights at the interval's end; nil means the true loss
// ½ Σ hθ²) is kept for everybody. It returns the final exact loss.
func samuelHindsight(c samuelSetup, e *samuelMoments, table []float64, cands []float64, interval int, weights []float64) float64 {
	d := c.d
	x := slices.Clone(e.m0)
	y := make([]float64, d)
	bestY := make([]float64, d)
	for start := 0; start < c.steps; start += interval {
		end := min(c.steps, start+interval)
		w := e.w
		if weights != nil {
			w = weights[end*d : (end+1)*d]
		}
		bestV := math.Inf(1)
		for _, eta := range cands {
			copy(y, x)
			for t := start; t < end; t++ {
				xi := table[t*d : (t+1)*d]
				for j := range y {
					y[j] -= eta * (e.h[j]*y[j] + math.Sqrt(e.sig2[j])*xi[j])
				}
			}
			var v float64
			for j, yj := range y {
				v += w[j] * yj * yj
			}
			if v < bestV {
				bestV = v
				copy(bestY, y)
			}
		}
		copy(x, bestY)
	}
	var l float64
	for j, v := range x {
		l += e.w[j] * v * v
	}
	return l
}

// samuelClairvoyant picks, at every step, after the stochastic gradient g is
// known, the rate in [lo, hi] that minimises Σⱼ cⱼ(t+1) (θⱼ − η gⱼ)² exactly
// (a convex quadratic in η); weights nil means cⱼ = ½hⱼ, i.e. an exact line
// search on the true loss along −g clipped to [lo, hi]. It needs θ, g and the
// curvatures, all of which a method that knows the objective has, so it is
// a realisable noise-dependent rule, not merely a bound. It returns the final
// exact loss.
func samuelClairvoyant(c samuelSetup, e *samuelMoments, table []float64, lo, hi float64, weights []float64) float64 {
	d := c.d
	x := slices.Clone(e.m0)
	g := make([]float64, d)
	for t := range c.steps {
		xi := table[t*d : (t+1)*d]
		w := e.w
		if weights != nil {
			w = weights[(t+1)*d : (t+2)*d]
		}
		for j := range x {
			g[j] = e.h[j]*x[j] + math.Sqrt(e.sig2[j])*xi[j]
		}
		eta := clairvoyantRate(x, g, w, lo, hi)
		for j := range x {
			x[j] -= eta * g[j]
		}
	}
	var l float64
	for j, v := range x {
		l += e.w[j] * v * v
	}
	return l
}

// clairvoyantRate is the rate in [lo, hi] that minimises Σⱼ wⱼ (xⱼ − η gⱼ)².
func clairvoyantRate(x, g, w []float64, lo, hi float64) float64 {
	var num, den float64
	for j := range x {
		num += w[j] * x[j] * g[j]
		den += w[j] * g[j] * g[j]
	}
	if !(den > 0) {
		return lo
	}
	return min(hi, max(lo, num/den))
}

// feedbackRate is the rate in [lo, hi] that minimises the expected
// Σⱼ wⱼ θⱼ'² after one SGD step from θ = x, i.e.
// Σⱼ wⱼ ((1 − ηhⱼ)² xⱼ² + η² σⱼ²).
func (e *samuelMoments) feedbackRate(x, w []float64, lo, hi float64) float64 {
	var num, den float64
	for j, h := range e.h {
		num += w[j] * h * x[j] * x[j]
		den += w[j] * (h*h*x[j]*x[j] + e.sig2[j])
	}
	if !(den > 0) {
		return lo
	}
	return min(hi, max(lo, num/den))
}

// samuelFeedbackRule is a realisable (non-anticipating) state-feedback rule
// with an oracle's knowledge of θ: at every step it picks the rate in
// [lo, hi] that minimises the expected Σⱼ cⱼ(t+1) θⱼ(t+1)² given θ(t)
// (one step of policy improvement on the continuation schedule), then takes
// the SGD step with the step's noise. It returns the final exact loss.
func samuelFeedbackRule(c samuelSetup, e *samuelMoments, table []float64, lo, hi float64, weights []float64) float64 {
	d := c.d
	x := slices.Clone(e.m0)
	for t := range c.steps {
		xi := table[t*d : (t+1)*d]
		w := weights[(t+1)*d : (t+2)*d]
		eta := e.feedbackRate(x, w, lo, hi)
		for j := range x {
			x[j] -= eta * (e.h[j]*x[j] + math.Sqrt(e.sig2[j])*xi[j])
		}
	}
	var l float64
	for j, v := range x {
		l += e.w[j] * v * v
	}
	return l
}

// samuelExact is the exact analysis of one study.
type samuelExact struct {
	tunedDecay, bestConst, flooredDecay float64 // expected losses of the run's chosen schedules
	gridDecay                           float64 // smallest expected loss over the step-decay grid
	gridDecayName                       string
	lo, hi                              float64
	inRange, unrestricted               samuelOptResult
	inRangeLevels, unrestrictedLevels   []samuelOptResult
	inRangeStarts                       []float64
	bound, boundStationary              float64 // greedy lower bound; its stationary form ½ Σ lo σ²/(2 − lo h)
	// Seed means on the study's noise: the in-range optimum as a fixed
	// schedule, the hindsight oracles at SAMUEL's interval (true loss and
	// look-ahead weights), the look-ahead hindsight oracle at every interval
	// of oracleIntervals, and the per-step rules.
	inRangeMeasured              float64
	hindsightLoss, hindsightLook float64
	oracleIntervals              []int
	hindsightByInterval          []float64
	clairvoyant, lineSearch      float64
	feedback                     float64
}

func (x *samuelExact) String() string {
	return fmt.Sprintf("in range [%g, %g]: %.4g (bound %.4g); unrestricted %.4g; tuned decay %.4g", x.lo, x.hi, x.inRange.loss, x.bound, x.unrestricted.loss, x.tunedDecay)
}

// runSamuelExact computes the expected losses of the study's schedules, the
// best piecewise-constant schedules with k segments within the experts'
// range and without restriction (rates in (0, 2/h_max)), the lower bound,
// and, when oracles is set, the adaptive oracles on the study's noise.
func runSamuelExact(c samuelSetup, st *samuelStudy, k int, oracles bool, intervals []int) (*samuelExact, error) {
	e, err := newSamuelMoments(c)
	if err != nil {
		return nil, err
	}
	x := &samuelExact{lo: slices.Min(c.lrs), hi: slices.Max(c.lrs)}
	x.tunedDecay = e.expected(st.decays[st.bestDecay].schedule(), c.steps)
	x.flooredDecay = e.expected(st.floored[st.bestFloored].schedule(), c.steps)
	lr := c.lrs[st.bestConst]
	x.bestConst = e.expected(func(int) float64 { return lr }, c.steps)
	x.gridDecay = math.Inf(1)
	var extra []samuelPiecewise
	for _, dc := range st.decays {
		if v := e.expected(dc.schedule(), c.steps); v < x.gridDecay {
			x.gridDecay, x.gridDecayName = v, dc.String()
		}
	}
	for _, dc := range []samuelStepDecay{st.decays[st.bestDecay], st.floored[st.bestFloored]} {
		extra = append(extra, perStepSchedule(dc.schedule(), c.steps))
	}
	x.inRangeLevels, x.inRangeStarts = e.samuelBestSchedule(c.steps, k, x.lo, x.hi, extra)
	x.inRange = x.inRangeLevels[len(x.inRangeLevels)-1]
	// Unrestricted: any rate that keeps every coordinate stable.
	uhi := (2 / slices.Max(e.h)) * (1 - 1e-9)
	ulo := min(x.lo, 1e-3*x.lo) * 1e-3
	x.unrestrictedLevels, _ = e.samuelBestSchedule(c.steps, k, ulo, uhi, extra)
	x.unrestricted = x.unrestrictedLevels[len(x.unrestrictedLevels)-1]
	x.bound = e.greedyBound(c.steps, x.lo, x.hi)
	for j, h := range e.h {
		x.boundStationary += 0.5 * x.lo * e.sig2[j] / (2 - x.lo*h)
		if e.s0[j] < x.lo*e.sig2[j]/(h*(2-x.lo*h)) {
			x.boundStationary = math.NaN() // the start is below the floor: the simple form does not apply
			break
		}
	}
	if !oracles {
		return x, nil
	}
	sched := x.inRange.sched.schedule()
	weights := e.samuelCostWeights(sched, c.steps)
	for _, iv := range intervals {
		if iv < 1 {
			return nil, fmt.Errorf("exact.oracle_intervals: want positive intervals, got %v", intervals)
		}
		if iv != c.interval {
			x.oracleIntervals = append(x.oracleIntervals, iv)
		}
	}
	x.hindsightByInterval = make([]float64, len(x.oracleIntervals))
	n := float64(len(st.tables))
	for i, table := range st.tables {
		tr, err := runScheduleOnce(c, st.seeds[i], table, sched)
		if err != nil {
			return nil, err
		}
		x.inRangeMeasured += tr.final() / n
		x.hindsightLoss += samuelHindsight(c, e, table, c.lrs, c.interval, nil) / n
		x.hindsightLook += samuelHindsight(c, e, table, c.lrs, c.interval, weights) / n
		for k, iv := range x.oracleIntervals {
			x.hindsightByInterval[k] += samuelHindsight(c, e, table, c.lrs, iv, weights) / n
		}
		x.clairvoyant += samuelClairvoyant(c, e, table, x.lo, x.hi, weights) / n
		x.lineSearch += samuelClairvoyant(c, e, table, x.lo, x.hi, nil) / n
		x.feedback += samuelFeedbackRule(c, e, table, x.lo, x.hi, weights) / n
	}
	return x, nil
}

// perStepSchedule turns a per-step schedule into a piecewise one with a
// segment wherever the rate changes.
func perStepSchedule(f func(int) float64, steps int) samuelPiecewise {
	var p samuelPiecewise
	for t := range steps {
		v := f(t)
		if n := len(p.lrs); n > 0 && p.lrs[n-1] == v {
			p.lens[n-1]++
			continue
		}
		p.lens, p.lrs = append(p.lens, 1), append(p.lrs, v)
	}
	return p
}

// record adds the exact analysis to the outcome's values. Ratios over the
// tuned step decay use its expected loss for expected losses and its
// measured seed mean (same noise) for the oracles' measured losses.
func (x *samuelExact) record(values map[string]any, st *samuelStudy) {
	bd := st.decayMeans[st.bestDecay]
	values["expected_loss_tuned_decay"] = x.tunedDecay
	values["expected_loss_best_constant"] = x.bestConst
	values["expected_loss_floored_decay"] = x.flooredDecay
	values["expected_loss_best_decay_in_grid"] = x.gridDecay
	values["expected_best_decay_in_grid"] = x.gridDecayName
	values["best_schedule_in_expert_range"] = x.inRange.loss
	values["best_schedule_unrestricted"] = x.unrestricted.loss
	values["best_in_range_over_tuned_decay"] = x.inRange.loss / x.tunedDecay
	values["best_unrestricted_over_tuned_decay"] = x.unrestricted.loss / x.tunedDecay
	values["in_range_lower_bound"] = x.bound
	values["in_range_lower_bound_over_tuned_decay"] = x.bound / x.tunedDecay
	if finite(x.boundStationary) {
		values["in_range_lower_bound_stationary"] = x.boundStationary
	}
	values["samuel_final_loss_over_best_in_range"] = st.samuelMean / x.inRange.loss
	var segs []int
	var byLevel []float64
	for _, l := range x.inRangeLevels {
		segs, byLevel = append(segs, len(l.sched.lens)), append(byLevel, l.loss)
	}
	values["best_in_range_segments"] = segs
	values["best_in_range_by_segments"] = byLevel
	values["best_in_range_start_losses"] = x.inRangeStarts
	values["best_in_range_sweeps"] = x.inRange.sweeps
	values["best_in_range_last_lr"] = x.inRange.sched.lrs[len(x.inRange.sched.lrs)-1]
	values["best_unrestricted_last_lr"] = x.unrestricted.sched.lrs[len(x.unrestricted.sched.lrs)-1]
	if x.hindsightLoss > 0 {
		values["best_in_range_measured"] = x.inRangeMeasured
		values["oracle_hindsight_final_loss"] = x.hindsightLoss
		values["oracle_hindsight_lookahead_final_loss"] = x.hindsightLook
		values["oracle_hindsight_over_tuned_decay"] = min(x.hindsightLoss, x.hindsightLook) / bd
		for k, iv := range x.oracleIntervals {
			values[fmt.Sprintf("oracle_hindsight_lookahead_final_loss_interval%d", iv)] = x.hindsightByInterval[k]
		}
		values["oracle_feedback_final_loss"] = x.feedback
		values["oracle_feedback_over_tuned_decay"] = x.feedback / bd
		values["oracle_clairvoyant_final_loss"] = x.clairvoyant
		values["oracle_clairvoyant_over_tuned_decay"] = x.clairvoyant / bd
		values["line_search_final_loss"] = x.lineSearch
		values["line_search_over_tuned_decay"] = x.lineSearch / bd
	}
}

// writeSamuelScheduleRecords writes the optimised schedules to
// samuel_schedules.json and plots them with the tuned step decay.
func writeSamuelScheduleRecords(dir string, c samuelSetup, st *samuelStudy, x *samuelExact) error {
	type sched struct {
		Loss float64   `json:"expected_final_loss"`
		Lens []int     `json:"segment_steps"`
		LRs  []float64 `json:"lrs"`
	}
	out := map[string]sched{
		"best_in_expert_range": {x.inRange.loss, x.inRange.sched.lens, x.inRange.sched.lrs},
		"best_unrestricted":    {x.unrestricted.loss, x.unrestricted.sched.lens, x.unrestricted.sched.lrs},
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "samuel_schedules.json"), b, 0o644); err != nil {
		return err
	}
	steps := func(p samuelPiecewise) (xs, ys []float64) {
		t := 0
		for k, n := range p.lens {
			xs, ys = append(xs, float64(t), float64(t+n)), append(ys, p.lrs[k], p.lrs[k])
			t += n
		}
		return xs, ys
	}
	dc := st.decays[st.bestDecay]
	series := []plot.Series{}
	for _, p := range []struct {
		name string
		s    samuelPiecewise
	}{
		{fmt.Sprintf("best in [%g, %g] (%.3g)", x.lo, x.hi, x.inRange.loss), x.inRange.sched},
		{fmt.Sprintf("best unrestricted (%.3g)", x.unrestricted.loss), x.unrestricted.sched},
		{fmt.Sprintf("tuned step decay (%.3g)", x.tunedDecay), perStepSchedule(dc.schedule(), c.steps)},
	} {
		xs, ys := steps(p.s)
		series = append(series, plot.Series{Name: p.name, X: xs, Y: ys})
	}
	pdir := filepath.Join(dir, "plots")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	return plot.Lines(filepath.Join(pdir, "samuel_schedules.png"), "learning-rate schedules and their exact expected final losses", "step", "η", series,
		plot.Options{LogY: true, Width: 1000, HLines: []plot.HLine{{Y: x.lo, Label: "smallest expert"}}})
}

package experiments

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	gt "gorgonia.org/tensor"
)

func TestSamuelSegmentMatchesSteps(t *testing.T) {
	// The closed form of a constant-rate stretch equals the per-step
	// recursion, for rates below, at and above 1/h.
	const h, sig2, s0 = 0.7, 0.3, 1.9
	for _, tc := range []struct {
		x float64 // η·h
		n int
	}{
		{1e-7, 5000}, {1e-4, 300}, {0.3, 1}, {0.3, 40}, {1, 3}, {1.5, 25}, {1.99, 200},
	} {
		lr := tc.x / h
		s := s0
		for range tc.n {
			r := 1 - lr*h
			s = r*r*s + lr*lr*sig2
		}
		A, B := samuelSegment(h, sig2, lr, tc.n)
		if got := A*s0 + B; math.Abs(got-s) > 1e-12*math.Max(1, s) {
			t.Errorf("ηh = %g, n = %d: closed form %.17g, steps %.17g", tc.x, tc.n, got, s)
		}
	}
}

func TestSamuelMomentsStationary(t *testing.T) {
	// A constant rate run long enough reaches the stationary second moment
	// ησ²/(h(2 − ηh)); the mean decays as (1 − ηh)ᵗ.
	c := samuelSetup{d: 4, hMin: 0.2, hMax: 1, noise: 0.5, init: "equal_loss"}
	e, err := newSamuelMoments(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, lr := range []float64{0.05, 0.5, 1.5} {
		const steps = 20000
		m, s := e.run(func(int) float64 { return lr }, steps)
		var want float64
		for j, h := range e.h {
			sstar := lr * e.sig2[j] / (h * (2 - lr*h))
			if math.Abs(s[j]-sstar) > 1e-9*sstar {
				t.Errorf("η = %g, h = %g: s = %g, stationary %g", lr, h, s[j], sstar)
			}
			if wm := e.m0[j] * math.Pow(1-lr*h, steps); math.Abs(m[j]-wm) > 1e-12 {
				t.Errorf("η = %g, h = %g: mean %g, want %g", lr, h, m[j], wm)
			}
			want += 0.5 * lr * e.sig2[j] / (2 - lr*h)
		}
		if got := e.loss(s); math.Abs(got-want) > 1e-9*want {
			t.Errorf("η = %g: expected loss %g, stationary %g", lr, got, want)
		}
		p := samuelPiecewise{lens: equalSegments(steps, 7), lrs: slices.Repeat([]float64{lr}, 7)}
		if got := e.piecewise(p); math.Abs(got-e.loss(s)) > 1e-10*want {
			t.Errorf("η = %g: piecewise %g, per step %g", lr, got, e.loss(s))
		}
	}
}

func TestSamuelMomentsMonteCarlo(t *testing.T) {
	// The recursion against independent SGD runs of the experiment's own
	// oracle and baseline code (seeds 1…n, a step decay through a rate
	// above 1/h_max): the final loss of runScheduleOnce, and every
	// coordinate's mean and second moment from the oracle's Next/Grad,
	// agree within 4 standard errors.
	c := samuelSetup{d: 4, hMin: 0.05, hMax: 1, noise: 0.5, init: "ones", steps: 120, logEvery: 120,
		lrs: []float64{1.2, 0.1}, rates: []float64{1}, interval: 10}
	dc := samuelStepDecay{lr0: 1.2, gamma: 0.3, period: 40}
	e, err := newSamuelMoments(c)
	if err != nil {
		t.Fatal(err)
	}
	wantM, wantS := e.run(dc.schedule(), c.steps)
	const n = 4000
	var losses []float64
	th, sq := make([][]float64, c.d), make([][]float64, c.d)
	for seed := uint64(1); seed <= n; seed++ {
		tr, err := runScheduleOnce(c, seed, nil, dc.schedule())
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, tr.final())
		q := c.quad(seed + 1e6)
		x, _ := q.init(c.init)
		g := make([]float64, c.d)
		p := []*gt.Dense{gt.New(gt.WithShape(c.d), gt.WithBacking(x))}
		gr := []*gt.Dense{gt.New(gt.WithShape(c.d), gt.WithBacking(g))}
		lr := dc.schedule()
		for step := range c.steps {
			if err := q.Next(); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Grad(p, gr); err != nil {
				t.Fatal(err)
			}
			for j := range x {
				x[j] -= lr(step) * g[j]
			}
		}
		for j, v := range x {
			th[j], sq[j] = append(th[j], v), append(sq[j], v*v)
		}
	}
	within := func(name string, xs []float64, want float64) {
		t.Helper()
		var m, v float64
		for _, x := range xs {
			m += x / float64(len(xs))
		}
		for _, x := range xs {
			v += (x - m) * (x - m) / float64(len(xs)-1)
		}
		se := math.Sqrt(v / float64(len(xs)))
		if math.Abs(m-want) > 4*se {
			t.Errorf("%s: Monte Carlo %g ± %g, exact %g", name, m, se, want)
		}
	}
	within("final loss", losses, e.loss(wantS))
	for j := range c.d {
		within("mean", th[j], wantM[j])
		within("second moment", sq[j], wantS[j])
	}
}

func TestSamuelOptimiseBruteForce(t *testing.T) {
	// Two segments on a three-coordinate problem: block-coordinate descent
	// finds at least as low a loss as a dense grid over both rates, and the
	// grid comes within its resolution of it.
	c := samuelSetup{d: 3, hMin: 0.01, hMax: 1, noise: 0.5, init: "ones"}
	e, err := newSamuelMoments(c)
	if err != nil {
		t.Fatal(err)
	}
	const lo, hi, steps = 0.005, 1.5, 400
	lens := []int{300, 100}
	res := e.optimise(samuelPiecewise{lens: lens, lrs: []float64{lo, lo}}, lo, hi, 1e-12, 200)
	const g = 300
	grid := math.Inf(1)
	for a := range g {
		for b := range g {
			r := func(i int) float64 { return lo * math.Pow(hi/lo, float64(i)/(g-1)) }
			grid = math.Min(grid, e.piecewise(samuelPiecewise{lens: lens, lrs: []float64{r(a), r(b)}}))
		}
	}
	if res.loss > grid*(1+1e-9) || grid > res.loss*(1+1e-3) {
		t.Errorf("descent %g, grid %g", res.loss, grid)
	}
	if got := e.piecewise(res.sched); math.Abs(got-res.loss) > 1e-12*got {
		t.Errorf("reported loss %g, schedule's loss %g", res.loss, got)
	}
	for _, r := range res.sched.lrs {
		if r < lo || r > hi {
			t.Errorf("rate %g outside [%g, %g]", r, lo, hi)
		}
	}
}

func TestSamuelGreedyBound(t *testing.T) {
	// One coordinate: the per-step greedy rate is the optimum, so descent
	// over one segment per step reaches it; several coordinates: the bound
	// lies below the best schedule found and below every step decay.
	for _, tc := range []struct {
		d     int
		h     float64
		tight bool
	}{{1, 1, true}, {1, 0.05, true}, {6, 0, false}} {
		c := samuelSetup{d: tc.d, hMin: 0.01, hMax: 1, noise: 0.5, init: "ones"}
		if tc.d == 1 {
			c.hMin, c.hMax = tc.h, tc.h
		}
		e, err := newSamuelMoments(c)
		if err != nil {
			t.Fatal(err)
		}
		const lo, hi, steps = 0.02, 1.5, 300
		bound := e.greedyBound(steps, lo, hi)
		res := e.optimise(samuelPiecewise{lens: slices.Repeat([]int{1}, steps), lrs: slices.Repeat([]float64{lo}, steps)}, lo, hi, 1e-13, 2000)
		if res.loss < bound*(1-1e-12) {
			t.Errorf("d = %d: schedule %g below the bound %g", tc.d, res.loss, bound)
		}
		if tc.tight && res.loss > bound*(1+1e-6) {
			t.Errorf("d = 1, h = %g: optimum %g, greedy %g", tc.h, res.loss, bound)
		}
		for _, dc := range []samuelStepDecay{{1.5, 0.1, 50, lo}, {0.5, 0.5, 30, lo}, {0.1, 0.3, 100, lo}} {
			if v := e.expected(dc.schedule(), steps); v < bound*(1-1e-12) {
				t.Errorf("d = %d: %v has %g below the bound %g", tc.d, dc, v, bound)
			}
		}
	}
}

func TestSamuelOracleRates(t *testing.T) {
	// The per-step rules pick the minimiser over [lo, hi] of their
	// objectives, checked against a fine grid: the clairvoyant rate against
	// the weighted norm after the step, the feedback rate against the
	// expected loss after one step from the recursion.
	c := samuelSetup{d: 6, hMin: 0.01, hMax: 1, noise: 0.5, init: "ones"}
	e, err := newSamuelMoments(c)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 20 {
		lo, hi := 0.005, 1.5
		x, g := make([]float64, c.d), make([]float64, c.d)
		scale := math.Pow(10, -3+3*rng.Float64())
		for j := range x {
			x[j] = scale * rng.NormFloat64()
			g[j] = e.h[j]*x[j] + math.Sqrt(e.sig2[j])*rng.NormFloat64()
		}
		cr := clairvoyantRate(x, g, e.w, lo, hi)
		after := func(eta float64) float64 {
			var v float64
			for j := range x {
				y := x[j] - eta*g[j]
				v += e.w[j] * y * y
			}
			return v
		}
		fr := e.feedbackRate(x, e.w, lo, hi)
		saved := e.m0
		expectedAfter := func(eta float64) float64 {
			e.m0 = x
			sq := make([]float64, c.d)
			for j := range x {
				sq[j] = x[j] * x[j]
			}
			e.s0, sq = sq, e.s0
			v := e.expected(func(int) float64 { return eta }, 1)
			e.s0 = sq
			return v
		}
		for i := range 2001 {
			eta := lo * math.Pow(hi/lo, float64(i)/2000)
			if after(eta) < after(cr)*(1-1e-12) {
				t.Fatalf("trial %d: clairvoyant rate %g beaten by %g", trial, cr, eta)
			}
			if expectedAfter(eta) < expectedAfter(fr)*(1-1e-12) {
				t.Fatalf("trial %d: feedback rate %g beaten by %g", trial, fr, eta)
			}
		}
		e.m0 = saved
		if cr < lo || cr > hi || fr < lo || fr > hi {
			t.Fatalf("trial %d: rates %g, %g outside the range", trial, cr, fr)
		}
	}
}

func TestSamuelHindsightKeepsBestExpert(t *testing.T) {
	// Over a single interval the hindsight oracle with the true loss ends at
	// the smallest final loss of the constant-rate baselines on that noise.
	c := samuelSetup{d: 5, hMin: 0.05, hMax: 1, noise: 0.5, init: "ones", steps: 60, logEvery: 60,
		lrs: []float64{1.2, 0.3, 0.05}, rates: []float64{1}, interval: 60}
	e, err := newSamuelMoments(c)
	if err != nil {
		t.Fatal(err)
	}
	const seed = 3
	table := samuelNoiseTable(c.d, c.steps, seed)
	best := math.Inf(1)
	for _, lr := range c.lrs {
		tr, err := runScheduleOnce(c, seed, table, func(int) float64 { return lr })
		if err != nil {
			t.Fatal(err)
		}
		best = math.Min(best, tr.final())
	}
	if got := samuelHindsight(c, e, table, c.lrs, c.interval, nil); math.Abs(got-best) > 1e-12*best {
		t.Errorf("hindsight %g, best expert %g", got, best)
	}
}

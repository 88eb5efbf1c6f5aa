package curvature

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// probeVariance is the exact variance of vᵀHv for one probe.
func probeVariance(m testMatrix, kind ProbeKind) float64 {
	var fro, diag float64
	for i := 0; i < m.n; i++ {
		for j := 0; j < m.n; j++ {
			x := m.h.At(i, j)
			fro += x * x
		}
		diag += m.h.At(i, i) * m.h.At(i, i)
	}
	if kind == Gaussian {
		return 2 * fro
	}
	return 2 * (fro - diag)
}

func TestTraceWithinStdErr(t *testing.T) {
	var maxZ float64
	defer func() { t.Logf("largest |estimate − trace|/SE over all cases: %.2f", maxZ) }()
	for _, c := range spectra {
		m := c.build(t, testDim, 21)
		exact := m.tracePow(1)
		for _, kind := range []ProbeKind{Rademacher, Gaussian} {
			for seed := uint64(1); seed <= 5; seed++ {
				t.Run(fmt.Sprintf("%s/%v/seed%d", c.name, kind, seed), func(t *testing.T) {
					r, err := Trace(NewDense(m.h), newRNG(seed), TraceOptions{Probe: kind, Probes: 50})
					if err != nil {
						t.Fatal(err)
					}
					if r.Probes != 50 || r.Converged {
						t.Errorf("probes %d converged %v, want 50 and false", r.Probes, r.Converged)
					}
					z := (r.Mean - exact) / r.StdErr
					maxZ = max(maxZ, math.Abs(z))
					if math.Abs(z) > 3 {
						t.Errorf("estimate %.4f ± %.4f, exact %.4f: %.2f standard errors away", r.Mean, r.StdErr, exact, z)
					}
				})
			}
		}
	}
}

// The reported standard error must be the sample standard deviation of
// the per-probe values over √N, and across many independent estimates it
// must match both the exact variance of vᵀHv and the observed spread.
func TestTraceStdErrConsistent(t *testing.T) {
	const reps, probes = 400, 20
	for _, c := range spectra[:2] {
		m := c.build(t, testDim, 22)
		exact := m.tracePow(1)
		for _, kind := range []ProbeKind{Rademacher, Gaussian} {
			t.Run(fmt.Sprintf("%s/%v", c.name, kind), func(t *testing.T) {
				h, err := NewHutchinson(NewDense(m.h), TraceOptions{Probe: kind, Probes: probes})
				if err != nil {
					t.Fatal(err)
				}
				rng := newRNG(23)
				var meanSE2, sumMean, sumMean2 float64
				for rep := 0; rep < reps; rep++ {
					r, err := h.Run(rng)
					if err != nil {
						t.Fatal(err)
					}
					if rep == 0 {
						// Two-pass recomputation from the stored samples.
						s := h.Samples()
						mu := mean(s)
						var ss float64
						for _, x := range s {
							ss += (x - mu) * (x - mu)
						}
						se := math.Sqrt(ss / float64(len(s)-1) / float64(len(s)))
						if math.Abs(mu-r.Mean) > 1e-12*math.Abs(mu) || math.Abs(se-r.StdErr) > 1e-10*se {
							t.Errorf("mean/SE %v/%v, recomputed %v/%v", r.Mean, r.StdErr, mu, se)
						}
					}
					meanSE2 += r.StdErr * r.StdErr / reps
					sumMean += r.Mean
					sumMean2 += (r.Mean - exact) * (r.Mean - exact)
				}
				want := probeVariance(m, kind) / probes
				empirical := sumMean2 / reps
				t.Logf("σ²/N exact %.4f, mean reported SE² %.4f, observed variance of estimates %.4f", want, meanSE2, empirical)
				if e := relErr(meanSE2, want); e > 0.1 {
					t.Errorf("mean reported SE² %.4f vs exact %.4f: rel diff %.2f > 0.1", meanSE2, want, e)
				}
				if e := relErr(empirical, want); e > 0.25 {
					t.Errorf("observed variance %.4f vs exact %.4f: rel diff %.2f > 0.25", empirical, want, e)
				}
				// The grand mean over 8000 probes is itself within 3 SE.
				grand := sumMean / reps
				if z := (grand - exact) / math.Sqrt(want/reps); math.Abs(z) > 3 {
					t.Errorf("grand mean %.4f vs exact %.4f: z = %.2f", grand, exact, z)
				}
			})
		}
	}
}

func TestTraceRelTol(t *testing.T) {
	m := spectra[0].build(t, testDim, 24)
	tests := []struct {
		name      string
		opts      TraceOptions
		converged bool
	}{
		{name: "loose", opts: TraceOptions{Probes: 2000, RelTol: 0.02}, converged: true},
		{name: "min probes respected", opts: TraceOptions{Probes: 2000, RelTol: 10}, converged: true},
		{name: "unreachable", opts: TraceOptions{Probes: 30, RelTol: 1e-6}, converged: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Trace(NewDense(m.h), newRNG(25), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Converged != tc.converged {
				t.Fatalf("converged = %v, want %v (probes %d)", r.Converged, tc.converged, r.Probes)
			}
			if r.Probes < MinTraceProbes {
				t.Errorf("stopped after %d probes, minimum %d", r.Probes, MinTraceProbes)
			}
			if r.Converged && (r.StdErr > tc.opts.RelTol*math.Abs(r.Mean) || r.Probes >= tc.opts.Probes) {
				t.Errorf("converged with SE %.3g, mean %.3g after %d probes", r.StdErr, r.Mean, r.Probes)
			}
			if !r.Converged && r.Probes != tc.opts.Probes {
				t.Errorf("probes %d, want %d", r.Probes, tc.opts.Probes)
			}
			t.Logf("probes %d, %.3f ± %.3f, exact %.3f", r.Probes, r.Mean, r.StdErr, m.tracePow(1))
		})
	}
}

func TestTraceErrors(t *testing.T) {
	op := NewDense(spectra[0].build(t, 5, 1).h)
	tests := []struct {
		name string
		opts TraceOptions
		is   error
	}{
		{name: "too few probes", opts: TraceOptions{Probes: MinTraceProbes - 1}, is: ErrTooFewProbes},
		{name: "bad kind", opts: TraceOptions{Probe: ProbeKind(7)}},
		{name: "negative tol", opts: TraceOptions{RelTol: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Trace(op, newRNG(1), tc.opts)
			if err == nil {
				t.Fatal("want error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	if _, err := Trace(op, nil, TraceOptions{}); err == nil {
		t.Error("nil generator accepted")
	}
}

package curvature

import (
	"errors"
	"math"
	"testing"
)

func TestPowerIterateTopMagnitude(t *testing.T) {
	for _, c := range spectra {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 1)
			want := m.byMagnitude()[0]
			r, err := PowerIterate(NewDense(m.h), newRNG(2), PowerOptions{Tol: 1e-12, MaxIter: 100000})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Converged {
				t.Errorf("not converged after %d iterations", r.Iterations)
			}
			if e := relErr(r.Value, want); e > 1e-6 {
				t.Errorf("λ₁ = %.12g, oracle %.12g, relative error %.2e > 1e-6", r.Value, want, e)
			}
			if nv := nrm2(r.Vector); math.Abs(nv-1) > 1e-12 {
				t.Errorf("‖v‖ = %v, want 1", nv)
			}
			if got := m.residual(r.Vector, r.Value); math.Abs(got-r.Residual) > 1e-9*math.Abs(want) {
				t.Errorf("reported residual %.3e, dense residual %.3e", r.Residual, got)
			}
			t.Logf("λ₁ rel err %.1e after %d iterations, residual %.1e", relErr(r.Value, want), r.Iterations, r.Residual)
		})
	}
}

func TestPowerIterateStartVector(t *testing.T) {
	m := spectra[0].build(t, testDim, 3)
	desc := m.descending()
	top := m.column(m.n - 1)
	second := m.column(m.n - 2)
	// A start orthogonal to the top eigenvector (exactly, in the oracle's
	// basis) plus that eigenvector's small contamination.
	mixed := make([]float64, m.n)
	for i := range mixed {
		mixed[i] = top[i] + second[i]
	}
	tests := []struct {
		name      string
		start     []float64
		deflate   [][]float64
		want      float64
		maxIter   int
		converged bool
	}{
		{name: "eigenvector start", start: top, want: desc[0], maxIter: 3, converged: true},
		{name: "mixed start", start: mixed, want: desc[0], maxIter: 1000, converged: true},
		{name: "deflated top", start: mixed, deflate: [][]float64{top}, want: desc[1], maxIter: 1000, converged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PowerIterate(NewDense(m.h), nil, PowerOptions{Start: tc.start, Deflate: tc.deflate, Tol: 1e-12, MaxIter: tc.maxIter})
			if err != nil {
				t.Fatal(err)
			}
			if r.Converged != tc.converged {
				t.Errorf("converged = %v, want %v", r.Converged, tc.converged)
			}
			if e := relErr(r.Value, tc.want); e > 1e-6 {
				t.Errorf("value %.12g, want %.12g (rel err %.1e)", r.Value, tc.want, e)
			}
		})
	}
	// Start vector must not be modified.
	if top[0] != m.column(m.n - 1)[0] {
		t.Error("start vector modified")
	}
}

func TestPowerIterateShift(t *testing.T) {
	c := spectra[1] // negative-dominant: |−12| beats the top algebraic 6
	m := c.build(t, testDim, 4)
	lmin, lmax := m.values[0], m.values[m.n-1]
	tests := []struct {
		name  string
		shift float64
		want  float64
	}{
		{name: "no shift finds most negative", shift: 0, want: lmin},
		// λ+4 ranges over [−8, 10]: the top algebraic eigenvalue dominates.
		{name: "shift 4 finds top algebraic", shift: 4, want: lmax},
		// A shift of −lmax maps the spectrum to [−18, 0]: most negative dominates.
		{name: "negative shift", shift: -lmax, want: lmin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PowerIterate(NewDense(m.h), newRNG(5), PowerOptions{Shift: tc.shift, Tol: 1e-13, MaxIter: 10000})
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(r.Value, tc.want); e > 1e-6 || !r.Converged {
				t.Errorf("value %.12g, want %.12g (rel err %.1e), converged %v", r.Value, tc.want, e, r.Converged)
			}
			if got := m.residual(r.Vector, r.Value); math.Abs(got-r.Residual) > 1e-9 {
				t.Errorf("reported residual %.3e is not that of H: dense %.3e", r.Residual, got)
			}
		})
	}
}

func TestPowerIterateConvergenceFlag(t *testing.T) {
	pos := spectra[0].build(t, testDim, 6)
	near := spectra[3].build(t, testDim, 6)
	tests := []struct {
		name          string
		m             testMatrix
		opts          PowerOptions
		wantConverged bool
		wantIters     int // 0: any
		maxRelErr     float64
	}{
		{name: "defaults converge", m: pos, opts: PowerOptions{}, wantConverged: true, maxRelErr: 1e-3},
		{name: "iteration cap", m: near, opts: PowerOptions{Tol: 1e-14, MaxIter: 5}, wantConverged: false, wantIters: 5, maxRelErr: 1},
		{name: "tolerance disabled", m: pos, opts: PowerOptions{Tol: -1, MaxIter: 40}, wantConverged: false, wantIters: 40, maxRelErr: 1e-6},
		// With defaults on a 2e-4 relative gap the Rayleigh quotient lies
		// within the gap (plus a bulk contamination ≲ (2/5)^(2k)) of λ₁ even
		// though the vector is still a mixture of the pair.
		{name: "near-degenerate defaults", m: near, opts: PowerOptions{}, wantConverged: true, maxRelErr: 2.5e-4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := PowerIterate(NewDense(tc.m.h), newRNG(7), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Converged != tc.wantConverged {
				t.Errorf("converged = %v, want %v (iterations %d)", r.Converged, tc.wantConverged, r.Iterations)
			}
			if tc.wantIters != 0 && r.Iterations != tc.wantIters {
				t.Errorf("iterations = %d, want %d", r.Iterations, tc.wantIters)
			}
			if r.Iterations > DefaultPowerMaxIter && tc.opts.MaxIter == 0 {
				t.Errorf("iterations %d exceed the default cap", r.Iterations)
			}
			want := tc.m.byMagnitude()[0]
			if e := relErr(r.Value, want); e > tc.maxRelErr {
				t.Errorf("rel err %.2e > %.1e", e, tc.maxRelErr)
			}
			t.Logf("iterations %d, rel err %.1e, residual %.1e", r.Iterations, relErr(r.Value, want), r.Residual)
		})
	}
}

func TestTopKPower(t *testing.T) {
	for _, c := range spectra {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 8)
			want := m.byMagnitude()[:3]
			rs, err := TopKPower(NewDense(m.h), 3, newRNG(9), PowerOptions{Tol: 1e-12, MaxIter: 100000})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rs {
				if e := relErr(r.Value, want[i]); e > 1e-6 || !r.Converged {
					t.Errorf("λ_%d = %.12g, want %.12g (rel err %.1e), converged %v", i+1, r.Value, want[i], e, r.Converged)
				}
				for j := 0; j < i; j++ {
					if d := math.Abs(dot(r.Vector, rs[j].Vector)); d > 1e-10 {
						t.Errorf("vectors %d and %d not orthogonal: %.1e", i, j, d)
					}
				}
			}
		})
	}
}

func TestPowerIterateErrors(t *testing.T) {
	m := spectra[0].build(t, 5, 10)
	op := NewDense(m.h)
	e1 := []float64{1, 0, 0, 0, 0}
	tests := []struct {
		name string
		opts PowerOptions
		is   error
	}{
		{name: "zero start", opts: PowerOptions{Start: make([]float64, 5)}, is: ErrZeroStart},
		{name: "start deflated away", opts: PowerOptions{Start: e1, Deflate: [][]float64{e1}}, is: ErrZeroStart},
		{name: "wrong start length", opts: PowerOptions{Start: []float64{1}}},
		{name: "negative MaxIter", opts: PowerOptions{MaxIter: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PowerIterate(op, newRNG(1), tc.opts)
			if err == nil {
				t.Fatal("want error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	failing := OperatorFunc{N: 5, Fn: func(dst, v []float64) error { return errors.New("boom") }}
	if _, err := PowerIterate(failing, newRNG(1), PowerOptions{}); err == nil {
		t.Error("operator error not propagated")
	}
}

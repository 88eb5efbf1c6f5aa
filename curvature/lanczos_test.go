package curvature

import (
	"math"
	"testing"
)

func TestLanczosExtremeEigenvalues(t *testing.T) {
	for _, c := range spectra {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 11)
			desc := m.descending()
			op := NewDense(m.h)
			opts := LanczosOptions{Steps: c.lanczosSteps}
			top, err := TopEigen(op, 3, newRNG(12), opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range top {
				if e := relErr(p.Value, desc[i]); e > 1e-6 {
					t.Errorf("top %d: %.12g, oracle %.12g, rel err %.1e", i+1, p.Value, desc[i], e)
				}
				got := m.residual(p.Vector, p.Value)
				// The Lanczos residual estimate is exact up to round-off
				// with full re-orthogonalisation.
				if math.Abs(got-p.Residual) > 1e-8*math.Abs(desc[0]) {
					t.Errorf("top %d: residual estimate %.3e, dense %.3e", i+1, p.Residual, got)
				}
				if nv := nrm2(p.Vector); math.Abs(nv-1) > 1e-10 {
					t.Errorf("top %d: Ritz vector norm %v", i+1, nv)
				}
				t.Logf("top %d rel err %.1e, residual %.1e", i+1, relErr(p.Value, desc[i]), got)
			}
			sp, err := SmallestEigen(op, newRNG(13), opts)
			if err != nil {
				t.Fatal(err)
			}
			small, vec, res := sp.Value, sp.Vector, sp.Residual
			// The smallest eigenvalue may sit inside the bulk close to 0, so
			// its error is measured relative to ‖H‖₂.
			normH := math.Abs(m.byMagnitude()[0])
			if e := math.Abs(small-m.values[0]) / normH; e > 1e-6 {
				t.Errorf("smallest %.12g, oracle %.12g, error/‖H‖ %.1e", small, m.values[0], e)
			}
			if got := m.residual(vec, small); math.Abs(got-res) > 1e-8*math.Abs(desc[0]) {
				t.Errorf("smallest: residual estimate %.3e, dense %.3e", res, got)
			}
			t.Logf("smallest error/‖H‖ %.1e", math.Abs(small-m.values[0])/normH)
		})
	}
}

// With Steps = n and full re-orthogonalisation the Ritz values are the
// whole spectrum, repeated eigenvalues included. (In floating point the
// second copy of a repeated eigenvalue is usually picked up from rounding
// noise; TestLanczosRestart covers the exact case.)
func TestLanczosFullSpectrum(t *testing.T) {
	for _, c := range spectra {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 14)
			l, err := NewLanczos(NewDense(m.h), testDim)
			if err != nil {
				t.Fatal(err)
			}
			start := make([]float64, testDim)
			Gaussian.Fill(newRNG(15), start)
			if err := l.Run(start, newRNG(16)); err != nil {
				t.Fatal(err)
			}
			if l.Steps() != testDim {
				t.Fatalf("steps %d, want %d", l.Steps(), testDim)
			}
			ritz := l.RitzValues()
			scale := math.Abs(m.byMagnitude()[0])
			var worst float64
			for i := range ritz {
				worst = max(worst, math.Abs(ritz[i]-m.values[i]))
			}
			if worst > 1e-10*scale {
				t.Errorf("max |θ_i − λ_i| = %.2e", worst)
			}
			// Basis orthonormal to working precision.
			n := testDim
			var orth float64
			for i := 0; i < n; i++ {
				for j := 0; j <= i; j++ {
					d := dot(l.basis[i*n:(i+1)*n], l.basis[j*n:(j+1)*n])
					if i == j {
						d--
					}
					orth = max(orth, math.Abs(d))
				}
			}
			if orth > 1e-12 {
				t.Errorf("basis loses orthogonality: %.1e", orth)
			}
			var wsum float64
			for i := range ritz {
				wsum += l.Weight(i)
			}
			if math.Abs(wsum-1) > 1e-12 {
				t.Errorf("weights sum to %v", wsum)
			}
			t.Logf("max eigenvalue error %.1e, orthogonality %.1e, restarts %d", worst, orth, l.Restarts())
		})
	}
}

// Without a generator an invariant Krylov space ends the run early: a
// start in the span of 3 eigenvectors gives exactly those 3 eigenvalues.
func TestLanczosInvariantStop(t *testing.T) {
	m := spectra[0].build(t, testDim, 17)
	start := make([]float64, testDim)
	for _, i := range []int{0, 10, testDim - 1} {
		axpy(start, 1, m.column(i))
	}
	l, err := NewLanczos(NewDense(m.h), 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Run(start, nil); err != nil {
		t.Fatal(err)
	}
	if l.Steps() != 3 {
		t.Fatalf("steps %d, want 3", l.Steps())
	}
	want := []float64{m.values[0], m.values[10], m.values[testDim-1]}
	for i, v := range l.RitzValues() {
		if math.Abs(v-want[i]) > 1e-10 {
			t.Errorf("ritz %d = %v, want %v", i, v, want[i])
		}
		if w := l.Weight(i); math.Abs(w-1.0/3) > 1e-10 {
			t.Errorf("weight %d = %v, want 1/3", i, w)
		}
	}
}

// An exactly diagonal operator with a start vector that has no component
// along one copy of a repeated eigenvalue keeps the Krylov space exactly
// invariant; the restart then finds the missing copy, with weight zero.
func TestLanczosRestart(t *testing.T) {
	diag := []float64{8, 8, 3, -1, 0.5, 2}
	op := OperatorFunc{N: len(diag), Fn: func(dst, v []float64) error {
		for i, d := range diag {
			dst[i] = d * v[i]
		}
		return nil
	}}
	start := []float64{1, 0, 1, 1, 1, 1}
	for _, tc := range []struct {
		name         string
		withRNG      bool
		wantSteps    int
		wantRestarts int
	}{
		{name: "restart", withRNG: true, wantSteps: 6, wantRestarts: 1},
		{name: "stop", withRNG: false, wantSteps: 5, wantRestarts: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLanczos(op, 6)
			if err != nil {
				t.Fatal(err)
			}
			rng := newRNG(3)
			if !tc.withRNG {
				rng = nil
			}
			if err := l.Run(start, rng); err != nil {
				t.Fatal(err)
			}
			if l.Steps() != tc.wantSteps || l.Restarts() != tc.wantRestarts {
				t.Fatalf("steps %d restarts %d, want %d and %d", l.Steps(), l.Restarts(), tc.wantSteps, tc.wantRestarts)
			}
			var eights, zeroWeight int
			for i, v := range l.RitzValues() {
				if math.Abs(v-8) < 1e-12 {
					eights++
				}
				if l.Weight(i) < 1e-28 {
					zeroWeight++
				}
			}
			if eights != tc.wantRestarts+1 || zeroWeight != tc.wantRestarts {
				t.Errorf("%d copies of 8 and %d zero weights in %v", eights, zeroWeight, l.RitzValues())
			}
		})
	}
}

func TestLanczosErrors(t *testing.T) {
	op := NewDense(spectra[0].build(t, 5, 1).h)
	if _, err := NewLanczos(op, -1); err == nil {
		t.Error("negative steps accepted")
	}
	l, err := NewLanczos(op, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxSteps() != 5 {
		t.Errorf("steps not capped at dimension: %d", l.MaxSteps())
	}
	if err := l.Run(make([]float64, 5), nil); err == nil {
		t.Error("zero start accepted")
	}
	if err := l.Run(make([]float64, 4), nil); err == nil {
		t.Error("short start accepted")
	}
	if _, err := TopEigen(op, 6, newRNG(1), LanczosOptions{}); err == nil {
		t.Error("k > n accepted")
	}
}

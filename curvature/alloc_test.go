package curvature

import (
	"testing"
)

// The prepared solvers allocate their work vectors once; every Run, and
// hence every iteration of its operator loop, must then be allocation-free.
func TestNoAllocsInRun(t *testing.T) {
	m := spectra[1].build(t, testDim, 41)
	dense := NewDense(m.h)
	p := make([]float64, testDim)
	for i := range p {
		p[i] = 0.5 + float64(i%7)
	}
	pre, err := NewPreconditioned(dense, p)
	if err != nil {
		t.Fatal(err)
	}
	rng := newRNG(42)
	power, err := NewPowerIteration(dense, PowerOptions{Tol: -1, MaxIter: 50, Shift: 3})
	if err != nil {
		t.Fatal(err)
	}
	deflated, err := NewPowerIteration(pre, PowerOptions{Tol: -1, MaxIter: 50, Deflate: [][]float64{m.column(0)}})
	if err != nil {
		t.Fatal(err)
	}
	lz, err := NewLanczos(Shifted{Op: dense, C: 1}, 40)
	if err != nil {
		t.Fatal(err)
	}
	start := m.column(3)
	hut, err := NewHutchinson(dense, TraceOptions{Probes: 50, Probe: Gaussian})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"power/shift", func() error { _, err := power.Run(rng); return err }},
		{"power/preconditioned+deflated", func() error { _, err := deflated.Run(rng); return err }},
		{"lanczos/shifted", func() error { return lz.Run(start, rng) }},
		{"hutchinson", func() error { _, err := hut.Run(rng); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runErr error
			allocs := testing.AllocsPerRun(5, func() {
				if err := tc.run(); err != nil {
					runErr = err
				}
			})
			if runErr != nil {
				t.Fatal(runErr)
			}
			if allocs != 0 {
				t.Errorf("%v allocations per run, want 0", allocs)
			}
		})
	}
}

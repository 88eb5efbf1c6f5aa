package curvature

import (
	"testing"
)

// diagOp is a cheap operator, so the benchmarks measure the solvers' own
// vector work per operator application.
func diagOp(n int) Operator {
	d := make([]float64, n)
	for i := range d {
		d[i] = 1 + float64(i%1000)/1000
	}
	return OperatorFunc{N: n, Fn: func(dst, v []float64) error {
		for i, x := range d {
			dst[i] = x * v[i]
		}
		return nil
	}}
}

func BenchmarkPowerIteration(b *testing.B) {
	const n, iters = 1 << 20, 20
	p, err := NewPowerIteration(diagOp(n), PowerOptions{Tol: -1, MaxIter: iters})
	if err != nil {
		b.Fatal(err)
	}
	rng := newRNG(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Run(rng); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*iters), "ns/iter")
}

func BenchmarkLanczos(b *testing.B) {
	const n, steps = 1 << 18, 30
	l, err := NewLanczos(diagOp(n), steps)
	if err != nil {
		b.Fatal(err)
	}
	start := make([]float64, n)
	Rademacher.Fill(newRNG(2), start)
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Run(start, nil); err != nil {
			b.Fatal(err)
		}
	}
}

package optim

import (
	"math"
	"slices"
	"testing"
)

func TestLabelNoise(t *testing.T) {
	const n, sigma = 20000, 0.7
	src := make([]float64, n)
	for i := range src {
		src[i] = float64(i%7) - 3
	}
	// Sign noise: every perturbation is exactly ±σ, both signs about equally
	// often (5 standard errors of a fair coin).
	ln, err := NewLabelNoise(NoiseSign, sigma, 42)
	mustNoErr(t, err)
	y := f64(src, n)
	mustNoErr(t, ln.Apply(y, y))
	plus := 0
	for i, v := range y.Float64s() {
		e := v - src[i]
		if !closeRel(math.Abs(e), sigma, 1e-12, 0) {
			t.Fatalf("sign noise %g at %d, want ±%g", e, i, sigma)
		}
		if e > 0 {
			plus++
		}
	}
	if math.Abs(float64(plus)-n/2) > 5*math.Sqrt(n/4.0) {
		t.Errorf("sign noise: %d of %d positive", plus, n)
	}

	// Gaussian noise: mean 0 and variance σ² within 5 standard errors.
	lg, err := NewLabelNoise(NoiseGaussian, sigma, 42)
	mustNoErr(t, err)
	dst := make([]float64, n)
	mustNoErr(t, lg.Float64s(dst, src))
	var mean, v2 float64
	for i := range dst {
		mean += (dst[i] - src[i]) / n
	}
	for i := range dst {
		e := dst[i] - src[i] - mean
		v2 += e * e / (n - 1)
	}
	if math.Abs(mean) > 5*sigma/math.Sqrt(n) {
		t.Errorf("Gaussian noise mean %g", mean)
	}
	if math.Abs(v2-sigma*sigma) > 5*sigma*sigma*math.Sqrt(2.0/n) {
		t.Errorf("Gaussian noise variance %g, want %g", v2, sigma*sigma)
	}

	// Seeded: same seed, same noise; fresh draws on each call; other seeds differ.
	draw := func(seed uint64, calls int) []float64 {
		l, _ := NewLabelNoise(NoiseGaussian, 1, seed)
		out := make([]float64, 5)
		for range calls {
			mustNoErr(t, l.Float64s(out, make([]float64, 5)))
		}
		return out
	}
	if !slices.Equal(draw(1, 1), draw(1, 1)) {
		t.Error("same seed gave different noise")
	}
	if slices.Equal(draw(1, 1), draw(2, 1)) || slices.Equal(draw(1, 1), draw(1, 2)) {
		t.Error("noise does not change with the seed or between calls")
	}

	// float32 targets, src left untouched when dst differs.
	s32 := f32(src[:10], 10)
	d32 := f32(make([]float64, 10), 10)
	mustNoErr(t, ln.Apply(d32, s32))
	for i, v := range values(d32) {
		if !closeRel(math.Abs(v-values(s32)[i]), sigma, 1e-6, 0) {
			t.Fatalf("float32 sign noise %g", v-values(s32)[i])
		}
	}
	if !slices.Equal(values(s32), values(f32(src[:10], 10))) {
		t.Error("Apply changed its source")
	}
	if err := ln.Apply(f64(src[:3], 3), f64(src[:4], 4)); err == nil {
		t.Error("shape mismatch accepted")
	}
}

package optim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

var baseHyper = Hyper{LR: 2e-3, Beta1: 0.99, Beta2: 0.999, Eps: 1e-8, Batch: 8, Steps: 12288, Warmup: 256}

func hyperClose(a, b Hyper) bool {
	return closeRel(a.LR, b.LR, 1e-12, 0) && closeRel(a.Beta1, b.Beta1, 1e-12, 0) && closeRel(a.Beta2, b.Beta2, 1e-12, 0) &&
		closeRel(a.Eps, b.Eps, 1e-12, 0) && a.Batch == b.Batch && a.Steps == b.Steps && a.Warmup == b.Warmup
}

func TestScalingRules(t *testing.T) {
	cases := []struct {
		name  string
		rule  Rule
		h     Hyper
		kappa float64
		want  Hyper
	}{
		{"sqrt κ=4", SqrtRule, baseHyper, 4, Hyper{LR: 4e-3, Beta1: 0.96, Beta2: 0.996, Eps: 5e-9, Batch: 32, Steps: 3072, Warmup: 64}},
		{"sqrt κ=0.5", SqrtRule, baseHyper, 0.5, Hyper{LR: 2e-3 / math.Sqrt2, Beta1: 0.995, Beta2: 0.9995, Eps: 1e-8 * math.Sqrt2, Batch: 4, Steps: 24576, Warmup: 512}},
		{"sqrt RMSprop (no beta1)", SqrtRule, Hyper{LR: 1e-3, Beta2: 0.99, Eps: 1e-8, Batch: 16, Steps: 100}, 16, Hyper{LR: 4e-3, Beta2: 0.84, Eps: 2.5e-9, Batch: 256, Steps: 6}},
		{"linear κ=8", LinearRule, Hyper{LR: 0.1, Beta1: 0.9, Batch: 32, Steps: 800, Warmup: 80}, 8, Hyper{LR: 0.8, Beta1: 0.9, Batch: 256, Steps: 100, Warmup: 10}},
		{"keep κ=16", KeepRule, baseHyper, 16, Hyper{LR: 2e-3, Beta1: 0.99, Beta2: 0.999, Eps: 1e-8, Batch: 128, Steps: 768, Warmup: 16}},
	}
	for _, c := range cases {
		got, err := c.rule(c.h, c.kappa)
		mustNoErr(t, err)
		if !hyperClose(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestSqrtRuleKeepsSDEInvariants checks the defining property of the
// square-root rule: with noise scale ∝ 1/√B, the SDE quantities t = steps·η²,
// c = (1−β)/η² and ε·η are unchanged.
func TestSqrtRuleKeepsSDEInvariants(t *testing.T) {
	for _, kappa := range []float64{0.25, 2, 4, 8} {
		h, err := SqrtRule(baseHyper, kappa)
		mustNoErr(t, err)
		inv := func(x Hyper) [4]float64 {
			return [4]float64{float64(x.Steps) * x.LR * x.LR, (1 - x.Beta1) / (x.LR * x.LR), (1 - x.Beta2) / (x.LR * x.LR), x.Eps * x.LR}
		}
		a, b := inv(baseHyper), inv(h)
		for i := range a {
			if !closeRel(b[i], a[i], 1e-9, 0) {
				t.Errorf("κ = %g: invariant %d changed from %g to %g", kappa, i, a[i], b[i])
			}
		}
	}
	// SVAG with ℓ keeps the same invariants at ℓ²-times the noise variance
	// (η/ℓ: the noise ℓσ·(η/ℓ) = ση is unchanged too).
	for _, l := range []float64{1, 2, 4, 8} {
		h, err := SVAG(baseHyper, l)
		mustNoErr(t, err)
		if !closeRel(float64(h.Steps)*h.LR*h.LR, float64(baseHyper.Steps)*baseHyper.LR*baseHyper.LR, 1e-12, 0) ||
			!closeRel((1-h.Beta1)/(h.LR*h.LR), (1-baseHyper.Beta1)/(baseHyper.LR*baseHyper.LR), 1e-9, 0) ||
			!closeRel((1-h.Beta2)/(h.LR*h.LR), (1-baseHyper.Beta2)/(baseHyper.LR*baseHyper.LR), 1e-9, 0) ||
			!closeRel(h.Eps*h.LR, baseHyper.Eps*baseHyper.LR, 1e-12, 0) ||
			h.Batch != baseHyper.Batch || h.Warmup != int(l*l)*baseHyper.Warmup {
			t.Errorf("ℓ = %g: %+v does not keep the SDE invariants of %+v", l, h, baseHyper)
		}
	}
}

func TestScalingErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func() (Hyper, error)
		want string
	}{
		{"κ(1−β₁) ≥ 1", func() (Hyper, error) { return SqrtRule(Hyper{LR: 1, Beta1: 0.9, Beta2: 0.999, Batch: 8}, 16) }, "≥ 1"},
		{"κ(1−β₂) ≥ 1", func() (Hyper, error) { return SqrtRule(Hyper{LR: 1, Beta1: 0.99, Beta2: 0.9, Batch: 8}, 20) }, "beta2"},
		{"κ = 0", func() (Hyper, error) { return SqrtRule(baseHyper, 0) }, "positive"},
		{"κ < 0", func() (Hyper, error) { return LinearRule(baseHyper, -2) }, "positive"},
		{"batch × κ not integer", func() (Hyper, error) { return KeepRule(baseHyper, 0.3) }, "integer"},
		{"ℓ < 1", func() (Hyper, error) { return SVAG(baseHyper, 0.5) }, "≥ 1"},
		{"ℓ NaN", func() (Hyper, error) { return SVAG(baseHyper, math.NaN()) }, "≥ 1"},
	}
	for _, c := range cases {
		_, err := c.f()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	if _, _, err := SVAGCoefficients(0.9); err == nil {
		t.Error("SVAGCoefficients(0.9) accepted")
	}
	if _, err := RuleByName("cubic"); err == nil {
		t.Error("unknown rule accepted")
	}
	for _, n := range []string{"sqrt", "linear", "keep"} {
		if _, err := RuleByName(n); err != nil {
			t.Error(err)
		}
	}
}

func TestSVAGValues(t *testing.T) {
	h, err := SVAG(baseHyper, 2)
	mustNoErr(t, err)
	want := Hyper{LR: 1e-3, Beta1: 0.9975, Beta2: 0.99975, Eps: 2e-8, Batch: 8, Steps: 4 * 12288, Warmup: 4 * 256}
	if !hyperClose(h, want) {
		t.Errorf("SVAG ℓ=2: got %+v, want %+v", h, want)
	}
	for _, l := range []float64{1, 1.5, 2, 4, 8} {
		c1, c2, err := SVAGCoefficients(l)
		mustNoErr(t, err)
		if !closeRel(c1+c2, 1, 1e-15, 0) || !closeRel(c1*c1+c2*c2, l*l, 1e-14, 0) {
			t.Errorf("ℓ = %g: c = (%g, %g): sum %g, squares %g", l, c1, c2, c1+c2, c1*c1+c2*c2)
		}
	}
}

// TestSVAGGradientStatistics draws M minibatch gradients from a fixed finite
// population of per-sample gradients (batch B, sampled with replacement) and
// M SVAG gradients c₁ḡ(b₁) + c₂ḡ(b₂) built with SVAGCombine. The exact mean μ
// and per-coordinate variance σ²/B of the plain minibatch gradient are known
// from the population. Tolerances are 5 standard errors from the sample
// size: |mean − μ| ≤ 5·√(ℓ²σ²/(B·M)) and |s² − ℓ²σ²/B| ≤ 5·√((m₄ − s⁴)/M),
// with m₄ the sample fourth central moment.
func TestSVAGGradientStatistics(t *testing.T) {
	const n, d, B, M = 64, 3, 4, 40000
	rng := rand.New(rand.NewPCG(2024, 1))
	// Per-sample gradients of ½(xᵀw − y)² at a fixed w, with skewed noise in y.
	w := []float64{0.5, -1, 0.25}
	pop := make([][]float64, n)
	for i := range pop {
		x := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		y := rng.ExpFloat64() - 1
		r := x[0]*w[0] + x[1]*w[1] + x[2]*w[2] - y
		pop[i] = []float64{r * x[0], r * x[1], r * x[2]}
	}
	mu, sigma2 := make([]float64, d), make([]float64, d)
	for _, g := range pop {
		for j := range d {
			mu[j] += g[j] / n
		}
	}
	for _, g := range pop {
		for j := range d {
			sigma2[j] += (g[j] - mu[j]) * (g[j] - mu[j]) / n
		}
	}
	batchGrad := func(dst []float64) {
		clear(dst)
		for range B {
			g := pop[rng.IntN(n)]
			for j := range d {
				dst[j] += g[j] / B
			}
		}
	}
	g1 := []*tensor.Dense{f64(make([]float64, d), d)}
	g2 := []*tensor.Dense{f64(make([]float64, d), d)}
	out := []*tensor.Dense{f64(make([]float64, d), d)}
	for _, l := range []float64{1, 2, 4, 8} {
		samples := make([][]float64, d)
		for range M {
			batchGrad(g1[0].Float64s())
			batchGrad(g2[0].Float64s())
			mustNoErr(t, SVAGCombine(out, g1, g2, l))
			for j, v := range out[0].Float64s() {
				samples[j] = append(samples[j], v)
			}
		}
		for j := range d {
			var mean, s2, m4 float64
			for _, v := range samples[j] {
				mean += v / M
			}
			for _, v := range samples[j] {
				e := (v - mean) * (v - mean)
				s2 += e / (M - 1)
				m4 += e * e / M
			}
			wantVar := l * l * sigma2[j] / B
			if tol := 5 * math.Sqrt(wantVar/M); math.Abs(mean-mu[j]) > tol {
				t.Errorf("ℓ = %g, coordinate %d: mean %g, population mean %g (tolerance %g)", l, j, mean, mu[j], tol)
			}
			if tol := 5 * math.Sqrt((m4-s2*s2)/M); math.Abs(s2-wantVar) > tol {
				t.Errorf("ℓ = %g, coordinate %d: variance %g, want ℓ²σ²/B = %g (tolerance %g)", l, j, s2, wantVar, tol)
			} else if j == 0 {
				t.Logf("ℓ = %g: variance ratio to plain minibatch %.4f (want %g), tolerance ±%.4f", l, s2/(sigma2[j]/B), l*l, tol/(sigma2[j]/B))
			}
		}
	}
}

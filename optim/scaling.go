package optim

import (
	"fmt"
	"math"
)

// Hyper is the set of hyperparameters that scaling rules act on. Beta1 and
// Beta2 are the moment decays (RMSprop's α is Beta2; SGD's momentum is Beta1);
// a beta equal to 0 means "not used" and is left unchanged by every rule.
// Steps and Warmup count optimizer steps.
type Hyper struct {
	LR, Beta1, Beta2, Eps float64
	Batch, Steps, Warmup  int
}

// Rule maps hyperparameters tuned at batch size B to batch size κB.
type Rule func(h Hyper, kappa float64) (Hyper, error)

// RuleByName returns "sqrt" (SqrtRule), "linear" (LinearRule) or "keep" (KeepRule).
func RuleByName(name string) (Rule, error) {
	switch name {
	case "sqrt":
		return SqrtRule, nil
	case "linear":
		return LinearRule, nil
	case "keep":
		return KeepRule, nil
	}
	return nil, fmt.Errorf("optim: unknown scaling rule %q (known: sqrt, linear, keep)", name)
}

// scaleCommon scales the batch by κ and steps/warm-up by 1/κ (same number of
// epochs), rounding the counts to the nearest integer.
func scaleCommon(rule string, h Hyper, kappa float64) (Hyper, error) {
	if !(kappa > 0) || math.IsInf(kappa, 0) {
		return h, fmt.Errorf("optim: %s rule: κ = %v must be positive and finite", rule, kappa)
	}
	if h.Batch <= 0 {
		return h, fmt.Errorf("optim: %s rule: batch %d must be positive", rule, h.Batch)
	}
	b := float64(h.Batch) * kappa
	if math.Abs(b-math.Round(b)) > 1e-9*b || math.Round(b) < 1 {
		return h, fmt.Errorf("optim: %s rule: batch %d × κ = %v is not a positive integer", rule, h.Batch, b)
	}
	h.Batch = int(math.Round(b))
	h.Steps = int(math.Round(float64(h.Steps) / kappa))
	h.Warmup = int(math.Round(float64(h.Warmup) / kappa))
	return h, nil
}

func scaleBeta(rule, name string, beta, kappa float64) (float64, error) {
	if beta == 0 {
		return 0, nil
	}
	if beta < 0 || beta >= 1 {
		return 0, fmt.Errorf("optim: %s rule: %s = %v must lie in [0, 1)", rule, name, beta)
	}
	if kappa*(1-beta) >= 1 {
		return 0, fmt.Errorf("optim: %s rule: κ(1−%s) = %v·%v = %v ≥ 1, so the scaled %s would be ≤ 0; use a smaller κ or a %s closer to 1",
			rule, name, kappa, 1-beta, kappa*(1-beta), name, name)
	}
	return 1 - kappa*(1-beta), nil
}

// SqrtRule is the square-root scaling rule for Adam and RMSprop: batch ×κ,
// η → √κ·η, 1−β → κ(1−β) for both betas, ε → ε/√κ, steps and warm-up ÷κ.
// It is an error when κ(1−β) ≥ 1 for a beta in use.
func SqrtRule(h Hyper, kappa float64) (Hyper, error) {
	out, err := scaleCommon("sqrt", h, kappa)
	if err != nil {
		return h, err
	}
	if out.Beta1, err = scaleBeta("sqrt", "beta1", h.Beta1, kappa); err != nil {
		return h, err
	}
	if out.Beta2, err = scaleBeta("sqrt", "beta2", h.Beta2, kappa); err != nil {
		return h, err
	}
	out.LR = h.LR * math.Sqrt(kappa)
	out.Eps = h.Eps / math.Sqrt(kappa)
	return out, nil
}

// LinearRule is SGD's linear scaling rule: batch ×κ, η → κη, steps and
// warm-up ÷κ; betas (momentum) and ε unchanged.
func LinearRule(h Hyper, kappa float64) (Hyper, error) {
	out, err := scaleCommon("linear", h, kappa)
	if err != nil {
		return h, err
	}
	out.LR = h.LR * kappa
	return out, nil
}

// KeepRule changes only the batch (×κ) and the step counts (÷κ, same epochs).
func KeepRule(h Hyper, kappa float64) (Hyper, error) {
	return scaleCommon("keep", h, kappa)
}

// SVAG returns the hyperparameters of SVAG with parameter ℓ ≥ 1 at the same
// batch size: η → η/ℓ, 1−β → (1−β)/ℓ², ε → ε·ℓ, steps and warm-up ×ℓ².
// Train with the two-batch loss of SVAGCoefficients.
func SVAG(h Hyper, l float64) (Hyper, error) {
	if !(l >= 1) || math.IsInf(l, 0) {
		return h, fmt.Errorf("optim: svag: ℓ = %v must be finite and ≥ 1", l)
	}
	for _, b := range []struct {
		name string
		v    float64
	}{{"beta1", h.Beta1}, {"beta2", h.Beta2}} {
		if b.v < 0 || b.v >= 1 {
			return h, fmt.Errorf("optim: svag: %s = %v must lie in [0, 1)", b.name, b.v)
		}
	}
	l2 := l * l
	out := h
	out.LR = h.LR / l
	if h.Beta1 != 0 {
		out.Beta1 = 1 - (1-h.Beta1)/l2
	}
	if h.Beta2 != 0 {
		out.Beta2 = 1 - (1-h.Beta2)/l2
	}
	out.Eps = h.Eps * l
	out.Steps = int(math.Round(float64(h.Steps) * l2))
	out.Warmup = int(math.Round(float64(h.Warmup) * l2))
	return out, nil
}

// SVAGCoefficients returns c₁, c₂ = (1 ± √(2ℓ²−1))/2: the SVAG loss is
// c₁·L(b₁) + c₂·L(b₂) on two independent minibatches, which has the mean of
// L(b) and ℓ² times its noise variance (c₁ + c₂ = 1, c₁² + c₂² = ℓ²).
func SVAGCoefficients(l float64) (c1, c2 float64, err error) {
	if !(l >= 1) || math.IsInf(l, 0) {
		return 0, 0, fmt.Errorf("optim: svag: ℓ = %v must be finite and ≥ 1", l)
	}
	s := math.Sqrt(2*l*l - 1)
	return (1 + s) / 2, (1 - s) / 2, nil
}

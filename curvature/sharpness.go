package curvature

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// EoSRatio returns η·λ₁, the Edge-of-Stability diagnostic of Cohen et al.:
// gradient descent with step η on a quadratic is stable along the top
// eigendirection iff η·λ₁ < 2, and full-batch training tends to hover at
// η·λ₁ ≈ 2 once progressive sharpening has brought λ₁ up to 2/η.
func EoSRatio(eta, lambda1 float64) float64 { return eta * lambda1 }

// SphericalSharpness returns ‖θ‖²·λ₁(∇²L(θ)), the top Hessian eigenvalue
// of a scale-invariant loss measured on the unit sphere: since
// ∇²L(cθ) = ∇²L(θ)/c², λ₁(∇²L(θ/‖θ‖)) = ‖θ‖²·λ₁(∇²L(θ)). normSq is ‖θ‖².
func SphericalSharpness(normSq, lambda1 float64) float64 { return normSq * lambda1 }

// NormalizedGDSharpness returns η·λ₁/‖∇L‖, the stability ratio of
// normalized gradient descent θ ← θ − η∇L/‖∇L‖, whose effective step is
// η/‖∇L‖; it settles near 2 at the edge of stability. gradNorm is ‖∇L‖.
func NormalizedGDSharpness(eta, lambda1, gradNorm float64) float64 {
	return eta * lambda1 / gradNorm
}

// SqrtLossGDSharpness returns η·λ₁/(2√L), the stability ratio of gradient
// descent on √L, θ ← θ − η∇L/(2√L), whose effective step is η/(2√L); it
// settles near 2 at the edge of stability. loss is L ≥ 0.
func SqrtLossGDSharpness(eta, lambda1, loss float64) float64 {
	return eta * lambda1 / (2 * math.Sqrt(loss))
}

// PreconditionedSharpness returns λ₁(P^{-1/2} H P^{-1/2}) for P = diag(p),
// found by power iteration on a Preconditioned operator. This is the
// sharpness that decides the stability of θ ← θ − η P^{-1}∇L (for Adam,
// p = √v̂ + ε, see AdamPreconditioner): such a step is stable along the
// top direction iff η·λ₁(P^{-1}H) < 2 (for Adam with momentum β₁ the
// threshold is (2 + 2β₁)/(1 − β₁)).
func PreconditionedSharpness(op Operator, p []float64, rng *rand.Rand, opts PowerOptions) (PowerResult, error) {
	pc, err := NewPreconditioned(op, p)
	if err != nil {
		return PowerResult{}, err
	}
	r, err := PowerIterate(pc, rng, opts)
	if err != nil {
		return PowerResult{}, fmt.Errorf("curvature: preconditioned sharpness: %w", err)
	}
	return r, nil
}

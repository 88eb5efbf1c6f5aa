// Package curvature measures the curvature of a loss through
// Hessian–vector products: the top eigenvalue λ₁ (sharpness), a few
// extreme eigenvalues, the trace and the spectral density of the Hessian,
// plus the sharpness ratios used by the training-dynamics studies.
//
// # Operators
//
// The algorithms see the Hessian only as an Operator, a symmetric linear
// map v ↦ Hv on float64 vectors. How the product is computed (double
// backprop on a model graph, a chunked sum over a dataset, a dense matrix)
// is the business of the layer that implements the interface. This package
// provides OperatorFunc for plain functions, Dense for an explicit
// symmetric matrix (tests, tiny models), Shifted for H + cI and
// Preconditioned for P^{-1/2} H P^{-1/2} with a diagonal P.
//
// # The three verbs
//
// Following PyHessian, the public face is three kinds of measurement:
//
//   - eigenvalues: PowerIterate (λ of largest magnitude; PyHessian's
//     defaults of relative tolerance 1e-3 and 100 iterations; optional
//     start vector such as the gradient and shift c to work on H + cI),
//     TopKPower (power iteration with deflation), and Lanczos with full
//     re-orthogonalisation through TopEigen and SmallestEigen, which find
//     the largest and smallest algebraic eigenvalues regardless of sign.
//   - trace: Trace, Hutchinson's estimator with Rademacher or Gaussian
//     probes, at least MinTraceProbes probes, reporting the standard
//     error and optionally stopping at a relative standard error.
//   - density: Density, stochastic Lanczos quadrature. Each probe gives
//     Ritz values (nodes) and squared first eigenvector components
//     (weights); SpectralDensity.Eval smooths them with a Gaussian kernel,
//     SpectralDensity.Moment gives Σ w θᵏ ≈ tr(Hᵏ)/n, and SaveDensityPNG
//     plots the result.
//
// # Derived quantities
//
// EoSRatio (η·λ₁), SphericalSharpness (‖θ‖²·λ₁), NormalizedGDSharpness
// (η·λ₁/‖∇L‖), SqrtLossGDSharpness (η·λ₁/(2√L)) and
// PreconditionedSharpness (λ₁ of P^{-1/2} H P^{-1/2}, e.g. with Adam's
// √v̂ + ε) are the quantities whose value ≈ 2 marks the edge of stability
// for the corresponding optimizer.
//
// # Randomness and allocation
//
// All randomness comes from an explicit *rand.Rand (math/rand/v2), so a
// seed fixes every result. The prepared solvers (PowerIteration, Lanczos,
// Hutchinson) allocate their work vectors once; their Run methods do not
// allocate, so the cost of a measurement is that of the operator
// applications plus O(n) (power, trace) or O(m·n) (Lanczos) vector work
// per application.
//
// # Repeated eigenvalues
//
// In exact arithmetic the Krylov space of one start vector holds a single
// direction of each eigenspace, so Lanczos sees one copy of a repeated
// eigenvalue. In floating point, full re-orthogonalisation usually picks
// the other copies up from rounding noise once the extreme ones have
// converged, and a run that hits an exactly invariant subspace restarts
// from a random orthogonal vector; neither is a guarantee when
// Steps < n. TopKPower finds every copy through deflation.
package curvature

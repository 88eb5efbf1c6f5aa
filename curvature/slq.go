package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// DensityOptions configures stochastic Lanczos quadrature.
type DensityOptions struct {
	// Probes is the number of random start vectors (PyHessian's n_v);
	// zero means 1.
	Probes int
	// Steps is the number of Lanczos steps per probe; zero means
	// DefaultLanczosSteps, capped at the operator dimension.
	Steps int
	// Probe is the start-vector distribution (Rademacher by default). Each
	// probe is normalised to unit length before the Lanczos run.
	Probe ProbeKind
}

// SpectralDensity is the stochastic Lanczos quadrature (SLQ) estimate of
// the spectral density of H, φ(t) = (1/n) Σᵢ δ(t − λᵢ): for each probe v,
// the Lanczos tridiagonal matrix T = S diag(θ) Sᵀ gives the Gauss
// quadrature rule vᵀf(H)v/‖v‖² ≈ Σⱼ S₀ⱼ² f(θⱼ), exact for polynomials f of
// degree < 2·Steps. The estimate averages the rules over probes.
type SpectralDensity struct {
	// Nodes[p] are the Ritz values (ascending) of probe p.
	Nodes [][]float64
	// Weights[p][j] is the squared first component of the eigenvector of
	// T belonging to Nodes[p][j]; each Weights[p] sums to one.
	Weights [][]float64
}

// Density runs stochastic Lanczos quadrature: opts.Probes independent
// probes, each followed by opts.Steps Lanczos steps with full
// re-orthogonalisation. The Lanczos work memory is reused across probes.
func Density(op Operator, rng *rand.Rand, opts DensityOptions) (*SpectralDensity, error) {
	if rng == nil {
		return nil, errors.New("curvature: density: nil random generator")
	}
	if err := opts.Probe.valid(); err != nil {
		return nil, fmt.Errorf("curvature: density: %w", err)
	}
	if opts.Probes < 0 {
		return nil, fmt.Errorf("curvature: density: Probes = %d, want >= 0", opts.Probes)
	}
	if opts.Probes == 0 {
		opts.Probes = 1
	}
	l, err := NewLanczos(op, opts.Steps)
	if err != nil {
		return nil, fmt.Errorf("curvature: density: %w", err)
	}
	v := make([]float64, op.Dim())
	sd := &SpectralDensity{
		Nodes:   make([][]float64, opts.Probes),
		Weights: make([][]float64, opts.Probes),
	}
	for p := 0; p < opts.Probes; p++ {
		opts.Probe.Fill(rng, v)
		if err := l.Run(v, rng); err != nil {
			return nil, fmt.Errorf("curvature: density, probe %d: %w", p+1, err)
		}
		k := l.Steps()
		nodes := make([]float64, k)
		weights := make([]float64, k)
		copy(nodes, l.RitzValues())
		for j := range weights {
			weights[j] = l.Weight(j)
		}
		sd.Nodes[p], sd.Weights[p] = nodes, weights
	}
	return sd, nil
}

// Moment returns Σ_p Σ_j Weights[p][j]·Nodes[p][j]^k / Probes, the SLQ
// estimate of tr(H^k)/n. It is exact for each probe's quadratic form
// vᵀH^kv/‖v‖² when k < 2·Steps.
func (s *SpectralDensity) Moment(k int) float64 {
	return mean(s.ProbeMoments(k))
}

// ProbeMoments returns the k-th moment of each probe's quadrature rule;
// their spread gives the statistical error of Moment (standard error =
// sample standard deviation / √Probes).
func (s *SpectralDensity) ProbeMoments(k int) []float64 {
	out := make([]float64, len(s.Nodes))
	for p, nodes := range s.Nodes {
		var m float64
		for j, t := range nodes {
			m += s.Weights[p][j] * math.Pow(t, float64(k))
		}
		out[p] = m
	}
	return out
}

// Range returns the smallest and largest node over all probes.
func (s *SpectralDensity) Range() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, nodes := range s.Nodes {
		for _, t := range nodes {
			lo = math.Min(lo, t)
			hi = math.Max(hi, t)
		}
	}
	return lo, hi
}

// Grid returns n equally spaced points covering the node range widened by
// pad on each side (n ≥ 2).
func (s *SpectralDensity) Grid(n int, pad float64) ([]float64, error) {
	if n < 2 {
		return nil, fmt.Errorf("curvature: density grid: n = %d, want >= 2", n)
	}
	lo, hi := s.Range()
	if math.IsInf(lo, 0) {
		return nil, errors.New("curvature: density grid: no nodes")
	}
	lo, hi = lo-pad, hi+pad
	x := make([]float64, n)
	step := (hi - lo) / float64(n-1)
	for i := range x {
		x[i] = lo + float64(i)*step
	}
	x[n-1] = hi
	return x, nil
}

// Eval writes into dst the density smoothed with a Gaussian kernel of
// standard deviation sigma, evaluated at the points x:
//
//	ρ(t) = (1/P) Σ_p Σ_j Weights[p][j]·exp(−(t − Nodes[p][j])²/(2σ²)) / (σ√(2π)).
//
// ρ integrates to one over the real line. PyHessian smooths with
// σ² = 1e-5·max(1, λ_max − λ_min).
func (s *SpectralDensity) Eval(dst, x []float64, sigma float64) error {
	if len(dst) != len(x) {
		return fmt.Errorf("curvature: density eval: len(dst)=%d, len(x)=%d", len(dst), len(x))
	}
	if !(sigma > 0) {
		return fmt.Errorf("curvature: density eval: sigma = %g, want > 0", sigma)
	}
	if len(s.Nodes) == 0 {
		return errors.New("curvature: density eval: no probes")
	}
	c := 1 / (sigma * math.Sqrt(2*math.Pi) * float64(len(s.Nodes)))
	for i, t := range x {
		var r float64
		for p, nodes := range s.Nodes {
			for j, th := range nodes {
				u := (t - th) / sigma
				r += s.Weights[p][j] * math.Exp(-0.5*u*u)
			}
		}
		dst[i] = c * r
	}
	return nil
}

// PyHessianSigma returns the smoothing width PyHessian uses,
// σ = √(1e-5·max(1, hi − lo)) for the node range [lo, hi]. It resolves
// isolated outliers on a fine grid (PyHessian evaluates 10⁴ points);
// wider kernels give a smoother bulk.
func (s *SpectralDensity) PyHessianSigma() float64 {
	lo, hi := s.Range()
	return math.Sqrt(1e-5 * math.Max(1, hi-lo))
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

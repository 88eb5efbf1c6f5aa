package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Defaults shared with PyHessian's power iteration.
const (
	// DefaultPowerTol is the default relative change of the eigenvalue
	// estimate below which power iteration stops.
	DefaultPowerTol = 1e-3
	// DefaultPowerMaxIter is the default cap on operator applications.
	DefaultPowerMaxIter = 100
)

// ErrZeroStart is returned when a start vector is zero, or becomes zero
// after the deflation directions are projected out of it.
var ErrZeroStart = errors.New("curvature: start vector is zero (after deflation)")

// PowerOptions configures power iteration. The zero value gives
// PyHessian's settings: random Gaussian start, relative tolerance 1e-3, at
// most 100 iterations, no shift, no deflation.
type PowerOptions struct {
	// Start is the initial vector (for example the gradient, as in the
	// Edge-of-Stability code). It is copied and normalised. When nil, a
	// Gaussian vector is drawn from the generator passed to Run.
	Start []float64
	// Tol stops the iteration once |λ_k − λ_{k−1}| ≤ Tol·|λ_k|.
	// Zero means DefaultPowerTol. A negative value disables the test, so
	// exactly MaxIter iterations run.
	Tol float64
	// MaxIter caps the number of operator applications. Zero means
	// DefaultPowerMaxIter.
	MaxIter int
	// Shift runs the iteration on H + Shift·I. The reported eigenvalue and
	// residual refer to H itself. With Shift > −λ_min(H) power iteration
	// finds the largest algebraic eigenvalue of H provided that
	// λ_max + Shift > |λ_min + Shift|.
	Shift float64
	// Deflate lists orthonormal vectors (typically eigenvectors already
	// found) whose span is projected out of every iterate, so the
	// iteration runs on H restricted to their orthogonal complement.
	Deflate [][]float64
}

// PowerResult is the outcome of power iteration.
type PowerResult struct {
	// Value is the Rayleigh quotient vᵀHv of the final unit vector.
	Value float64
	// Vector is the final unit vector. From PowerIteration.Run it aliases
	// the solver's storage and is overwritten by the next Run.
	Vector []float64
	// Iterations is the number of operator applications.
	Iterations int
	// Converged reports whether the relative-change test was met before
	// MaxIter. It says nothing about how close Vector is to an
	// eigenvector when the top eigenvalues are nearly degenerate; use
	// Residual for that.
	Converged bool
	// Residual is ‖Hv − λv‖ for the returned pair. For a unit vector there
	// is an eigenvalue of H within Residual of Value. With Deflate it is
	// the residual of the deflated operator (I − UUᵀ)H(I − UUᵀ), which
	// equals that of H when the deflation vectors are exact eigenvectors.
	Residual float64
}

// PowerIteration is a prepared power-iteration solver for one operator.
// Its work vectors are allocated once by NewPowerIteration, and Run does
// not allocate. It is not safe for concurrent use.
type PowerIteration struct {
	op   Operator
	opts PowerOptions
	v, w []float64
}

// NewPowerIteration validates opts and allocates the work vectors.
func NewPowerIteration(op Operator, opts PowerOptions) (*PowerIteration, error) {
	n := op.Dim()
	if n <= 0 {
		return nil, fmt.Errorf("curvature: power iteration: operator dimension %d", n)
	}
	if opts.Start != nil && len(opts.Start) != n {
		return nil, fmt.Errorf("curvature: power iteration: start vector has length %d, want %d", len(opts.Start), n)
	}
	for i, d := range opts.Deflate {
		if len(d) != n {
			return nil, fmt.Errorf("curvature: power iteration: deflation vector %d has length %d, want %d", i, len(d), n)
		}
	}
	if len(opts.Deflate) >= n {
		return nil, fmt.Errorf("curvature: power iteration: %d deflation vectors leave nothing of a %d-dimensional space", len(opts.Deflate), n)
	}
	if opts.MaxIter < 0 {
		return nil, fmt.Errorf("curvature: power iteration: MaxIter = %d, want >= 0", opts.MaxIter)
	}
	if opts.MaxIter == 0 {
		opts.MaxIter = DefaultPowerMaxIter
	}
	if opts.Tol == 0 {
		opts.Tol = DefaultPowerTol
	}
	if math.IsNaN(opts.Tol) || math.IsNaN(opts.Shift) || math.IsInf(opts.Shift, 0) {
		return nil, fmt.Errorf("curvature: power iteration: invalid Tol %g or Shift %g", opts.Tol, opts.Shift)
	}
	return &PowerIteration{op: op, opts: opts, v: make([]float64, n), w: make([]float64, n)}, nil
}

// Run performs power iteration. rng is used only when no start vector was
// given (and may then not be nil). The result's Vector aliases the
// solver's storage.
func (p *PowerIteration) Run(rng *rand.Rand) (PowerResult, error) {
	v, w := p.v, p.w
	if p.opts.Start != nil {
		copy(v, p.opts.Start)
	} else {
		if rng == nil {
			return PowerResult{}, errors.New("curvature: power iteration: no start vector and no random generator")
		}
		Gaussian.Fill(rng, v)
	}
	orthogonalize(v, p.opts.Deflate)
	nv := nrm2(v)
	if nv == 0 || math.IsNaN(nv) || math.IsInf(nv, 0) {
		return PowerResult{}, fmt.Errorf("curvature: power iteration: start norm %g: %w", nv, ErrZeroStart)
	}
	scal(v, 1/nv)

	shift := p.opts.Shift
	var res PowerResult
	prev := math.NaN()
	for k := 1; k <= p.opts.MaxIter; k++ {
		if err := p.op.Apply(w, v); err != nil {
			return PowerResult{}, fmt.Errorf("curvature: power iteration step %d: %w", k, err)
		}
		if shift != 0 {
			axpy(w, shift, v)
		}
		orthogonalize(w, p.opts.Deflate)
		theta := dot(v, w) // Rayleigh quotient of H + shift·I
		lambda := theta - shift
		res.Iterations = k
		res.Value = lambda
		// ‖(H+cI)v − θv‖ = ‖Hv − λv‖, computed without another product.
		res.Residual = residualNorm(w, v, theta)

		if p.opts.Tol > 0 && k > 1 && math.Abs(lambda-prev) <= p.opts.Tol*math.Abs(lambda) {
			res.Converged = true
			break
		}
		if res.Residual == 0 {
			// v is an exact eigenvector.
			res.Converged = true
			break
		}
		if k == p.opts.MaxIter {
			break
		}
		nw := nrm2(w)
		if nw == 0 {
			// v lies in the null space of the (shifted, deflated) operator
			// but is not an exact eigenvector only by round-off; stop.
			res.Converged = true
			break
		}
		if math.IsNaN(nw) || math.IsInf(nw, 0) {
			return PowerResult{}, fmt.Errorf("curvature: power iteration step %d: iterate norm %g", k, nw)
		}
		prev = lambda
		for i := range v {
			v[i] = w[i] / nw
		}
	}
	res.Vector = v
	return res, nil
}

// PowerIterate runs power iteration once with a fresh solver. The returned
// Vector is owned by the caller.
func PowerIterate(op Operator, rng *rand.Rand, opts PowerOptions) (PowerResult, error) {
	p, err := NewPowerIteration(op, opts)
	if err != nil {
		return PowerResult{}, err
	}
	return p.Run(rng)
}

// TopKPower finds k eigenpairs of largest magnitude by power iteration
// with deflation, as PyHessian's eigenvalues(top_n=k): the i-th run
// projects out the i−1 eigenvectors already found. opts applies to every
// run (its Deflate field must be empty); with opts.Start nil each run
// draws a new Gaussian start from rng. Results are in the order found,
// which is non-increasing in |λ| when every run converged.
func TopKPower(op Operator, k int, rng *rand.Rand, opts PowerOptions) ([]PowerResult, error) {
	if k <= 0 || k > op.Dim() {
		return nil, fmt.Errorf("curvature: top-k power: k = %d, want 1..%d", k, op.Dim())
	}
	if len(opts.Deflate) != 0 {
		return nil, errors.New("curvature: top-k power: opts.Deflate must be empty")
	}
	out := make([]PowerResult, 0, k)
	found := make([][]float64, 0, k)
	for i := 0; i < k; i++ {
		o := opts
		o.Deflate = found
		r, err := PowerIterate(op, rng, o)
		if err != nil {
			return out, fmt.Errorf("curvature: top-k power, eigenpair %d: %w", i+1, err)
		}
		// Re-orthonormalise against earlier vectors to absorb round-off.
		orthogonalize(r.Vector, found)
		if nv := nrm2(r.Vector); nv > 0 {
			scal(r.Vector, 1/nv)
		}
		out = append(out, r)
		found = append(found, r.Vector)
	}
	return out, nil
}

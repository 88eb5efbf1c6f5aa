package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"
)

// DefaultLanczosSteps is the default number of Lanczos steps (PyHessian's
// default for its density estimate), capped at the operator dimension.
const DefaultLanczosSteps = 100

// breakdownTol is the relative size of β below which the Krylov space is
// taken to be invariant.
const breakdownTol = 1e-10

// Lanczos is a prepared Lanczos solver with full re-orthogonalisation.
// Each step applies the operator once and orthogonalises the new vector
// against every earlier basis vector (two Gram–Schmidt passes), so the
// basis stays orthonormal to working precision and no spurious copies of
// converged Ritz values appear. Memory is Steps×Dim float64 for the basis.
//
// After Run, the Ritz values (eigenvalues of the tridiagonal matrix T),
// their weights (squared first components of T's eigenvectors) and Ritz
// vectors are available. Run does not allocate. A Lanczos value is not
// safe for concurrent use.
type Lanczos struct {
	op    Operator
	n, m  int
	basis []float64 // m rows of length n
	w     []float64
	alpha []float64 // diagonal of T
	beta  []float64 // beta[j] couples basis j and j+1
	d, e  []float64 // eigen-solver copies of alpha, beta
	z     []float64 // m×m eigenvectors of T, column i ↔ Ritz value i
	work  []float64
	k     int // steps taken by the last Run
	// restarts counts the invariant subspaces found in the last Run.
	restarts int
}

// NewLanczos prepares a solver for at most steps Lanczos steps; steps is
// capped at op.Dim(), and zero means DefaultLanczosSteps.
func NewLanczos(op Operator, steps int) (*Lanczos, error) {
	n := op.Dim()
	if n <= 0 {
		return nil, fmt.Errorf("curvature: lanczos: operator dimension %d", n)
	}
	if steps < 0 {
		return nil, fmt.Errorf("curvature: lanczos: steps = %d, want >= 0", steps)
	}
	if steps == 0 {
		steps = DefaultLanczosSteps
	}
	m := min(steps, n)
	return &Lanczos{
		op: op, n: n, m: m,
		basis: make([]float64, m*n),
		w:     make([]float64, n),
		alpha: make([]float64, m),
		beta:  make([]float64, m),
		d:     make([]float64, m),
		e:     make([]float64, m),
		z:     make([]float64, m*m),
		work:  make([]float64, max(1, 2*m-2)),
	}, nil
}

// MaxSteps returns the number of steps Run attempts.
func (l *Lanczos) MaxSteps() int { return l.m }

// Run performs the Lanczos process from start (copied and normalised;
// must be non-zero). If the Krylov space of start turns out to be
// invariant before MaxSteps steps, the process continues from a random
// vector orthogonal to the basis drawn from rng, which makes T block
// diagonal: the new blocks contribute Ritz values with zero weight, so
// quadrature (SLQ) is unaffected while eigenvalue searches can still find
// every copy of a repeated eigenvalue. With rng nil the process stops
// instead.
func (l *Lanczos) Run(start []float64, rng *rand.Rand) error {
	n := l.n
	if len(start) != n {
		return fmt.Errorf("curvature: lanczos: start vector has length %d, want %d", len(start), n)
	}
	q0 := l.basis[:n]
	copy(q0, start)
	nq := nrm2(q0)
	if nq == 0 || math.IsNaN(nq) || math.IsInf(nq, 0) {
		return fmt.Errorf("curvature: lanczos: start norm %g: %w", nq, ErrZeroStart)
	}
	scal(q0, 1/nq)
	l.k = 0
	l.restarts = 0
	scale := 0.0 // running estimate of ‖T‖ for the breakdown test
	w := l.w
	for j := 0; j < l.m; j++ {
		q := l.basis[j*n : (j+1)*n]
		if err := l.op.Apply(w, q); err != nil {
			return fmt.Errorf("curvature: lanczos step %d: %w", j+1, err)
		}
		if j > 0 {
			axpy(w, -l.beta[j-1], l.basis[(j-1)*n:j*n])
		}
		a := dot(q, w)
		axpy(w, -a, q)
		orthogonalizeFlat(w, l.basis, j+1)
		l.alpha[j] = a
		l.k = j + 1
		b := nrm2(w)
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("curvature: lanczos step %d: residual norm %g", j+1, b)
		}
		if j == l.m-1 {
			// β_m is not part of T but gives the Ritz residuals.
			l.beta[j] = b
			if l.m == n {
				l.beta[j] = 0 // the space is exhausted; b is round-off
			}
			break
		}
		scale = max(scale, math.Abs(a)+b)
		next := l.basis[(j+1)*n : (j+2)*n]
		if b <= breakdownTol*scale {
			// Invariant subspace: restart orthogonally, or stop.
			l.beta[j] = 0
			if rng == nil || !l.restart(next, j+1, rng) {
				break
			}
			l.restarts++
			continue
		}
		l.beta[j] = b
		for i := range next {
			next[i] = w[i] / b
		}
	}
	return l.eigen()
}

// restart fills next with a random unit vector orthogonal to the first k
// basis vectors. It reports false if none could be found.
func (l *Lanczos) restart(next []float64, k int, rng *rand.Rand) bool {
	for try := 0; try < 3; try++ {
		Gaussian.Fill(rng, next)
		before := nrm2(next)
		orthogonalizeFlat(next, l.basis, k)
		after := nrm2(next)
		if after > 1e-3*before {
			scal(next, 1/after)
			return true
		}
	}
	return false
}

func (l *Lanczos) eigen() error {
	k := l.k
	copy(l.d, l.alpha[:k])
	copy(l.e, l.beta[:k])
	var impl gonum.Implementation
	// z has leading dimension k for the k×k problem.
	if !impl.Dsteqr(lapack.EVTridiag, k, l.d[:k], l.e[:max(k-1, 0)], l.z[:k*k], max(k, 1), l.work) {
		return errors.New("curvature: lanczos: tridiagonal eigensolver did not converge")
	}
	return nil
}

// Steps returns the number of Lanczos steps taken by the last Run.
func (l *Lanczos) Steps() int { return l.k }

// Restarts returns how many times the last Run found an invariant
// subspace and continued from a fresh orthogonal vector.
func (l *Lanczos) Restarts() int { return l.restarts }

// RitzValues returns the Ritz values in ascending order. The slice aliases
// the solver's storage.
func (l *Lanczos) RitzValues() []float64 { return l.d[:l.k] }

// Weight returns the squared first component of the i-th eigenvector of
// T (Ritz values in ascending order). The weights sum to one; they are
// the Gauss quadrature weights of the spectral measure seen from the
// start vector.
func (l *Lanczos) Weight(i int) float64 {
	z0 := l.z[i] // row 0, column i, leading dimension k
	return z0 * z0
}

// ResidualBound returns β_k·|z_{k,i}|, which equals ‖Hy − θy‖ for the i-th
// Ritz pair (θ, y) in exact arithmetic (and to round-off with full
// re-orthogonalisation). It is zero when the run exhausted the space.
func (l *Lanczos) ResidualBound(i int) float64 {
	k := l.k
	zl := l.z[(k-1)*k+i]
	return math.Abs(l.beta[k-1] * zl)
}

// RitzVector writes the i-th Ritz vector (unit norm) into dst.
func (l *Lanczos) RitzVector(dst []float64, i int) error {
	if len(dst) != l.n {
		return fmt.Errorf("curvature: lanczos: ritz vector destination has length %d, want %d", len(dst), l.n)
	}
	if i < 0 || i >= l.k {
		return fmt.Errorf("curvature: lanczos: ritz index %d out of range [0,%d)", i, l.k)
	}
	clear(dst)
	k, n := l.k, l.n
	for j := 0; j < k; j++ {
		axpy(dst, l.z[j*k+i], l.basis[j*n:(j+1)*n])
	}
	return nil
}

// Tridiagonal returns the diagonal and off-diagonal of T from the last Run
// (aliasing the solver's storage; off-diagonal has length Steps()−1).
func (l *Lanczos) Tridiagonal() (alpha, beta []float64) {
	return l.alpha[:l.k], l.beta[:max(l.k-1, 0)]
}

// LanczosOptions configures the Lanczos-based eigenvalue functions.
type LanczosOptions struct {
	// Steps is the number of Lanczos steps; zero means
	// DefaultLanczosSteps. It is capped at the operator dimension, where
	// the Ritz values are the exact eigenvalues.
	Steps int
	// Start is the start vector; when nil a Gaussian vector is drawn from
	// the generator.
	Start []float64
}

// Eigenpair is an eigenvalue estimate with its Ritz vector.
type Eigenpair struct {
	Value  float64
	Vector []float64
	// Residual is the Lanczos residual estimate β_m|z_{m,i}| of
	// ‖H·Vector − Value·Vector‖ (see Lanczos.ResidualBound).
	Residual float64
}

func runLanczos(op Operator, rng *rand.Rand, opts LanczosOptions) (*Lanczos, error) {
	l, err := NewLanczos(op, opts.Steps)
	if err != nil {
		return nil, err
	}
	start := opts.Start
	if start == nil {
		if rng == nil {
			return nil, errors.New("curvature: lanczos: no start vector and no random generator")
		}
		start = make([]float64, op.Dim())
		Gaussian.Fill(rng, start)
	}
	if err := l.Run(start, rng); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lanczos) pair(i int) (Eigenpair, error) {
	p := Eigenpair{Value: l.d[i], Vector: make([]float64, l.n), Residual: l.ResidualBound(i)}
	if err := l.RitzVector(p.Vector, i); err != nil {
		return Eigenpair{}, err
	}
	return p, nil
}

// TopEigen returns the k largest (algebraic) eigenvalues, in decreasing
// order, estimated by Lanczos with full re-orthogonalisation.
func TopEigen(op Operator, k int, rng *rand.Rand, opts LanczosOptions) ([]Eigenpair, error) {
	if k <= 0 {
		return nil, fmt.Errorf("curvature: top eigen: k = %d, want > 0", k)
	}
	l, err := runLanczos(op, rng, opts)
	if err != nil {
		return nil, fmt.Errorf("curvature: top eigen: %w", err)
	}
	if k > l.k {
		return nil, fmt.Errorf("curvature: top eigen: k = %d but only %d Lanczos steps were taken", k, l.k)
	}
	out := make([]Eigenpair, k)
	for j := range out {
		if out[j], err = l.pair(l.k - 1 - j); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SmallestEigen returns the smallest (algebraic, i.e. most negative)
// eigenvalue estimated by Lanczos with full re-orthogonalisation.
func SmallestEigen(op Operator, rng *rand.Rand, opts LanczosOptions) (Eigenpair, error) {
	l, err := runLanczos(op, rng, opts)
	if err != nil {
		return Eigenpair{}, fmt.Errorf("curvature: smallest eigen: %w", err)
	}
	return l.pair(0)
}

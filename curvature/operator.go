package curvature

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Operator is a symmetric linear operator on R^n, typically a Hessian seen
// only through Hessian–vector products.
//
// Apply writes H·v into dst. dst and v both have length Dim() and do not
// overlap; Apply must not retain either slice and must not modify v. The
// algorithms in this package assume H is symmetric; they call Apply
// repeatedly from a single goroutine.
type Operator interface {
	Dim() int
	Apply(dst, v []float64) error
}

// OperatorFunc adapts a plain function to the Operator interface.
type OperatorFunc struct {
	// N is the dimension of the space the operator acts on.
	N int
	// Fn writes H·v into dst.
	Fn func(dst, v []float64) error
}

// Dim returns f.N.
func (f OperatorFunc) Dim() int { return f.N }

// Apply calls f.Fn(dst, v).
func (f OperatorFunc) Apply(dst, v []float64) error { return f.Fn(dst, v) }

// Dense is an Operator backed by an explicit symmetric matrix. It is meant
// for tests and for models small enough to form their Hessian.
type Dense struct {
	m blas64.Symmetric
}

// NewDense returns an Operator that multiplies by m. The matrix is shared,
// not copied.
func NewDense(m *mat.SymDense) *Dense {
	return &Dense{m: m.RawSymmetric()}
}

// Dim returns the order of the matrix.
func (d *Dense) Dim() int { return d.m.N }

// Apply writes m·v into dst. It does not allocate.
func (d *Dense) Apply(dst, v []float64) error {
	n := d.m.N
	if len(dst) != n || len(v) != n {
		return fmt.Errorf("curvature: dense apply: got len(dst)=%d len(v)=%d, want %d", len(dst), len(v), n)
	}
	if n == 0 {
		return nil
	}
	blas64.Symv(1, d.m, blas64.Vector{N: n, Inc: 1, Data: v}, 0, blas64.Vector{N: n, Inc: 1, Data: dst})
	return nil
}

// Shifted is the operator H + C·I. Power iteration on a shifted operator
// with C > -λ_min finds the largest algebraic eigenvalue of H even when a
// negative eigenvalue has the largest magnitude.
type Shifted struct {
	Op Operator
	C  float64
}

// Dim returns s.Op.Dim().
func (s Shifted) Dim() int { return s.Op.Dim() }

// Apply writes (H + C·I)·v into dst.
func (s Shifted) Apply(dst, v []float64) error {
	if err := s.Op.Apply(dst, v); err != nil {
		return err
	}
	if s.C != 0 {
		axpy(dst, s.C, v)
	}
	return nil
}

// Preconditioned is the operator P^{-1/2} H P^{-1/2} for a diagonal
// positive preconditioner P. Its top eigenvalue is the preconditioned
// sharpness λ₁(P^{-1}H) that governs the stability of preconditioned
// gradient descent θ ← θ − η P^{-1}∇L (for Adam, P = diag(√v̂ + ε); see
// AdamPreconditioner).
//
// A Preconditioned value owns a scratch vector and is not safe for
// concurrent use.
type Preconditioned struct {
	op       Operator
	invSqrtP []float64
	tmp      []float64
}

// ErrNonPositivePreconditioner is returned for a preconditioner with an
// entry that is not strictly positive and finite.
var ErrNonPositivePreconditioner = errors.New("curvature: preconditioner entries must be positive and finite")

// NewPreconditioned returns the operator P^{-1/2} H P^{-1/2} with
// P = diag(p). p is copied.
func NewPreconditioned(op Operator, p []float64) (*Preconditioned, error) {
	n := op.Dim()
	if len(p) != n {
		return nil, fmt.Errorf("curvature: preconditioner has length %d, operator dimension %d", len(p), n)
	}
	inv := make([]float64, n)
	for i, x := range p {
		if !(x > 0) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("curvature: preconditioner entry %d = %g: %w", i, x, ErrNonPositivePreconditioner)
		}
		inv[i] = 1 / math.Sqrt(x)
	}
	return &Preconditioned{op: op, invSqrtP: inv, tmp: make([]float64, n)}, nil
}

// Dim returns the operator dimension.
func (p *Preconditioned) Dim() int { return len(p.invSqrtP) }

// Apply writes P^{-1/2} H P^{-1/2} v into dst. It does not allocate beyond
// what the wrapped operator allocates.
func (p *Preconditioned) Apply(dst, v []float64) error {
	if len(v) != len(p.tmp) || len(dst) != len(p.tmp) {
		return fmt.Errorf("curvature: preconditioned apply: got len(dst)=%d len(v)=%d, want %d", len(dst), len(v), len(p.tmp))
	}
	for i, s := range p.invSqrtP {
		p.tmp[i] = s * v[i]
	}
	if err := p.op.Apply(dst, p.tmp); err != nil {
		return fmt.Errorf("curvature: preconditioned apply: %w", err)
	}
	for i, s := range p.invSqrtP {
		dst[i] *= s
	}
	return nil
}

// AdamPreconditioner writes Adam's diagonal preconditioner √v̂ᵢ + ε into
// dst, where v̂ is the (bias-corrected) second-moment estimate. dst and vhat
// must have the same length and ε must be positive so that every entry is
// positive.
func AdamPreconditioner(dst, vhat []float64, eps float64) error {
	if len(dst) != len(vhat) {
		return fmt.Errorf("curvature: adam preconditioner: len(dst)=%d, len(vhat)=%d", len(dst), len(vhat))
	}
	if !(eps > 0) {
		return fmt.Errorf("curvature: adam preconditioner: eps = %g, want > 0", eps)
	}
	for i, x := range vhat {
		if x < 0 {
			return fmt.Errorf("curvature: adam preconditioner: vhat[%d] = %g is negative", i, x)
		}
		dst[i] = math.Sqrt(x) + eps
	}
	return nil
}

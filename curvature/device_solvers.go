package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gradlab/gradlab/kernels"
)

// The device solvers below run the algorithms of PowerIteration, Lanczos
// and Hutchinson with every full-length vector on a DeviceHessian's kernel
// set; per iteration only scalars (dot products and norms) come back to the
// host. Their control flow and random draws are those of the host solvers,
// so with the same start, generator state and options they take the same
// steps and agree to rounding. None allocates in steady state.

// hostVector draws random vectors on the host and uploads them.
type hostVector[T kernels.Float] struct {
	f64 []float64
	t   []T
}

func (h *hostVector[T]) upload(set kernels.Set[T], dst kernels.Buffer[T], kind ProbeKind, rng *rand.Rand) error {
	if h.f64 == nil {
		h.f64 = make([]float64, dst.Len())
		if _, ok := any(h.f64).([]T); !ok {
			h.t = make([]T, dst.Len())
		}
	}
	kind.Fill(rng, h.f64)
	data, ok := any(h.f64).([]T)
	if !ok {
		for i, x := range h.f64 {
			h.t[i] = T(x)
		}
		data = h.t
	}
	return set.Upload(dst, data)
}

// DevicePowerIteration is PowerIteration on a DeviceHessian: the iterate is
// the operator's Probe buffer and H·v its Product, and NormalizeRayleigh
// normalises the product into the next iterate. Deflation is not
// supported.
type DevicePowerIteration[T kernels.Float] struct {
	op   *DeviceHessian[T]
	opts PowerOptions
	r    kernels.Buffer[T] // residual scratch
	rand hostVector[T]
}

// NewDevicePowerIteration validates opts as NewPowerIteration does (Start
// and Deflate must be empty: Run takes the start vector) and allocates
// the residual buffer on the operator's set.
func NewDevicePowerIteration[T kernels.Float](op *DeviceHessian[T], opts PowerOptions) (*DevicePowerIteration[T], error) {
	if op == nil {
		return nil, errors.New("curvature: device power iteration: nil operator")
	}
	if opts.Start != nil || opts.Deflate != nil {
		return nil, errors.New("curvature: device power iteration: Start and Deflate must be empty")
	}
	// The host constructor's checks and defaults, on a stand-in operator.
	hp, err := NewPowerIteration(OperatorFunc{N: 1}, opts)
	if err != nil {
		return nil, fmt.Errorf("curvature: device power iteration: %w", err)
	}
	r, err := op.set.Alloc(op.Dim())
	if err != nil {
		return nil, fmt.Errorf("curvature: device power iteration: %w", err)
	}
	return &DevicePowerIteration[T]{op: op, opts: hp.opts, r: r}, nil
}

// Run performs power iteration from start (a buffer of the set with Dim
// elements, copied and normalised; it may be the operator's Probe), or from
// a Gaussian vector drawn from rng when start is nil. The result's Vector
// is nil: the final unit vector is left in the operator's Probe buffer.
func (p *DevicePowerIteration[T]) Run(start kernels.Buffer[T], rng *rand.Rand) (PowerResult, error) {
	set, v, w := p.op.set, p.op.probe, p.op.product
	switch {
	case start == nil && rng == nil:
		return PowerResult{}, errors.New("curvature: device power iteration: no start vector and no random generator")
	case start == nil:
		if err := p.rand.upload(set, v, Gaussian, rng); err != nil {
			return PowerResult{}, fmt.Errorf("curvature: device power iteration: %w", err)
		}
	case start != v:
		if err := set.Unary(kernels.Copy, v, start, kernels.UnaryArgs{}); err != nil {
			return PowerResult{}, fmt.Errorf("curvature: device power iteration: %w", err)
		}
	}
	nv, err := set.Norm(v)
	if err != nil {
		return PowerResult{}, fmt.Errorf("curvature: device power iteration: %w", err)
	}
	if nv == 0 || math.IsNaN(nv) || math.IsInf(nv, 0) {
		return PowerResult{}, fmt.Errorf("curvature: device power iteration: start norm %g: %w", nv, ErrZeroStart)
	}
	if err := set.Unary(kernels.Scale, v, v, kernels.UnaryArgs{A: 1 / nv}); err != nil {
		return PowerResult{}, fmt.Errorf("curvature: device power iteration: %w", err)
	}
	shift := p.opts.Shift
	var res PowerResult
	prev := math.NaN()
	for k := 1; k <= p.opts.MaxIter; k++ {
		if err := p.step(shift, k, &res); err != nil {
			return PowerResult{}, err
		}
		lambda := res.Value
		if p.opts.Tol > 0 && k > 1 && math.Abs(lambda-prev) <= p.opts.Tol*math.Abs(lambda) {
			res.Converged = true
			break
		}
		if res.Residual == 0 {
			res.Converged = true
			break
		}
		if k == p.opts.MaxIter {
			break
		}
		_, nw, err := set.NormalizeRayleigh(v, w)
		if err != nil {
			return PowerResult{}, fmt.Errorf("curvature: device power iteration step %d: %w", k, err)
		}
		if nw == 0 {
			res.Converged = true
			break
		}
		if math.IsNaN(nw) || math.IsInf(nw, 0) {
			return PowerResult{}, fmt.Errorf("curvature: device power iteration step %d: iterate norm %g", k, nw)
		}
		prev = lambda
	}
	return res, nil
}

// step applies the operator to the unit iterate and records the Rayleigh
// quotient and the residual ‖Hv − λv‖ in res.
func (p *DevicePowerIteration[T]) step(shift float64, k int, res *PowerResult) error {
	set, v, w := p.op.set, p.op.probe, p.op.product
	fail := func(err error) error { return fmt.Errorf("curvature: device power iteration step %d: %w", k, err) }
	if err := p.op.Apply(); err != nil {
		return fail(err)
	}
	if shift != 0 {
		if err := set.Axpy(T(shift), v, w); err != nil {
			return fail(err)
		}
	}
	theta, err := set.Dot(v, w)
	if err != nil {
		return fail(err)
	}
	if err := set.Unary(kernels.Copy, p.r, w, kernels.UnaryArgs{}); err != nil {
		return fail(err)
	}
	if err := set.Axpy(T(-theta), v, p.r); err != nil {
		return fail(err)
	}
	if res.Residual, err = set.Norm(p.r); err != nil {
		return fail(err)
	}
	res.Iterations, res.Value = k, theta-shift
	return nil
}

// Close frees the residual buffer.
func (p *DevicePowerIteration[T]) Close() error { return p.op.set.Free(p.r) }

// DeviceLanczos is Lanczos (full re-orthogonalisation with the set's
// Orthogonalize kernel) on a DeviceHessian: the basis lives on the set, the
// tridiagonal matrix and its eigenproblem on the host.
type DeviceLanczos[T kernels.Float] struct {
	op    *DeviceHessian[T]
	flat  kernels.Buffer[T]
	basis []kernels.Buffer[T] // m views of flat
	t     *Lanczos            // host side: alpha, beta, the eigenproblem (no basis)
	rand  hostVector[T]
}

// NewDeviceLanczos prepares at most steps Lanczos steps (capped at Dim;
// zero means DefaultLanczosSteps), allocating the basis on the set.
func NewDeviceLanczos[T kernels.Float](op *DeviceHessian[T], steps int) (*DeviceLanczos[T], error) {
	if op == nil {
		return nil, errors.New("curvature: device lanczos: nil operator")
	}
	if steps < 0 {
		return nil, fmt.Errorf("curvature: device lanczos: steps = %d, want >= 0", steps)
	}
	if steps == 0 {
		steps = DefaultLanczosSteps
	}
	n := op.Dim()
	m := min(steps, n)
	l := &DeviceLanczos[T]{op: op, t: &Lanczos{n: n, m: m,
		alpha: make([]float64, m), beta: make([]float64, m), d: make([]float64, m), e: make([]float64, m),
		z: make([]float64, m*m), work: make([]float64, max(1, 2*m-2))}}
	var err error
	if l.flat, err = op.set.Alloc(m * n); err != nil {
		return nil, fmt.Errorf("curvature: device lanczos: basis of %d×%d: %w", m, n, err)
	}
	l.basis = make([]kernels.Buffer[T], m)
	for j := range l.basis {
		if l.basis[j], err = op.set.View(l.flat, j*n, n); err != nil {
			return nil, errors.Join(fmt.Errorf("curvature: device lanczos: %w", err), l.Close())
		}
	}
	return l, nil
}

// MaxSteps returns the number of steps Run attempts.
func (l *DeviceLanczos[T]) MaxSteps() int { return l.t.m }

// Run performs the Lanczos process from start (a buffer of the set with
// Dim elements, copied and normalised), restarting orthogonally from
// Gaussian vectors drawn from rng on invariant subspaces as Lanczos.Run
// does (rng nil: stop instead).
func (l *DeviceLanczos[T]) Run(start kernels.Buffer[T], rng *rand.Rand) error {
	return l.RunUntil(start, rng, nil)
}

// RunUntil is Run with a stopping rule: after each step k < MaxSteps that
// found a next basis vector, stop(k) may end the process (it may read
// Tridiagonal, whose β_k is then the residual norm of step k, as after a
// run of k steps). An adaptive eigenvalue probe stops once the top Ritz
// value of the leading k×k block settles.
func (l *DeviceLanczos[T]) RunUntil(start kernels.Buffer[T], rng *rand.Rand, stop func(k int) bool) error {
	set, t, n := l.op.set, l.t, l.t.n
	if start == nil || start.Len() != n {
		return fmt.Errorf("curvature: device lanczos: start vector must hold %d elements", n)
	}
	fail := func(j int, err error) error { return fmt.Errorf("curvature: device lanczos step %d: %w", j+1, err) }
	q0 := l.basis[0]
	if err := set.Unary(kernels.Copy, q0, start, kernels.UnaryArgs{}); err != nil {
		return fail(-1, err)
	}
	nq, err := set.Norm(q0)
	if err != nil {
		return fail(-1, err)
	}
	if nq == 0 || math.IsNaN(nq) || math.IsInf(nq, 0) {
		return fmt.Errorf("curvature: device lanczos: start norm %g: %w", nq, ErrZeroStart)
	}
	if err := set.Unary(kernels.Scale, q0, q0, kernels.UnaryArgs{A: 1 / nq}); err != nil {
		return fail(-1, err)
	}
	t.k, t.restarts = 0, 0
	scale := 0.0
	w := l.op.product
	for j := 0; j < t.m; j++ {
		q := l.basis[j]
		if err := set.Unary(kernels.Copy, l.op.probe, q, kernels.UnaryArgs{}); err != nil {
			return fail(j, err)
		}
		if err := l.op.Apply(); err != nil {
			return fail(j, err)
		}
		if j > 0 {
			if err := set.Axpy(T(-t.beta[j-1]), l.basis[j-1], w); err != nil {
				return fail(j, err)
			}
		}
		a, err := set.Dot(q, w)
		if err != nil {
			return fail(j, err)
		}
		if err := set.Axpy(T(-a), q, w); err != nil {
			return fail(j, err)
		}
		b, err := set.Orthogonalize(w, l.basis[:j+1])
		if err != nil {
			return fail(j, err)
		}
		t.alpha[j] = a
		t.k = j + 1
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("curvature: device lanczos step %d: residual norm %g", j+1, b)
		}
		if j == t.m-1 {
			t.beta[j] = b
			if t.m == n {
				t.beta[j] = 0
			}
			break
		}
		scale = max(scale, math.Abs(a)+b)
		next := l.basis[j+1]
		if b <= breakdownTol*scale {
			t.beta[j] = 0
			if rng == nil {
				break
			}
			ok, err := l.restart(next, j+1, rng)
			if err != nil {
				return fail(j, err)
			}
			if !ok {
				break
			}
			t.restarts++
			continue
		}
		t.beta[j] = b
		if stop != nil && stop(j+1) {
			break
		}
		if err := set.Unary(kernels.Scale, next, w, kernels.UnaryArgs{A: 1 / b}); err != nil {
			return fail(j, err)
		}
	}
	return t.eigen()
}

// restart fills next with a random unit vector orthogonal to the first k
// basis vectors, as Lanczos.restart does.
func (l *DeviceLanczos[T]) restart(next kernels.Buffer[T], k int, rng *rand.Rand) (bool, error) {
	set := l.op.set
	for try := 0; try < 3; try++ {
		if err := l.rand.upload(set, next, Gaussian, rng); err != nil {
			return false, err
		}
		before, err := set.Norm(next)
		if err != nil {
			return false, err
		}
		after, err := set.Orthogonalize(next, l.basis[:k])
		if err != nil {
			return false, err
		}
		if after > 1e-3*before {
			return true, set.Unary(kernels.Scale, next, next, kernels.UnaryArgs{A: 1 / after})
		}
	}
	return false, nil
}

// Steps returns the number of Lanczos steps taken by the last Run.
func (l *DeviceLanczos[T]) Steps() int { return l.t.k }

// Restarts returns the orthogonal restarts of the last Run.
func (l *DeviceLanczos[T]) Restarts() int { return l.t.restarts }

// RitzValues returns the Ritz values in ascending order (aliasing the
// solver's storage).
func (l *DeviceLanczos[T]) RitzValues() []float64 { return l.t.RitzValues() }

// Weight returns the quadrature weight of Ritz value i (see Lanczos.Weight).
func (l *DeviceLanczos[T]) Weight(i int) float64 { return l.t.Weight(i) }

// ResidualBound returns β_k·|z_{k,i}| for Ritz pair i (see
// Lanczos.ResidualBound).
func (l *DeviceLanczos[T]) ResidualBound(i int) float64 { return l.t.ResidualBound(i) }

// Tridiagonal returns the diagonal and off-diagonal of T from the last Run.
func (l *DeviceLanczos[T]) Tridiagonal() (alpha, beta []float64) { return l.t.Tridiagonal() }

// RitzVector writes the i-th Ritz vector (unit norm) into dst, a buffer of
// the set with Dim elements.
func (l *DeviceLanczos[T]) RitzVector(dst kernels.Buffer[T], i int) error {
	set, k := l.op.set, l.t.k
	if dst == nil || dst.Len() != l.t.n {
		return fmt.Errorf("curvature: device lanczos: ritz vector destination must hold %d elements", l.t.n)
	}
	if i < 0 || i >= k {
		return fmt.Errorf("curvature: device lanczos: ritz index %d out of range [0,%d)", i, k)
	}
	if err := set.Fill(dst, 0); err != nil {
		return err
	}
	for j := 0; j < k; j++ {
		if err := set.Axpy(T(l.t.z[j*k+i]), l.basis[j], dst); err != nil {
			return err
		}
	}
	return nil
}

// Close frees the basis.
func (l *DeviceLanczos[T]) Close() error {
	if l.flat == nil {
		return nil
	}
	err := l.op.set.Free(l.flat)
	l.flat, l.basis = nil, nil
	return err
}

// DeviceHutchinson is Hutchinson's trace estimator on a DeviceHessian:
// each probe is drawn on the host from the generator (as Hutchinson draws
// it) and uploaded into the operator's Probe buffer; vᵀHv is reduced on
// the set.
type DeviceHutchinson[T kernels.Float] struct {
	op      *DeviceHessian[T]
	opts    TraceOptions
	rand    hostVector[T]
	samples []float64
}

// NewDeviceHutchinson validates opts as NewHutchinson does.
func NewDeviceHutchinson[T kernels.Float](op *DeviceHessian[T], opts TraceOptions) (*DeviceHutchinson[T], error) {
	if op == nil {
		return nil, errors.New("curvature: device trace: nil operator")
	}
	h, err := NewHutchinson(OperatorFunc{N: 1}, opts) // its checks and defaults
	if err != nil {
		return nil, fmt.Errorf("curvature: device trace: %w", err)
	}
	return &DeviceHutchinson[T]{op: op, opts: h.opts, samples: make([]float64, 0, h.opts.Probes)}, nil
}

// Run draws probes from rng and returns the estimate.
func (h *DeviceHutchinson[T]) Run(rng *rand.Rand) (TraceResult, error) {
	if rng == nil {
		return TraceResult{}, errors.New("curvature: device trace: nil random generator")
	}
	set := h.op.set
	h.samples = h.samples[:0]
	var acc traceAccumulator
	for k := 1; k <= h.opts.Probes; k++ {
		if err := h.rand.upload(set, h.op.probe, h.opts.Probe, rng); err != nil {
			return TraceResult{}, fmt.Errorf("curvature: device trace probe %d: %w", k, err)
		}
		if err := h.op.Apply(); err != nil {
			return TraceResult{}, fmt.Errorf("curvature: device trace probe %d: %w", k, err)
		}
		x, err := set.Dot(h.op.probe, h.op.product)
		if err != nil {
			return TraceResult{}, fmt.Errorf("curvature: device trace probe %d: %w", k, err)
		}
		h.samples = append(h.samples, x)
		if acc.add(x, h.opts) {
			break
		}
	}
	return acc.res, nil
}

// Samples returns the per-probe values vᵀHv of the last Run.
func (h *DeviceHutchinson[T]) Samples() []float64 { return h.samples }

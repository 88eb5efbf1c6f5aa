package experiments

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/lapack/gonum"
	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/train"
)

// eosDeviceMeasurer is an eosLambdaProbe's measurement on a kernel set.
type eosDeviceMeasurer interface {
	measure(step int) (map[string]float64, error)
	// vector brings the last top Ritz vector back to the probe's host
	// state (p.prev), so that a later host measurement warm-starts from it.
	vector() error
	close() error
}

// AttachDevice moves the probe's measurements onto the kernel set of prog,
// a training step's program whose resident inputs params hold the
// trainable parameters of the probe's model (train.DeviceProbe): the
// gradient, the adaptive Lanczos run (curvature.DeviceLanczos.RunUntil with
// the probe's top-Ritz stopping rule), ‖θ‖² and the cold verification runs
// (a 100-step curvature.DeviceLanczos from g/‖g‖) all run there on a
// curvature.DeviceHessian over the parameter buffers, and the previous top
// Ritz vector stays there between measurements (uploaded from the host's
// when the probe has one). The values are those of the host measurement to
// rounding. detach brings the last top Ritz vector back to the host (for
// warmFrom and later host measurements) and frees the device state.
//
// An operator other than a *curvature.HessianOperator, parameter nodes
// that are not its parameters, or a program on the TapeMachine give an
// error wrapping errors.ErrUnsupported: the trainer then measures on the
// host.
func (p *eosLambdaProbe) AttachDevice(prog *engine.Program, params gorgonia.Nodes) (detach func() error, err error) {
	if p.dev != nil {
		return nil, errors.New("λ₁ probe: already attached to a device")
	}
	h, ok := p.op.(*curvature.HessianOperator)
	if !ok {
		return nil, fmt.Errorf("λ₁ probe: operator %T is not a *curvature.HessianOperator: %w", p.op, errors.ErrUnsupported)
	}
	if len(params) == 0 {
		return nil, fmt.Errorf("λ₁ probe: no parameter nodes: %w", errors.ErrUnsupported)
	}
	var d eosDeviceMeasurer
	switch dt := params[0].Dtype(); dt {
	case gt.Float32:
		d, err = newEOSLambdaDevice[float32](p, h, prog, params)
	case gt.Float64:
		d, err = newEOSLambdaDevice[float64](p, h, prog, params)
	default:
		err = fmt.Errorf("parameters of dtype %v: %w", dt, errors.ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("λ₁ probe: device: %w", err)
	}
	p.dev = d
	return func() error {
		if p.dev != d {
			return nil
		}
		p.dev = nil
		return errors.Join(d.vector(), d.close())
	}, nil
}

// The λ₁ probe measures where a device run trains.
var _ train.DeviceProbe = (*eosLambdaProbe)(nil)

// eosLambdaDevice is the measurement of an eosLambdaProbe on a kernel set.
type eosLambdaDevice[T kernels.Float] struct {
	p    *eosLambdaProbe
	set  kernels.Set[T]
	op   *curvature.DeviceHessian[T]
	lz   *curvature.DeviceLanczos[T]
	cold *curvature.DeviceLanczos[T] // nil unless verifyEvery > 0
	prev kernels.Buffer[T]           // last top Ritz vector
	host []T                         // transfer scratch for prev
}

func newEOSLambdaDevice[T kernels.Float](p *eosLambdaProbe, h *curvature.HessianOperator, prog *engine.Program, params gorgonia.Nodes) (_ *eosLambdaDevice[T], err error) {
	d := &eosLambdaDevice[T]{p: p}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close())
		}
	}()
	if d.op, err = curvature.NewDeviceHessianOn[T](h, prog, params); err != nil {
		return nil, err
	}
	set := d.op.Set()
	d.set = set
	if d.op.Dim() != p.n {
		return nil, fmt.Errorf("device operator of dimension %d, probe of %d", d.op.Dim(), p.n)
	}
	if d.prev, err = set.Alloc(p.n); err != nil {
		return nil, err
	}
	d.host = make([]T, p.n)
	if p.has {
		for i, x := range p.prev {
			d.host[i] = T(x)
		}
		if err = set.Upload(d.prev, d.host); err != nil {
			return nil, err
		}
	}
	if d.lz, err = curvature.NewDeviceLanczos(d.op, p.m); err != nil {
		return nil, err
	}
	if p.o.verifyEvery > 0 {
		if d.cold, err = curvature.NewDeviceLanczos(d.op, eosColdSteps); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// topRitz returns the largest eigenvalue of the leading k×k block of the
// tridiagonal matrix (alpha, beta), in the probe's scratch space.
func (p *eosLambdaProbe) topRitzOf(alpha, beta []float64, k int) (float64, error) {
	copy(p.d, alpha[:k])
	copy(p.e, beta[:max(k-1, 0)])
	var impl gonum.Implementation
	if !impl.Dsterf(k, p.d[:k], p.e[:max(k-1, 0)]) {
		return math.NaN(), errors.New("tridiagonal eigenvalues did not converge")
	}
	return p.d[k-1], nil
}

func (d *eosLambdaDevice[T]) measure(step int) (map[string]float64, error) {
	t0 := time.Now()
	p, op, set := d.p, d.op, d.set
	fail := func(err error) (map[string]float64, error) {
		return nil, fmt.Errorf("λ₁ probe at step %d (device): %w", step, err)
	}
	loss, err := op.Gradient()
	if err != nil {
		return fail(err)
	}
	gnorm, err := set.Norm(op.Grad())
	if err != nil {
		return fail(err)
	}
	start := d.prev
	if !p.has {
		if !(gnorm > 0) || math.IsInf(gnorm, 0) {
			return fail(fmt.Errorf("gradient norm %g, no start vector", gnorm))
		}
		start = op.Grad() // Lanczos normalises its start: g/‖g‖
	}
	// The host rule (eosLambdaProbe.lanczos): stop once minSteps steps are
	// taken and the top Ritz value moved by at most tol (relative).
	prevTheta := math.NaN()
	var stopErr error
	stop := func(k int) bool {
		alpha, beta := d.lz.Tridiagonal()
		theta, err := p.topRitzOf(alpha, beta, k)
		if err != nil {
			stopErr = fmt.Errorf("lanczos step %d: %w", k, err)
			return true
		}
		converged := k >= p.o.minSteps && math.Abs(theta-prevTheta) <= p.o.tol*math.Abs(theta)
		prevTheta = theta
		return converged
	}
	if err := d.lz.RunUntil(start, nil, stop); err != nil {
		return fail(err)
	}
	if stopErr != nil {
		return fail(stopErr)
	}
	k := d.lz.Steps()
	if k == 0 {
		return fail(errors.New("no Lanczos step"))
	}
	lambda, resid := d.lz.RitzValues()[k-1], d.lz.ResidualBound(k-1)
	if err := d.lz.RitzVector(d.prev, k-1); err != nil {
		return fail(err)
	}
	p.has = true
	p.applies += k
	normSq, err := op.ParamNormSq()
	if err != nil {
		return fail(err)
	}
	out := p.values(lambda, resid, k, loss, gnorm, normSq)
	out["lambda_max_seconds"] = time.Since(t0).Seconds()
	p.count++
	if d.cold != nil && p.count%p.o.verifyEvery == 0 && gnorm > 0 {
		if err := d.cold.Run(op.Grad(), p.rng); err != nil {
			return fail(fmt.Errorf("cold reference: %w", err))
		}
		p.verify(out, lambda, d.cold.RitzValues()[d.cold.Steps()-1])
	}
	return out, nil
}

func (d *eosLambdaDevice[T]) vector() error {
	if !d.p.has || d.prev == nil {
		return nil
	}
	if err := d.set.Download(d.host, d.prev); err != nil {
		return fmt.Errorf("λ₁ probe: eigenvector: %w", err)
	}
	for i, x := range d.host {
		d.p.prev[i] = float64(x)
	}
	return nil
}

func (d *eosLambdaDevice[T]) close() error {
	var errs []error
	for _, lz := range []*curvature.DeviceLanczos[T]{d.lz, d.cold} {
		if lz != nil {
			errs = append(errs, lz.Close())
		}
	}
	if d.prev != nil {
		errs = append(errs, d.set.Free(d.prev))
	}
	if d.op != nil {
		errs = append(errs, d.op.Close())
	}
	d.lz, d.cold, d.prev, d.op = nil, nil, nil, nil
	return errors.Join(errs...)
}

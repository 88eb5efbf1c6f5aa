package curvature

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
)

// deviceMeasurer is a probe's measurement on a kernel set (AttachDevice).
type deviceMeasurer interface {
	measure(step int) (map[string]float64, error)
	// vector brings the probe's state that lives on the set (the last top
	// eigenvector) back to the host.
	vector() error
	close() error
}

// deviceBuffers returns the set and the buffers of the resident parameter
// nodes params of prog, after checking that they are the parameters of
// h's model (the same tensors, in order). A mismatch, or a program that
// does not run on a kernel set, is reported as errors.ErrUnsupported.
func deviceBuffers[T kernels.Float](h *HessianOperator, prog *engine.Program, params gorgonia.Nodes) (kernels.Set[T], []kernels.Buffer[T], error) {
	if len(params) != len(h.params) {
		return nil, nil, fmt.Errorf("%d parameter nodes for %d parameters: %w", len(params), len(h.params), errors.ErrUnsupported)
	}
	for i, n := range params {
		if v, ok := n.Value().(*gt.Dense); !ok || v != h.params[i].Value {
			return nil, nil, fmt.Errorf("parameter node %s does not hold the operator's parameter %q: %w", n.Name(), h.params[i].Name, errors.ErrUnsupported)
		}
	}
	set, err := engine.KernelSet[T](prog)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", err, errors.ErrUnsupported)
	}
	bufs, err := engine.Buffers[T](prog, params...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", err, errors.ErrUnsupported)
	}
	return set, bufs, nil
}

// NewDeviceHessianOn is NewDeviceHessian over the resident parameter
// buffers of a device program: params are prog's resident parameter
// nodes, which must be h's parameters (the same tensors, in order). A
// mismatch, or a program that does not run on a kernel set, is an error
// wrapping errors.ErrUnsupported (a caller can then measure on the host).
func NewDeviceHessianOn[T kernels.Float](h *HessianOperator, prog *engine.Program, params gorgonia.Nodes) (*DeviceHessian[T], error) {
	set, bufs, err := deviceBuffers[T](h, prog, params)
	if err != nil {
		return nil, err
	}
	return NewDeviceHessian(h, set, bufs)
}

// attach runs mk for the element type of params.
func attach(params gorgonia.Nodes, mk32 func() (deviceMeasurer, error), mk64 func() (deviceMeasurer, error)) (deviceMeasurer, error) {
	if len(params) == 0 || params[0] == nil {
		return nil, fmt.Errorf("no parameter nodes: %w", errors.ErrUnsupported)
	}
	switch dt := params[0].Dtype(); dt {
	case gt.Float32:
		return mk32()
	case gt.Float64:
		return mk64()
	default:
		return nil, fmt.Errorf("parameters of dtype %v: %w", dt, errors.ErrUnsupported)
	}
}

// AttachDevice moves the probe's measurements onto the kernel set of prog,
// a compiled program whose resident inputs params (engine.Options.Resident)
// hold the trainable parameters of the probe's model, in the order of its
// operator's Params — a training step on a device (train.DeviceStep). Until
// detach is called, Measure compiles nothing, copies no parameters and
// runs the gradient, the eigensolver and ‖θ‖² on the set: a
// DeviceHessian over the parameter buffers, DevicePowerIteration or
// DeviceLanczos, with the start vector and the previous eigenvector kept
// on the set. The values are those of the host measurement to rounding
// (same seeds, same iteration counts; float32 models keep float32
// vectors). detach brings the last eigenvector back to the host (a later
// host measurement warm-starts from it) and frees the device state; it
// must be called before prog is closed.
//
// An error wrapping errors.ErrUnsupported says that the probe cannot run
// on that program (another model, a program on the TapeMachine): the
// caller keeps measuring on the host.
func (p *SharpnessProbe) AttachDevice(prog *engine.Program, params gorgonia.Nodes) (detach func() error, err error) {
	if p.dev != nil {
		return nil, errors.New("curvature: sharpness probe: already attached to a device")
	}
	d, err := attach(params,
		func() (deviceMeasurer, error) { return newSharpnessDevice[float32](p, prog, params) },
		func() (deviceMeasurer, error) { return newSharpnessDevice[float64](p, prog, params) })
	if err != nil {
		return nil, fmt.Errorf("curvature: sharpness probe: device: %w", err)
	}
	p.dev = d
	return func() error {
		if p.dev != d {
			return nil
		}
		err := errors.Join(d.vector(), d.close())
		p.dev = nil
		return err
	}, nil
}

// sharpnessDevice is a SharpnessProbe's measurement on a kernel set.
type sharpnessDevice[T kernels.Float] struct {
	p           *SharpnessProbe
	op          *DeviceHessian[T]
	start, prev kernels.Buffer[T]
	power       *DevicePowerIteration[T]
	lz          *DeviceLanczos[T]
	rand        hostVector[T]
	host        []T // download scratch for the eigenvector
}

func newSharpnessDevice[T kernels.Float](p *SharpnessProbe, prog *engine.Program, params gorgonia.Nodes) (_ *sharpnessDevice[T], err error) {
	d := &sharpnessDevice[T]{p: p}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.close())
		}
	}()
	if d.op, err = NewDeviceHessianOn[T](p.op, prog, params); err != nil {
		return nil, err
	}
	set := d.op.Set()
	if d.start, err = set.Alloc(d.op.Dim()); err != nil {
		return nil, err
	}
	if d.prev, err = set.Alloc(d.op.Dim()); err != nil {
		return nil, err
	}
	if p.has {
		// Continue from the host's last eigenvector.
		d.host = make([]T, d.op.Dim())
		for i, x := range p.prev {
			d.host[i] = T(x)
		}
		if err = set.Upload(d.prev, d.host); err != nil {
			return nil, err
		}
	}
	if p.power != nil {
		d.power, err = NewDevicePowerIteration(d.op, p.power.opts.withoutStart())
	} else {
		d.lz, err = NewDeviceLanczos(d.op, p.lz.m)
	}
	return d, err
}

// withoutStart returns o with no start vector (the device solver takes
// its start as a buffer).
func (o PowerOptions) withoutStart() PowerOptions {
	o.Start = nil
	return o
}

func (d *sharpnessDevice[T]) measure(step int) (map[string]float64, error) {
	t0 := time.Now()
	p, op, set := d.p, d.op, d.op.set
	fail := func(err error) (map[string]float64, error) {
		return nil, fmt.Errorf("curvature: sharpness probe at step %d (device): %w", step, err)
	}
	loss, err := op.Gradient()
	if err != nil {
		return fail(err)
	}
	gnorm, err := set.Norm(op.Grad())
	if err != nil {
		return fail(err)
	}
	switch {
	case p.opts.WarmStart && p.has:
		err = set.Unary(kernels.Copy, d.start, d.prev, kernels.UnaryArgs{})
	case gnorm > 0 && !isInfOrNaN(gnorm):
		err = set.Unary(kernels.Scale, d.start, op.Grad(), kernels.UnaryArgs{A: 1 / gnorm})
	default:
		err = d.rand.upload(set, d.start, Gaussian, p.rng)
	}
	if err != nil {
		return fail(err)
	}
	var lambda, resid float64
	var iters int
	if d.power != nil {
		r, err := d.power.Run(d.start, p.rng)
		if err != nil {
			return fail(err)
		}
		lambda, resid, iters = r.Value, r.Residual, r.Iterations
		err = set.Unary(kernels.Copy, d.prev, op.Probe(), kernels.UnaryArgs{})
	} else {
		if err := d.lz.Run(d.start, p.rng); err != nil {
			return fail(err)
		}
		k := d.lz.Steps()
		lambda, resid, iters = d.lz.RitzValues()[k-1], d.lz.ResidualBound(k-1), k
		err = d.lz.RitzVector(d.prev, k-1)
	}
	if err != nil {
		return fail(err)
	}
	p.has = true
	normSq, err := op.ParamNormSq()
	if err != nil {
		return fail(err)
	}
	out := p.values(lambda, resid, iters, loss, gnorm, normSq)
	out["lambda_max_seconds"] = time.Since(t0).Seconds()
	return out, nil
}

func (d *sharpnessDevice[T]) vector() error {
	if !d.p.has || d.prev == nil {
		return nil
	}
	if d.host == nil {
		d.host = make([]T, d.op.Dim())
	}
	if err := d.op.set.Download(d.host, d.prev); err != nil {
		return fmt.Errorf("curvature: sharpness probe: eigenvector: %w", err)
	}
	for i, x := range d.host {
		d.p.prev[i] = float64(x)
	}
	return nil
}

func (d *sharpnessDevice[T]) close() error {
	if d.op == nil {
		return nil
	}
	var errs []error
	if d.power != nil {
		errs = append(errs, d.power.Close())
	}
	if d.lz != nil {
		errs = append(errs, d.lz.Close())
	}
	for _, b := range []kernels.Buffer[T]{d.start, d.prev} {
		if b != nil {
			errs = append(errs, d.op.set.Free(b))
		}
	}
	errs = append(errs, d.op.Close())
	d.op, d.power, d.lz, d.start, d.prev = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// AttachDevice moves the probe's measurements onto the kernel set of prog,
// as SharpnessProbe.AttachDevice does: the probe vectors are drawn on the
// host from the probe's generator, uploaded, and multiplied on the set by
// a DeviceHessian over the resident parameters params; only vᵀHv comes
// back per probe. It needs a probe made on a *HessianOperator (another
// operator is errors.ErrUnsupported).
func (p *TraceProbe) AttachDevice(prog *engine.Program, params gorgonia.Nodes) (detach func() error, err error) {
	if p.dev != nil {
		return nil, errors.New("curvature: trace probe: already attached to a device")
	}
	h, ok := p.h.op.(*HessianOperator)
	if !ok {
		return nil, fmt.Errorf("curvature: trace probe: device: operator %T is not a *HessianOperator: %w", p.h.op, errors.ErrUnsupported)
	}
	d, err := attach(params,
		func() (deviceMeasurer, error) { return newTraceDevice[float32](p, h, prog, params) },
		func() (deviceMeasurer, error) { return newTraceDevice[float64](p, h, prog, params) })
	if err != nil {
		return nil, fmt.Errorf("curvature: trace probe: device: %w", err)
	}
	p.dev = d
	return func() error {
		if p.dev != d {
			return nil
		}
		p.dev = nil
		return d.close()
	}, nil
}

// traceDevice is a TraceProbe's measurement on a kernel set.
type traceDevice[T kernels.Float] struct {
	p   *TraceProbe
	op  *DeviceHessian[T]
	hut *DeviceHutchinson[T]
}

func newTraceDevice[T kernels.Float](p *TraceProbe, h *HessianOperator, prog *engine.Program, params gorgonia.Nodes) (*traceDevice[T], error) {
	op, err := NewDeviceHessianOn[T](h, prog, params)
	if err != nil {
		return nil, err
	}
	hut, err := NewDeviceHutchinson(op, p.h.opts)
	if err != nil {
		return nil, errors.Join(err, op.Close())
	}
	return &traceDevice[T]{p: p, op: op, hut: hut}, nil
}

func (d *traceDevice[T]) measure(step int) (map[string]float64, error) {
	t0 := time.Now()
	r, err := d.hut.Run(d.p.rng)
	if err != nil {
		return nil, fmt.Errorf("curvature: trace probe at step %d (device): %w", step, err)
	}
	return traceValues(r, time.Since(t0)), nil
}

func (d *traceDevice[T]) vector() error { return nil }

func (d *traceDevice[T]) close() error { return d.op.Close() }

func isInfOrNaN(x float64) bool { return math.IsInf(x, 0) || math.IsNaN(x) }

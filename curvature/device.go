package curvature

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
)

// DeviceHessian is the Hessian of a HessianOperator (same model, examples,
// chunks and weights) evaluated on a kernel set, with every full-length
// vector in the set's memory. Its programs read the model's trainable
// parameters from buffers the caller supplies — typically the resident
// parameters of a training step on the same set (engine.Buffers), bound
// with engine.Bind — so a measurement copies no parameters. The probe
// vector (Probe), the product H·v (Product) and the gradient (Grad) are
// flat buffers of Dim elements owned by the operator, in the order of
// HessianOperator.Params; each parameter tensor's part is a view the
// programs read or fill in place. A product uploads only the examples of
// each chunk and downloads nothing; Gradient downloads the loss.
//
// The programs are compiled from the HessianOperator's own graphs, so its
// numbers are those of the host operator up to summation order on the set
// (and the element type of the model: with float32 parameters the vectors
// are float32 too). A DeviceHessian is not safe for concurrent use; it
// must be closed before the parameter buffers are freed.
type DeviceHessian[T kernels.Float] struct {
	h      *HessianOperator
	set    kernels.Set[T]
	params []kernels.Buffer[T]

	probe, product, grad    kernels.Buffer[T] // flat, owned
	probes, products, grads []kernels.Buffer[T]
	full, tail              *deviceChunk[T]
	applies                 int
}

// deviceChunk is one chunk size's HVP and gradient programs on the set.
type deviceChunk[T kernels.Float] struct {
	host     *chunkProgram
	prog     *engine.Program // outputs: H·v per parameter (left on the set)
	hv       []kernels.Buffer[T]
	gradProg *engine.Program // outputs: loss, then the gradient (left on the set)
	grads    []kernels.Buffer[T]
}

// NewDeviceHessian compiles h's programs on set, reading the trainable
// parameters (in the order of h.Params()) from params, buffers of set.
func NewDeviceHessian[T kernels.Float](h *HessianOperator, set kernels.Set[T], params []kernels.Buffer[T]) (*DeviceHessian[T], error) {
	if h == nil || set == nil {
		return nil, errors.New("curvature: device hessian: nil operator or kernel set")
	}
	if len(params) != len(h.sizes) {
		return nil, fmt.Errorf("curvature: device hessian: %d parameter buffers for %d parameters", len(params), len(h.sizes))
	}
	for i, b := range params {
		if b == nil || b.Len() != h.sizes[i] {
			return nil, fmt.Errorf("curvature: device hessian: parameter %q: buffer does not hold its %d elements", h.params[i].Name, h.sizes[i])
		}
	}
	d := &DeviceHessian[T]{h: h, set: set, params: params}
	var err error
	if d.probe, d.probes, err = d.flat(); err == nil {
		if d.product, d.products, err = d.flat(); err == nil {
			d.grad, d.grads, err = d.flat()
		}
	}
	if err == nil {
		d.full, err = d.compile(h.full)
	}
	if err == nil && h.tail != nil {
		d.tail, err = d.compile(h.tail)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("curvature: device hessian: %w", err), d.Close())
	}
	return d, nil
}

// flat allocates a buffer of Dim elements and its views per parameter.
func (d *DeviceHessian[T]) flat() (kernels.Buffer[T], []kernels.Buffer[T], error) {
	b, err := d.set.Alloc(d.h.dim)
	if err != nil {
		return nil, nil, err
	}
	if err := d.set.Fill(b, 0); err != nil {
		return b, nil, err
	}
	views := make([]kernels.Buffer[T], len(d.h.sizes))
	off := 0
	for i, n := range d.h.sizes {
		if views[i], err = d.set.View(b, off, n); err != nil {
			return b, nil, err
		}
		off += n
	}
	return b, views, nil
}

// options returns engine options on d's set binding the parameter nodes
// to d.params and the nodes extra to bufs.
func (d *DeviceHessian[T]) options(params gorgonia.Nodes, extra gorgonia.Nodes, bufs []kernels.Buffer[T]) engine.Options {
	o := engine.OptionsOn(d.set)
	for i, n := range params {
		o.Resident = append(o.Resident, n)
		o.Bind = append(o.Bind, engine.Bind[T](n, d.params[i]))
	}
	for i, n := range extra {
		o.Resident = append(o.Resident, n)
		o.Bind = append(o.Bind, engine.Bind[T](n, bufs[i]))
	}
	return o
}

// compile builds the device programs of one host chunk program from its
// graphs: the derivative nodes are built again on the same graphs (the
// graph hands back the nodes it already holds), so the device computes
// what the host program computes.
func (d *DeviceHessian[T]) compile(c *chunkProgram) (*deviceChunk[T], error) {
	dc := &deviceChunk[T]{host: c}
	obj := c.obj
	probeNodes, err := autodiff.NewProbe(obj.G, obj.ParamNodes)
	if err != nil {
		return nil, err
	}
	hv, err := autodiff.HVP(obj.Loss, obj.ParamNodes, probeNodes)
	if err != nil {
		return nil, err
	}
	o := d.options(obj.ParamNodes, probeNodes, d.probes)
	o.DeviceOutputs = hv
	if dc.prog, err = engine.CompileWith(obj.G, o, hv...); err != nil {
		return nil, fmt.Errorf("hvp program: %w", err)
	}
	if dc.hv, err = engine.Buffers[T](dc.prog, hv...); err != nil {
		return nil, errors.Join(err, dc.close())
	}
	g := c.gradObj
	grads, err := autodiff.Grad(g.Loss, g.ParamNodes...)
	if err != nil {
		return nil, errors.Join(err, dc.close())
	}
	o = d.options(g.ParamNodes, nil, nil)
	o.DeviceOutputs = grads
	if dc.gradProg, err = engine.CompileWith(g.G, o, append(gorgonia.Nodes{g.Loss}, grads...)...); err != nil {
		return nil, errors.Join(fmt.Errorf("gradient program: %w", err), dc.close())
	}
	if dc.grads, err = engine.Buffers[T](dc.gradProg, grads...); err != nil {
		return nil, errors.Join(err, dc.close())
	}
	return dc, nil
}

func (c *deviceChunk[T]) close() error {
	var errs []error
	if c.prog != nil {
		errs = append(errs, c.prog.Close())
	}
	if c.gradProg != nil {
		errs = append(errs, c.gradProg.Close())
	}
	return errors.Join(errs...)
}

// Dim returns the number of trainable parameters.
func (d *DeviceHessian[T]) Dim() int { return d.h.dim }

// Set returns the kernel set the operator runs on.
func (d *DeviceHessian[T]) Set() kernels.Set[T] { return d.set }

// Host returns the host operator the device operator was made from.
func (d *DeviceHessian[T]) Host() *HessianOperator { return d.h }

// Probe returns the flat probe vector v that Apply multiplies.
func (d *DeviceHessian[T]) Probe() kernels.Buffer[T] { return d.probe }

// Product returns the flat buffer Apply writes H·v into.
func (d *DeviceHessian[T]) Product() kernels.Buffer[T] { return d.product }

// Grad returns the flat buffer Gradient writes ∇L into.
func (d *DeviceHessian[T]) Grad() kernels.Buffer[T] { return d.grad }

// Params returns the parameter buffers the programs read.
func (d *DeviceHessian[T]) Params() []kernels.Buffer[T] { return d.params }

// Applies returns how many Hessian–vector products have been computed.
func (d *DeviceHessian[T]) Applies() int { return d.applies }

// run evaluates every chunk (the HVP programs, or with grad the gradient
// programs) and accumulates the weighted per-chunk outputs outs(c) into
// dst's views, as HessianOperator.run does on the host. It returns the
// weighted loss when grad is set.
func (d *DeviceHessian[T]) run(grad bool, dst []kernels.Buffer[T]) (float64, error) {
	h := d.h
	n := len(h.idx)
	var loss float64
	for start := 0; start < n; start += h.chunk {
		end := min(start+h.chunk, n)
		c := d.full
		if end-start != h.chunk {
			c = d.tail
		}
		obj, prog, outs := c.host.obj, c.prog, c.hv
		if grad {
			obj, prog, outs = c.host.gradObj, c.gradProg, c.grads
		}
		if err := obj.Fill(h.ds, h.idx[start:end]); err != nil {
			return math.NaN(), fmt.Errorf("curvature: device hessian: %w", err)
		}
		if err := prog.Run(); err != nil {
			return math.NaN(), fmt.Errorf("curvature: device hessian: %w", err)
		}
		w := float64(end-start) / float64(n)
		if grad {
			l, err := prog.Scalar(0)
			if err != nil {
				return math.NaN(), fmt.Errorf("curvature: device hessian: %w", err)
			}
			loss += w * l
		}
		for i, o := range outs {
			var err error
			if start == 0 {
				err = d.set.Unary(kernels.Scale, dst[i], o, kernels.UnaryArgs{A: w})
			} else {
				err = d.set.Axpy(T(w), o, dst[i])
			}
			if err != nil {
				return math.NaN(), fmt.Errorf("curvature: device hessian: %w", err)
			}
		}
	}
	return loss, nil
}

// Apply writes H·v into Product, v the contents of Probe.
func (d *DeviceHessian[T]) Apply() error {
	d.applies++
	_, err := d.run(false, d.products)
	return err
}

// Gradient writes the gradient of the mean loss into Grad and returns the
// mean loss.
func (d *DeviceHessian[T]) Gradient() (float64, error) { return d.run(true, d.grads) }

// ParamNormSq returns ‖θ‖² of the trainable parameters, reduced on the set.
func (d *DeviceHessian[T]) ParamNormSq() (float64, error) {
	var s float64
	for _, b := range d.params {
		x, err := d.set.Dot(b, b)
		if err != nil {
			return math.NaN(), fmt.Errorf("curvature: device hessian: %w", err)
		}
		s += x
	}
	return s, nil
}

// Close releases the programs and the operator's vectors (not the
// parameter buffers).
func (d *DeviceHessian[T]) Close() error {
	var errs []error
	for _, c := range []*deviceChunk[T]{d.full, d.tail} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
	for _, b := range []kernels.Buffer[T]{d.probe, d.product, d.grad} {
		if b != nil {
			errs = append(errs, d.set.Free(b))
		}
	}
	d.full, d.tail, d.probe, d.product, d.grad = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

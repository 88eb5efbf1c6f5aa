package optim

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// DeviceOptimizer applies SGD, Adam or RMSprop updates to parameters and
// gradients that live in a kernel set's buffers (a GPU's memory, or the
// buffers of a compiled program with resident parameters), keeping its own
// state buffers on the same set. It runs the same fused update kernels as
// the host optimizers, so on the CPU set its trajectory equals theirs bit
// for bit. Its State has the host optimizer's layout (same Kind, scalars
// and buffer keys and shapes), so checkpoints move freely between the two.
//
// The parameter shapes are fixed at construction; Step allocates nothing.
// A DeviceOptimizer is not safe for concurrent use.
type DeviceOptimizer[T kernels.Float] struct {
	set kernels.Set[T]
	// Exactly one of the host optimizers below is set: it holds the
	// configuration and the step count (its own state slots stay empty).
	sgd    *SGD
	adam   *Adam
	rms    *RMSprop
	names  []string // state slot names, as the host optimizer names them
	shapes [][]int
	sizes  []int
	bufs   [][]kernels.Buffer[T] // bufs[slot][param]
	init   bool                  // the buffers hold a state (first Step or SetState)
}

// NewDeviceSGD returns an SGD optimizer running on set for parameters of the
// given shapes.
func NewDeviceSGD[T kernels.Float](set kernels.Set[T], cfg SGDConfig, shapes [][]int) (*DeviceOptimizer[T], error) {
	h, err := NewSGD(cfg)
	if err != nil {
		return nil, err
	}
	return newDevice(set, h, shapes)
}

// NewDeviceAdam returns an Adam(W) optimizer running on set for parameters
// of the given shapes.
func NewDeviceAdam[T kernels.Float](set kernels.Set[T], cfg AdamConfig, shapes [][]int) (*DeviceOptimizer[T], error) {
	h, err := NewAdam(cfg)
	if err != nil {
		return nil, err
	}
	return newDevice(set, h, shapes)
}

// NewDeviceRMSprop returns an RMSprop optimizer running on set for
// parameters of the given shapes.
func NewDeviceRMSprop[T kernels.Float](set kernels.Set[T], cfg RMSpropConfig, shapes [][]int) (*DeviceOptimizer[T], error) {
	h, err := NewRMSprop(cfg)
	if err != nil {
		return nil, err
	}
	return newDevice(set, h, shapes)
}

// NewDeviceFrom returns a DeviceOptimizer with the configuration, learning
// rate and state of a host optimizer (an *SGD, *Adam or *RMSprop; other
// rules have no device form and give an error). The host optimizer is not
// changed; DeviceOptimizer.State can be handed back to its SetState.
func NewDeviceFrom[T kernels.Float](set kernels.Set[T], opt Optimizer, shapes [][]int) (*DeviceOptimizer[T], error) {
	var d *DeviceOptimizer[T]
	var err error
	switch o := opt.(type) {
	case *SGD:
		d, err = NewDeviceSGD(set, o.cfg, shapes)
	case *Adam:
		d, err = NewDeviceAdam(set, o.cfg, shapes)
	case *RMSprop:
		d, err = NewDeviceRMSprop(set, o.cfg, shapes)
	default:
		return nil, fmt.Errorf("optim: %T has no device implementation (SGD, Adam and RMSprop have)", opt)
	}
	if err != nil {
		return nil, err
	}
	if err := d.SetState(opt.State()); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

func newDevice[T kernels.Float](set kernels.Set[T], host Optimizer, shapes [][]int) (*DeviceOptimizer[T], error) {
	if set == nil {
		return nil, fmt.Errorf("optim: device optimizer: nil kernel set")
	}
	d := &DeviceOptimizer[T]{set: set}
	switch h := host.(type) {
	case *SGD:
		d.sgd, d.names = h, h.st.names
	case *Adam:
		d.adam, d.names = h, h.st.names
	case *RMSprop:
		d.rms, d.names = h, h.st.names
	}
	for _, s := range shapes {
		n := 1
		for _, k := range s {
			if k <= 0 {
				return nil, fmt.Errorf("optim: %s: parameter shape %v", d.Kind(), s)
			}
			n *= k
		}
		d.shapes = append(d.shapes, slices.Clone(s))
		d.sizes = append(d.sizes, n)
	}
	d.bufs = make([][]kernels.Buffer[T], len(d.names))
	for k := range d.names {
		for _, n := range d.sizes {
			b, err := set.Alloc(n)
			if err != nil {
				_ = d.Close()
				return nil, fmt.Errorf("optim: %s: state buffer of %d elements: %w", d.Kind(), n, err)
			}
			d.bufs[k] = append(d.bufs[k], b)
		}
	}
	return d, nil
}

// Kind names the update rule as State does: "sgd", "adam" or "rmsprop".
func (d *DeviceOptimizer[T]) Kind() string {
	switch {
	case d.sgd != nil:
		return "sgd"
	case d.adam != nil:
		return "adam"
	}
	return "rmsprop"
}

// LR returns the learning rate.
func (d *DeviceOptimizer[T]) LR() float64 {
	switch {
	case d.sgd != nil:
		return d.sgd.cfg.LR
	case d.adam != nil:
		return d.adam.cfg.LR
	}
	return d.rms.cfg.LR
}

// SetLR sets the learning rate used by the next Step.
func (d *DeviceOptimizer[T]) SetLR(lr float64) {
	switch {
	case d.sgd != nil:
		d.sgd.cfg.LR = lr
	case d.adam != nil:
		d.adam.cfg.LR = lr
	default:
		d.rms.cfg.LR = lr
	}
}

// Steps returns the number of updates applied (the state's "step").
func (d *DeviceOptimizer[T]) Steps() int {
	switch {
	case d.sgd != nil:
		return d.sgd.step
	case d.adam != nil:
		return d.adam.step
	}
	return d.rms.step
}

// Step applies one update in place: params[i] (a buffer of the optimizer's
// set holding parameter i) moves along grads[i].
func (d *DeviceOptimizer[T]) Step(params, grads []kernels.Buffer[T]) error {
	if len(params) != len(d.sizes) || len(grads) != len(d.sizes) {
		return fmt.Errorf("optim: %s: %d parameters and %d gradients for an optimizer of %d parameters",
			d.Kind(), len(params), len(grads), len(d.sizes))
	}
	for i, n := range d.sizes {
		if params[i] == nil || grads[i] == nil {
			return fmt.Errorf("optim: %s: parameter or gradient %d is nil", d.Kind(), i)
		}
		if params[i].Len() != n || grads[i].Len() != n {
			return fmt.Errorf("optim: %s: parameter %d has %d elements and its gradient %d; shape %v has %d",
				d.Kind(), i, params[i].Len(), grads[i].Len(), d.shapes[i], n)
		}
	}
	if !d.init {
		for _, slot := range d.bufs {
			for _, b := range slot {
				if err := d.set.Fill(b, 0); err != nil {
					return fmt.Errorf("optim: %s: state: %w", d.Kind(), err)
				}
			}
		}
		d.init = true
	}
	switch {
	case d.sgd != nil:
		c, h := d.sgd.cfg, d.sgd.hyper()
		for i := range params {
			var v kernels.Buffer[T]
			if c.Momentum != 0 {
				v = d.bufs[0][i]
			}
			if err := d.set.SGD(params[i], grads[i], v, h); err != nil {
				return fmt.Errorf("optim: sgd: parameter %d: %w", i, err)
			}
		}
		d.sgd.step++
	case d.adam != nil:
		c, h := d.adam.cfg, d.adam.hyper()
		for i := range params {
			var vmax kernels.Buffer[T]
			if c.AMSGrad {
				vmax = d.bufs[2][i]
			}
			if err := d.set.Adam(params[i], grads[i], d.bufs[0][i], d.bufs[1][i], vmax, h); err != nil {
				return fmt.Errorf("optim: adam: parameter %d: %w", i, err)
			}
		}
		d.adam.step++
	default:
		r := d.rms
		h := r.hyper()
		for i := range params {
			var ga, buf kernels.Buffer[T]
			if r.iAvg >= 0 {
				ga = d.bufs[r.iAvg][i]
			}
			if r.iBuf >= 0 {
				buf = d.bufs[r.iBuf][i]
			}
			if err := d.set.RMSprop(params[i], grads[i], d.bufs[0][i], ga, buf, h); err != nil {
				return fmt.Errorf("optim: rmsprop: parameter %d: %w", i, err)
			}
		}
		r.step++
	}
	return nil
}

// State downloads the optimizer state into host tensors, laid out as the
// host optimizer of the same kind lays out its own: scalar "step" and, once
// a step was taken (or a state with buffers was set), one buffer per slot
// and parameter with the parameter's shape.
func (d *DeviceOptimizer[T]) State() (State, error) {
	st := newState(d.Kind(), d.Steps())
	if !d.init {
		return st, nil
	}
	for k, name := range d.names {
		for i, b := range d.bufs[k] {
			data := make([]T, d.sizes[i])
			if err := d.set.Download(data, b); err != nil {
				return State{}, fmt.Errorf("optim: %s: state %s: %w", d.Kind(), BufferKey(name, i), err)
			}
			st.Buffers[BufferKey(name, i)] = tensor.New(tensor.WithShape(slices.Clone(d.shapes[i])...), tensor.WithBacking(data))
		}
	}
	return st, nil
}

// SetState uploads a state produced by State or by the host optimizer of
// the same kind, after the host optimizer's checks (kind, keys, step) and
// a check of every buffer against the parameter shapes and the element
// type. An empty state (no buffers, step 0) starts afresh.
func (d *DeviceOptimizer[T]) SetState(st State) error {
	var check Optimizer
	switch {
	case d.sgd != nil:
		check = &SGD{cfg: d.sgd.cfg, st: newSlots(d.names...)}
	case d.adam != nil:
		check = &Adam{cfg: d.adam.cfg, st: newSlots(d.names...)}
	default:
		check = &RMSprop{cfg: d.rms.cfg, st: newSlots(d.names...), iAvg: d.rms.iAvg, iBuf: d.rms.iBuf}
	}
	if err := check.SetState(st); err != nil {
		return err
	}
	var s *slots
	var step int
	switch h := check.(type) {
	case *SGD:
		s, step = &h.st, h.step
	case *Adam:
		s, step = &h.st, h.step
	case *RMSprop:
		s, step = &h.st, h.step
	}
	if s.init {
		for k, name := range s.names {
			if len(s.bufs[k]) != len(d.sizes) {
				return fmt.Errorf("optim: %s: set state: %d %q buffers for %d parameters", d.Kind(), len(s.bufs[k]), name, len(d.sizes))
			}
			for i, b := range s.bufs[k] {
				if _, ok := b.Data().([]T); !ok || !slices.Equal([]int(b.Shape()), d.shapes[i]) {
					var z T
					return fmt.Errorf("optim: %s: set state: buffer %s is %v %v, parameter %d is %v %T",
						d.Kind(), BufferKey(name, i), b.Shape(), b.Dtype(), i, d.shapes[i], z)
				}
			}
		}
		for k, name := range s.names {
			for i, b := range s.bufs[k] {
				if err := d.set.Upload(d.bufs[k][i], b.Data().([]T)); err != nil {
					d.init = false
					return fmt.Errorf("optim: %s: set state: buffer %s: %w", d.Kind(), BufferKey(name, i), err)
				}
			}
		}
	}
	d.init = s.init
	switch {
	case d.sgd != nil:
		d.sgd.step = step
	case d.adam != nil:
		d.adam.step = step
	default:
		d.rms.step = step
	}
	return nil
}

// Close frees the state buffers.
func (d *DeviceOptimizer[T]) Close() error {
	var first error
	for _, slot := range d.bufs {
		for _, b := range slot {
			if err := d.set.Free(b); err != nil && first == nil {
				first = err
			}
		}
	}
	d.bufs = nil
	return first
}

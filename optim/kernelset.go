package optim

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// kernelSets is how the elementwise optimizers (SGD, Adam, RMSprop) reach
// the kernel set: one fused, multi-core pass per parameter tensor through
// kernels.CPU, the same update kernels the CUDA set implements. The sets
// are made on first use (their worker goroutines stop when the optimizer
// is garbage collected); the buffer wrappers are reused so that a step
// allocates nothing.
type kernelSets struct {
	f32 *kernels.CPU[float32]
	f64 *kernels.CPU[float64]
	w32 wrappers[float32]
	w64 wrappers[float64]
}

// wrappers are reusable CPU buffer headers for one kernel call's operands.
type wrappers[T kernels.Float] [5]kernels.Host[T]

// buf points wrapper k at data and returns it as a kernel buffer; a nil
// data gives a nil buffer (an operand the update does not use).
func (w *wrappers[T]) buf(k int, data []T) kernels.Buffer[T] {
	if data == nil {
		w[k].Data = nil
		return nil
	}
	w[k].Data = data
	return &w[k]
}

// clear drops the wrappers' references to the caller's slices.
func (w *wrappers[T]) clear() {
	for k := range w {
		w[k].Data = nil
	}
}

func (k *kernelSets) set32() *kernels.CPU[float32] {
	if k.f32 == nil {
		k.f32 = kernels.NewCPU[float32](kernels.CPUOptions{})
	}
	return k.f32
}

func (k *kernelSets) set64() *kernels.CPU[float64] {
	if k.f64 == nil {
		k.f64 = kernels.NewCPU[float64](kernels.CPUOptions{})
	}
	return k.f64
}

// f64s and f32s return t's elements, nil for a nil t (without boxing the
// slice in an interface, which would allocate).
func f64s(t *tensor.Dense) []float64 {
	if t == nil {
		return nil
	}
	return t.Float64s()
}

func f32s(t *tensor.Dense) []float32 {
	if t == nil {
		return nil
	}
	return t.Float32s()
}

// sgd runs one SGD update of p (momentum buffer b, nil without momentum).
func (k *kernelSets) sgd(p, g, b *tensor.Dense, h kernels.SGDHyper) error {
	if p.Dtype() == tensor.Float64 {
		w := &k.w64
		defer w.clear()
		return k.set64().SGD(w.buf(0, p.Float64s()), w.buf(1, g.Float64s()), w.buf(2, f64s(b)), h)
	}
	w := &k.w32
	defer w.clear()
	return k.set32().SGD(w.buf(0, p.Float32s()), w.buf(1, g.Float32s()), w.buf(2, f32s(b)), h)
}

// adam runs one Adam update of p (moments m, v; running maximum vmax, nil
// without AMSGrad).
func (k *kernelSets) adam(p, g, m, v, vmax *tensor.Dense, h kernels.AdamHyper) error {
	if p.Dtype() == tensor.Float64 {
		w := &k.w64
		defer w.clear()
		return k.set64().Adam(w.buf(0, p.Float64s()), w.buf(1, g.Float64s()), w.buf(2, m.Float64s()),
			w.buf(3, v.Float64s()), w.buf(4, f64s(vmax)), h)
	}
	w := &k.w32
	defer w.clear()
	return k.set32().Adam(w.buf(0, p.Float32s()), w.buf(1, g.Float32s()), w.buf(2, m.Float32s()),
		w.buf(3, v.Float32s()), w.buf(4, f32s(vmax)), h)
}

// rmsprop runs one RMSprop update of p (square average sq; gradient average
// ga and momentum buffer b, nil when unused).
func (k *kernelSets) rmsprop(p, g, sq, ga, b *tensor.Dense, h kernels.RMSpropHyper) error {
	if p.Dtype() == tensor.Float64 {
		w := &k.w64
		defer w.clear()
		return k.set64().RMSprop(w.buf(0, p.Float64s()), w.buf(1, g.Float64s()), w.buf(2, sq.Float64s()),
			w.buf(3, f64s(ga)), w.buf(4, f64s(b)), h)
	}
	w := &k.w32
	defer w.clear()
	return k.set32().RMSprop(w.buf(0, p.Float32s()), w.buf(1, g.Float32s()), w.buf(2, sq.Float32s()),
		w.buf(3, f32s(ga)), w.buf(4, f32s(b)), h)
}

// axpyAll computes params[i] += a·grads[i] for every i (validated inputs),
// one kernel pass per tensor.
func (k *kernelSets) axpyAll(params, grads []*tensor.Dense, a float64) error {
	for i, p := range params {
		var err error
		if p.Dtype() == tensor.Float64 {
			w := &k.w64
			err = k.set64().Axpy(a, w.buf(0, grads[i].Float64s()), w.buf(1, p.Float64s()))
			w.clear()
		} else {
			w := &k.w32
			err = k.set32().Axpy(float32(a), w.buf(0, grads[i].Float32s()), w.buf(1, p.Float32s()))
			w.clear()
		}
		if err != nil {
			return fmt.Errorf("parameter %d: %w", i, err)
		}
	}
	return nil
}

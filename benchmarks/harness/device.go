package harness

import (
	"fmt"
	"math/rand/v2"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
)

// The MLP's workloads on a device kernel set (the CUDA set in the GPU
// check; any kernels.Set in tests): parameters, gradients, Adam's moments
// and probe vectors stay in the set's memory, as in training with
// train.Options.Device. Each run ends by reading a scalar back, so that a
// run's time includes its kernels on a set that runs them asynchronously.

// NewMLPDeviceStep returns the MLP's training step on set as the trainer
// runs it (train.DeviceStep: upload the batch, loss and gradient, the
// finiteness test, then, unless step is GradOnly, Adam with LR 1e-3 on the
// set). GorgoniaAdam is refused: it is a host solver.
func NewMLPDeviceStep(name string, set kernels.Set[float32], step Step) (*Workload, error) {
	if step == GorgoniaAdam {
		return nil, fmt.Errorf("harness: %s: gorgonia's solver runs on the host only", name)
	}
	ds := MNISTShaped(4*Batch, 1)
	m, err := newMLP()
	if err != nil {
		return nil, err
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		return nil, err
	}
	st, err := train.NewDeviceStep[float32](m, opt, ds, Batch, objective.CrossEntropy, true, set)
	if err != nil {
		return nil, err
	}
	sync, err := newSync(set)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	w := &Workload{Name: name, close: []func() error{st.Close, sync.close}}
	idx := make([]int, Batch)
	it := 0
	var loss float64
	w.Loss = func() float64 { return loss }
	w.Run = func() error {
		for i := range idx {
			idx[i] = (it*Batch + i) % ds.Len()
		}
		it++
		var finite bool
		if loss, finite, err = st.Run(ds, idx); err != nil {
			return err
		}
		if !finite {
			return fmt.Errorf("harness: %s: non-finite gradient", name)
		}
		if step == GradOnly {
			return nil // the finiteness test read scalars back already
		}
		if err := st.Update(opt.LR()); err != nil {
			return err
		}
		return sync.wait()
	}
	return w, nil
}

// NewMLPDeviceHVP returns one exact Hessian–vector product of the MLP's
// batch loss on set (curvature.DeviceHessian over parameters uploaded
// once, a fixed Gaussian probe on the set), followed by the Rayleigh
// quotient's dot product (the scalar read back).
func NewMLPDeviceHVP(name string, set kernels.Set[float32]) (*Workload, error) {
	ds := MNISTShaped(Batch, 3)
	m, err := newMLP()
	if err != nil {
		return nil, err
	}
	op, err := curvature.NewHessianOperator(m, ds, curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true, Chunk: Batch})
	if err != nil {
		return nil, err
	}
	w := &Workload{Name: name, close: []func() error{op.Close}}
	fail := func(err error) (*Workload, error) {
		_ = w.Close()
		return nil, fmt.Errorf("harness: %s: %w", name, err)
	}
	var params []kernels.Buffer[float32]
	for _, p := range m.Params().Trainable() {
		data := p.Value.Data().([]float32)
		b, err := set.Alloc(len(data))
		if err != nil {
			return fail(err)
		}
		w.close = append(w.close, func() error { return set.Free(b) })
		if err := set.Upload(b, data); err != nil {
			return fail(err)
		}
		params = append(params, b)
	}
	d, err := curvature.NewDeviceHessian(op, set, params)
	if err != nil {
		return fail(err)
	}
	w.close = append([]func() error{d.Close}, w.close...)
	v := make([]float64, op.Dim())
	curvature.Gaussian.Fill(rand.New(rand.NewPCG(5, 6)), v)
	v32 := make([]float32, len(v))
	for i, x := range v {
		v32[i] = float32(x)
	}
	if err := set.Upload(d.Probe(), v32); err != nil {
		return fail(err)
	}
	var q float64
	w.Loss = func() float64 { return q }
	w.Run = func() error {
		if err := d.Apply(); err != nil {
			return err
		}
		q, err = set.Dot(d.Probe(), d.Product())
		return err
	}
	return w, nil
}

// newMLP is the benchmark MLP with its fixed initialisation.
func newMLP() (*nn.MLP, error) {
	act, err := nn.ParseActivation("relu")
	if err != nil {
		return nil, err
	}
	return nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, Sizes, act, tensor.HeNormal(1))
}

// deviceSync reads one element back from a set, which waits for the
// kernels queued before it.
type deviceSync struct {
	set kernels.Set[float32]
	one kernels.Buffer[float32]
}

func newSync(set kernels.Set[float32]) (*deviceSync, error) {
	one, err := set.Alloc(1)
	if err != nil {
		return nil, err
	}
	if err := set.Fill(one, 0); err != nil {
		_ = set.Free(one)
		return nil, err
	}
	return &deviceSync{set: set, one: one}, nil
}

func (s *deviceSync) wait() error {
	_, err := s.set.Dot(s.one, s.one)
	return err
}

func (s *deviceSync) close() error { return s.set.Free(s.one) }

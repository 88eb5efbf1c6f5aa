package optim

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// RMSpropConfig configures RMSprop. The update follows PyTorch's
// torch.optim.RMSprop (no bias correction):
//
//	g = g + WeightDecay·θ
//	v = αv + (1−α)g²;  ḡ = αḡ + (1−α)g (Centered)
//	D = √(v − ḡ²) + Eps (Centered) or √v + Eps
//	b = Momentum·b + g/D and θ = θ − LR·b (Momentum > 0), else θ = θ − LR·g/D
type RMSpropConfig struct {
	LR, Alpha, Eps float64
	WeightDecay    float64
	Momentum       float64
	Centered       bool
}

// DefaultRMSprop returns PyTorch's defaults: LR 1e-2, α = 0.99, ε = 1e-8.
func DefaultRMSprop() RMSpropConfig { return RMSpropConfig{LR: 1e-2, Alpha: 0.99, Eps: 1e-8} }

// RMSprop is the RMSprop optimizer.
type RMSprop struct {
	cfg        RMSpropConfig
	st         slots
	step       int
	iAvg, iBuf int // slot indices of the gradient average and momentum buffer, or -1
	ks         kernelSets
}

// NewRMSprop returns an RMSprop optimizer, or an error for an invalid configuration.
func NewRMSprop(cfg RMSpropConfig) (*RMSprop, error) {
	switch {
	case cfg.LR < 0:
		return nil, fmt.Errorf("optim: rmsprop: learning rate %v < 0", cfg.LR)
	case cfg.Alpha < 0 || cfg.Alpha >= 1:
		return nil, fmt.Errorf("optim: rmsprop: alpha %v must lie in [0, 1)", cfg.Alpha)
	case cfg.Eps < 0:
		return nil, fmt.Errorf("optim: rmsprop: eps %v < 0", cfg.Eps)
	case cfg.Momentum < 0 || cfg.WeightDecay < 0:
		return nil, fmt.Errorf("optim: rmsprop: negative momentum or weight decay")
	}
	r := &RMSprop{cfg: cfg, iAvg: -1, iBuf: -1}
	names := []string{"square_avg"}
	if cfg.Centered {
		r.iAvg = len(names)
		names = append(names, "grad_avg")
	}
	if cfg.Momentum > 0 {
		r.iBuf = len(names)
		names = append(names, "momentum")
	}
	r.st = newSlots(names...)
	return r, nil
}

// LR returns the learning rate.
func (r *RMSprop) LR() float64 { return r.cfg.LR }

// SetLR sets the learning rate.
func (r *RMSprop) SetLR(lr float64) { r.cfg.LR = lr }

// Step applies one RMSprop update in place.
func (r *RMSprop) Step(params, grads []*tensor.Dense) error {
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: rmsprop: %w", err)
	}
	if err := r.st.prepare(params); err != nil {
		return fmt.Errorf("optim: rmsprop: %w", err)
	}
	h := r.hyper()
	for i, p := range params {
		var ga, buf *tensor.Dense
		if r.iAvg >= 0 {
			ga = r.st.bufs[r.iAvg][i]
		}
		if r.iBuf >= 0 {
			buf = r.st.bufs[r.iBuf][i]
		}
		if err := r.ks.rmsprop(p, grads[i], r.st.bufs[0][i], ga, buf, h); err != nil {
			return fmt.Errorf("optim: rmsprop: parameter %d: %w", i, err)
		}
	}
	r.step++
	return nil
}

// hyper returns the kernel set's hyperparameters of the next step.
func (r *RMSprop) hyper() kernels.RMSpropHyper {
	c := r.cfg
	return kernels.RMSpropHyper{LR: c.LR, Alpha: c.Alpha, Eps: c.Eps, WeightDecay: c.WeightDecay, Momentum: c.Momentum,
		Centered: r.iAvg >= 0}
}

// State returns the step count and buffers "square_avg/i" (and "grad_avg/i",
// "momentum/i" when centered / with momentum).
func (r *RMSprop) State() State {
	st := newState("rmsprop", r.step)
	r.st.export(&st)
	return st
}

// SetState restores a state produced by State.
func (r *RMSprop) SetState(st State) error {
	if err := checkState(st, "rmsprop", []string{"step"}, r.st.names); err != nil {
		return fmt.Errorf("optim: rmsprop: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: rmsprop: set state: %w", err)
	}
	if err := r.st.load(st); err != nil {
		return fmt.Errorf("optim: rmsprop: set state: %w", err)
	}
	if step > 0 && !r.st.init {
		return fmt.Errorf("optim: rmsprop: set state: step %d but no buffers", step)
	}
	r.step = step
	return nil
}

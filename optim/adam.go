package optim

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// AdamConfig configures Adam and AdamW. The update follows PyTorch's
// torch.optim.Adam / AdamW (t counts steps from 1):
//
//	g = g + WeightDecay·θ                (coupled L2, Adam)
//	θ = θ·(1 − LR·DecoupledWeightDecay)  (decoupled, AdamW)
//	m = β₁m + (1−β₁)g;  v = β₂v + (1−β₂)g²;  v̂ = max(v̂, v) with AMSGrad
//	θ = θ − LR/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + Eps)   (√v̂ with AMSGrad)
type AdamConfig struct {
	LR, Beta1, Beta2, Eps float64
	WeightDecay           float64 // coupled (Adam's weight_decay)
	DecoupledWeightDecay  float64 // decoupled (AdamW's weight_decay)
	AMSGrad               bool
}

// DefaultAdam returns PyTorch's defaults: LR 1e-3, β = (0.9, 0.999), ε = 1e-8.
func DefaultAdam() AdamConfig { return AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// Adam is the Adam/AdamW optimizer.
type Adam struct {
	cfg  AdamConfig
	st   slots
	step int
	ks   kernelSets
}

// NewAdam returns an Adam optimizer (use DecoupledWeightDecay for AdamW).
func NewAdam(cfg AdamConfig) (*Adam, error) {
	switch {
	case cfg.LR < 0:
		return nil, fmt.Errorf("optim: adam: learning rate %v < 0", cfg.LR)
	case cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1:
		return nil, fmt.Errorf("optim: adam: betas (%v, %v) must lie in [0, 1)", cfg.Beta1, cfg.Beta2)
	case cfg.Eps < 0:
		return nil, fmt.Errorf("optim: adam: eps %v < 0", cfg.Eps)
	case cfg.WeightDecay < 0 || cfg.DecoupledWeightDecay < 0:
		return nil, fmt.Errorf("optim: adam: negative weight decay")
	}
	a := &Adam{cfg: cfg}
	if cfg.AMSGrad {
		a.st = newSlots("m", "v", "vmax")
	} else {
		a.st = newSlots("m", "v")
	}
	return a, nil
}

// NewAdamW returns Adam with decoupled weight decay wd (PyTorch's AdamW).
func NewAdamW(cfg AdamConfig, wd float64) (*Adam, error) {
	cfg.DecoupledWeightDecay = wd
	return NewAdam(cfg)
}

// LR returns the learning rate.
func (a *Adam) LR() float64 { return a.cfg.LR }

// SetLR sets the learning rate.
func (a *Adam) SetLR(lr float64) { a.cfg.LR = lr }

// Step applies one Adam update in place.
func (a *Adam) Step(params, grads []*tensor.Dense) error {
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: adam: %w", err)
	}
	if err := a.st.prepare(params); err != nil {
		return fmt.Errorf("optim: adam: %w", err)
	}
	c := a.cfg
	h := a.hyper()
	for i, p := range params {
		var vmax *tensor.Dense
		if c.AMSGrad {
			vmax = a.st.bufs[2][i]
		}
		if err := a.ks.adam(p, grads[i], a.st.bufs[0][i], a.st.bufs[1][i], vmax, h); err != nil {
			return fmt.Errorf("optim: adam: parameter %d: %w", i, err)
		}
	}
	a.step++
	return nil
}

// hyper returns the kernel set's hyperparameters of the next step.
func (a *Adam) hyper() kernels.AdamHyper {
	c := a.cfg
	return kernels.AdamHyper{LR: c.LR, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps, WeightDecay: c.WeightDecay,
		DecoupledWeightDecay: c.DecoupledWeightDecay, AMSGrad: c.AMSGrad, Step: a.step + 1}
}

// State returns the step count and the moments "m/i", "v/i" (and "vmax/i").
func (a *Adam) State() State {
	st := newState("adam", a.step)
	a.st.export(&st)
	return st
}

// SetState restores a state produced by State.
func (a *Adam) SetState(st State) error {
	if err := checkState(st, "adam", []string{"step"}, a.st.names); err != nil {
		return fmt.Errorf("optim: adam: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: adam: set state: %w", err)
	}
	if err := a.st.load(st); err != nil {
		return fmt.Errorf("optim: adam: set state: %w", err)
	}
	if step > 0 && !a.st.init {
		return fmt.Errorf("optim: adam: set state: step %d but no moment buffers", step)
	}
	a.step = step
	return nil
}

package optim

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// SGDConfig configures SGD. The update follows PyTorch's torch.optim.SGD:
//
//	d = g + WeightDecay·θ
//	b = d on the first step, else Momentum·b + (1−Dampening)·d
//	d = d + Momentum·b (Nesterov) or d = b (otherwise), when Momentum ≠ 0
//	θ = θ·(1 − LR·DecoupledWeightDecay) − LR·d
//
// DecoupledWeightDecay (the SGDW form) shrinks the parameter directly and
// does not enter the momentum buffer; it has no PyTorch counterpart.
type SGDConfig struct {
	LR                   float64
	Momentum             float64
	Dampening            float64
	Nesterov             bool
	WeightDecay          float64 // coupled: added to the gradient (L2 penalty)
	DecoupledWeightDecay float64 // decoupled: θ ← θ(1 − LR·λ)
}

// SGD is stochastic gradient descent with optional momentum and weight decay.
type SGD struct {
	cfg  SGDConfig
	st   slots
	step int
	ks   kernelSets
}

// NewSGD returns an SGD optimizer, or an error for an invalid configuration.
func NewSGD(cfg SGDConfig) (*SGD, error) {
	switch {
	case cfg.LR < 0:
		return nil, fmt.Errorf("optim: sgd: learning rate %v < 0", cfg.LR)
	case cfg.Momentum < 0:
		return nil, fmt.Errorf("optim: sgd: momentum %v < 0", cfg.Momentum)
	case cfg.WeightDecay < 0 || cfg.DecoupledWeightDecay < 0:
		return nil, fmt.Errorf("optim: sgd: negative weight decay")
	case cfg.Nesterov && (cfg.Momentum <= 0 || cfg.Dampening != 0):
		return nil, fmt.Errorf("optim: sgd: Nesterov needs momentum > 0 and zero dampening")
	}
	s := &SGD{cfg: cfg}
	if cfg.Momentum != 0 {
		s.st = newSlots("momentum")
	} else {
		s.st = newSlots()
	}
	return s, nil
}

// LR returns the learning rate.
func (s *SGD) LR() float64 { return s.cfg.LR }

// SetLR sets the learning rate.
func (s *SGD) SetLR(lr float64) { s.cfg.LR = lr }

// Step applies one SGD update in place.
func (s *SGD) Step(params, grads []*tensor.Dense) error {
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: sgd: %w", err)
	}
	if err := s.st.prepare(params); err != nil {
		return fmt.Errorf("optim: sgd: %w", err)
	}
	c := s.cfg
	h := s.hyper()
	for i, p := range params {
		var buf *tensor.Dense
		if c.Momentum != 0 {
			buf = s.st.bufs[0][i]
		}
		if err := s.ks.sgd(p, grads[i], buf, h); err != nil {
			return fmt.Errorf("optim: sgd: parameter %d: %w", i, err)
		}
	}
	s.step++
	return nil
}

// hyper returns the kernel set's hyperparameters of the next step.
func (s *SGD) hyper() kernels.SGDHyper {
	c := s.cfg
	return kernels.SGDHyper{LR: c.LR, Momentum: c.Momentum, Dampening: c.Dampening, WeightDecay: c.WeightDecay,
		DecoupledWeightDecay: c.DecoupledWeightDecay, Nesterov: c.Nesterov, First: s.step == 0}
}

// State returns a copy of the step count and momentum buffers ("momentum/i").
func (s *SGD) State() State {
	st := newState("sgd", s.step)
	s.st.export(&st)
	return st
}

// SetState restores a state produced by State.
func (s *SGD) SetState(st State) error {
	if err := checkState(st, "sgd", []string{"step"}, s.st.names); err != nil {
		return fmt.Errorf("optim: sgd: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: sgd: set state: %w", err)
	}
	if err := s.st.load(st); err != nil {
		return fmt.Errorf("optim: sgd: set state: %w", err)
	}
	if step > 0 && s.cfg.Momentum != 0 && !s.st.init {
		return fmt.Errorf("optim: sgd: set state: step %d but no momentum buffers", step)
	}
	s.step = step
	return nil
}

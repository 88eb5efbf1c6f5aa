package optim

import (
	"fmt"

	"gorgonia.org/tensor"
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
	first := s.step == 0
	decay := 1 - c.LR*c.DecoupledWeightDecay
	for i, p := range params {
		g := grads[i]
		if p.Dtype() == tensor.Float64 {
			var buf []float64
			if c.Momentum != 0 {
				buf = s.st.bufs[0][i].Float64s()
			}
			sgdKernel(p.Float64s(), g.Float64s(), buf, c.LR, c.Momentum, c.Dampening, c.WeightDecay, decay, c.Nesterov, first)
		} else {
			var buf []float32
			if c.Momentum != 0 {
				buf = s.st.bufs[0][i].Float32s()
			}
			sgdKernel(p.Float32s(), g.Float32s(), buf, float32(c.LR), float32(c.Momentum), float32(c.Dampening),
				float32(c.WeightDecay), float32(decay), c.Nesterov, first)
		}
	}
	s.step++
	return nil
}

func sgdKernel[T float](p, g, buf []T, lr, mu, damp, wd, decay T, nesterov, first bool) {
	g = g[:len(p)]
	if buf == nil {
		for i, x := range p {
			d := g[i] + wd*x
			p[i] = x*decay - lr*d
		}
		return
	}
	buf = buf[:len(p)]
	for i, x := range p {
		d := g[i] + wd*x
		b := d
		if !first {
			b = mu*buf[i] + (1-damp)*d
		}
		buf[i] = b
		if nesterov {
			d += mu * b
		} else {
			d = b
		}
		p[i] = x*decay - lr*d
	}
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

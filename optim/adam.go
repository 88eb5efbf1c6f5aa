package optim

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
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
	t := float64(a.step + 1)
	bc1 := 1 - math.Pow(c.Beta1, t)
	invBc2s := 1 / math.Sqrt(1-math.Pow(c.Beta2, t))
	stepSize := c.LR / bc1
	decay := 1 - c.LR*c.DecoupledWeightDecay
	for i, p := range params {
		g := grads[i]
		if p.Dtype() == tensor.Float64 {
			var vmax []float64
			if c.AMSGrad {
				vmax = a.st.bufs[2][i].Float64s()
			}
			adamKernel(p.Float64s(), g.Float64s(), a.st.bufs[0][i].Float64s(), a.st.bufs[1][i].Float64s(), vmax,
				stepSize, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, decay, invBc2s)
		} else {
			var vmax []float32
			if c.AMSGrad {
				vmax = a.st.bufs[2][i].Float32s()
			}
			adamKernel(p.Float32s(), g.Float32s(), a.st.bufs[0][i].Float32s(), a.st.bufs[1][i].Float32s(), vmax,
				float32(stepSize), float32(c.Beta1), float32(c.Beta2), float32(c.Eps), float32(c.WeightDecay),
				float32(decay), float32(invBc2s))
		}
	}
	a.step++
	return nil
}

func adamKernel[T float](p, g, m, v, vmax []T, stepSize, b1, b2, eps, wd, decay, invBc2s T) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	if vmax != nil {
		vmax = vmax[:len(p)]
	}
	for i, x := range p {
		gi := g[i] + wd*x
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		if vmax != nil {
			vi = max(vmax[i], vi)
			vmax[i] = vi
		}
		p[i] = x*decay - stepSize*mi/(sqrtT(vi)*invBc2s+eps)
	}
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

package optim

import (
	"fmt"

	"gorgonia.org/tensor"
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
	c := r.cfg
	for i, p := range params {
		g := grads[i]
		if p.Dtype() == tensor.Float64 {
			var ga, buf []float64
			if r.iAvg >= 0 {
				ga = r.st.bufs[r.iAvg][i].Float64s()
			}
			if r.iBuf >= 0 {
				buf = r.st.bufs[r.iBuf][i].Float64s()
			}
			rmspropKernel(p.Float64s(), g.Float64s(), r.st.bufs[0][i].Float64s(), ga, buf, c.LR, c.Alpha, c.Eps, c.WeightDecay, c.Momentum)
		} else {
			var ga, buf []float32
			if r.iAvg >= 0 {
				ga = r.st.bufs[r.iAvg][i].Float32s()
			}
			if r.iBuf >= 0 {
				buf = r.st.bufs[r.iBuf][i].Float32s()
			}
			rmspropKernel(p.Float32s(), g.Float32s(), r.st.bufs[0][i].Float32s(), ga, buf,
				float32(c.LR), float32(c.Alpha), float32(c.Eps), float32(c.WeightDecay), float32(c.Momentum))
		}
	}
	r.step++
	return nil
}

func rmspropKernel[T float](p, g, sq, ga, buf []T, lr, alpha, eps, wd, mu T) {
	g, sq = g[:len(p)], sq[:len(p)]
	if ga != nil {
		ga = ga[:len(p)]
	}
	if buf != nil {
		buf = buf[:len(p)]
	}
	for i, x := range p {
		gi := g[i] + wd*x
		s := alpha*sq[i] + (1-alpha)*gi*gi
		sq[i] = s
		if ga != nil {
			a := alpha*ga[i] + (1-alpha)*gi
			ga[i] = a
			s -= a * a
		}
		u := gi / (sqrtT(s) + eps)
		if buf != nil {
			u += mu * buf[i]
			buf[i] = u
		}
		p[i] = x - lr*u
	}
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

package optim

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// Legendre is a separable Legendre function R(x) = Σᵢ r(xᵢ) used as the
// mirror map of MirrorDescent. Grad is r′ and GradInv its inverse (the
// gradient of the convex conjugate).
type Legendre interface {
	// Value returns r(x) for one coordinate.
	Value(x float64) float64
	// Grad returns r′(x).
	Grad(x float64) float64
	// GradInv returns the x with r′(x) = y.
	GradInv(y float64) float64
}

// HyperbolicEntropy is R_α(x) = ¼ Σ [x·arcsinh(x/(2α²)) − √(x² + 4α⁴) + 2α²],
// the mirror map of gradient flow on x = u⊙u − v⊙v from u₀ = v₀ = α·1.
// ∇R_α(x) = ¼ arcsinh(x/(2α²)) and (∇R_α)⁻¹(y) = 2α² sinh(4y).
type HyperbolicEntropy struct{ Alpha float64 }

// Value returns r_α(x).
func (h HyperbolicEntropy) Value(x float64) float64 {
	a2 := h.Alpha * h.Alpha
	return 0.25 * (x*math.Asinh(x/(2*a2)) - math.Sqrt(x*x+4*a2*a2) + 2*a2)
}

// Grad returns ¼ arcsinh(x/(2α²)).
func (h HyperbolicEntropy) Grad(x float64) float64 {
	return 0.25 * math.Asinh(x/(2*h.Alpha*h.Alpha))
}

// GradInv returns 2α² sinh(4y).
func (h HyperbolicEntropy) GradInv(y float64) float64 {
	return 2 * h.Alpha * h.Alpha * math.Sinh(4*y)
}

// NegEntropy is R(x) = Σ x log x − x on x > 0; mirror descent with it is the
// exponentiated-gradient update x ← x·exp(−η g).
type NegEntropy struct{}

// Value returns x log x − x.
func (NegEntropy) Value(x float64) float64 { return x*math.Log(x) - x }

// Grad returns log x.
func (NegEntropy) Grad(x float64) float64 { return math.Log(x) }

// GradInv returns exp(y).
func (NegEntropy) GradInv(y float64) float64 { return math.Exp(y) }

// SquaredNorm is R(x) = ½‖x‖²; mirror descent with it is plain GD.
type SquaredNorm struct{}

// Value returns x²/2.
func (SquaredNorm) Value(x float64) float64 { return 0.5 * x * x }

// Grad returns x.
func (SquaredNorm) Grad(x float64) float64 { return x }

// GradInv returns y.
func (SquaredNorm) GradInv(y float64) float64 { return y }

// MirrorDescent is θ ← (∇R)⁻¹(∇R(θ) − η ∇L(θ)) for a separable Legendre
// function R, applied coordinate-wise (computed in float64).
type MirrorDescent struct {
	lr   float64
	r    Legendre
	step int
}

// NewMirrorDescent returns mirror descent with mirror map r and learning rate lr.
func NewMirrorDescent(r Legendre, lr float64) (*MirrorDescent, error) {
	if r == nil {
		return nil, fmt.Errorf("optim: mirror descent: nil Legendre function")
	}
	if h, ok := r.(HyperbolicEntropy); ok && !(h.Alpha > 0) {
		return nil, fmt.Errorf("optim: mirror descent: hyperbolic entropy needs alpha > 0, got %v", h.Alpha)
	}
	if lr < 0 {
		return nil, fmt.Errorf("optim: mirror descent: learning rate %v < 0", lr)
	}
	return &MirrorDescent{lr: lr, r: r}, nil
}

// LR returns the learning rate.
func (m *MirrorDescent) LR() float64 { return m.lr }

// SetLR sets the learning rate.
func (m *MirrorDescent) SetLR(lr float64) { m.lr = lr }

// Step applies one mirror-descent update in place.
func (m *MirrorDescent) Step(params, grads []*tensor.Dense) error {
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: mirror descent: %w", err)
	}
	for i, p := range params {
		if p.Dtype() == tensor.Float64 {
			mirrorKernel(p.Float64s(), grads[i].Float64s(), m.r, m.lr)
		} else {
			mirrorKernel(p.Float32s(), grads[i].Float32s(), m.r, m.lr)
		}
	}
	m.step++
	return nil
}

func mirrorKernel[T float](p, g []T, r Legendre, lr float64) {
	g = g[:len(p)]
	for i, x := range p {
		p[i] = T(r.GradInv(r.Grad(float64(x)) - lr*float64(g[i])))
	}
}

// State returns the step count.
func (m *MirrorDescent) State() State { return newState("mirror_descent", m.step) }

// SetState restores a state produced by State.
func (m *MirrorDescent) SetState(st State) error {
	if err := checkState(st, "mirror_descent", []string{"step"}, nil); err != nil {
		return fmt.Errorf("optim: mirror descent: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: mirror descent: set state: %w", err)
	}
	m.step = step
	return nil
}

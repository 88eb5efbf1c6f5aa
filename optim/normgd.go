package optim

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// NormalizedGD is normalized gradient descent, θ ← θ − η ∇L/‖∇L‖, with ‖·‖
// the global ℓ₂ norm over all gradient tensors. A zero gradient leaves the
// parameters unchanged.
type NormalizedGD struct {
	lr   float64
	step int
	norm float64
	ks   kernelSets
}

// NewNormalizedGD returns normalized GD with learning rate lr.
func NewNormalizedGD(lr float64) (*NormalizedGD, error) {
	if lr < 0 {
		return nil, fmt.Errorf("optim: normalized gd: learning rate %v < 0", lr)
	}
	return &NormalizedGD{lr: lr}, nil
}

// LR returns the learning rate.
func (n *NormalizedGD) LR() float64 { return n.lr }

// SetLR sets the learning rate.
func (n *NormalizedGD) SetLR(lr float64) { n.lr = lr }

// LastGradNorm returns ‖∇L‖ seen by the latest Step (for η·λ₁/‖∇L‖ diagnostics).
func (n *NormalizedGD) LastGradNorm() float64 { return n.norm }

// Step applies one normalized step in place.
func (n *NormalizedGD) Step(params, grads []*tensor.Dense) error {
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: normalized gd: %w", err)
	}
	norm := globalNorm(grads)
	n.norm = norm
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("optim: normalized gd: gradient norm is %v", norm)
	}
	if norm > 0 {
		if err := n.ks.axpyAll(params, grads, -n.lr/norm); err != nil {
			return fmt.Errorf("optim: normalized gd: %w", err)
		}
	}
	n.step++
	return nil
}

// State returns the step count.
func (n *NormalizedGD) State() State { return newState("normalized_gd", n.step) }

// SetState restores a state produced by State.
func (n *NormalizedGD) SetState(st State) error {
	if err := checkState(st, "normalized_gd", []string{"step"}, nil); err != nil {
		return fmt.Errorf("optim: normalized gd: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: normalized gd: set state: %w", err)
	}
	n.step = step
	return nil
}

// SqrtLossGD is gradient descent on √L: θ ← θ − η ∇L/(2√L). It needs the
// loss at the current parameters: call SetLoss before every Step (Step
// returns ErrNoLoss otherwise). The loss must be positive.
type SqrtLossGD struct {
	lr      float64
	loss    float64
	hasLoss bool
	step    int
	ks      kernelSets
}

// NewSqrtLossGD returns GD on √L with learning rate lr.
func NewSqrtLossGD(lr float64) (*SqrtLossGD, error) {
	if lr < 0 {
		return nil, fmt.Errorf("optim: sqrt-loss gd: learning rate %v < 0", lr)
	}
	return &SqrtLossGD{lr: lr}, nil
}

// LR returns the learning rate.
func (s *SqrtLossGD) LR() float64 { return s.lr }

// SetLR sets the learning rate.
func (s *SqrtLossGD) SetLR(lr float64) { s.lr = lr }

// SetLoss records L(θ) for the next Step.
func (s *SqrtLossGD) SetLoss(loss float64) { s.loss, s.hasLoss = loss, true }

// StepLoss is SetLoss followed by Step.
func (s *SqrtLossGD) StepLoss(loss float64, params, grads []*tensor.Dense) error {
	s.SetLoss(loss)
	return s.Step(params, grads)
}

// Step applies θ ← θ − η ∇L/(2√L) with the loss given to SetLoss.
func (s *SqrtLossGD) Step(params, grads []*tensor.Dense) error {
	if !s.hasLoss {
		return ErrNoLoss
	}
	if !(s.loss > 0) || math.IsInf(s.loss, 1) {
		return fmt.Errorf("optim: sqrt-loss gd: loss %v must be positive and finite", s.loss)
	}
	if err := checkPairs(params, grads); err != nil {
		return fmt.Errorf("optim: sqrt-loss gd: %w", err)
	}
	s.hasLoss = false
	if err := s.ks.axpyAll(params, grads, -s.lr/(2*math.Sqrt(s.loss))); err != nil {
		return fmt.Errorf("optim: sqrt-loss gd: %w", err)
	}
	s.step++
	return nil
}

// State returns the step count.
func (s *SqrtLossGD) State() State { return newState("sqrt_loss_gd", s.step) }

// SetState restores a state produced by State.
func (s *SqrtLossGD) SetState(st State) error {
	if err := checkState(st, "sqrt_loss_gd", []string{"step"}, nil); err != nil {
		return fmt.Errorf("optim: sqrt-loss gd: set state: %w", err)
	}
	step, err := getStep(st)
	if err != nil {
		return fmt.Errorf("optim: sqrt-loss gd: set state: %w", err)
	}
	s.step = step
	return nil
}

func sumSquares[T float](x []T) float64 {
	var s float64
	for _, v := range x {
		f := float64(v)
		s += f * f
	}
	return s
}

func scale[T float](x []T, a T) {
	for i := range x {
		x[i] *= a
	}
}

// globalNorm returns the ℓ₂ norm over all tensors (validated inputs),
// accumulated in float64.
func globalNorm(ts []*tensor.Dense) float64 {
	var s float64
	for _, t := range ts {
		if t.Dtype() == tensor.Float64 {
			s += sumSquares(t.Float64s())
		} else {
			s += sumSquares(t.Float32s())
		}
	}
	return math.Sqrt(s)
}

// GlobalNorm returns the ℓ₂ norm of all tensors taken together.
func GlobalNorm(ts []*tensor.Dense) (float64, error) {
	for i, t := range ts {
		if err := checkTensor("tensor", i, t); err != nil {
			return 0, fmt.Errorf("optim: global norm: %w", err)
		}
	}
	return globalNorm(ts), nil
}

// ClipGlobalNorm rescales grads in place so that their global ℓ₂ norm is at
// most maxNorm, and returns the norm before clipping.
func ClipGlobalNorm(grads []*tensor.Dense, maxNorm float64) (float64, error) {
	if !(maxNorm > 0) {
		return 0, fmt.Errorf("optim: clip: max norm %v must be positive", maxNorm)
	}
	norm, err := GlobalNorm(grads)
	if err != nil {
		return 0, fmt.Errorf("optim: clip: %w", err)
	}
	if norm > maxNorm {
		c := maxNorm / norm
		for _, g := range grads {
			if g.Dtype() == tensor.Float64 {
				scale(g.Float64s(), c)
			} else {
				scale(g.Float32s(), float32(c))
			}
		}
	}
	return norm, nil
}

package optim

import (
	"fmt"
	"math"
	"slices"
)

// Schedule gives the learning rate for a step (steps count from 0). Every
// schedule here is a pure function of the step.
type Schedule func(step int) float64

// Constant returns a schedule that is lr at every step.
func Constant(lr float64) Schedule { return func(int) float64 { return lr } }

// StepDecay returns lr·γ^⌊step/every⌋.
func StepDecay(lr, gamma float64, every int) (Schedule, error) {
	if every <= 0 {
		return nil, fmt.Errorf("optim: step decay: period %d must be positive", every)
	}
	return func(step int) float64 { return lr * math.Pow(gamma, float64(max(step, 0)/every)) }, nil
}

// MultiStep returns lr·γ^k where k is the number of milestones ≤ step.
// Milestones must be strictly increasing.
func MultiStep(lr, gamma float64, milestones []int) (Schedule, error) {
	for i := 1; i < len(milestones); i++ {
		if milestones[i] <= milestones[i-1] {
			return nil, fmt.Errorf("optim: multi-step: milestones %v are not strictly increasing", milestones)
		}
	}
	ms := slices.Clone(milestones)
	return func(step int) float64 {
		k, _ := slices.BinarySearch(ms, step+1) // count of milestones ≤ step
		return lr * math.Pow(gamma, float64(k))
	}, nil
}

// Cosine returns min + (lr − min)(1 + cos(π·t/total))/2 with t = min(step, total).
func Cosine(lr, minLR float64, total int) (Schedule, error) {
	if total <= 0 {
		return nil, fmt.Errorf("optim: cosine: total steps %d must be positive", total)
	}
	return func(step int) float64 {
		t := float64(min(max(step, 0), total))
		return minLR + (lr-minLR)*(1+math.Cos(math.Pi*t/float64(total)))/2
	}, nil
}

// Warmup multiplies inner by a linear ramp over the first steps steps:
// inner(step)·(step+1)/steps for step < steps, inner(step) afterwards. The
// inner schedule is not shifted.
func Warmup(inner Schedule, steps int) (Schedule, error) {
	if inner == nil {
		return nil, fmt.Errorf("optim: warmup: nil inner schedule")
	}
	if steps < 0 {
		return nil, fmt.Errorf("optim: warmup: %d steps < 0", steps)
	}
	return func(step int) float64 {
		if step < steps {
			return inner(step) * float64(max(step, 0)+1) / float64(steps)
		}
		return inner(step)
	}, nil
}

package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
)

// LogSoftmax returns the log-softmax of logits (batch, classes) over the last
// axis, composed as z − max − log Σ exp(z − max). The max is a constant
// shift: it cancels mathematically, so its gradient does not matter.
func LogSoftmax(logits *gorgonia.Node) (*gorgonia.Node, error) {
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("nn: log-softmax wants (batch, classes), got %v", logits.Shape())
	}
	m, err := gorgonia.Max(logits, 1)
	if err != nil {
		return nil, err
	}
	sh, err := gorgonia.BroadcastSub(logits, m, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	e, err := gorgonia.Exp(sh)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Sum(e, 1)
	if err != nil {
		return nil, err
	}
	ls, err := gorgonia.Log(s)
	if err != nil {
		return nil, err
	}
	return gorgonia.BroadcastSub(sh, ls, nil, []byte{1})
}

// CrossEntropy is the mean over the batch of −Σ_c t_c·log softmax(z)_c, with
// targets t given as one-hot (or soft) rows of the same shape as logits.
func CrossEntropy(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if !logits.Shape().Eq(targets.Shape()) {
		return nil, fmt.Errorf("nn: cross-entropy: logits %v and targets %v differ in shape", logits.Shape(), targets.Shape())
	}
	lp, err := LogSoftmax(logits)
	if err != nil {
		return nil, err
	}
	p, err := gorgonia.HadamardProd(lp, targets)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Sum(p, 1)
	if err != nil {
		return nil, err
	}
	m, err := gorgonia.Mean(s)
	if err != nil {
		return nil, err
	}
	return gorgonia.Neg(m)
}

// MSE is the mean over the batch of ½‖pred − target‖² (summed over outputs).
func MSE(pred, target *gorgonia.Node) (*gorgonia.Node, error) {
	if !pred.Shape().Eq(target.Shape()) {
		return nil, fmt.Errorf("nn: MSE: prediction %v and target %v differ in shape", pred.Shape(), target.Shape())
	}
	d, err := gorgonia.Sub(pred, target)
	if err != nil {
		return nil, err
	}
	sq, err := gorgonia.Square(d)
	if err != nil {
		return nil, err
	}
	s, err := gorgonia.Sum(sq)
	if err != nil {
		return nil, err
	}
	n := float64(pred.Shape()[0])
	return gorgonia.Mul(s, scalarLike(pred, 0.5/n))
}

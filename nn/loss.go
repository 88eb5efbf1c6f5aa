package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/ops"
)

// LogSoftmax returns the log-softmax of logits (batch, classes) over the last
// axis (ops.LogSoftmax, differentiable to any order).
func LogSoftmax(logits *gorgonia.Node) (*gorgonia.Node, error) {
	if logits.Dims() != 2 {
		return nil, fmt.Errorf("nn: log-softmax wants (batch, classes), got %v", logits.Shape())
	}
	return ops.LogSoftmax(logits)
}

// CrossEntropy is the mean over the batch of −Σ_c t_c·log softmax(z)_c, with
// targets t given as one-hot (or soft) rows of the same shape as logits
// (ops.SoftmaxCrossEntropy).
func CrossEntropy(logits, targets *gorgonia.Node) (*gorgonia.Node, error) {
	if logits.Dims() != 2 || !logits.Shape().Eq(targets.Shape()) {
		return nil, fmt.Errorf("nn: cross-entropy: logits %v and targets %v must be equal (batch, classes) shapes", logits.Shape(), targets.Shape())
	}
	return ops.SoftmaxCrossEntropy(logits, targets)
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

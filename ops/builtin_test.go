package ops

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestBuiltinMiddleAxisSum records whether gorgonia's own Sum over a middle
// axis of a 4-D tensor is still wrong (the reason SumAxis exists), and checks
// that SumAxis agrees with the direct loop where the built-in does not.
func TestBuiltinMiddleAxisSum(t *testing.T) {
	shape := tensor.Shape{2, 3, 4, 5}
	x := randData(newRNG(8), shape.TotalSize())
	want := refSumAxis(x, shape, 2)
	builtin, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return gorgonia.Sum(in[0], 2)
	}, []tensor.Shape{shape}, [][]float64{x})
	ours, _ := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		return SumAxis(in[0], 2)
	}, []tensor.Shape{shape}, [][]float64{x})
	t.Logf("gorgonia.Sum over axis 2 of %v: rel err %.2g against the direct loop", shape, relErr(builtin, want))
	if e := relErr(ours, want); e > 1e-14 {
		t.Errorf("SumAxis: rel err %g", e)
	}
}

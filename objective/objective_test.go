package objective

import (
	"math"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

func TestBuildChecksShapesAndBatches(t *testing.T) {
	ds, err := data.GaussianMixture(3, 1, 10, 2, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("relu")
	wrong, _ := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float64, []int{2, 4}, act, tensor.Normal(0, 1))
	if _, err := Build(wrong, ds, 5, CrossEntropy, true); err == nil {
		t.Error("model with 4 outputs accepted for 3 classes")
	}
	m, _ := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float64, []int{2, 3}, act, tensor.Normal(0, 1))
	if _, err := Build(m, ds, 0, CrossEntropy, true); err == nil {
		t.Error("batch 0 accepted")
	}
	if _, err := Build(m, ds, 5, Kind("hinge"), true); err == nil {
		t.Error("unknown loss accepted")
	}
	g, err := Build(m, ds, 5, MSE, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Fill(ds, []int{0, 1, 2, 3, 4, 5}); err == nil {
		t.Error("6 examples accepted for a batch of 5")
	}
	if err := g.Fill(ds, []int{7, 3}); err != nil {
		t.Fatal(err)
	}
	x := g.io.x.Data().([]float64)
	tg := g.io.t.Data().([]float64)
	for j := 0; j < 2; j++ {
		if x[j] != float64(ds.X[7*2+j]) || x[2+j] != float64(ds.X[3*2+j]) {
			t.Fatal("input rows are not the requested examples")
		}
	}
	for _, v := range x[4:] {
		if v != 0 {
			t.Fatal("padding rows are not zero")
		}
	}
	if tg[ds.Y[7]] != 1 || tg[3+ds.Y[3]] != 1 {
		t.Error("targets are not one-hot labels")
	}
}

func TestExampleLoss(t *testing.T) {
	ds := &data.Dataset{Y: []int{1}, Classes: 3}
	row := []float64{1, 2, 0.5}
	l, hit := ExampleLoss(CrossEntropy, row, ds, 0)
	want := -(2 - math.Log(math.Exp(1)+math.Exp(2)+math.Exp(0.5)))
	if math.Abs(l-want) > 1e-12 || !hit {
		t.Errorf("cross-entropy %v hit %v, want %v true", l, hit, want)
	}
	l, _ = ExampleLoss(MSE, row, ds, 0)
	if want := 0.5 * (1 + 1 + 0.25); math.Abs(l-want) > 1e-12 {
		t.Errorf("MSE %v, want %v", l, want)
	}
	if _, err := ParseKind("mse"); err != nil {
		t.Error(err)
	}
	if _, err := ParseKind("l1"); err == nil {
		t.Error("unknown kind accepted")
	}
}

func TestFillDoesNotAllocate(t *testing.T) {
	ds, err := data.GaussianMixture(3, 1, 10, 2, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("relu")
	for _, dt := range []gt.Dtype{gt.Float32, gt.Float64} {
		m, _ := nn.NewMLP(tensor.NewRNG(1, 1), dt, []int{2, 3}, act, tensor.Normal(0, 1))
		g, err := Build(m, ds, 4, CrossEntropy, true)
		if err != nil {
			t.Fatal(err)
		}
		idx := []int{1, 2, 3, 4}
		if n := testing.AllocsPerRun(20, func() { _ = g.Fill(ds, idx) }); n != 0 {
			t.Errorf("%v: Fill allocates %v times per call", dt, n)
		}
	}
}

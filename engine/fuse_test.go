package engine_test

import (
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// TestFolds checks that the bias broadcast of an MLP's linear layers
// (gorgonia's Repeat followed by an addition) compiles to one broadcast
// addition and the (leaky) ReLU backward (ReLUSlope times the gradient) to
// one ReLUBackward pass, and that the folded program still equals the
// TapeMachine (to 1e-12 relative: the GEMMs of the two may sum in another
// order).
func TestFolds(t *testing.T) {
	for _, act := range []string{"relu", "leaky_relu:0.1"} {
		t.Run(act, func(t *testing.T) { testFolds(t, act) })
	}
}

func testFolds(t *testing.T, activation string) {
	ds, err := data.GaussianMixture(4, 2, 10, 2, 0.5, 7)
	if err != nil {
		t.Fatal(err)
	}
	act, err := nn.ParseActivation(activation)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewMLP(tensor.NewRNG(3, 1), gt.Float64, []int{2, 8, 8, 4}, act, tensor.HeNormal(1))
	if err != nil {
		t.Fatal(err)
	}
	o, err := objective.Build(m, ds, 16, objective.CrossEntropy, true)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
	if err != nil {
		t.Fatal(err)
	}
	outs := append(gorgonia.Nodes{o.Loss}, grads...)
	repeats := 0
	for _, n := range o.G.AllNodes() {
		if n.Op() != nil && strings.HasPrefix(n.Op().String(), "Repeat") {
			repeats++
		}
	}
	if repeats == 0 {
		t.Fatal("the MLP graph has no Repeat node: the test no longer exercises the fold")
	}
	nat, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	tape, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Tape}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer tape.Close()
	steps, err := nat.Profile(1)
	if err != nil {
		t.Fatal(err)
	}
	backward := 0
	for _, s := range steps {
		if strings.Contains(s.Step, "Repeat") {
			t.Errorf("step %q was not folded into its addition", s.Step)
		}
		if strings.Contains(s.Step, "ReLUSlope") {
			t.Errorf("step %q was not folded into the gradient product", s.Step)
		}
		if strings.Contains(s.Step, "(ReLUBackward") {
			backward++
		}
	}
	if backward != 2 {
		t.Errorf("%d ReLUBackward steps, want one per hidden layer (2)", backward)
	}
	idx := make([]int, 16)
	for b := range 3 {
		for i := range idx {
			idx[i] = (b*16 + i) % ds.Len()
		}
		if err := o.Fill(ds, idx); err != nil {
			t.Fatal(err)
		}
		if err := nat.Run(); err != nil {
			t.Fatal(err)
		}
		if err := tape.Run(); err != nil {
			t.Fatal(err)
		}
		ln, err := nat.Scalar(0)
		if err != nil {
			t.Fatal(err)
		}
		lt, err := tape.Scalar(0)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ln-lt) > 1e-12*math.Abs(lt) {
			t.Fatalf("batch %d: loss native %v, tape %v", b, ln, lt)
		}
		for i := 1; i < len(outs); i++ {
			a, err := nat.Dense(i)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tape.Dense(i)
			if err != nil {
				t.Fatal(err)
			}
			av, cv := a.Float64s(), c.Float64s()
			scale := 0.0
			for _, v := range cv {
				scale = math.Max(scale, math.Abs(v))
			}
			for j := range av {
				if math.Abs(av[j]-cv[j]) > 1e-12*scale {
					t.Fatalf("batch %d output %d element %d: native %v, tape %v", b, i, j, av[j], cv[j])
				}
			}
		}
	}
}

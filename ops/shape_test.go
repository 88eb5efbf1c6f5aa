package ops

import (
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestReshapeAndBias(t *testing.T) {
	x := randData(newRNG(1), 2*3*2*2)
	b := []float64{1, 2, 3}
	got, gs := forward(t, func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		y, err := AddBias(in[0], in[1], 1)
		if err != nil {
			return nil, err
		}
		return Flatten(y)
	}, []tensor.Shape{{2, 3, 2, 2}, {3}}, [][]float64{x, b})
	if !sameShape(gs, tensor.Shape{2, 12}) {
		t.Fatalf("shape %v", gs)
	}
	for k := range x {
		if want := x[k] + b[(k/4)%3]; got[k] != want {
			t.Fatalf("[%d] = %v, want %v", k, got[k], want)
		}
	}
	g := gorgonia.NewGraph()
	if _, err := Reshape(inputNode(g, "x", tensor.Shape{2, 3}, x[:6]), tensor.Shape{4}); err == nil {
		t.Error("size-changing reshape accepted")
	}
}

// TestReshapeDoesNotAliasInput checks that an elementwise op after Reshape of
// an input leaves the input's value intact (gorgonia's own Reshape may not).
func TestReshapeDoesNotAliasInput(t *testing.T) {
	g := gorgonia.NewGraph()
	data := []float64{1, 2, 3, 4, 5, 6}
	x := inputNode(g, "x", tensor.Shape{2, 3}, data)
	r, err := Reshape(x, tensor.Shape{3, 2})
	if err != nil {
		t.Fatal(err)
	}
	y, err := gorgonia.Add(r, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gorgonia.Exp(y); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	for range 2 {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range valueData(t, x.Value()) {
		if v != data[i] {
			t.Fatalf("input changed to %v", valueData(t, x.Value()))
		}
	}
}

func TestShapeGradients(t *testing.T) {
	runOpCases(t, []opCase{
		{name: "reshape 2x3x2 to 3x4", shapes: []tensor.Shape{{2, 3, 2}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return Reshape(in[0], tensor.Shape{3, 4})
			}},
		{name: "flatten", shapes: []tensor.Shape{{2, 2, 3, 1}}, wrt: []int{0},
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) { return Flatten(in[0]) }},
		{name: "bias last axis", shapes: []tensor.Shape{{3, 4}, {4}}, wrt: []int{0, 1}, multi: true,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return AddBias(in[0], in[1], -1)
			}},
		{name: "bias channels", shapes: []tensor.Shape{{2, 3, 2, 2}, {3}}, wrt: []int{0, 1}, multi: true,
			b: func(_ *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
				return AddBias(in[0], in[1], 1)
			}},
	})
}

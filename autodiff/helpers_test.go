package autodiff_test

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

func tensorOf(p fdcheck.Param) *tensor.Dense {
	return tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(append([]float64(nil), p.Data...)))
}

// safe turns a builder written with G.Must into a fdcheck.Builder.
func safe(f func(g *G.ExprGraph, p G.Nodes) *G.Node) fdcheck.Builder {
	return func(g *G.ExprGraph, p G.Nodes) (n *G.Node, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("building: %v", r)
			}
		}()
		return f(g, p), nil
	}
}

// constant adds a float64 input holding p's data to g (data, not a parameter).
func constant(g *G.ExprGraph, p fdcheck.Param) *G.Node {
	if len(p.Shape) == 0 {
		return G.NewScalar(g, tensor.Float64, G.WithName(p.Name), G.WithValue(p.Data[0]))
	}
	return G.NewTensor(g, tensor.Float64, len(p.Shape), G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(tensorOf(p)))
}

// eval runs a TapeMachine over the part of g that the nodes need and returns
// their values as float64 slices (length 1 for scalars).
func eval(t *testing.T, g *G.ExprGraph, nodes ...*G.Node) [][]float64 {
	t.Helper()
	vals := make([]G.Value, len(nodes))
	roots := make(G.Nodes, len(nodes))
	for i, n := range nodes {
		roots[i] = G.Read(n, &vals[i])
	}
	vm := G.NewTapeMachine(g.SubgraphRoots(roots...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := make([][]float64, len(nodes))
	for i, v := range vals {
		switch d := v.Data().(type) {
		case float64:
			out[i] = []float64{d}
		case []float64:
			out[i] = append([]float64(nil), d...)
		default:
			t.Fatalf("value %d has data %T", i, d)
		}
	}
	return out
}

func maxRel(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i])/math.Max(math.Max(math.Abs(a[i]), math.Abs(b[i])), 1e-12))
	}
	return m
}

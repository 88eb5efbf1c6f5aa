package autodiff_test

import (
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// mlpGraph builds a float32 tanh MLP 784-512-512-10 on a batch of 128 with a
// mean-square loss, the size GORGONIA.md's timings use.
func mlpGraph() (*G.ExprGraph, *G.Node, G.Nodes) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(128, 784), G.WithName("x"), G.WithInit(G.Ones()))
	dims := []int{784, 512, 512, 10}
	var ps G.Nodes
	h := x
	for i := 0; i+1 < len(dims); i++ {
		w := G.NewMatrix(g, tensor.Float32, G.WithShape(dims[i], dims[i+1]), G.WithInit(G.Zeroes()))
		ps = append(ps, w)
		h = G.Must(G.Tanh(G.Must(G.Mul(h, w))))
	}
	return g, G.Must(G.Mean(G.Must(G.Square(h)))), ps
}

func runBench(b *testing.B, g *G.ExprGraph, outs G.Nodes) {
	vm := G.NewTapeMachine(g.SubgraphRoots(outs...))
	defer vm.Close()
	b.ResetTimer()
	for range b.N {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGradMLP runs the gradient program built by Grad.
func BenchmarkGradMLP(b *testing.B) {
	g, loss, ps := mlpGraph()
	gr, err := autodiff.Grad(loss, ps...)
	if err != nil {
		b.Fatal(err)
	}
	runBench(b, g, gr)
}

// BenchmarkHVPMLP runs the Hessian-vector product program built by HVP.
func BenchmarkHVPMLP(b *testing.B) {
	g, loss, ps := mlpGraph()
	probes, err := autodiff.NewProbe(g, ps)
	if err != nil {
		b.Fatal(err)
	}
	hv, err := autodiff.HVP(loss, ps, probes)
	if err != nil {
		b.Fatal(err)
	}
	runBench(b, g, hv)
}

// BenchmarkBuildHVP measures building the HVP graph (the symbolic passes).
func BenchmarkBuildHVP(b *testing.B) {
	for range b.N {
		g, loss, ps := mlpGraph()
		probes, err := autodiff.NewProbe(g, ps)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := autodiff.HVP(loss, ps, probes); err != nil {
			b.Fatal(err)
		}
	}
}

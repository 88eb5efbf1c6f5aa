package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// builder makes the node under test from input nodes in graph g.
type builder func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func randData(rng *rand.Rand, n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = rng.NormFloat64()
	}
	return d
}

// inputNode creates a float64 tensor (or scalar) input of the given shape
// holding data.
func inputNode(g *gorgonia.ExprGraph, name string, shape tensor.Shape, data []float64) *gorgonia.Node {
	if len(shape) == 0 {
		return gorgonia.NewScalar(g, tensor.Float64, gorgonia.WithName(name), gorgonia.WithValue(data[0]))
	}
	v := tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(append([]float64(nil), data...)))
	return gorgonia.NewTensor(g, tensor.Float64, len(shape), gorgonia.WithName(name), gorgonia.WithShape(shape.Clone()...), gorgonia.WithValue(v))
}

func valueData(t testing.TB, v gorgonia.Value) []float64 {
	t.Helper()
	d, _, err := flat[float64](v)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), d...)
}

// forward evaluates the builder on the given input values.
func forward(t testing.TB, b builder, shapes []tensor.Shape, data [][]float64) ([]float64, tensor.Shape) {
	t.Helper()
	g := gorgonia.NewGraph()
	in := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		in[i] = inputNode(g, string(rune('a'+i)), s, data[i])
	}
	y, err := b(g, in)
	if err != nil {
		t.Fatal(err)
	}
	var out gorgonia.Value
	gorgonia.Read(y, &out)
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return valueData(t, out), y.Shape().Clone()
}

// weightedCost returns sum(c * y) for a fixed random c of y's shape.
func weightedCost(g *gorgonia.ExprGraph, y *gorgonia.Node, c []float64) (*gorgonia.Node, error) {
	cn := inputNode(g, "weights", y.Shape(), c)
	p, err := gorgonia.HadamardProd(y, cn)
	if err != nil {
		return nil, err
	}
	return SumAll(p)
}

// relErr is the relative error ||a-b|| / max(||a||, ||b||, 1e-12) in the
// Euclidean norm.
func relErr(a, b []float64) float64 {
	var d, na, nb float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	return math.Sqrt(d) / math.Max(math.Max(math.Sqrt(na), math.Sqrt(nb)), 1e-12)
}

// costFunc compiles the scalar cost sum(c*y) once and evaluates it at any
// input values.
type costFunc struct {
	m    gorgonia.VM
	in   []*gorgonia.Node
	out  gorgonia.Value
	data [][]float64
}

func newCostFunc(t testing.TB, b builder, shapes []tensor.Shape, data [][]float64, c []float64) *costFunc {
	t.Helper()
	g := gorgonia.NewGraph()
	f := &costFunc{data: data}
	f.in = make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		f.in[i] = inputNode(g, string(rune('a'+i)), s, data[i])
	}
	y, err := b(g, f.in)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := weightedCost(g, y, c)
	if err != nil {
		t.Fatal(err)
	}
	gorgonia.Read(cost, &f.out)
	f.m = gorgonia.NewTapeMachine(g)
	return f
}

func (f *costFunc) eval(t testing.TB) float64 {
	t.Helper()
	for i, n := range f.in {
		var v gorgonia.Value
		if len(n.Shape()) == 0 {
			v = gorgonia.NewF64(f.data[i][0])
		} else {
			v = tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.WithBacking(append([]float64(nil), f.data[i]...)))
		}
		if err := gorgonia.Let(n, v); err != nil {
			t.Fatal(err)
		}
	}
	f.m.Reset()
	if err := f.m.RunAll(); err != nil {
		t.Fatal(err)
	}
	return valueData(t, f.out)[0]
}

// numGrad is the central-difference gradient of f with respect to input i.
func (f *costFunc) numGrad(t testing.TB, i int, h float64) []float64 {
	g := make([]float64, len(f.data[i]))
	for j := range g {
		old := f.data[i][j]
		f.data[i][j] = old + h
		fp := f.eval(t)
		f.data[i][j] = old - h
		fm := f.eval(t)
		f.data[i][j] = old
		g[j] = (fp - fm) / (2 * h)
	}
	return g
}

// symGrads computes the gradients of sum(c*y) with gorgonia's first-order
// reverse mode (which calls this package's SymDiff methods).
func symGrads(t testing.TB, b builder, shapes []tensor.Shape, data [][]float64, c []float64, wrt []int) [][]float64 {
	t.Helper()
	g := gorgonia.NewGraph()
	in := make([]*gorgonia.Node, len(shapes))
	for i, s := range shapes {
		in[i] = inputNode(g, string(rune('a'+i)), s, data[i])
	}
	y, err := b(g, in)
	if err != nil {
		t.Fatal(err)
	}
	cost, err := weightedCost(g, y, c)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make(gorgonia.Nodes, len(wrt))
	for k, i := range wrt {
		nodes[k] = in[i]
	}
	grads, err := gorgonia.Grad(cost, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]gorgonia.Value, len(grads))
	for k := range grads {
		gorgonia.Read(grads[k], &vals[k])
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(grads))
	for k := range vals {
		out[k] = valueData(t, vals[k])
	}
	return out
}

// checkFirstOrder compares symbolic and central-difference gradients of
// sum(c*y) with respect to inputs wrt and returns the largest relative error.
func checkFirstOrder(t *testing.T, b builder, shapes []tensor.Shape, data [][]float64, wrt []int, seed uint64) float64 {
	t.Helper()
	// the output shape decides the size of c
	_, yshape := forward(t, b, shapes, data)
	c := randData(newRNG(seed+1000), yshape.TotalSize())
	if len(yshape) == 0 {
		c = c[:1]
	}
	sym := symGrads(t, b, shapes, data, c, wrt)
	f := newCostFunc(t, b, shapes, data, c)
	worst := 0.0
	for k, i := range wrt {
		num := f.numGrad(t, i, 1e-5)
		e := relErr(sym[k], num)
		if e > worst {
			worst = e
		}
	}
	return worst
}

// tol is the accepted relative error between symbolic and central-difference
// derivatives in float64.
const tol = 1e-6

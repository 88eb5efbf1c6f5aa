package ops

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
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
// reverse mode (which calls this package's SymDiff methods), one fresh graph
// per input. An input that y does not depend on gets a zero gradient.
func symGrads(t testing.TB, b builder, shapes []tensor.Shape, data [][]float64, c []float64, wrt []int) [][]float64 {
	t.Helper()
	out := make([][]float64, len(wrt))
	for k, i := range wrt {
		g := gorgonia.NewGraph()
		in := make([]*gorgonia.Node, len(shapes))
		for j, s := range shapes {
			in[j] = inputNode(g, string(rune('a'+j)), s, data[j])
		}
		y, err := b(g, in)
		if err != nil {
			t.Fatal(err)
		}
		cost, err := weightedCost(g, y, c)
		if err != nil {
			t.Fatal(err)
		}
		grads, err := gorgonia.Grad(cost, in[i])
		if err != nil {
			var sde gorgonia.SymDiffError
			if errors.As(err, &sde) && strings.Contains(err.Error(), "Non Differentiable WRTs") {
				out[k] = make([]float64, len(data[i]))
				continue
			}
			t.Fatal(err)
		}
		var val gorgonia.Value
		gorgonia.Read(grads[0], &val)
		m := gorgonia.NewTapeMachine(g)
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		m.Close()
		out[k] = valueData(t, val)
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

// vjp turns a builder of one op y = op(x...) into the builder of that op's
// symbolic vector-Jacobian product with respect to input i: its inputs are
// x... followed by a cotangent u of y's shape. Checking vjp's own gradient
// against finite differences checks the op's second derivatives.
func vjp(b builder, i int) builder {
	return func(g *gorgonia.ExprGraph, in []*gorgonia.Node) (*gorgonia.Node, error) {
		xs, u := in[:len(in)-1], in[len(in)-1]
		y, err := b(g, xs)
		if err != nil {
			return nil, err
		}
		sd, ok := y.Op().(gorgonia.SDOp)
		if !ok {
			return nil, fmt.Errorf("%v is not an SDOp", y.Op())
		}
		grads, err := sd.SymDiff(xs, y, u)
		if err != nil {
			return nil, err
		}
		if grads[i] == nil {
			return nil, fmt.Errorf("%v: no gradient for input %d", y.Op(), i)
		}
		return grads[i], nil
	}
}

// opCase describes one op application to check.
type opCase struct {
	name   string
	shapes []tensor.Shape
	b      builder
	wrt    []int // differentiable inputs
	data   func(rng *rand.Rand, i int, n int) []float64
	step   float64 // finite-difference step of the autodiff check (0: fdcheck's default)
	multi  bool    // b composes several ops: skip the single-op VJP check
}

// runOpCases checks, against central differences, for every case: the
// first-order gradients from gorgonia.Grad, the gradients of the op's VJPs
// (second order, op by op), and autodiff's gradient and Hessian-vector
// product of a nonlinear loss of the op's output.
func runOpCases(t *testing.T, cases []opCase) {
	var first, second, adGrad, adHVP float64
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := newRNG(uint64(ci) + 1)
			data := make([][]float64, len(tc.shapes))
			for i, s := range tc.shapes {
				n := max(s.TotalSize(), 1)
				if tc.data != nil {
					data[i] = tc.data(rng, i, n)
				} else {
					data[i] = randData(rng, n)
				}
			}
			e1 := checkFirstOrder(t, tc.b, tc.shapes, data, tc.wrt, uint64(ci))
			if e1 > tol {
				t.Errorf("first order: rel err %g > %g", e1, tol)
			}
			first = max(first, e1)
			_, ys := forward(t, tc.b, tc.shapes, data)
			u := randData(rng, max(ys.TotalSize(), 1))
			shapes2 := append(append([]tensor.Shape(nil), tc.shapes...), ys)
			data2 := append(append([][]float64(nil), data...), u)
			wrt2 := append(append([]int(nil), tc.wrt...), len(tc.shapes))
			e2max := 0.0
			for _, i := range tc.wrt {
				if tc.multi {
					break
				}
				e2 := checkFirstOrder(t, vjp(tc.b, i), shapes2, data2, wrt2, uint64(ci)+50)
				if e2 > tol {
					t.Errorf("second order (vjp wrt %d): rel err %g > %g", i, e2, tol)
				}
				e2max = max(e2max, e2)
			}
			second = max(second, e2max)
			eg, eh := checkAutodiff(t, tc.b, tc.shapes, data, tc.wrt, tc.step)
			if eg > tol || eh > tol {
				t.Errorf("autodiff vs finite differences: grad rel err %g, hvp rel err %g > %g", eg, eh, tol)
			}
			adGrad, adHVP = max(adGrad, eg), max(adHVP, eh)
			t.Logf("rel err: first %.2g, vjp %.2g, autodiff grad %.2g, hvp %.2g", e1, e2max, eg, eh)
		})
	}
	t.Logf("worst rel err: first order %.2g, second order (vjp) %.2g, autodiff grad %.2g, autodiff hvp %.2g", first, second, adGrad, adHVP)
}

// checkAutodiff checks autodiff.Grad and autodiff.HVP of the nonlinear loss
// sum(y ⊙ (y + c)) (y + y² for a scalar y) against fdcheck's finite
// differences; inputs not in wrt are fixed data. It returns the worst
// gradient and HVP relative errors.
func checkAutodiff(t *testing.T, b builder, shapes []tensor.Shape, data [][]float64, wrt []int, step float64) (float64, float64) {
	t.Helper()
	_, ys := forward(t, b, shapes, data)
	c := randData(newRNG(99), max(ys.TotalSize(), 1))
	params := make([]fdcheck.Param, len(wrt))
	isParam := make(map[int]int)
	for k, i := range wrt {
		params[k] = fdcheck.Param{Name: fmt.Sprintf("p%d", i), Shape: []int(shapes[i].Clone()), Data: append([]float64(nil), data[i]...)}
		isParam[i] = k
	}
	build := func(g *gorgonia.ExprGraph, ps gorgonia.Nodes) (*gorgonia.Node, error) {
		in := make([]*gorgonia.Node, len(shapes))
		for i, s := range shapes {
			if k, ok := isParam[i]; ok {
				in[i] = ps[k]
			} else {
				in[i] = inputNode(g, fmt.Sprintf("data%d", i), s, data[i])
			}
		}
		y, err := b(g, in)
		if err != nil {
			return nil, err
		}
		return squareLoss(g, y, c)
	}
	rep, err := fdcheck.Check(build, params, fdcheck.Options{Seed: 3, Step: step})
	if err != nil {
		t.Fatal(err)
	}
	return rep.MaxGradRelErr, rep.MaxHVPRelErr
}

// squareLoss is sum(y ⊙ (y + c)) for a tensor y, y·(y + c) for a scalar.
func squareLoss(g *gorgonia.ExprGraph, y *gorgonia.Node, c []float64) (*gorgonia.Node, error) {
	if y.IsScalar() {
		cn := gorgonia.NewConstant(c[0], gorgonia.WithName("c"))
		s, err := gorgonia.Add(y, cn)
		if err != nil {
			return nil, err
		}
		return gorgonia.Mul(y, s)
	}
	cn := inputNode(g, "c", y.Shape(), c)
	s, err := gorgonia.Add(y, cn)
	if err != nil {
		return nil, err
	}
	p, err := gorgonia.HadamardProd(y, s)
	if err != nil {
		return nil, err
	}
	return SumAll(p)
}

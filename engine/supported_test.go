package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// opGraph builds a small graph exercising one op and returns its outputs.
type opGraph func(g *gorgonia.ExprGraph, in func(name string, shape ...int) *gorgonia.Node) (gorgonia.Nodes, error)

// unaryCtors and binaryCtors build every entry of builtinUnary and
// builtinBinary: a new entry without a constructor fails the test.
var unaryCtors = map[string]func(*gorgonia.Node) (*gorgonia.Node, error){
	"abs": gorgonia.Abs, "sign": gorgonia.Sign, "exp": gorgonia.Exp, "ln": gorgonia.Log, "neg": gorgonia.Neg,
	"square": gorgonia.Square, "sqrt": gorgonia.Sqrt, "inv": gorgonia.Inverse, "cube": gorgonia.Cube,
	"tanh": gorgonia.Tanh, "sigmoid": gorgonia.Sigmoid, "softplus": gorgonia.Softplus, "log1p": gorgonia.Log1p,
	"expm1": gorgonia.Expm1,
}

var binaryCtors = map[string]func(a, b *gorgonia.Node) (*gorgonia.Node, error){
	"+": gorgonia.Add, "-": gorgonia.Sub, "⊙": gorgonia.HadamardProd, "÷": gorgonia.HadamardDiv, "^": gorgonia.Pow,
	"<":  func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Lt(a, b, true) },
	">":  func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Gt(a, b, true) },
	"<=": func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Lte(a, b, true) },
	">=": func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Gte(a, b, true) },
	"==": func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Eq(a, b, true) },
	"!=": func(a, b *gorgonia.Node) (*gorgonia.Node, error) { return gorgonia.Ne(a, b, true) },
}

func one(n *gorgonia.Node, err error) (gorgonia.Nodes, error) { return gorgonia.Nodes{n}, err }

// TestSupportedOps runs every built-in the compiler claims to support on
// small inputs, natively and on the TapeMachine, and requires equal
// results (float64, 1e-12 relative).
func TestSupportedOps(t *testing.T) {
	cases := map[string]opGraph{}
	for name := range builtinUnary {
		ctor, ok := unaryCtors[name]
		if !ok {
			t.Errorf("no test for unary op %q", name)
			continue
		}
		cases["unary "+name] = func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			return one(ctor(in("pos", 3, 4)))
		}
	}
	for sym := range builtinBinary {
		ctor, ok := binaryCtors[sym]
		if !ok {
			t.Errorf("no test for binary op %q", sym)
			continue
		}
		cases["binary "+sym] = func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			a, b := in("grid a", 5, 3), in("grid b", 5, 3)
			switch sym {
			case "^":
				a = in("pos", 5, 3)
			case "÷":
				// gorgonia's tensor division departs from IEEE at zero
				// denominators (0/0 and −1/0 give +Inf); the kernels follow IEEE.
				b = in("pos", 5, 3)
			}
			ab, err := ctor(a, b)
			if err != nil {
				return nil, err
			}
			s := gorgonia.NewScalar(g, gt.Float64, gorgonia.WithName("s"), gorgonia.WithValue(1.5))
			as, err := ctor(a, s)
			if err != nil {
				return nil, err
			}
			return gorgonia.Nodes{ab, as}, nil
		}
	}
	more := map[string]opGraph{
		"constants": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			c := gorgonia.NewConstant(gt.New(gt.WithShape(2, 3), gt.WithBacking([]float64{1, 2, 3, 4, 5, 6})))
			return one(gorgonia.Add(in("x", 2, 3), c))
		},
		"mean (size op)": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			return one(gorgonia.Mean(in("x", 4, 5), 1))
		},
		"sum axes": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			x := in("x", 3, 4, 5)
			a, err := gorgonia.Sum(x, 0)
			if err != nil {
				return nil, err
			}
			b, err := gorgonia.Sum(x, 2)
			if err != nil {
				return nil, err
			}
			c, err := gorgonia.Sum(x)
			if err != nil {
				return nil, err
			}
			return gorgonia.Nodes{a, b, c}, nil
		},
		"transpose": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			a, err := gorgonia.Transpose(in("x", 3, 4))
			if err != nil {
				return nil, err
			}
			b, err := gorgonia.Transpose(in("y", 2, 3, 4), 1, 2, 0)
			if err != nil {
				return nil, err
			}
			c, err := gorgonia.Transpose(in("z", 2, 3, 4, 5), 0, 2, 1, 3)
			if err != nil {
				return nil, err
			}
			return gorgonia.Nodes{a, b, c}, nil
		},
		"max along": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			return one(gorgonia.Max(in("x", 4, 6), 1))
		},
		"reshape and broadcast (repeat)": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			b, err := gorgonia.Reshape(in("b", 5), gt.Shape{1, 5})
			if err != nil {
				return nil, err
			}
			return one(gorgonia.BroadcastAdd(in("x", 4, 5), b, nil, []byte{0}))
		},
		"products": func(g *gorgonia.ExprGraph, in func(string, ...int) *gorgonia.Node) (gorgonia.Nodes, error) {
			a, b, v, w := in("a", 4, 3), in("b", 3, 5), in("v", 3), in("w", 3)
			mm, err := gorgonia.Mul(a, b)
			if err != nil {
				return nil, err
			}
			mv, err := gorgonia.Mul(a, v)
			if err != nil {
				return nil, err
			}
			dot, err := gorgonia.Mul(v, w)
			if err != nil {
				return nil, err
			}
			outer, err := gorgonia.OuterProd(v, w)
			if err != nil {
				return nil, err
			}
			bm, err := gorgonia.BatchedMatMul(in("ba", 2, 4, 3), in("bb", 2, 3, 5))
			if err != nil {
				return nil, err
			}
			// Gradients of the products bring in the transposed forms.
			l, err := gorgonia.Sum(mm)
			if err != nil {
				return nil, err
			}
			l2, err := gorgonia.Sum(mv)
			if err != nil {
				return nil, err
			}
			l, err = gorgonia.Add(l, l2)
			if err != nil {
				return nil, err
			}
			gr, err := autodiff.Grad(l, a, b, v)
			if err != nil {
				return nil, err
			}
			return append(gorgonia.Nodes{mm, mv, dot, outer, bm}, gr...), nil
		},
	}
	for k, v := range more {
		cases[k] = v
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			rng := rand.New(rand.NewPCG(1, 2))
			in := func(name string, shape ...int) *gorgonia.Node {
				d := make([]float64, prod(shape))
				for i := range d {
					switch {
					case strings.HasPrefix(name, "pos"):
						d[i] = 0.2 + rng.Float64()
					case strings.HasPrefix(name, "grid"):
						d[i] = float64(rng.IntN(3)) - 1 // ties for the comparisons
					default:
						d[i] = rng.NormFloat64()
					}
				}
				return gorgonia.NodeFromAny(g, gt.New(gt.WithShape(shape...), gt.WithBacking(d)), gorgonia.WithName(name))
			}
			outs, err := build(g, in)
			if err != nil {
				t.Fatal(err)
			}
			nat, err := CompileWith(g, Options{Backend: Native, Workers: 1}, outs...)
			if err != nil {
				t.Fatalf("not compiled: %v", err)
			}
			defer nat.Close()
			tp, err := CompileWith(g, Options{Backend: Tape}, outs...)
			if err != nil {
				t.Fatal(err)
			}
			defer tp.Close()
			if err := nat.Run(); err != nil {
				t.Fatal(err)
			}
			if err := tp.Run(); err != nil {
				t.Fatal(err)
			}
			for i := range outs {
				a, b := flatValue(nat.Output(i)), flatValue(tp.Output(i))
				if len(a) != len(b) {
					t.Fatalf("output %d: %d elements, tape %d", i, len(a), len(b))
				}
				for j := range a {
					if math.Abs(a[j]-b[j]) > 1e-12*math.Max(1, math.Abs(b[j])) || math.IsNaN(a[j]) != math.IsNaN(b[j]) {
						t.Fatalf("output %d (%v): %v, tape %v", i, outs[i].Op(), a, b)
					}
				}
			}
		})
	}
}

func flatValue(v gorgonia.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return d
	case float64:
		return []float64{d}
	}
	panic(fmt.Sprintf("value %T", v))
}

package ops

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// geluOp evaluates the order-th derivative of GELU elementwise: order 0 is
// GELU itself. Its SymDiff multiplies the incoming gradient by the op of the
// next order, so GELU can be differentiated to any order.
type geluOp struct {
	opBase
	order int
	tanh  bool // the tanh approximation instead of the exact erf form
	shape tensor.Shape
}

func (op *geluOp) Arity() int    { return 1 }
func (op *geluOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *geluOp) String() string {
	form := "erf"
	if op.tanh {
		form = "tanh"
	}
	return fmt.Sprintf("GELU{%s,order=%d,shape=%v}", form, op.order, op.shape)
}
func (op *geluOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *geluOp) Hashcode() uint32      { return hashOf(op) }
func (op *geluOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *geluOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, geluKernel[float64](op), geluKernel[float32](op))
}
func (op *geluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *geluOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%v: want 1 input, got %d", op, len(in))
	}
	d, err := apply(&geluOp{order: op.order + 1, tanh: op.tanh, shape: op.shape.Clone()}, in[0])
	if err != nil {
		return nil, err
	}
	dx, err := gorgonia.HadamardProd(g, d)
	return gorgonia.Nodes{dx}, err
}

func geluKernel[T float](op *geluOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		if !sameShape(ss[0], op.shape) {
			return nil, nil, fmt.Errorf("input shape %v", ss[0])
		}
		out := make([]T, len(in[0]))
		f := geluErfDeriv
		if op.tanh {
			f = geluTanhDeriv
		}
		for i, v := range in[0] {
			out[i] = T(f(float64(v), op.order))
		}
		return out, op.shape.Clone(), nil
	}
}

// geluErfDeriv is the k-th derivative of x·Φ(x). For k ≥ 2 it is
// φ(x)·P_k(x) with P_2 = 2 - x² and P_{k+1} = P_k' - x·P_k.
func geluErfDeriv(x float64, k int) float64 {
	cdf := 0.5 * math.Erfc(-x/math.Sqrt2)
	pdf := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi)
	switch k {
	case 0:
		return x * cdf
	case 1:
		return cdf + x*pdf
	}
	p := []float64{2, 0, -1} // coefficients of P_2 in increasing powers
	for j := 2; j < k; j++ {
		q := make([]float64, len(p)+1)
		for i := 1; i < len(p); i++ {
			q[i-1] += float64(i) * p[i]
		}
		for i, c := range p {
			q[i+1] -= c
		}
		p = q
	}
	var s float64
	for i := len(p) - 1; i >= 0; i-- {
		s = s*x + p[i]
	}
	return pdf * s
}

// geluTanhDeriv is the k-th derivative of 0.5·x·(1 + tanh(u)),
// u = √(2/π)(x + 0.044715x³). With t = tanh(u), the k-th derivative is
// (k/2)·t^(k-1) + (x/2)·t^(k), plus 1/2 when k = 1; the derivatives of t come from the Taylor
// coefficients of tanh(u(x+ε)) in ε, from t' = (1 - t²)·u'.
func geluTanhDeriv(x float64, k int) float64 {
	const a = 0.044715
	c := math.Sqrt(2 / math.Pi)
	// Taylor coefficients of u(x+ε): exact, a cubic in ε.
	u := []float64{c * (x + a*x*x*x), c * (1 + 3*a*x*x), c * 3 * a * x, c * a}
	uc := func(n int) float64 {
		if n < len(u) {
			return u[n]
		}
		return 0
	}
	t := make([]float64, k+1)
	t[0] = math.Tanh(u[0])
	for n := 0; n < k; n++ {
		// (n+1)·t[n+1] = Σ_j (1 - T²)_j · (n-j+1)·u[n-j+1]
		var s float64
		for j := 0; j <= n; j++ {
			var sq float64
			for i := 0; i <= j; i++ {
				sq += t[i] * t[j-i]
			}
			one := 0.0
			if j == 0 {
				one = 1
			}
			s += (one - sq) * float64(n-j+1) * uc(n-j+1)
		}
		t[n+1] = s / float64(n+1)
	}
	if k == 0 {
		return 0.5 * x * (1 + t[0])
	}
	// t^(m) = m!·t[m]
	fact := 1.0
	for m := 2; m < k; m++ {
		fact *= float64(m)
	}
	dPrev := fact * t[k-1]         // (k-1)!·t[k-1]
	dK := fact * float64(k) * t[k] // k!·t[k]
	r := 0.5*float64(k)*dPrev + 0.5*x*dK
	if k == 1 {
		r += 0.5 // from the linear term 0.5·x
	}
	return r
}

// GELU is x·Φ(x), Φ the standard normal distribution function.
func GELU(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&geluOp{shape: x.Shape().Clone()}, x)
}

// GELUTanh is the tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
func GELUTanh(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&geluOp{tanh: true, shape: x.Shape().Clone()}, x)
}

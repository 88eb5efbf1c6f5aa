package conformance

import (
	"math"

	"github.com/gradlab/gradlab/kernels"
)

// The reference implementations: float64, plain loops, no cleverness. Each
// returns the expected values and, where rounding grows with the number of
// terms, a per-element magnitude used to scale the tolerance.

func refGemm(tA, tB bool, m, n, k int, alpha float64, a, b []float64, beta float64, c []float64) (want, mag []float64) {
	want, mag = make([]float64, m*n), make([]float64, m*n)
	at := func(i, l int) float64 {
		if tA {
			return a[l*m+i]
		}
		return a[i*k+l]
	}
	bt := func(l, j int) float64 {
		if tB {
			return b[j*k+l]
		}
		return b[l*n+j]
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sm float64
			for l := 0; l < k; l++ {
				s += at(i, l) * bt(l, j)
				sm += math.Abs(at(i, l) * bt(l, j))
			}
			want[i*n+j] = alpha * s
			mag[i*n+j] = math.Abs(alpha)*sm + 1
			if beta != 0 {
				want[i*n+j] += beta * c[i*n+j]
				mag[i*n+j] += math.Abs(beta * c[i*n+j])
			}
		}
	}
	return want, mag
}

func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func refUnary(op kernels.UnaryOp, x float64, a kernels.UnaryArgs) float64 {
	switch op {
	case kernels.Copy:
		return x
	case kernels.Neg:
		return -x
	case kernels.Exp:
		return math.Exp(x)
	case kernels.Log:
		return math.Log(x)
	case kernels.Tanh:
		return math.Tanh(x)
	case kernels.Sigmoid:
		return refSigmoid(x)
	case kernels.Square:
		return x * x
	case kernels.Sqrt:
		return math.Sqrt(x)
	case kernels.Cube:
		return x * x * x
	case kernels.Abs:
		return math.Abs(x)
	case kernels.Sign:
		if x > 0 {
			return 1
		} else if x < 0 {
			return -1
		}
		return 0
	case kernels.Inverse:
		return 1 / x
	case kernels.ReLU:
		return math.Max(x, 0) + a.A*math.Min(x, 0)
	case kernels.ReLUSlope:
		if x > 0 {
			return 1
		}
		return a.A
	case kernels.Scale:
		return a.A*x + a.B
	case kernels.Pow:
		return a.A * math.Pow(x+a.C, a.B)
	case kernels.Softplus:
		return math.Log(1 + math.Exp(x))
	case kernels.Log1p:
		return math.Log1p(x)
	case kernels.Expm1:
		return math.Expm1(x)
	case kernels.GELU:
		return refGELUErf(x, int(a.A))
	case kernels.GELUTanh:
		return refGELUTanh(x, int(a.A))
	}
	return math.NaN()
}

// refGELUErf is the derivative of order k of x·Φ(x), written with erf.
func refGELUErf(x float64, k int) float64 {
	cdf := 0.5 * (1 + math.Erf(x/math.Sqrt2))
	pdf := math.Exp(-x*x/2) / math.Sqrt(2*math.Pi)
	switch k {
	case 0:
		return x * cdf
	case 1:
		return cdf + x*pdf
	case 2:
		return 2*pdf - x*x*pdf
	}
	// φ·P_k with P_2 = 2 − x² and P_{k+1} = P_k' − x·P_k (coefficients in
	// increasing powers).
	p := []float64{2, 0, -1}
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
	var v float64
	for i := len(p) - 1; i >= 0; i-- {
		v = v*x + p[i]
	}
	return pdf * v
}

// refGELUTanh is the derivative of order k of ½x(1 + tanh u(x)),
// u = √(2/π)(x + 0.044715x³), written with sech² u = 1/cosh² u.
func refGELUTanh(x float64, k int) float64 {
	c := math.Sqrt(2 / math.Pi)
	u := c * (x + 0.044715*x*x*x)
	du, ddu := c*(1+3*0.044715*x*x), c*6*0.044715*x
	th := math.Tanh(u)
	ch := math.Cosh(u)
	sech2 := 1 / (ch * ch)
	switch k {
	case 0:
		return x / 2 * (1 + th)
	case 1:
		return (1+th)/2 + x/2*sech2*du
	case 2:
		return sech2*du + x/2*sech2*ddu - x*th*sech2*du*du
	}
	return refGELUTanhSeries(x, k)
}

// refGELUTanhSeries is the derivative of order k ≥ 1 of ½x(1 + tanh u(x))
// from truncated power series in ε at x: E = exp(∓2u(x+ε)) by the
// recurrence E' = ∓2u'E, then tanh = ±(1 − E)/(1 + E) by series division
// (the sign chosen so that E(0) ≤ 1), then k!·[εᵏ] ½(x+ε)(1 + tanh).
func refGELUTanhSeries(x float64, k int) float64 {
	c := math.Sqrt(2 / math.Pi)
	u := []float64{c * (x + 0.044715*x*x*x), c * (1 + 3*0.044715*x*x), c * 3 * 0.044715 * x, c * 0.044715}
	sign := 1.0
	if u[0] < 0 {
		sign = -1
	}
	// a = −2·sign·u, E = exp(a).
	a := make([]float64, k+1)
	for i := range a {
		if i < len(u) {
			a[i] = -2 * sign * u[i]
		}
	}
	e := make([]float64, k+1)
	e[0] = math.Exp(a[0])
	for n := 1; n <= k; n++ {
		var s float64
		for m := 1; m <= n; m++ {
			s += float64(m) * a[m] * e[n-m]
		}
		e[n] = s / float64(n)
	}
	// t·(1 + E) = sign·(1 − E).
	t := make([]float64, k+1)
	for n := 0; n <= k; n++ {
		num := -e[n]
		if n == 0 {
			num = 1 - e[0]
		}
		num *= sign
		for i := 1; i <= n; i++ {
			num -= e[i] * t[n-i]
		}
		t[n] = num / (1 + e[0])
	}
	f := x / 2 * t[k]
	if k >= 1 {
		f += t[k-1] / 2
	}
	if k == 1 {
		f += 0.5
	}
	for m := 2; m <= k; m++ {
		f *= float64(m)
	}
	return f
}

// refMaxPool returns, for each output of the max pooling g of x, the
// maximum of its window and its position iy·W+ix in the plane: the first
// maximum in row-major order, NaN above any number.
func refMaxPool(x []float64, g kernels.PoolGeom) (y, arg []float64) {
	oh, ow := g.Out()
	for n := 0; n < g.N*g.C; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, pos := math.Inf(-1), -1
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						iy, ix := oy*g.StrideH-g.PadH+ky, ox*g.StrideW-g.PadW+kx
						if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
							continue
						}
						v := x[n*g.H*g.W+iy*g.W+ix]
						better := v > best || pos < 0
						if math.IsNaN(best) && pos >= 0 {
							better = false
						} else if math.IsNaN(v) {
							better = true
						}
						if better {
							best, pos = v, iy*g.W+ix
						}
					}
				}
				y = append(y, best)
				arg = append(arg, float64(pos))
			}
		}
	}
	return y, arg
}

func refBinary(op kernels.BinaryOp, x, y float64) float64 {
	b := func(c bool) float64 {
		if c {
			return 1
		}
		return 0
	}
	switch op {
	case kernels.Add:
		return x + y
	case kernels.Sub:
		return x - y
	case kernels.Mul:
		return x * y
	case kernels.Div:
		return x / y
	case kernels.PowOp:
		return math.Pow(x, y)
	case kernels.Max:
		return math.Max(x, y)
	case kernels.Min:
		return math.Min(x, y)
	case kernels.Greater:
		return b(x > y)
	case kernels.GreaterEq:
		return b(x >= y)
	case kernels.Less:
		return b(x < y)
	case kernels.LessEq:
		return b(x <= y)
	case kernels.Equal:
		return b(x == y)
	case kernels.NotEqual:
		return b(x != y)
	}
	return math.NaN()
}

// refBroadcastIndex maps a flat output index of shape out to the flat index
// of an operand of shape in (right-aligned, size-1 axes repeated).
func refBroadcastIndex(out, in []int, flat int) int {
	idx := make([]int, len(out))
	for ax := len(out) - 1; ax >= 0; ax-- {
		idx[ax] = flat % out[ax]
		flat /= out[ax]
	}
	off, stride := 0, 1
	for ax := len(in) - 1; ax >= 0; ax-- {
		i := idx[ax+len(out)-len(in)]
		if in[ax] == 1 {
			i = 0
		}
		off += i * stride
		stride *= in[ax]
	}
	return off
}

func refReduce(op kernels.ReduceOp, x []float64, outer, n, inner int, scale float64) (want, mag []float64) {
	want, mag = make([]float64, outer*inner), make([]float64, outer*inner)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			var acc float64
			switch op {
			case kernels.ReduceMax:
				acc = math.Inf(-1)
			case kernels.ReduceMin:
				acc = math.Inf(1)
			}
			var m float64
			for j := 0; j < n; j++ {
				v := x[(o*n+j)*inner+i]
				m += math.Abs(v)
				switch op {
				case kernels.ReduceSum:
					acc += v
				case kernels.ReduceMax:
					acc = math.Max(acc, v)
				case kernels.ReduceMin:
					acc = math.Min(acc, v)
				}
			}
			want[o*inner+i] = scale * acc
			mag[o*inner+i] = math.Abs(scale)*m + 1
		}
	}
	return want, mag
}

func refLogSoftmaxRow(x []float64) []float64 {
	// log softmax via the log-sum-exp of the row, shifted by its first
	// element (any shift works mathematically).
	var z float64
	for _, v := range x {
		z += math.Exp(v - x[0])
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - x[0] - math.Log(z)
	}
	return out
}

func refIm2col(img []float64, g kernels.ConvGeom) []float64 {
	oh, ow := g.Out()
	rows := g.C * g.KH * g.KW
	col := make([]float64, g.N*rows*oh*ow)
	for n := 0; n < g.N; n++ {
		for c := 0; c < g.C; c++ {
			for i := 0; i < g.KH; i++ {
				for j := 0; j < g.KW; j++ {
					r := (c*g.KH+i)*g.KW + j
					for y := 0; y < oh; y++ {
						for x := 0; x < ow; x++ {
							iy, ix := y*g.StrideH+i*g.DilH-g.PadH, x*g.StrideW+j*g.DilW-g.PadW
							v := 0.0
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								v = img[((n*g.C+c)*g.H+iy)*g.W+ix]
							}
							col[((n*rows+r)*oh+y)*ow+x] = v
						}
					}
				}
			}
		}
	}
	return col
}

// refCol2im is the adjoint of refIm2col, computed as its transpose applied
// to col: img[p] = Σ over column entries that read pixel p.
func refCol2im(col []float64, g kernels.ConvGeom) []float64 {
	img := make([]float64, g.N*g.C*g.H*g.W)
	oh, ow := g.Out()
	rows := g.C * g.KH * g.KW
	for n := 0; n < g.N; n++ {
		for c := 0; c < g.C; c++ {
			for i := 0; i < g.KH; i++ {
				for j := 0; j < g.KW; j++ {
					r := (c*g.KH+i)*g.KW + j
					for y := 0; y < oh; y++ {
						for x := 0; x < ow; x++ {
							iy, ix := y*g.StrideH+i*g.DilH-g.PadH, x*g.StrideW+j*g.DilW-g.PadW
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								img[((n*g.C+c)*g.H+iy)*g.W+ix] += col[((n*rows+r)*oh+y)*ow+x]
							}
						}
					}
				}
			}
		}
	}
	return img
}

package kernels

import (
	"fmt"
	"math"
)

// maxDims bounds the rank of broadcast operations on the CPU (after merging
// adjacent axes).
const maxDims = 8

type unaryJob[T Float] struct {
	op       UnaryOp
	dst, src []T
	a, b, c  float64
}

func (j *unaryJob[T]) run(lo, hi int) {
	d, x := j.dst[lo:hi], j.src[lo:hi]
	a, b, c := T(j.a), T(j.b), T(j.c)
	switch j.op {
	case Copy:
		copy(d, x)
	case Neg:
		for i, v := range x {
			d[i] = -v
		}
	case Exp:
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)))
		}
	case Log:
		for i, v := range x {
			d[i] = T(math.Log(float64(v)))
		}
	case Tanh:
		for i, v := range x {
			d[i] = T(math.Tanh(float64(v)))
		}
	case Sigmoid:
		for i, v := range x {
			d[i] = T(sigmoid(float64(v)))
		}
	case Square:
		for i, v := range x {
			d[i] = v * v
		}
	case Sqrt:
		for i, v := range x {
			d[i] = T(math.Sqrt(float64(v)))
		}
	case Cube:
		for i, v := range x {
			d[i] = v * v * v
		}
	case Abs:
		for i, v := range x {
			d[i] = T(math.Abs(float64(v)))
		}
	case Sign:
		for i, v := range x {
			switch {
			case v > 0:
				d[i] = 1
			case v < 0:
				d[i] = -1
			default:
				d[i] = v // keeps 0 and NaN
			}
		}
	case Inverse:
		for i, v := range x {
			d[i] = 1 / v
		}
	case ReLU:
		reluRange(d, x, a, true)
	case ReLUSlope:
		reluRange(d, x, a, false)
	case Scale:
		for i, v := range x {
			d[i] = a*v + b
		}
	case Pow:
		for i, v := range x {
			d[i] = T(j.a * math.Pow(float64(v)+j.c, j.b))
		}
		_ = c
	case Softplus:
		for i, v := range x {
			d[i] = T(softplus(float64(v)))
		}
	case Log1p:
		for i, v := range x {
			d[i] = T(math.Log1p(float64(v)))
		}
	case Expm1:
		for i, v := range x {
			d[i] = T(math.Expm1(float64(v)))
		}
	case GELU:
		k := int(j.a)
		for i, v := range x {
			d[i] = T(geluErf(float64(v), k))
		}
	case GELUTanh:
		k := int(j.a)
		for i, v := range x {
			d[i] = T(geluTanh(float64(v), k))
		}
	}
}

// GELUDeriv returns the derivative of order k ≥ 0 of GELU at x: of x·Φ(x) (Φ the standard normal distribution function), or
// with tanhForm of ½x(1 + tanh(√(2/π)(x + 0.044715x³))). The GELU and
// GELUTanh unary kernels compute the same values for k ≤ MaxGELUOrder;
// package ops uses it for its ops' own Do methods, at any order.
func GELUDeriv(x float64, k int, tanhForm bool) float64 {
	if tanhForm {
		return geluTanh(x, k)
	}
	return geluErf(x, k)
}

// geluErf is the derivative of order k ≤ MaxGELUOrder of x·Φ(x): Φ + x·φ
// for k = 1 and, from Leibniz's rule with Φ⁽ᵐ⁾ = φ⁽ᵐ⁻¹⁾ = (−1)ᵐ⁻¹·Heₘ₋₁·φ
// (Heₙ the probabilists' Hermite polynomials), (−1)ᵏ·φ·(k·Heₖ₋₂ − x·Heₖ₋₁)
// for k ≥ 2 (φ·(2 − x²) for k = 2).
func geluErf(x float64, k int) float64 {
	switch k {
	case 0:
		return 0.5 * x * math.Erfc(-x/math.Sqrt2)
	case 1:
		return 0.5*math.Erfc(-x/math.Sqrt2) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
	case 2:
		return math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) * (2 - x*x)
	}
	// He₀ = 1, He₁ = x, Heₙ₊₁ = x·Heₙ − n·Heₙ₋₁.
	hPrev, h := 1.0, x
	for n := 1; n < k-1; n++ {
		hPrev, h = h, x*h-float64(n)*hPrev
	}
	r := math.Exp(-0.5*x*x) / math.Sqrt(2*math.Pi) * (float64(k)*hPrev - x*h)
	if k%2 == 1 {
		r = -r
	}
	return r
}

// geluTanh is the derivative of order k ≤ MaxGELUOrder of ½x(1 + t),
// t = tanh u, u = √(2/π)(x + 0.044715x³): with s = 1 − t²,
//
//	k = 1: ½(1 + t) + ½x·s·u'
//	k = 2: s·(u' + ½x·(u'' − 2t·u'²))
//
// and higher orders from Taylor coefficients (geluTanhSeries).
func geluTanh(x float64, k int) float64 {
	const a, c = 0.044715, 0.7978845608028654 // c = √(2/π)
	t := math.Tanh(c * (x + a*x*x*x))
	switch k {
	case 0:
		return 0.5 * x * (1 + t)
	case 1:
		return 0.5*(1+t) + 0.5*x*(1-t*t)*c*(1+3*a*x*x)
	case 2:
		u1, u2 := c*(1+3*a*x*x), 6*c*a*x
		return (1 - t*t) * (u1 + 0.5*x*(u2-2*t*u1*u1))
	}
	return geluTanhSeries(x, k)
}

// geluTanhSeries is the derivative of order 2 ≤ k ≤ MaxGELUOrder of
// ½x(1 + tanh u(x)) as k!·fₖ, fₖ the Taylor coefficients in ε of
// ½(x + ε)(1 + T(ε)), T(ε) = tanh u(x + ε): fₖ = ½(x·Tₖ + Tₖ₋₁) for k ≥ 2.
// u(x + ε) is a cubic U₀ + U₁ε + U₂ε² + U₃ε³, and T' = S·U' with
// S = 1 − T² gives (n+1)·Tₙ₊₁ = Σⱼ Sⱼ·(n−j+1)·Uₙ₋ⱼ₊₁ (at most three terms).
// S₀ = sech² U₀ is taken from e^(−2|U₀|), not 1 − T₀², so that it keeps its
// relative accuracy where tanh saturates.
func geluTanhSeries(x float64, k int) float64 {
	const a, c = 0.044715, 0.7978845608028654
	var tcArr, scArr [MaxGELUOrder + 1]float64
	tc, sc := tcArr[:], scArr[:]
	if k > MaxGELUOrder { // GELUDeriv beyond the kernels' orders
		tc, sc = make([]float64, k+1), make([]float64, k+1)
	}
	u := [4]float64{c * (x + a*x*x*x), c * (1 + 3*a*x*x), 3 * c * a * x, c * a}
	e := math.Exp(-2 * math.Abs(u[0]))
	tc[0] = (1 - e) / (1 + e)
	if u[0] < 0 {
		tc[0] = -tc[0]
	}
	sc[0] = 4 * e / ((1 + e) * (1 + e))
	for n := 0; n < k; n++ {
		var acc float64
		for j := max(0, n-2); j <= n; j++ {
			acc += sc[j] * float64(n-j+1) * u[n-j+1]
		}
		tc[n+1] = acc / float64(n+1)
		// S_{n+1} = −Σ_{i=0}^{n+1} T_i·T_{n+1−i}.
		var sq float64
		for i := 0; i <= n+1; i++ {
			sq += tc[i] * tc[n+1-i]
		}
		sc[n+1] = -sq
	}
	f := 0.5 * (x*tc[k] + tc[k-1])
	for m := 2; m <= k; m++ {
		f *= float64(m)
	}
	return f
}

// softplus is ln(1 + eˣ) without overflow: max(x, 0) + ln(1 + e^−|x|).
func softplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Unary implements Set.
func (s *CPU[T]) Unary(op UnaryOp, dst, src Buffer[T], args UnaryArgs) error {
	if err := CheckUnaryArgs(op, args); err != nil {
		return err
	}
	x, err := host[T]("unary src", src, src.Len())
	if err != nil {
		return err
	}
	d, err := host[T]("unary dst", dst, len(x))
	if err != nil {
		return err
	}
	j := &s.uj
	*j = unaryJob[T]{op: op, dst: d, src: x, a: args.A, b: args.B, c: args.C}
	s.pool.do(len(x), j, s.parFast(len(x), op == ReLU || op == ReLUSlope || op == Copy))
	j.dst, j.src = nil, nil
	return nil
}

// reluBackJob is ReLUBackward over an index range.
type reluBackJob[T Float] struct {
	dst, x, g []T
	leak      T
}

func (j *reluBackJob[T]) run(lo, hi int) {
	reluMulRange(j.dst[lo:hi], j.x[lo:hi], j.g[lo:hi], j.leak)
}

// ReLUBackward implements Set.
func (s *CPU[T]) ReLUBackward(dst, x, g Buffer[T], leak float64) error {
	xd, err := host[T]("relu backward x", x, x.Len())
	if err != nil {
		return err
	}
	gd, err := host[T]("relu backward gradient", g, len(xd))
	if err != nil {
		return err
	}
	dd, err := host[T]("relu backward dst", dst, len(xd))
	if err != nil {
		return err
	}
	j := &s.rbj
	*j = reluBackJob[T]{dst: dd, x: xd, g: gd[:len(xd)], leak: T(leak)}
	s.pool.do(len(xd), j, s.parFast(len(xd), true))
	j.dst, j.x, j.g = nil, nil, nil
	return nil
}

func binScalar[T Float](op BinaryOp, x, y T) T {
	switch op {
	case Add:
		return x + y
	case Sub:
		return x - y
	case Mul:
		return x * y
	case Div:
		return x / y
	case PowOp:
		return T(math.Pow(float64(x), float64(y)))
	case Max:
		if x > y || x != x {
			return x
		}
		return y
	case Min:
		if x < y || x != x {
			return x
		}
		return y
	case Greater:
		return b2f[T](x > y)
	case GreaterEq:
		return b2f[T](x >= y)
	case Less:
		return b2f[T](x < y)
	case LessEq:
		return b2f[T](x <= y)
	case Equal:
		return b2f[T](x == y)
	case NotEqual:
		return b2f[T](x != y)
	}
	return T(math.NaN())
}

func b2f[T Float](b bool) T {
	if b {
		return 1
	}
	return 0
}

// fastBinary reports whether op's contiguous loop is a packed C loop.
func fastBinary(op BinaryOp) bool { return op == Add || op == Sub || op == Mul || op == Div }

// binFlat applies op over len(d) elements of a and b in Go.
func binFlat[T Float](op BinaryOp, d, a, b []T) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case Add:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case Sub:
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case Mul:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case Div:
		for i := range d {
			d[i] = a[i] / b[i]
		}
	default:
		for i := range d {
			d[i] = binScalar(op, a[i], b[i])
		}
	}
}

// binLoop applies op over n elements of a and b read with strides sa, sb.
func binLoop[T Float](op BinaryOp, d, a, b []T, sa, sb int) {
	n := len(d)
	switch {
	case sa == 1 && sb == 1:
		a, b = a[:n], b[:n]
		if !cBinary(op, d, a, b) {
			binFlat(op, d, a, b)
		}
	case sa == 1 && sb == 0:
		y := b[0]
		a = a[:n]
		switch op {
		case Add:
			for i := range d {
				d[i] = a[i] + y
			}
		case Mul:
			for i := range d {
				d[i] = a[i] * y
			}
		default:
			for i := range d {
				d[i] = binScalar(op, a[i], y)
			}
		}
	case sa == 0 && sb == 1:
		x := a[0]
		b = b[:n]
		switch op {
		case Add:
			for i := range d {
				d[i] = x + b[i]
			}
		case Mul:
			for i := range d {
				d[i] = x * b[i]
			}
		default:
			for i := range d {
				d[i] = binScalar(op, x, b[i])
			}
		}
	case sa == 0 && sb == 0:
		// Both operands repeated (e.g. a scalar broadcast): one value.
		v := binScalar(op, a[0], b[0])
		for i := range d {
			d[i] = v
		}
	default:
		ia, ib := 0, 0
		for i := range d {
			d[i] = binScalar(op, a[ia], b[ib])
			ia += sa
			ib += sb
		}
	}
}

// binaryJob runs a broadcast binary op over rows of the (merged) output
// shape: each row is the last axis.
type binaryJob[T Float] struct {
	op        BinaryOp
	dst, a, b []T
	flat      bool // same shapes: run over element ranges
	rank      int
	shape     [maxDims]int
	sa, sb    [maxDims]int
}

func (j *binaryJob[T]) run(lo, hi int) {
	if j.flat {
		binLoop(j.op, j.dst[lo:hi], j.a[lo:hi], j.b[lo:hi], 1, 1)
		return
	}
	r := j.rank
	inner := j.shape[r-1]
	for row := lo; row < hi; row++ {
		// Offsets of this row's first element in a and b.
		oa, ob, q := 0, 0, row
		for ax := r - 2; ax >= 0; ax-- {
			i := q % j.shape[ax]
			q /= j.shape[ax]
			oa += i * j.sa[ax]
			ob += i * j.sb[ax]
		}
		binLoop(j.op, j.dst[row*inner:(row+1)*inner], j.a[oa:], j.b[ob:], j.sa[r-1], j.sb[r-1])
	}
}

// Binary implements Set.
func (s *CPU[T]) Binary(op BinaryOp, dst, a, b Buffer[T], bc *Broadcast) error {
	if op < 0 || op >= numBinary {
		return fmt.Errorf("kernels: unknown binary op %v", op)
	}
	j := &s.bj
	if bc == nil {
		n := dst.Len()
		ad, err := host[T]("binary a", a, n)
		if err != nil {
			return err
		}
		bd, err := host[T]("binary b", b, n)
		if err != nil {
			return err
		}
		d, _ := host[T]("binary dst", dst, n)
		*j = binaryJob[T]{op: op, dst: d, a: ad, b: bd, flat: true}
		s.pool.do(n, j, s.parFast(n, fastBinary(op)))
		j.dst, j.a, j.b = nil, nil, nil
		return nil
	}
	if len(bc.StrideA) != len(bc.Shape) || len(bc.StrideB) != len(bc.Shape) {
		return fmt.Errorf("kernels: binary: broadcast with %d dims but %d and %d strides", len(bc.Shape), len(bc.StrideA), len(bc.StrideB))
	}
	// Merge adjacent axes whose strides allow it, dropping size-1 axes.
	*j = binaryJob[T]{op: op}
	r := 0
	na, nb := 1, 1 // extents each operand must have
	for ax, d := range bc.Shape {
		if d < 0 {
			return fmt.Errorf("kernels: binary: negative dimension in %v", bc.Shape)
		}
		if d == 0 {
			return nil
		}
		na += (d - 1) * bc.StrideA[ax]
		nb += (d - 1) * bc.StrideB[ax]
		if d == 1 {
			continue
		}
		if r > 0 && j.sa[r-1] == d*bc.StrideA[ax] && j.sb[r-1] == d*bc.StrideB[ax] {
			j.shape[r-1] *= d
			j.sa[r-1], j.sb[r-1] = bc.StrideA[ax], bc.StrideB[ax]
			continue
		}
		if r == maxDims {
			return fmt.Errorf("kernels: binary: more than %d dims after merging %v", maxDims, bc.Shape)
		}
		j.shape[r], j.sa[r], j.sb[r] = d, bc.StrideA[ax], bc.StrideB[ax]
		r++
	}
	if r == 0 {
		j.shape[0], r = 1, 1
	}
	j.rank = r
	n := bc.Size()
	ad, err := host[T]("binary a", a, na)
	if err != nil {
		return err
	}
	bd, err := host[T]("binary b", b, nb)
	if err != nil {
		return err
	}
	d, err := host[T]("binary dst", dst, n)
	if err != nil {
		return err
	}
	j.dst, j.a, j.b = d, ad, bd
	rows := n / j.shape[r-1]
	s.pool.do(rows, j, s.parFast(n, fastBinary(op)))
	j.dst, j.a, j.b = nil, nil, nil
	return nil
}

// reluMulRange writes g·s into d, s the slope at x as in reluRange.
func reluMulRange[T Float](d, x, g []T, leak T) {
	d, g = d[:len(x)], g[:len(x)]
	if !cReLUMul(d, x, g, leak) {
		reluMulGo(d, x, g, leak)
	}
}

// reluMulGo is reluMulRange in Go.
func reluMulGo[T Float](d, x, g []T, leak T) {
	d, g = d[:len(x)], g[:len(x)]
	switch xs := any(x).(type) {
	case []float32:
		ds, gs := any(d).([]float32), any(g).([]float32)
		one, lk := math.Float32bits(1), math.Float32bits(float32(leak))
		for i, v := range xs {
			u := int32(math.Float32bits(v))
			m := uint32(u>>31 | (u-1)>>31)
			ds[i] = gs[i] * math.Float32frombits(one&^m|lk&m)
		}
	case []float64:
		ds, gs := any(d).([]float64), any(g).([]float64)
		one, lk := math.Float64bits(1), math.Float64bits(float64(leak))
		for i, v := range xs {
			u := int64(math.Float64bits(v))
			m := uint64(u>>63 | (u-1)>>63)
			ds[i] = gs[i] * math.Float64frombits(one&^m|lk&m)
		}
	}
}

// reluRange writes x·s (times, true) or s (the slope) into d, where s is 1
// for x > 0 and leak elsewhere. The slope is selected from the bits of x
// without a branch: ReLU inputs have random signs, and a mispredicted
// branch per element costs more than the arithmetic. (The slope of a NaN
// follows its sign bit; x·s is NaN either way.)
func reluRange[T Float](d, x []T, leak T, times bool) {
	d = d[:len(x)]
	if !cReLU(d, x, leak, times) {
		reluGo(d, x, leak, times)
	}
}

// reluGo is reluRange in Go.
func reluGo[T Float](d, x []T, leak T, times bool) {
	d = d[:len(x)]
	switch xs := any(x).(type) {
	case []float32:
		ds := any(d).([]float32)
		one, lk := math.Float32bits(1), math.Float32bits(float32(leak))
		for i, v := range xs {
			u := int32(math.Float32bits(v))
			m := uint32(u>>31 | (u-1)>>31) // all ones for v ≤ 0 (±0 included)
			s := math.Float32frombits(one&^m | lk&m)
			if times {
				s *= v
			}
			ds[i] = s
		}
	case []float64:
		ds := any(d).([]float64)
		one, lk := math.Float64bits(1), math.Float64bits(float64(leak))
		for i, v := range xs {
			u := int64(math.Float64bits(v))
			m := uint64(u>>63 | (u-1)>>63)
			s := math.Float64frombits(one&^m | lk&m)
			if times {
				s *= v
			}
			ds[i] = s
		}
	}
}

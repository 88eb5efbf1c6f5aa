package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradlab/gradlab/kernels"
)

// Tolerance returns the relative tolerance Run uses for element type T:
// 1e-12 for float64, 1e-5 for float32, relative to each element's
// magnitude (the sum of absolute values of the terms it is made of, at
// least 1).
func Tolerance[T kernels.Float]() float64 {
	var z T
	if _, ok := any(z).(float32); ok {
		return 1e-5
	}
	return 1e-12
}

type env[T kernels.Float] struct {
	t   *testing.T
	s   kernels.Set[T]
	rng *rand.Rand
	tol float64
}

// Run runs every conformance case on s as subtests of t.
func Run[T kernels.Float](t *testing.T, s kernels.Set[T]) {
	cases := []struct {
		name string
		f    func(e *env[T])
	}{
		{"gemm", testGemm[T]},
		{"batched-gemm", testBatchedGemm[T]},
		{"unary", testUnary[T]},
		{"binary", testBinary[T]},
		{"relu-backward", testReLUBackward[T]},
		{"reduce", testReduce[T]},
		{"expand", testExpand[T]},
		{"softmax", testSoftmax[T]},
		{"cross-entropy", testCrossEntropy[T]},
		{"gelu-derivatives", testGELUDerivatives[T]},
		{"im2col", testIm2col[T]},
		{"max-pool", testMaxPool[T]},
		{"avg-pool", testAvgPool[T]},
		{"upsample", testUpsample[T]},
		{"gather-scatter", testGatherScatter[T]},
		{"optimizers", testOptimizers[T]},
		{"vector", testVector[T]},
		{"view", testView[T]},
		{"norm", testNorm[T]},
		{"chain", testChain[T]},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.f(&env[T]{t: t, s: s, rng: rand.New(rand.NewPCG(7, uint64(i))), tol: Tolerance[T]()})
		})
	}
}

// rnd returns n values uniform in [lo, hi), rounded to T so that the
// reference sees exactly what the kernel sees.
func (e *env[T]) rnd(n int, lo, hi float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(T(lo + (hi-lo)*e.rng.Float64()))
	}
	return x
}

func (e *env[T]) up(x []float64) kernels.Buffer[T] {
	e.t.Helper()
	b, err := e.s.Alloc(len(x))
	if err != nil {
		e.t.Fatal(err)
	}
	y := make([]T, len(x))
	for i, v := range x {
		y[i] = T(v)
	}
	if err := e.s.Upload(b, y); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// poisoned allocates n elements filled with NaN.
func (e *env[T]) poisoned(n int) kernels.Buffer[T] {
	e.t.Helper()
	b, err := e.s.Alloc(n)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.Fill(b, T(math.NaN())); err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env[T]) down(b kernels.Buffer[T]) []float64 {
	e.t.Helper()
	y := make([]T, b.Len())
	if err := e.s.Download(y, b); err != nil {
		e.t.Fatal(err)
	}
	x := make([]float64, len(y))
	for i, v := range y {
		x[i] = float64(v)
	}
	return x
}

func (e *env[T]) free(bs ...kernels.Buffer[T]) {
	for _, b := range bs {
		if err := e.s.Free(b); err != nil {
			e.t.Error(err)
		}
	}
}

// check compares got with want elementwise: |got−want| ≤ tol·mag (mag nil:
// max(|want|, 1)). Exact matches (infinities included) always pass.
func (e *env[T]) check(name string, got, want, mag []float64) {
	e.t.Helper()
	if len(got) < len(want) {
		e.t.Errorf("%s: %d results, want %d", name, len(got), len(want))
		return
	}
	bad := 0
	for i, w := range want {
		g := got[i]
		if g == w {
			continue
		}
		m := math.Max(math.Abs(w), 1)
		if mag != nil {
			m = mag[i]
		}
		if math.IsNaN(g) || math.Abs(g-w) > e.tol*m {
			if bad < 3 {
				e.t.Errorf("%s: element %d = %v, want %v (tolerance %.3g)", name, i, g, w, e.tol*m)
			}
			bad++
		}
	}
	if bad > 3 {
		e.t.Errorf("%s: %d of %d elements wrong", name, bad, len(want))
	}
}

func (e *env[T]) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func testGemm[T kernels.Float](e *env[T]) {
	sizes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 13, 9}, {33, 1, 65}, {1, 40, 3}, {64, 70, 31}, {5, 4, 0}}
	for _, sz := range sizes {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, beta := range []float64{0, 0.75} {
					name := fmt.Sprintf("%dx%dx%d tA=%v tB=%v beta=%v", m, n, k, tA, tB, beta)
					a, b := e.rnd(m*k, -1, 1), e.rnd(k*n, -1, 1)
					c0 := e.rnd(m*n, -1, 1)
					ab, bb := e.up(a), e.up(b)
					var cb kernels.Buffer[T]
					if beta == 0 {
						cb = e.poisoned(m * n)
					} else {
						cb = e.up(c0)
					}
					e.ok(e.s.Gemm(tA, tB, m, n, k, T(1.25), ab, bb, T(beta), cb))
					want, mag := refGemm(tA, tB, m, n, k, float64(T(1.25)), a, b, float64(T(beta)), c0)
					e.check(name, e.down(cb), want, mag)
					e.free(ab, bb, cb)
				}
			}
		}
	}
}

func testBatchedGemm[T kernels.Float](e *env[T]) {
	const batch = 3
	for _, sz := range [][3]int{{5, 7, 4}, {1, 9, 2}, {8, 3, 11}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				a, b := e.rnd(batch*m*k, -1, 1), e.rnd(batch*k*n, -1, 1)
				ab, bb, cb := e.up(a), e.up(b), e.poisoned(batch*m*n)
				e.ok(e.s.BatchedGemm(batch, tA, tB, m, n, k, 1, ab, bb, 0, cb))
				got := e.down(cb)
				for i := 0; i < batch; i++ {
					want, mag := refGemm(tA, tB, m, n, k, 1, a[i*m*k:(i+1)*m*k], b[i*k*n:(i+1)*k*n], 0, nil)
					e.check(fmt.Sprintf("%v tA=%v tB=%v batch %d", sz, tA, tB, i), got[i*m*n:(i+1)*m*n], want, mag)
				}
				e.free(ab, bb, cb)
			}
		}
	}
}

func testUnary[T kernels.Float](e *env[T]) {
	ops := []struct {
		op     kernels.UnaryOp
		args   kernels.UnaryArgs
		lo, hi float64
	}{
		{kernels.Copy, kernels.UnaryArgs{}, -2, 2},
		{kernels.Neg, kernels.UnaryArgs{}, -2, 2},
		{kernels.Exp, kernels.UnaryArgs{}, -5, 5},
		{kernels.Log, kernels.UnaryArgs{}, 0.01, 10},
		{kernels.Tanh, kernels.UnaryArgs{}, -4, 4},
		{kernels.Sigmoid, kernels.UnaryArgs{}, -30, 30},
		{kernels.Square, kernels.UnaryArgs{}, -3, 3},
		{kernels.Sqrt, kernels.UnaryArgs{}, 0, 9},
		{kernels.Cube, kernels.UnaryArgs{}, -2, 2},
		{kernels.Abs, kernels.UnaryArgs{}, -2, 2},
		{kernels.Sign, kernels.UnaryArgs{}, -2, 2},
		{kernels.Inverse, kernels.UnaryArgs{}, 0.5, 3},
		{kernels.ReLU, kernels.UnaryArgs{A: 0.1}, -2, 2},
		{kernels.ReLU, kernels.UnaryArgs{}, -2, 2},
		{kernels.ReLUSlope, kernels.UnaryArgs{A: 0.2}, -2, 2},
		{kernels.Scale, kernels.UnaryArgs{A: -1.5, B: 0.25}, -2, 2},
		{kernels.Pow, kernels.UnaryArgs{A: 0.5, B: -1.5, C: 1e-3}, 0.1, 4},
		{kernels.Pow, kernels.UnaryArgs{A: 2, B: 3}, -2, 2},
		{kernels.Softplus, kernels.UnaryArgs{}, -30, 30},
		{kernels.Log1p, kernels.UnaryArgs{}, -0.9, 5},
		{kernels.Expm1, kernels.UnaryArgs{}, -3, 3},
		{kernels.GELU, kernels.UnaryArgs{}, -7, 7},
		{kernels.GELU, kernels.UnaryArgs{A: 1}, -7, 7},
		{kernels.GELU, kernels.UnaryArgs{A: 2}, -7, 7},
		{kernels.GELUTanh, kernels.UnaryArgs{}, -7, 7},
		{kernels.GELUTanh, kernels.UnaryArgs{A: 1}, -7, 7},
		{kernels.GELUTanh, kernels.UnaryArgs{A: 2}, -7, 7},
	}
	for k := 3; k <= kernels.MaxGELUOrder; k++ {
		ops = append(ops, []struct {
			op     kernels.UnaryOp
			args   kernels.UnaryArgs
			lo, hi float64
		}{
			{kernels.GELU, kernels.UnaryArgs{A: float64(k)}, -7, 7},
			{kernels.GELUTanh, kernels.UnaryArgs{A: float64(k)}, -7, 7},
		}...)
	}
	for _, o := range ops {
		sizes := []int{1, 37, 1000, 70001}
		if (o.op == kernels.GELU || o.op == kernels.GELUTanh) && o.args.A > 2 {
			// Orders 3 and up share the elementwise job (and its
			// parallel path) with orders 0–2; their reference is slow.
			sizes = sizes[:3]
		}
		for _, n := range sizes {
			name := fmt.Sprintf("%v%+v n=%d", o.op, o.args, n)
			x := e.rnd(n, o.lo, o.hi)
			xb, db := e.up(x), e.poisoned(n)
			e.ok(e.s.Unary(o.op, db, xb, o.args))
			want := make([]float64, n)
			for i, v := range x {
				want[i] = refUnary(o.op, v, o.args)
			}
			e.check(name, e.down(db), want, nil)
			// In place.
			e.ok(e.s.Unary(o.op, xb, xb, o.args))
			e.check(name+" in place", e.down(xb), want, nil)
			e.free(xb, db)
		}
	}
}

func testReLUBackward[T kernels.Float](e *env[T]) {
	for _, leak := range []float64{0, 0.2} {
		for _, n := range []int{1, 37, 70001} {
			x, g := e.rnd(n, -2, 2), e.rnd(n, -3, 3)
			for i := 0; i < n; i += 7 {
				x[i] = 0 // the slope at 0 is leak
			}
			want := make([]float64, n)
			for i := range x {
				s := leak
				if x[i] > 0 {
					s = 1
				}
				want[i] = g[i] * s
			}
			name := fmt.Sprintf("relu backward leak=%v n=%d", leak, n)
			xb, gb, db := e.up(x), e.up(g), e.poisoned(n)
			e.ok(e.s.ReLUBackward(db, xb, gb, leak))
			e.check(name, e.down(db), want, nil)
			e.ok(e.s.ReLUBackward(gb, xb, gb, leak)) // in place over g
			e.check(name+" in place", e.down(gb), want, nil)
			e.free(xb, gb, db)
		}
	}
}

func testBinary[T kernels.Float](e *env[T]) {
	ops := []kernels.BinaryOp{kernels.Add, kernels.Sub, kernels.Mul, kernels.Div, kernels.PowOp, kernels.Max,
		kernels.Min, kernels.Greater, kernels.GreaterEq, kernels.Less, kernels.LessEq, kernels.Equal, kernels.NotEqual}
	gen := func(op kernels.BinaryOp, n int) []float64 {
		if op == kernels.PowOp || op == kernels.Div {
			return e.rnd(n, 0.5, 2)
		}
		// A coarse grid makes equal pairs common, so the comparisons see ties.
		x := e.rnd(n, -3, 3)
		for i := range x {
			x[i] = math.Round(x[i] * 2)
		}
		return x
	}
	for _, op := range ops {
		for _, n := range []int{1, 37, 70001} {
			a, b := gen(op, n), gen(op, n)
			ab, bb, db := e.up(a), e.up(b), e.poisoned(n)
			e.ok(e.s.Binary(op, db, ab, bb, nil))
			want := make([]float64, n)
			for i := range want {
				want[i] = refBinary(op, a[i], b[i])
			}
			e.check(fmt.Sprintf("%v n=%d", op, n), e.down(db), want, nil)
			e.ok(e.s.Binary(op, ab, ab, bb, nil))
			e.check(fmt.Sprintf("%v n=%d into a", op, n), e.down(ab), want, nil)
			e.free(ab, bb, db)
		}
		shapes := [][2][]int{
			{{4, 1, 5}, {3, 1}}, {{}, {7, 3}}, {{7, 3}, {}}, {{1, 5}, {6, 5}}, {{6, 1}, {6, 5}},
			{{6, 5}, {5}}, {{2, 3, 4, 5}, {3, 1, 1}}, {{300, 257}, {257}}, {{300, 1}, {300, 257}}, {{1}, {1}},
		}
		for _, sh := range shapes {
			bc, err := kernels.NewBroadcast(sh[0], sh[1])
			e.ok(err)
			na, nb := prod(sh[0]), prod(sh[1])
			a, b := gen(op, na), gen(op, nb)
			ab, bb, db := e.up(a), e.up(b), e.poisoned(bc.Size())
			e.ok(e.s.Binary(op, db, ab, bb, &bc))
			want := make([]float64, bc.Size())
			for i := range want {
				want[i] = refBinary(op, a[refBroadcastIndex(bc.Shape, sh[0], i)], b[refBroadcastIndex(bc.Shape, sh[1], i)])
			}
			e.check(fmt.Sprintf("%v %v∘%v", op, sh[0], sh[1]), e.down(db), want, nil)
			e.free(ab, bb, db)
		}
		// A repetition (how the engine runs gorgonia's Repeat): the output
		// is larger than both operands, so in some rows both are repeated.
		a, b := gen(op, 3), gen(op, 1)
		ab, bb, db := e.up(a), e.up(b), e.poisoned(3*4*5)
		rep := kernels.Broadcast{Shape: []int{3, 4, 5}, StrideA: []int{1, 0, 0}, StrideB: []int{0, 0, 0}}
		e.ok(e.s.Binary(op, db, ab, bb, &rep))
		want := make([]float64, 60)
		for i := range want {
			want[i] = refBinary(op, a[i/20], b[0])
		}
		e.check(fmt.Sprintf("%v repeated [3]∘[] into [3 4 5]", op), e.down(db), want, nil)
		e.free(ab, bb, db)
	}
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func testReduce[T kernels.Float](e *env[T]) {
	sizes := [][3]int{{1, 1, 1}, {1, 37, 1}, {5, 7, 3}, {1, 9, 11}, {3, 1, 4}, {7, 100, 1}, {1, 70001, 1},
		{300, 301, 1}, {2, 50, 400}, {1, 300, 257}, {4, 0, 3}}
	for _, op := range []kernels.ReduceOp{kernels.ReduceSum, kernels.ReduceMax, kernels.ReduceMin} {
		for _, sz := range sizes {
			o, n, in := sz[0], sz[1], sz[2]
			x := e.rnd(o*n*in, -1, 1)
			xb, db := e.up(x), e.poisoned(o*in)
			e.ok(e.s.Reduce(op, db, xb, o, n, in, T(0.5)))
			want, mag := refReduce(op, x, o, n, in, 0.5)
			e.check(fmt.Sprintf("%v %v", op, sz), e.down(db), want, mag)
			e.free(xb, db)
		}
	}
}

func testExpand[T kernels.Float](e *env[T]) {
	for _, sz := range [][3]int{{1, 1, 1}, {3, 4, 5}, {1, 7, 1}, {6, 1, 2}, {2, 9, 1}} {
		o, n, in := sz[0], sz[1], sz[2]
		x := e.rnd(o*in, -1, 1)
		xb, db := e.up(x), e.poisoned(o*n*in)
		e.ok(e.s.Expand(db, xb, o, n, in, T(-2)))
		want := make([]float64, o*n*in)
		for a := 0; a < o; a++ {
			for j := 0; j < n; j++ {
				for i := 0; i < in; i++ {
					want[(a*n+j)*in+i] = -2 * x[a*in+i]
				}
			}
		}
		e.check(fmt.Sprintf("%v", sz), e.down(db), want, nil)
		e.free(xb, db)
	}
}

func testSoftmax[T kernels.Float](e *env[T]) {
	for _, sz := range [][2]int{{1, 1}, {7, 13}, {300, 257}, {3, 1000}} {
		r, c := sz[0], sz[1]
		x := e.rnd(r*c, -20, 20)
		for _, log := range []bool{false, true} {
			xb, db := e.up(x), e.poisoned(r*c)
			e.ok(e.s.Softmax(db, xb, r, c, log))
			want := make([]float64, r*c)
			for i := 0; i < r; i++ {
				ls := refLogSoftmaxRow(x[i*c : (i+1)*c])
				for j, v := range ls {
					if log {
						want[i*c+j] = v
					} else {
						want[i*c+j] = math.Exp(v)
					}
				}
			}
			e.check(fmt.Sprintf("%v log=%v", sz, log), e.down(db), want, nil)
			e.free(xb, db)
		}
	}
}

func testCrossEntropy[T kernels.Float](e *env[T]) {
	for _, sz := range [][2]int{{1, 1}, {7, 13}, {128, 10}} {
		r, c := sz[0], sz[1]
		x := e.rnd(r*c, -8, 8)
		for _, soft := range []bool{false, true} {
			t := make([]float64, r*c)
			for i := 0; i < r; i++ {
				if soft {
					w := e.rnd(c, 0, 1)
					var s float64
					for _, v := range w {
						s += v
					}
					for j, v := range w {
						t[i*c+j] = float64(T(v / s))
					}
				} else {
					t[i*c+e.rng.IntN(c)] = 1
				}
			}
			xb, tb, lb := e.up(x), e.up(t), e.poisoned(1)
			e.ok(e.s.SoftmaxCrossEntropy(lb, xb, tb, r, c))
			var want, mag float64
			for i := 0; i < r; i++ {
				ls := refLogSoftmaxRow(x[i*c : (i+1)*c])
				for j, v := range ls {
					want -= t[i*c+j] * v
					mag += math.Abs(t[i*c+j] * v)
				}
			}
			e.check(fmt.Sprintf("%v soft=%v", sz, soft), e.down(lb), []float64{want / float64(r)}, []float64{mag/float64(r) + 1})
			e.free(xb, tb, lb)
		}
	}
}

func testIm2col[T kernels.Float](e *env[T]) {
	geoms := []kernels.ConvGeom{
		{N: 2, C: 3, H: 7, W: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilH: 1, DilW: 2},
		{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1},
		{N: 3, C: 2, H: 5, W: 5, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1},
		{N: 1, C: 4, H: 9, W: 8, KH: 2, KW: 2, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1},
		{N: 2, C: 1, H: 4, W: 6, KH: 5, KW: 3, StrideH: 3, StrideW: 2, PadH: 2, PadW: 3, DilH: 1, DilW: 1},
	}
	for _, g := range geoms {
		img := e.rnd(g.N*g.C*g.H*g.W, -1, 1)
		ib, cb := e.up(img), e.poisoned(g.ColLen())
		e.ok(e.s.Im2col(cb, ib, g))
		e.check(fmt.Sprintf("im2col %+v", g), e.down(cb), refIm2col(img, g), nil)
		col := e.rnd(g.ColLen(), -1, 1)
		cb2, ob := e.up(col), e.poisoned(len(img))
		e.ok(e.s.Col2im(ob, cb2, g))
		want := refCol2im(col, g)
		mag := make([]float64, len(want))
		for i := range mag {
			mag[i] = float64(g.KH*g.KW) + 1
		}
		e.check(fmt.Sprintf("col2im %+v", g), e.down(ob), want, mag)
		e.free(ib, cb, cb2, ob)
	}
}

func testOptimizers[T kernels.Float](e *env[T]) {
	for _, n := range []int{1, 37, 70001} {
		for _, h := range []kernels.SGDHyper{
			{LR: 0.1, Momentum: 0.9},
			{LR: 0.05, Momentum: 0.8, WeightDecay: 0.01, Nesterov: true},
			{LR: 0.05, Momentum: 0.8, Dampening: 0.3, DecoupledWeightDecay: 0.2},
			{LR: 0.05, Momentum: 0.8, Dampening: 0.3, First: true},
			{LR: 0.3},
			{LR: 0.3, WeightDecay: 0.1, DecoupledWeightDecay: 0.05},
		} {
			p, g, v := e.rnd(n, -1, 1), e.rnd(n, -1, 1), e.rnd(n, -1, 1)
			pb, gb := e.up(p), e.up(g)
			var vb kernels.Buffer[T]
			if h.Momentum != 0 {
				vb = e.up(v)
			}
			e.ok(e.s.SGD(pb, gb, vb, h))
			// PyTorch's SGD step written out in float64.
			wp, wv := make([]float64, n), make([]float64, n)
			for i := range p {
				d := g[i] + h.WeightDecay*p[i]
				if h.Momentum != 0 {
					if h.First {
						wv[i] = d
					} else {
						wv[i] = h.Momentum*v[i] + (1-h.Dampening)*d
					}
					if h.Nesterov {
						d += h.Momentum * wv[i]
					} else {
						d = wv[i]
					}
				}
				wp[i] = p[i] - h.LR*h.DecoupledWeightDecay*p[i] - h.LR*d
			}
			e.check(fmt.Sprintf("sgd %+v n=%d param", h, n), e.down(pb), wp, nil)
			if vb != nil {
				e.check(fmt.Sprintf("sgd %+v n=%d momentum", h, n), e.down(vb), wv, nil)
				e.free(vb)
			}
			e.free(pb, gb)
		}
		for _, h := range []kernels.AdamHyper{
			{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1},
			{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.01, DecoupledWeightDecay: 0.1, Step: 7},
			{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, AMSGrad: true, Step: 4},
		} {
			p, g, m := e.rnd(n, -1, 1), e.rnd(n, -1, 1), e.rnd(n, -0.1, 0.1)
			v, vmax := e.rnd(n, 0, 0.01), e.rnd(n, 0, 0.02)
			pb, gb, mb, vb := e.up(p), e.up(g), e.up(m), e.up(v)
			var xb kernels.Buffer[T]
			if h.AMSGrad {
				xb = e.up(vmax)
			}
			e.ok(e.s.Adam(pb, gb, mb, vb, xb, h))
			wp, wm, wv, wx := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			t := float64(h.Step)
			for i := range p {
				gi := g[i] + h.WeightDecay*p[i]
				wm[i] = h.Beta1*m[i] + (1-h.Beta1)*gi
				wv[i] = h.Beta2*v[i] + (1-h.Beta2)*gi*gi
				den := wv[i]
				if h.AMSGrad {
					wx[i] = math.Max(vmax[i], wv[i])
					den = wx[i]
				}
				mhat := wm[i] / (1 - math.Pow(h.Beta1, t))
				vhat := den / (1 - math.Pow(h.Beta2, t))
				wp[i] = p[i] - h.LR*h.DecoupledWeightDecay*p[i] - h.LR*mhat/(math.Sqrt(vhat)+h.Eps)
			}
			e.check(fmt.Sprintf("adam %+v n=%d param", h, n), e.down(pb), wp, nil)
			e.check(fmt.Sprintf("adam %+v n=%d m", h, n), e.down(mb), wm, nil)
			e.check(fmt.Sprintf("adam %+v n=%d v", h, n), e.down(vb), wv, nil)
			if xb != nil {
				e.check(fmt.Sprintf("adam %+v n=%d vmax", h, n), e.down(xb), wx, nil)
				e.free(xb)
			}
			e.free(pb, gb, mb, vb)
		}
		for _, h := range []kernels.RMSpropHyper{
			{LR: 1e-2, Alpha: 0.99, Eps: 1e-8},
			{LR: 1e-2, Alpha: 0.9, Eps: 1e-6, WeightDecay: 0.01, Momentum: 0.9},
			{LR: 3e-3, Alpha: 0.95, Eps: 1e-6, Centered: true, Momentum: 0.5},
		} {
			p, g := e.rnd(n, -1, 1), e.rnd(n, -1, 1)
			sq, ga, buf := e.rnd(n, 0.5, 1), e.rnd(n, -0.1, 0.1), e.rnd(n, -0.1, 0.1)
			pb, gb, sb := e.up(p), e.up(g), e.up(sq)
			var ab, bb kernels.Buffer[T]
			if h.Centered {
				ab = e.up(ga)
			}
			if h.Momentum != 0 {
				bb = e.up(buf)
			}
			e.ok(e.s.RMSprop(pb, gb, sb, ab, bb, h))
			wp, ws, wa, wb := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			for i := range p {
				gi := g[i] + h.WeightDecay*p[i]
				ws[i] = h.Alpha*sq[i] + (1-h.Alpha)*gi*gi
				den := ws[i]
				if h.Centered {
					wa[i] = h.Alpha*ga[i] + (1-h.Alpha)*gi
					den -= wa[i] * wa[i]
				}
				u := gi / (math.Sqrt(den) + h.Eps)
				if h.Momentum != 0 {
					wb[i] = h.Momentum*buf[i] + u
					u = wb[i]
				}
				wp[i] = p[i] - h.LR*u
			}
			e.check(fmt.Sprintf("rmsprop %+v n=%d param", h, n), e.down(pb), wp, nil)
			e.check(fmt.Sprintf("rmsprop %+v n=%d square average", h, n), e.down(sb), ws, nil)
			if ab != nil {
				e.check(fmt.Sprintf("rmsprop %+v n=%d gradient average", h, n), e.down(ab), wa, nil)
				e.free(ab)
			}
			if bb != nil {
				e.check(fmt.Sprintf("rmsprop %+v n=%d momentum", h, n), e.down(bb), wb, nil)
				e.free(bb)
			}
			e.free(pb, gb, sb)
		}
	}
}

func testVector[T kernels.Float](e *env[T]) {
	for _, n := range []int{1, 37, 70001} {
		a, b := e.rnd(n, -1, 1), e.rnd(n, -1, 1)
		ab, bb := e.up(a), e.up(b)
		var dot, mag, ss float64
		for i := range a {
			dot += a[i] * b[i]
			mag += math.Abs(a[i] * b[i])
			ss += a[i] * a[i]
		}
		got, err := e.s.Dot(ab, bb)
		e.ok(err)
		// Dot and Norm accumulate in float64 whatever T is.
		e.tolCheck(fmt.Sprintf("dot n=%d", n), got, dot, 1e-12*(mag+1))
		nrm, err := e.s.Norm(ab)
		e.ok(err)
		e.tolCheck(fmt.Sprintf("norm n=%d", n), nrm, math.Sqrt(ss), 1e-12*(math.Sqrt(ss)+1))

		e.ok(e.s.Axpy(T(-0.75), ab, bb))
		want := make([]float64, n)
		for i := range want {
			want[i] = -0.75*a[i] + b[i]
		}
		e.check(fmt.Sprintf("axpy n=%d", n), e.down(bb), want, nil)

		// Rayleigh quotient of w = b' against v = a, then v ← w/‖w‖.
		w := e.down(bb)
		var vw, vv, ww float64
		for i := range a {
			vw += a[i] * w[i]
			vv += a[i] * a[i]
			ww += w[i] * w[i]
		}
		lam, nw, err := e.s.NormalizeRayleigh(ab, bb)
		e.ok(err)
		e.tolCheck(fmt.Sprintf("rayleigh λ n=%d", n), lam, vw/vv, 1e-10*(math.Abs(vw/vv)+1))
		e.tolCheck(fmt.Sprintf("rayleigh ‖w‖ n=%d", n), nw, math.Sqrt(ww), 1e-10*(math.Sqrt(ww)+1))
		for i := range want {
			want[i] = w[i] / math.Sqrt(ww)
		}
		e.check(fmt.Sprintf("rayleigh v n=%d", n), e.down(ab), want, nil)
		e.free(ab, bb)

		if n < 3 {
			continue
		}
		// Orthogonalize against an orthonormal basis of 3 vectors.
		basis := make([][]float64, 3)
		for k := range basis {
			q := e.rnd(n, -1, 1)
			for _, p := range basis[:k] {
				var c float64
				for i := range q {
					c += p[i] * q[i]
				}
				for i := range q {
					q[i] -= c * p[i]
				}
			}
			var s float64
			for _, v := range q {
				s += v * v
			}
			for i := range q {
				q[i] = float64(T(q[i] / math.Sqrt(s)))
			}
			basis[k] = q
		}
		v := e.rnd(n, -1, 1)
		vb := e.up(v)
		bbs := make([]kernels.Buffer[T], len(basis))
		for k, q := range basis {
			bbs[k] = e.up(q)
		}
		nrm, err = e.s.Orthogonalize(vb, bbs)
		e.ok(err)
		got2 := e.down(vb)
		// The result must be orthogonal to the basis and v minus its projection.
		for k, q := range basis {
			var c float64
			for i := range q {
				c += q[i] * got2[i]
			}
			e.tolCheck(fmt.Sprintf("orthogonalize n=%d basis %d", n, k), c, 0, 100*e.tol*math.Sqrt(float64(n)))
		}
		proj := append([]float64(nil), v...)
		for _, q := range basis {
			var c float64
			for i := range q {
				c += q[i] * v[i]
			}
			for i := range q {
				proj[i] -= c * q[i]
			}
		}
		e.check(fmt.Sprintf("orthogonalize n=%d", n), got2, proj, nil)
		var s float64
		for _, x := range got2 {
			s += x * x
		}
		e.tolCheck(fmt.Sprintf("orthogonalize norm n=%d", n), nrm, math.Sqrt(s), 1e-10*(math.Sqrt(s)+1))
		e.free(append(bbs, vb)...)
	}
}

func (e *env[T]) tolCheck(name string, got, want, tol float64) {
	e.t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		e.t.Errorf("%s = %v, want %v (±%.3g)", name, got, want, tol)
	}
}

func testView[T kernels.Float](e *env[T]) {
	x := e.rnd(20, -1, 1)
	xb := e.up(x)
	v, err := e.s.View(xb, 5, 7)
	e.ok(err)
	if v.Len() != 7 {
		e.t.Fatalf("view of 7 elements has length %d", v.Len())
	}
	e.ok(e.s.Unary(kernels.Neg, v, v, kernels.UnaryArgs{}))
	want := append([]float64(nil), x...)
	for i := 5; i < 12; i++ {
		want[i] = -want[i]
	}
	e.check("negated view", e.down(xb), want, nil)
	if _, err := e.s.View(xb, 15, 6); err == nil {
		e.t.Error("view past the end accepted")
	}
	e.free(xb)
}

// testGELUDerivatives checks, in float64 only, that GELU orders 1 and 2
// are the central differences of orders 0 and 1 (an oracle independent of
// the closed forms), and that orders above MaxGELUOrder are refused.
func testGELUDerivatives[T kernels.Float](e *env[T]) {
	for _, op := range []kernels.UnaryOp{kernels.GELU, kernels.GELUTanh} {
		xb, db := e.up([]float64{0}), e.poisoned(1)
		if err := e.s.Unary(op, db, xb, kernels.UnaryArgs{A: kernels.MaxGELUOrder + 1}); err == nil {
			e.t.Errorf("%v of order %d accepted", op, kernels.MaxGELUOrder+1)
		}
		if err := e.s.Unary(op, db, xb, kernels.UnaryArgs{A: 0.5}); err == nil {
			e.t.Errorf("%v of order 0.5 accepted", op)
		}
		e.free(xb, db)
	}
	var z T
	if _, ok := any(z).(float64); !ok {
		return
	}
	const h = 1e-5
	x := e.rnd(101, -5, 5)
	x = append(x, 0, -1e-3, 4.5)
	xs := make([]float64, 0, 3*len(x))
	for _, v := range x {
		xs = append(xs, v-h, v, v+h)
	}
	xb := e.up(xs)
	for _, op := range []kernels.UnaryOp{kernels.GELU, kernels.GELUTanh} {
		var lower []float64
		for k := 0; k <= kernels.MaxGELUOrder; k++ {
			db := e.poisoned(len(xs))
			e.ok(e.s.Unary(op, db, xb, kernels.UnaryArgs{A: float64(k)}))
			got := e.down(db)
			e.free(db)
			if k > 0 {
				for i := range x {
					fd := (lower[3*i+2] - lower[3*i]) / (2 * h)
					if d := math.Abs(got[3*i+1] - fd); math.IsNaN(d) || d > 1e-8*(1+math.Abs(fd)) {
						e.t.Errorf("%v order %d at x=%v: %v, central difference of order %d gives %v", op, k, x[i], got[3*i+1], k-1, fd)
					}
				}
			}
			lower = got
		}
	}
	e.free(xb)
}

// same reports whether got equals want elementwise exactly, NaN matching
// NaN.
func (e *env[T]) same(name string, got, want []float64) {
	e.t.Helper()
	bad := 0
	for i, w := range want {
		if g := got[i]; g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
			if bad < 3 {
				e.t.Errorf("%s: element %d = %v, want %v", name, i, g, w)
			}
			bad++
		}
	}
	if bad > 3 {
		e.t.Errorf("%s: %d of %d elements wrong", name, bad, len(want))
	}
}

func testMaxPool[T kernels.Float](e *env[T]) {
	geoms := []kernels.PoolGeom{
		{N: 2, C: 3, H: 6, W: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
		{N: 3, C: 2, H: 7, W: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 1},
		{N: 2, C: 5, H: 9, W: 8, KH: 3, KW: 2, StrideH: 1, StrideW: 3, PadH: 1, PadW: 1},
		{N: 1, C: 2, H: 4, W: 6, KH: 4, KW: 6, StrideH: 1, StrideW: 1, PadH: 2, PadW: 3},
		{N: 4, C: 17, H: 13, W: 11, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	}
	for gi, g := range geoms {
		e.ok(g.Validate())
		oh, ow := g.Out()
		// Few distinct values, so that windows hold ties; NaNs in the
		// second half of the cases.
		x := make([]float64, g.InLen())
		for i := range x {
			x[i] = float64(e.rng.IntN(4)) - 1.5
			if gi >= 3 && e.rng.IntN(9) == 0 {
				x[i] = math.NaN()
			}
		}
		wantY, wantArg := refMaxPool(x, g)
		name := fmt.Sprintf("%+v", g)
		xb, yb, ab := e.up(x), e.poisoned(g.OutLen()), e.poisoned(g.OutLen())
		e.ok(e.s.MaxPool(yb, ab, xb, g))
		e.same("max-pool "+name, e.down(yb), wantY)
		e.same("max-pool argmax "+name, e.down(ab), wantArg)
		yb2 := e.poisoned(g.OutLen())
		e.ok(e.s.MaxPool(yb2, nil, xb, g))
		e.same("max-pool without argmax "+name, e.down(yb2), wantY)

		// Scatter and gather on reference positions.
		argb := e.up(wantArg)
		gy := e.rnd(g.OutLen(), -1, 1)
		gyb, dxb := e.up(gy), e.poisoned(g.InLen())
		e.ok(e.s.MaxPoolScatter(dxb, argb, gyb, g))
		want, mag := make([]float64, g.InLen()), make([]float64, g.InLen())
		for k, a := range wantArg {
			plane := k / (oh * ow)
			want[plane*g.H*g.W+int(a)] += gy[k]
			mag[plane*g.H*g.W+int(a)] += math.Abs(gy[k])
		}
		for i := range mag {
			mag[i]++
		}
		e.check("max-pool scatter "+name, e.down(dxb), want, mag)
		u := e.rnd(g.InLen(), -1, 1)
		ub, vb := e.up(u), e.poisoned(g.OutLen())
		e.ok(e.s.MaxPoolGather(vb, argb, ub, g))
		wantV := make([]float64, g.OutLen())
		for k, a := range wantArg {
			wantV[k] = u[k/(oh*ow)*g.H*g.W+int(a)]
		}
		e.same("max-pool gather "+name, e.down(vb), wantV)
		e.free(xb, yb, ab, yb2, argb, gyb, dxb, ub, vb)
	}
	bad := kernels.PoolGeom{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadH: 2}
	xb, yb := e.up(make([]float64, 16)), e.poisoned(64)
	if err := e.s.MaxPool(yb, nil, xb, bad); err == nil {
		e.t.Errorf("padding beyond half the window accepted: %+v", bad)
	}
	e.free(xb, yb)
}

func testGatherScatter[T kernels.Float](e *env[T]) {
	for _, sz := range [][3]int{{1, 1, 1}, {7, 5, 3}, {12, 3, 1}, {300, 11, 65}, {2000, 50, 8}, {0, 3, 4}} {
		n, v, d := sz[0], sz[1], sz[2]
		ids := make([]float64, n)
		for k := range ids {
			ids[k] = float64(e.rng.IntN(v))
		}
		table := e.rnd(v*d, -1, 1)
		ib, tb, gb := e.up(ids), e.up(table), e.poisoned(n*d)
		e.ok(e.s.Gather(gb, tb, ib, n, v, d))
		want := make([]float64, n*d)
		for k, id := range ids {
			for j := 0; j < d; j++ {
				want[k*d+j] = table[int(id)*d+j]
			}
		}
		e.same(fmt.Sprintf("gather n=%d v=%d d=%d", n, v, d), e.down(gb), want)

		src := e.rnd(n*d, -1, 1)
		sb, db := e.up(src), e.poisoned(v*d)
		e.ok(e.s.ScatterAdd(db, sb, ib, n, v, d))
		want, mag := make([]float64, v*d), make([]float64, v*d)
		for i := range mag {
			mag[i] = 1
		}
		for k, id := range ids {
			for j := 0; j < d; j++ {
				want[int(id)*d+j] += src[k*d+j]
				mag[int(id)*d+j] += math.Abs(src[k*d+j])
			}
		}
		e.check(fmt.Sprintf("scatter-add n=%d v=%d d=%d", n, v, d), e.down(db), want, mag)
		e.free(ib, tb, gb, sb, db)
	}
}

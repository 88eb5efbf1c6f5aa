package conformance

import (
	"fmt"
	"math"

	"github.com/gradlab/gradlab/kernels"
)

// normLayout describes the groups of a normalization as index lists into
// the flat tensor, and for each element the index of its γ/β.
type normLayout struct {
	groups [][]int
	param  []int
	params int
}

// lnLayout: one group per row, γ per column.
func lnLayout(rows, d int) normLayout {
	l := normLayout{groups: make([][]int, rows), param: make([]int, rows*d), params: d}
	for r := range l.groups {
		for j := 0; j < d; j++ {
			l.groups[r] = append(l.groups[r], r*d+j)
			l.param[r*d+j] = j
		}
	}
	return l
}

// bnLayout: one group per channel over outer×inner, γ per channel.
func bnLayout(outer, c, inner int) normLayout {
	l := normLayout{groups: make([][]int, c), param: make([]int, outer*c*inner), params: c}
	for o := 0; o < outer; o++ {
		for k := 0; k < c; k++ {
			for i := 0; i < inner; i++ {
				idx := (o*c+k)*inner + i
				l.groups[k] = append(l.groups[k], idx)
				l.param[idx] = k
			}
		}
	}
	return l
}

// refNormForward normalizes x group by group in float64 (two-pass
// statistics): y, and per group the mean and 1/√(var+eps).
func refNormForward(l normLayout, x, gamma, beta []float64, eps float64) (y, mean, rstd []float64) {
	y = make([]float64, len(x))
	mean, rstd = make([]float64, len(l.groups)), make([]float64, len(l.groups))
	for g, idx := range l.groups {
		var s float64
		for _, k := range idx {
			s += x[k]
		}
		m := s / float64(len(idx))
		var q float64
		for _, k := range idx {
			q += (x[k] - m) * (x[k] - m)
		}
		mean[g], rstd[g] = m, 1/math.Sqrt(q/float64(len(idx))+eps)
		for _, k := range idx {
			y[k] = (x[k]-m)*rstd[g]*gamma[l.param[k]] + beta[l.param[k]]
		}
	}
	return y, mean, rstd
}

// refNormBackward multiplies gy by the dense Jacobian of each group,
// ∂y_i/∂x_j = γ_i·r·(δ_ij − 1/M − x̂_i·x̂_j/M) with x̂ from the given
// statistics, and sums gy·x̂ and gy for the parameters. It returns the
// gradients and per-element magnitudes for the tolerance.
func refNormBackward(l normLayout, x, gamma, mean, rstd, gy []float64) (gx, gg, gb, magX, magP []float64) {
	gx, magX = make([]float64, len(x)), make([]float64, len(x))
	gg, gb, magP = make([]float64, l.params), make([]float64, l.params), make([]float64, l.params)
	for g, idx := range l.groups {
		m, r, cnt := mean[g], rstd[g], float64(len(idx))
		xh := make([]float64, len(idx))
		for a, k := range idx {
			xh[a] = (x[k] - m) * r
		}
		for b, j := range idx {
			var s, mg float64
			for a, i := range idx {
				d := -1/cnt - xh[a]*xh[b]/cnt
				if a == b {
					d++
				}
				t := gy[i] * gamma[l.param[i]] * r * d
				s += t
				mg += math.Abs(gy[i] * gamma[l.param[i]] * r * (1 + math.Abs(xh[a]*xh[b])) / cnt)
			}
			gx[j] = s
			magX[j] = mg + math.Abs(gy[j]*gamma[l.param[j]]*r) + 1
		}
		for a, k := range idx {
			p := l.param[k]
			gg[p] += gy[k] * xh[a]
			gb[p] += gy[k]
			magP[p] += math.Abs(gy[k]) * (1 + math.Abs(xh[a]))
		}
	}
	for i := range magP {
		magP[i]++
	}
	return gx, gg, gb, magX, magP
}

// normCall runs one family (layer or batch norm) of kernels.
type normCall[T kernels.Float] struct {
	name     string
	layout   normLayout
	size     int
	forward  func(y, mean, rstd, x, gamma, beta kernels.Buffer[T], eps float64) error
	backward func(gx, gg, gb, x, gamma, mean, rstd, gy kernels.Buffer[T]) error
}

func testNorm[T kernels.Float](e *env[T]) {
	var calls []normCall[T]
	for _, sz := range [][2]int{{1, 1}, {3, 7}, {5, 1}, {64, 257}, {300, 64}, {2, 3001}} {
		rows, d := sz[0], sz[1]
		calls = append(calls, normCall[T]{
			name: fmt.Sprintf("layer norm %dx%d", rows, d), layout: lnLayout(rows, d), size: rows * d,
			forward: func(y, mean, rstd, x, gamma, beta kernels.Buffer[T], eps float64) error {
				return e.s.LayerNorm(y, mean, rstd, x, gamma, beta, rows, d, eps)
			},
			backward: func(gx, gg, gb, x, gamma, mean, rstd, gy kernels.Buffer[T]) error {
				return e.s.LayerNormBackward(gx, gg, gb, x, gamma, mean, rstd, gy, rows, d)
			},
		})
	}
	for _, sz := range [][3]int{{1, 1, 1}, {2, 3, 5}, {9, 7, 1}, {8, 16, 49}, {3, 2, 700}, {1, 5, 3}, {130, 3, 1}} {
		outer, c, inner := sz[0], sz[1], sz[2]
		calls = append(calls, normCall[T]{
			name: fmt.Sprintf("batch norm %dx%dx%d", outer, c, inner), layout: bnLayout(outer, c, inner), size: outer * c * inner,
			forward: func(y, mean, rstd, x, gamma, beta kernels.Buffer[T], eps float64) error {
				return e.s.BatchNorm(y, mean, rstd, x, gamma, beta, outer, c, inner, eps)
			},
			backward: func(gx, gg, gb, x, gamma, mean, rstd, gy kernels.Buffer[T]) error {
				return e.s.BatchNormBackward(gx, gg, gb, x, gamma, mean, rstd, gy, outer, c, inner)
			},
		})
	}
	for ci, c := range calls {
		for _, affine := range []bool{true, false} {
			e.normCase(c, affine, ci%2 == 0)
		}
	}
	e.normOracleCheck()
	e.normErrors()
}

// normCase checks the forward (with and without y) and the backward (all
// outputs, then each alone) of one call against the references.
func (e *env[T]) normCase(c normCall[T], affine, shifted bool) {
	name := fmt.Sprintf("%s affine=%v", c.name, affine)
	np, ng := c.layout.params, len(c.layout.groups)
	// An offset mean makes the one-pass variance formula visibly wrong.
	lo, hi := -2.0, 2.0
	if shifted {
		lo, hi = 30, 34
	}
	x := e.rnd(c.size, lo, hi)
	gamma, beta := make([]float64, np), make([]float64, np)
	for i := range gamma {
		gamma[i] = 1
	}
	var gb, bb kernels.Buffer[T]
	if affine {
		gamma, beta = e.rnd(np, 0.5, 1.5), e.rnd(np, -1, 1)
		gb, bb = e.up(gamma), e.up(beta)
	}
	const eps = 1e-5
	wantY, wantM, wantR := refNormForward(c.layout, x, gamma, beta, eps)
	xb := e.up(x)
	yb, mb, rb := e.poisoned(c.size), e.poisoned(ng), e.poisoned(ng)
	e.ok(c.forward(yb, mb, rb, xb, gb, bb, eps))
	e.check(name+" y", e.down(yb), wantY, nil)
	magM := make([]float64, ng)
	for g, idx := range c.layout.groups {
		for _, k := range idx {
			magM[g] += math.Abs(x[k]) / float64(len(idx))
		}
		magM[g]++
	}
	e.check(name+" mean", e.down(mb), wantM, magM)
	e.check(name+" rstd", e.down(rb), wantR, nil)
	mb2, rb2 := e.poisoned(ng), e.poisoned(ng)
	e.ok(c.forward(nil, mb2, rb2, xb, gb, bb, eps))
	e.check(name+" statistics only: mean", e.down(mb2), wantM, magM)
	e.check(name+" statistics only: rstd", e.down(rb2), wantR, nil)

	// Backward from the statistics the kernel wrote (as the engine uses them).
	m, r := e.down(mb), e.down(rb)
	gy := e.rnd(c.size, -1, 1)
	gyb := e.up(gy)
	wgx, wgg, wgb, magX, magP := refNormBackward(c.layout, x, gamma, m, r, gy)
	gxb, ggb, gbb := e.poisoned(c.size), e.poisoned(np), e.poisoned(np)
	e.ok(c.backward(gxb, ggb, gbb, xb, gb, mb, rb, gyb))
	e.check(name+" gx", e.down(gxb), wgx, magX)
	e.check(name+" ggamma", e.down(ggb), wgg, magP)
	e.check(name+" gbeta", e.down(gbb), wgb, magP)
	gx1, gg1, gb1 := e.poisoned(c.size), e.poisoned(np), e.poisoned(np)
	e.ok(c.backward(gx1, nil, nil, xb, gb, mb, rb, gyb))
	e.check(name+" gx alone", e.down(gx1), wgx, magX)
	e.ok(c.backward(nil, gg1, nil, xb, gb, mb, rb, gyb))
	e.check(name+" ggamma alone", e.down(gg1), wgg, magP)
	e.ok(c.backward(nil, nil, gb1, xb, gb, mb, rb, gyb))
	e.check(name+" gbeta alone", e.down(gb1), wgb, magP)
	e.free(xb, yb, mb, rb, mb2, rb2, gyb, gxb, ggb, gbb, gx1, gg1, gb1)
	if affine {
		e.free(gb, bb)
	}
}

// normOracleCheck validates refNormBackward itself (float64 sets only):
// its gradients must match central differences of Σ gy·y computed with
// refNormForward.
func (e *env[T]) normOracleCheck() {
	var z T
	if _, ok := any(z).(float64); !ok {
		return
	}
	for _, l := range []normLayout{lnLayout(3, 5), bnLayout(2, 3, 4)} {
		n := len(l.param)
		x, gy := e.rnd(n, -1, 1), e.rnd(n, -1, 1)
		gamma, beta := e.rnd(l.params, 0.5, 1.5), e.rnd(l.params, -1, 1)
		f := func(x, gamma, beta []float64) float64 {
			y, _, _ := refNormForward(l, x, gamma, beta, 1e-5)
			var s float64
			for i := range y {
				s += gy[i] * y[i]
			}
			return s
		}
		_, m, r := refNormForward(l, x, gamma, beta, 1e-5)
		gx, gg, gb, _, _ := refNormBackward(l, x, gamma, m, r, gy)
		const h = 1e-6
		fd := func(v []float64, i int) float64 {
			old := v[i]
			v[i] = old + h
			p := f(x, gamma, beta)
			v[i] = old - h
			q := f(x, gamma, beta)
			v[i] = old
			return (p - q) / (2 * h)
		}
		for _, c := range []struct {
			name string
			v    []float64
			g    []float64
		}{{"x", x, gx}, {"gamma", gamma, gg}, {"beta", beta, gb}} {
			for i := range c.v {
				e.tolCheck(fmt.Sprintf("reference gradient %s[%d] vs central difference", c.name, i), c.g[i], fd(c.v, i), 1e-7)
			}
		}
	}
}

// normErrors checks that bad sizes and missing operands are refused.
func (e *env[T]) normErrors() {
	xb, sb := e.up(make([]float64, 6)), e.poisoned(6)
	if err := e.s.LayerNorm(sb, sb, sb, xb, nil, nil, 2, 0, 1e-5); err == nil {
		e.t.Error("layer norm over rows of 0 elements accepted")
	}
	if err := e.s.LayerNorm(sb, sb, sb, xb, nil, nil, 2, 3, -1); err == nil {
		e.t.Error("layer norm with a negative epsilon accepted")
	}
	if err := e.s.LayerNorm(sb, sb, sb, xb, nil, nil, 3, 3, 1e-5); err == nil {
		e.t.Error("layer norm of 9 elements over a buffer of 6 accepted")
	}
	if err := e.s.BatchNorm(sb, sb, sb, xb, nil, nil, 0, 3, 2, 1e-5); err == nil {
		e.t.Error("batch norm over channels of 0 elements accepted")
	}
	if err := e.s.BatchNormBackward(sb, nil, nil, xb, nil, nil, sb, xb, 1, 3, 2); err == nil {
		e.t.Error("batch norm backward without mean accepted")
	}
	if err := e.s.LayerNormBackward(sb, nil, nil, nil, nil, sb, sb, xb, 2, 3); err == nil {
		e.t.Error("layer norm backward without x accepted")
	}
	e.free(xb, sb)
}

package conformance

import (
	"fmt"
	"math"

	"github.com/gradlab/gradlab/kernels"
)

// refAvgPool is average pooling written as a loop over every kernel tap
// (taps in the padding skipped), with its divisor: KH·KW when countPad,
// else the number of taps inside the image.
func refAvgPool(x []float64, g kernels.PoolGeom, countPad bool) (y, div []float64) {
	oh, ow := g.Out()
	for n := 0; n < g.N*g.C; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var s float64
				inside := 0
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						iy, ix := oy*g.StrideH-g.PadH+ky, ox*g.StrideW-g.PadW+kx
						if iy < 0 || iy >= g.H || ix < 0 || ix >= g.W {
							continue
						}
						s += x[n*g.H*g.W+iy*g.W+ix]
						inside++
					}
				}
				d := float64(inside)
				if countPad {
					d = float64(g.KH * g.KW)
				}
				y = append(y, s/d)
				div = append(div, d)
			}
		}
	}
	return y, div
}

// refAvgPoolAdjoint scatters gy[k]/div[k] onto every pixel of window k,
// with the magnitude Σ|gy[k]/div[k]| (+1) of each sum.
func refAvgPoolAdjoint(gy, div []float64, g kernels.PoolGeom) (dx, mag []float64) {
	oh, ow := g.Out()
	dx, mag = make([]float64, g.InLen()), make([]float64, g.InLen())
	for i := range mag {
		mag[i] = 1
	}
	k := 0
	for n := 0; n < g.N*g.C; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				v := gy[k] / div[k]
				for ky := 0; ky < g.KH; ky++ {
					for kx := 0; kx < g.KW; kx++ {
						iy, ix := oy*g.StrideH-g.PadH+ky, ox*g.StrideW-g.PadW+kx
						if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
							dx[n*g.H*g.W+iy*g.W+ix] += v
							mag[n*g.H*g.W+iy*g.W+ix] += math.Abs(v)
						}
					}
				}
				k++
			}
		}
	}
	return dx, mag
}

// refUpsample indexes the small image from every big pixel.
func refUpsample(x []float64, planes, h, w, s int) []float64 {
	y := make([]float64, 0, len(x)*s*s)
	for p := 0; p < planes; p++ {
		for by := 0; by < h*s; by++ {
			for bx := 0; bx < w*s; bx++ {
				y = append(y, x[(p*h+by/s)*w+bx/s])
			}
		}
	}
	return y
}

// refUpsampleAdjoint adds every big pixel into its small one, with the
// magnitude of each sum (+1).
func refUpsampleAdjoint(gy []float64, planes, h, w, s int) (dx, mag []float64) {
	dx, mag = make([]float64, planes*h*w), make([]float64, planes*h*w)
	for i := range mag {
		mag[i] = 1
	}
	k := 0
	for p := 0; p < planes; p++ {
		for by := 0; by < h*s; by++ {
			for bx := 0; bx < w*s; bx++ {
				i := (p*h+by/s)*w + bx/s
				dx[i] += gy[k]
				mag[i] += math.Abs(gy[k])
				k++
			}
		}
	}
	return dx, mag
}

// dots returns ⟨a, b⟩ and Σ|aᵢbᵢ|.
func dots(a, b []float64) (dot, mag float64) {
	for i := range a {
		dot += a[i] * b[i]
		mag += math.Abs(a[i] * b[i])
	}
	return dot, mag
}

// adjointPair checks ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for random x and y, given the
// kernel outputs ax = A x and aty = Aᵀ y (both computed by the set).
func (e *env[T]) adjointPair(name string, x, ax, y, aty []float64) {
	e.t.Helper()
	l, ml := dots(ax, y)
	r, mr := dots(x, aty)
	// Each side is rounded to T element by element before the float64
	// dot product.
	if d := math.Abs(l - r); math.IsNaN(d) || d > 4*e.tol*(ml+mr+1) {
		e.t.Errorf("%s: ⟨A x, y⟩ = %v, ⟨x, Aᵀ y⟩ = %v", name, l, r)
	}
}

var avgPoolGeoms = []kernels.PoolGeom{
	{N: 2, C: 3, H: 6, W: 6, KH: 2, KW: 2, StrideH: 2, StrideW: 2},
	{N: 1, C: 1, H: 1, W: 1, KH: 1, KW: 1, StrideH: 1, StrideW: 1},
	{N: 3, C: 2, H: 7, W: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 1},
	{N: 2, C: 5, H: 9, W: 8, KH: 3, KW: 2, StrideH: 1, StrideW: 3, PadH: 1, PadW: 1},
	{N: 1, C: 2, H: 4, W: 6, KH: 4, KW: 6, StrideH: 1, StrideW: 1, PadH: 2, PadW: 3},
	{N: 2, C: 3, H: 11, W: 10, KH: 2, KW: 3, StrideH: 4, StrideW: 5, PadH: 1, PadW: 1}, // gaps between windows
	{N: 4, C: 17, H: 13, W: 11, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
	{N: 8, C: 16, H: 32, W: 31, KH: 5, KW: 4, StrideH: 3, StrideW: 2, PadH: 2, PadW: 2}, // large enough to run in parallel
}

func testAvgPool[T kernels.Float](e *env[T]) {
	for _, g := range avgPoolGeoms {
		e.ok(g.Validate())
		for _, countPad := range []bool{false, true} {
			name := fmt.Sprintf("%+v countPad=%v", g, countPad)
			x := e.rnd(g.InLen(), -1, 1)
			wantY, div := refAvgPool(x, g, countPad)
			mag := make([]float64, len(wantY))
			for i, d := range div {
				mag[i] = float64(g.KH*g.KW)/d + 1
			}
			xb, yb := e.up(x), e.poisoned(g.OutLen())
			e.ok(e.s.AvgPool(yb, xb, g, countPad))
			gotY := e.down(yb)
			e.check("avg-pool "+name, gotY, wantY, mag)

			gy := e.rnd(g.OutLen(), -1, 1)
			gyb, dxb := e.up(gy), e.poisoned(g.InLen())
			e.ok(e.s.AvgPoolAdjoint(dxb, gyb, g, countPad))
			gotDx := e.down(dxb)
			wantDx, dmag := refAvgPoolAdjoint(gy, div, g)
			e.check("avg-pool adjoint "+name, gotDx, wantDx, dmag)
			e.adjointPair("avg-pool pair "+name, x, gotY, gy, gotDx)
			e.free(xb, yb, gyb, dxb)
		}
	}
	bad := kernels.PoolGeom{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadH: 2}
	xb, yb := e.up(make([]float64, 16)), e.poisoned(64)
	if err := e.s.AvgPool(yb, xb, bad, false); err == nil {
		e.t.Errorf("avg-pool: padding beyond half the window accepted: %+v", bad)
	}
	if err := e.s.AvgPoolAdjoint(xb, yb, bad, true); err == nil {
		e.t.Errorf("avg-pool adjoint: padding beyond half the window accepted: %+v", bad)
	}
	short := kernels.PoolGeom{N: 1, C: 1, H: 8, W: 8, KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	if err := e.s.AvgPool(yb, xb, short, false); err == nil {
		e.t.Errorf("avg-pool: input of 16 elements accepted for %+v", short)
	}
	e.free(xb, yb)
}

func testUpsample[T kernels.Float](e *env[T]) {
	for _, sz := range [][4]int{{1, 1, 1, 1}, {1, 1, 1, 3}, {6, 3, 5, 2}, {2, 7, 4, 3}, {4, 5, 5, 1}, {64, 16, 15, 2}} {
		planes, h, w, s := sz[0], sz[1], sz[2], sz[3]
		name := fmt.Sprintf("planes=%d h=%d w=%d scale=%d", planes, h, w, s)
		small, big := planes*h*w, planes*h*w*s*s
		x := e.rnd(small, -1, 1)
		xb, yb := e.up(x), e.poisoned(big)
		e.ok(e.s.Upsample(yb, xb, planes, h, w, s))
		gotY := e.down(yb)
		e.same("upsample "+name, gotY, refUpsample(x, planes, h, w, s))

		gy := e.rnd(big, -1, 1)
		gyb, dxb := e.up(gy), e.poisoned(small)
		e.ok(e.s.UpsampleAdjoint(dxb, gyb, planes, h, w, s))
		gotDx := e.down(dxb)
		want, mag := refUpsampleAdjoint(gy, planes, h, w, s)
		e.check("upsample adjoint "+name, gotDx, want, mag)
		e.adjointPair("upsample pair "+name, x, gotY, gy, gotDx)
		e.free(xb, yb, gyb, dxb)
	}
	xb, yb := e.up(make([]float64, 4)), e.poisoned(16)
	if err := e.s.Upsample(yb, xb, 1, 2, 2, 0); err == nil {
		e.t.Error("upsample by 0 accepted")
	}
	if err := e.s.Upsample(yb, xb, 1, 2, 2, 3); err == nil {
		e.t.Error("upsample into 16 elements accepted for 36")
	}
	if err := e.s.UpsampleAdjoint(xb, yb, 1, 4, 2, 2); err == nil {
		e.t.Error("upsample adjoint into 4 elements accepted for 8")
	}
	e.free(xb, yb)
}

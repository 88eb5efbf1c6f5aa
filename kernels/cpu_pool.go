package kernels

import "fmt"

type avgKind int

const (
	avgFwd     avgKind = iota // y ← window means of x (rows: planes·OH output rows)
	avgAdjoint                // dx ← Σ gy/divisor over covering windows (rows: planes·H input rows)
	upFwd                     // y ← x repeated scale×scale (rows: planes·h small rows)
	upAdjoint                 // dx ← block sums of gy (rows: planes·h small rows)
	numAvgKinds
)

// avgJob runs average pooling, nearest upsampling or their adjoints over
// a range of rows; every row of the destination is written by exactly one
// row of work, so that the ranges are independent and each sum runs in a
// fixed order.
type avgJob[T Float] struct {
	kind     avgKind
	dst, src []T
	g        PoolGeom
	oh, ow   int
	countPad bool
	// upsampling: planes of h×w small pixels, scale s
	h, w, s int
}

// span returns the pixels [a, b) of the axis of length n that the window
// starting at o (possibly negative) of length k covers.
func span(o, k, n int) (a, b int) { return max(o, 0), min(o+k, n) }

// divisor is the number AvgPool divides output (oy, ox)'s sum by.
func (j *avgJob[T]) divisor(oy, ox int) T {
	g := j.g
	if j.countPad {
		return T(g.KH * g.KW)
	}
	ya, yb := span(oy*g.StrideH-g.PadH, g.KH, g.H)
	xa, xb := span(ox*g.StrideW-g.PadW, g.KW, g.W)
	return T((yb - ya) * (xb - xa))
}

// covering returns the outputs [a, b] along one axis whose window holds
// input position i: o·stride − pad ≤ i < o·stride − pad + k.
func covering(i, k, stride, pad, out int) (a, b int) {
	if t := i + pad - k + 1; t > 0 {
		a = (t + stride - 1) / stride
	}
	b = min((i+pad)/stride, out-1)
	return a, b
}

func (j *avgJob[T]) run(lo, hi int) {
	switch j.kind {
	case avgFwd:
		g := j.g
		for r := lo; r < hi; r++ {
			plane, oy := r/j.oh, r%j.oh
			x := j.src[plane*g.H*g.W : (plane+1)*g.H*g.W]
			y := j.dst[r*j.ow : (r+1)*j.ow]
			ya, yb := span(oy*g.StrideH-g.PadH, g.KH, g.H)
			for ox := range y {
				xa, xb := span(ox*g.StrideW-g.PadW, g.KW, g.W)
				var acc T
				for iy := ya; iy < yb; iy++ {
					for _, v := range x[iy*g.W+xa : iy*g.W+xb] {
						acc += v
					}
				}
				y[ox] = acc / j.divisor(oy, ox)
			}
		}
	case avgAdjoint:
		g := j.g
		for r := lo; r < hi; r++ {
			plane, iy := r/g.H, r%g.H
			gy := j.src[plane*j.oh*j.ow : (plane+1)*j.oh*j.ow]
			dx := j.dst[r*g.W : (r+1)*g.W]
			oya, oyb := covering(iy, g.KH, g.StrideH, g.PadH, j.oh)
			for ix := range dx {
				oxa, oxb := covering(ix, g.KW, g.StrideW, g.PadW, j.ow)
				var acc T
				for oy := oya; oy <= oyb; oy++ {
					for ox := oxa; ox <= oxb; ox++ {
						acc += gy[oy*j.ow+ox] / j.divisor(oy, ox)
					}
				}
				dx[ix] = acc
			}
		}
	case upFwd:
		w, s := j.w, j.s
		bw := w * s
		for r := lo; r < hi; r++ {
			x := j.src[r*w : (r+1)*w]
			y := j.dst[r*s*bw : (r+1)*s*bw]
			first := y[:bw]
			for i, v := range x {
				for d := range s {
					first[i*s+d] = v
				}
			}
			for d := 1; d < s; d++ {
				copy(y[d*bw:(d+1)*bw], first)
			}
		}
	case upAdjoint:
		w, s := j.w, j.s
		bw := w * s
		for r := lo; r < hi; r++ {
			gy := j.src[r*s*bw : (r+1)*s*bw]
			dx := j.dst[r*w : (r+1)*w]
			for i := range dx {
				var acc T
				for dy := 0; dy < s; dy++ {
					for _, v := range gy[dy*bw+i*s : dy*bw+(i+1)*s] {
						acc += v
					}
				}
				dx[i] = acc
			}
		}
	}
}

// avgNames are the buffer names of each kind in errors (constant strings:
// building them per call would allocate).
var avgNames = [numAvgKinds][3]string{
	avgFwd:     {"avg-pool", "avg-pool output", "avg-pool input"},
	avgAdjoint: {"avg-pool adjoint", "avg-pool adjoint output", "avg-pool adjoint gradient"},
	upFwd:      {"upsample", "upsample output", "upsample input"},
	upAdjoint:  {"upsample adjoint", "upsample adjoint output", "upsample adjoint gradient"},
}

// avg checks the buffers of kind (destination of nd elements, source of
// ns) and runs j over rows rows.
func (s *CPU[T]) avg(kind avgKind, dst, src Buffer[T], nd, ns, rows int, j *avgJob[T]) error {
	names := &avgNames[kind]
	d, err := host[T](names[1], dst, nd)
	if err != nil {
		return err
	}
	x, err := host[T](names[2], src, ns)
	if err != nil {
		return err
	}
	j.kind, j.dst, j.src = kind, d, x
	s.pool.do(rows, j, s.par(max(nd, ns)))
	j.dst, j.src = nil, nil
	return nil
}

func (s *CPU[T]) avgPool(kind avgKind, dst, src Buffer[T], g PoolGeom, countPad bool) error {
	if err := g.Validate(); err != nil {
		return err
	}
	oh, ow := g.Out()
	j := &s.aj
	*j = avgJob[T]{g: g, oh: oh, ow: ow, countPad: countPad}
	if kind == avgFwd {
		return s.avg(kind, dst, src, g.OutLen(), g.InLen(), g.N*g.C*oh, j)
	}
	return s.avg(kind, dst, src, g.InLen(), g.OutLen(), g.N*g.C*g.H, j)
}

// AvgPool implements Set.
func (s *CPU[T]) AvgPool(y, x Buffer[T], g PoolGeom, countPad bool) error {
	return s.avgPool(avgFwd, y, x, g, countPad)
}

// AvgPoolAdjoint implements Set.
func (s *CPU[T]) AvgPoolAdjoint(dx, gy Buffer[T], g PoolGeom, countPad bool) error {
	return s.avgPool(avgAdjoint, dx, gy, g, countPad)
}

// CheckUpsample reports whether planes×h×w images can be upsampled by
// scale (sizes ≥ 0, scale ≥ 1); Set implementations call it.
func CheckUpsample(planes, h, w, scale int) error {
	if planes < 0 || h < 0 || w < 0 || scale < 1 {
		return fmt.Errorf("kernels: upsample of %d planes of %d×%d by %d", planes, h, w, scale)
	}
	return nil
}

func (s *CPU[T]) upsample(kind avgKind, dst, src Buffer[T], planes, h, w, scale int) error {
	if err := CheckUpsample(planes, h, w, scale); err != nil {
		return err
	}
	small, big := planes*h*w, planes*h*w*scale*scale
	j := &s.aj
	*j = avgJob[T]{h: h, w: w, s: scale}
	if kind == upFwd {
		return s.avg(kind, dst, src, big, small, planes*h, j)
	}
	return s.avg(kind, dst, src, small, big, planes*h, j)
}

// Upsample implements Set.
func (s *CPU[T]) Upsample(y, x Buffer[T], planes, h, w, scale int) error {
	return s.upsample(upFwd, y, x, planes, h, w, scale)
}

// UpsampleAdjoint implements Set.
func (s *CPU[T]) UpsampleAdjoint(dx, gy Buffer[T], planes, h, w, scale int) error {
	return s.upsample(upAdjoint, dx, gy, planes, h, w, scale)
}

package kernels

import (
	"fmt"
	"math"
)

type poolKind int

const (
	poolMax     poolKind = iota // y, arg ← max over windows of x
	poolScatter                 // dx ← gy routed to arg
	poolGather                  // v ← u read at arg
)

// poolJob runs one member of the max-pooling family over a range of
// image planes (n·C + c); planes are independent.
type poolJob[T Float] struct {
	kind     poolKind
	dst, arg []T
	src      []T
	g        PoolGeom
	oh, ow   int
}

func (j *poolJob[T]) run(lo, hi int) {
	g := j.g
	hw, ohw := g.H*g.W, j.oh*j.ow
	for plane := lo; plane < hi; plane++ {
		switch j.kind {
		case poolMax:
			j.maxPlane(plane)
		case poolScatter:
			dx, gy, arg := j.dst[plane*hw:(plane+1)*hw], j.src[plane*ohw:(plane+1)*ohw], j.arg[plane*ohw:(plane+1)*ohw]
			clear(dx)
			for k, a := range arg {
				dx[int(a)] += gy[k]
			}
		case poolGather:
			v, u, arg := j.dst[plane*ohw:(plane+1)*ohw], j.src[plane*hw:(plane+1)*hw], j.arg[plane*ohw:(plane+1)*ohw]
			for k, a := range arg {
				v[k] = u[int(a)]
			}
		}
	}
}

func (j *poolJob[T]) maxPlane(plane int) {
	g := j.g
	x := j.src[plane*g.H*g.W : (plane+1)*g.H*g.W]
	k := plane * j.oh * j.ow
	for oy := 0; oy < j.oh; oy++ {
		y0 := oy*g.StrideH - g.PadH
		ya, yb := max(y0, 0), min(y0+g.KH, g.H)
		for ox := 0; ox < j.ow; ox++ {
			x0 := ox*g.StrideW - g.PadW
			xa, xb := max(x0, 0), min(x0+g.KW, g.W)
			bi := ya*g.W + xa
			best := x[bi]
			for iy := ya; iy < yb; iy++ {
				row := iy * g.W
				for ix := xa; ix < xb; ix++ {
					if v := x[row+ix]; v > best || (v != v && best == best) {
						best, bi = v, row+ix
					}
				}
			}
			j.dst[k] = best
			if j.arg != nil {
				j.arg[k] = T(bi)
			}
			k++
		}
	}
}

// poolNames are the buffer names of each pool kind in errors (constant
// strings: building them per call would allocate).
var poolNames = [...][4]string{
	poolMax:     {"max-pool", "max-pool output", "max-pool argmax", "max-pool input"},
	poolScatter: {"max-pool scatter", "max-pool scatter output", "max-pool scatter argmax", "max-pool scatter gradient"},
	poolGather:  {"max-pool gather", "max-pool gather output", "max-pool gather argmax", "max-pool gather input"},
}

func (s *CPU[T]) pool2d(kind poolKind, dst, arg, src Buffer[T], g PoolGeom) error {
	names := &poolNames[kind]
	what := names[0]
	if err := g.Validate(); err != nil {
		return err
	}
	in, out := g.InLen(), g.OutLen()
	nd, ns := out, in
	if kind == poolScatter {
		nd, ns = in, out
	}
	d, err := host[T](names[1], dst, nd)
	if err != nil {
		return err
	}
	x, err := host[T](names[3], src, ns)
	if err != nil {
		return err
	}
	var a []T
	if arg != nil || kind != poolMax {
		if arg == nil {
			return fmt.Errorf("kernels: %s: missing argmax buffer", what)
		}
		if a, err = host[T](names[2], arg, out); err != nil {
			return err
		}
	}
	if kind != poolMax {
		// Positions come from MaxPool; check them once so that the
		// workers cannot index out of range.
		hw := float64(g.H * g.W)
		for k, v := range a {
			if f := float64(v); !(f >= 0 && f < hw) || f != math.Trunc(f) {
				return fmt.Errorf("kernels: %s: argmax %v at %d is not a position in a %d×%d plane", what, v, k, g.H, g.W)
			}
		}
	}
	j := &s.pj
	oh, ow := g.Out()
	*j = poolJob[T]{kind: kind, dst: d, arg: a, src: x, g: g, oh: oh, ow: ow}
	s.pool.do(g.N*g.C, j, s.par(max(in, out)))
	j.dst, j.arg, j.src = nil, nil, nil
	return nil
}

// MaxPool implements Set.
func (s *CPU[T]) MaxPool(y, arg, x Buffer[T], g PoolGeom) error {
	return s.pool2d(poolMax, y, arg, x, g)
}

// MaxPoolScatter implements Set.
func (s *CPU[T]) MaxPoolScatter(dx, arg, gy Buffer[T], g PoolGeom) error {
	return s.pool2d(poolScatter, dx, arg, gy, g)
}

// MaxPoolGather implements Set.
func (s *CPU[T]) MaxPoolGather(v, arg, u Buffer[T], g PoolGeom) error {
	return s.pool2d(poolGather, v, arg, u, g)
}

// rowsJob copies table rows at ids (gather, split over ids) or adds rows
// into a table at ids (scatter, split over the columns so that every
// worker owns its part of every table row and the sums keep id order).
type rowsJob[T Float] struct {
	scatter       bool
	dst, src, ids []T
	v, d          int
}

func (j *rowsJob[T]) run(lo, hi int) {
	d := j.d
	if !j.scatter {
		for k := lo; k < hi; k++ {
			id := int(j.ids[k])
			copy(j.dst[k*d:(k+1)*d], j.src[id*d:(id+1)*d])
		}
		return
	}
	for r := 0; r < j.v; r++ {
		clear(j.dst[r*d+lo : r*d+hi])
	}
	for k, f := range j.ids {
		row, g := j.dst[int(f)*d+lo:int(f)*d+hi], j.src[k*d+lo:k*d+hi]
		for i, x := range g {
			row[i] += x
		}
	}
}

var rowsNames = [2][4]string{
	{"gather", "gather output", "gather table", "gather ids"},
	{"scatter-add", "scatter-add output", "scatter-add rows", "scatter-add ids"},
}

func (s *CPU[T]) rows(scatter bool, dst, src, ids Buffer[T], n, v, d int) error {
	names := &rowsNames[0]
	if scatter {
		names = &rowsNames[1]
	}
	what := names[0]
	if n < 0 || v < 0 || d < 0 {
		return fmt.Errorf("kernels: %s: negative size n=%d v=%d d=%d", what, n, v, d)
	}
	nd, ns := n*d, v*d
	if scatter {
		nd, ns = v*d, n*d
	}
	dd, err := host[T](names[1], dst, nd)
	if err != nil {
		return err
	}
	sd, err := host[T](names[2], src, ns)
	if err != nil {
		return err
	}
	id, err := host[T](names[3], ids, n)
	if err != nil {
		return err
	}
	for k, f := range id {
		if x := float64(f); !(x >= 0 && x < float64(v)) || x != math.Trunc(x) {
			return fmt.Errorf("kernels: %s: id %v at %d is not an integer in [0,%d)", what, f, k, v)
		}
	}
	j := &s.xj
	*j = rowsJob[T]{scatter: scatter, dst: dd, src: sd, ids: id, v: v, d: d}
	work := n
	if scatter {
		work = d
	}
	s.pool.do(work, j, s.par(n*d) && (!scatter || d >= 64))
	j.dst, j.src, j.ids = nil, nil, nil
	return nil
}

// Gather implements Set.
func (s *CPU[T]) Gather(dst, table, ids Buffer[T], n, v, d int) error {
	return s.rows(false, dst, table, ids, n, v, d)
}

// ScatterAdd implements Set.
func (s *CPU[T]) ScatterAdd(dst, src, ids Buffer[T], n, v, d int) error {
	return s.rows(true, dst, src, ids, n, v, d)
}

package kernels

import (
	"fmt"
	"math"
)

type reduceJob[T Float] struct {
	op              ReduceOp
	dst, src        []T
	outer, n, inner int
	scale           T
	byInner         bool // split the inner range instead of the outer one
}

func combine[T Float](op ReduceOp, d, x []T) {
	switch op {
	case ReduceSum:
		if cBinary(Add, d[:len(x)], d, x) {
			return
		}
		for i, v := range x {
			d[i] += v
		}
	case ReduceMax:
		for i, v := range x {
			if v > d[i] {
				d[i] = v
			}
		}
	case ReduceMin:
		for i, v := range x {
			if v < d[i] {
				d[i] = v
			}
		}
	}
}

// reduceCols reduces rows of src (n rows of length inner starting at the
// given offsets) restricted to columns [lo, hi) into d.
func (j *reduceJob[T]) reduceCols(d []T, base, lo, hi int) {
	if j.n == 0 {
		v := T(0)
		switch j.op {
		case ReduceMax:
			v = T(math.Inf(-1))
		case ReduceMin:
			v = T(math.Inf(1))
		}
		for i := range d {
			d[i] = v
		}
		return
	}
	copy(d, j.src[base+lo:base+hi])
	for r := 1; r < j.n; r++ {
		off := base + r*j.inner
		combine(j.op, d, j.src[off+lo:off+hi])
	}
	if j.scale != 1 {
		for i := range d {
			d[i] *= j.scale
		}
	}
}

func (j *reduceJob[T]) run(lo, hi int) {
	if j.byInner {
		for o := 0; o < j.outer; o++ {
			j.reduceCols(j.dst[o*j.inner+lo:o*j.inner+hi], o*j.n*j.inner, lo, hi)
		}
		return
	}
	for o := lo; o < hi; o++ {
		if j.inner == 1 {
			j.dst[o] = j.scale * reduceRow(j.op, j.src[o*j.n:(o+1)*j.n])
			continue
		}
		j.reduceCols(j.dst[o*j.inner:(o+1)*j.inner], o*j.n*j.inner, 0, j.inner)
	}
}

// reduceRow reduces a contiguous row; sums are accumulated in float64.
func reduceRow[T Float](op ReduceOp, x []T) T {
	switch op {
	case ReduceSum:
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		return T(s)
	case ReduceMax:
		m := T(math.Inf(-1))
		for _, v := range x {
			if v > m {
				m = v
			}
		}
		return m
	default:
		m := T(math.Inf(1))
		for _, v := range x {
			if v < m {
				m = v
			}
		}
		return m
	}
}

// Reduce implements Set.
func (s *CPU[T]) Reduce(op ReduceOp, dst, src Buffer[T], outer, n, inner int, scale T) error {
	if op < 0 || op >= numReduce {
		return fmt.Errorf("kernels: unknown reduction %v", op)
	}
	if outer < 0 || n < 0 || inner < 0 {
		return fmt.Errorf("kernels: reduce: negative size %d×%d×%d", outer, n, inner)
	}
	x, err := host[T]("reduce src", src, outer*n*inner)
	if err != nil {
		return err
	}
	d, err := host[T]("reduce dst", dst, outer*inner)
	if err != nil {
		return err
	}
	total := outer * n * inner
	if outer == 1 && inner == 1 && op == ReduceSum && s.par(total) {
		v, _ := s.dot(x, nil, dotSum)
		d[0] = T(v) * scale
		return nil
	}
	j := &s.rj
	*j = reduceJob[T]{op: op, dst: d, src: x, outer: outer, n: n, inner: inner, scale: scale}
	if outer >= s.pool.workers || inner < 2 {
		s.pool.do(outer, j, s.par(total))
	} else {
		j.byInner = true
		s.pool.do(inner, j, s.par(total))
	}
	j.dst, j.src = nil, nil
	return nil
}

type expandJob[T Float] struct {
	dst, src []T
	n, inner int
	scale    T
}

// Expand implements Set.
func (s *CPU[T]) Expand(dst, src Buffer[T], outer, n, inner int, scale T) error {
	if outer < 0 || n < 0 || inner < 0 {
		return fmt.Errorf("kernels: expand: negative size %d×%d×%d", outer, n, inner)
	}
	x, err := host[T]("expand src", src, outer*inner)
	if err != nil {
		return err
	}
	d, err := host[T]("expand dst", dst, outer*n*inner)
	if err != nil {
		return err
	}
	for o := 0; o < outer; o++ {
		row := x[o*inner : (o+1)*inner]
		for r := 0; r < n; r++ {
			out := d[(o*n+r)*inner : (o*n+r+1)*inner]
			if scale == 1 {
				copy(out, row)
				continue
			}
			for i, v := range row {
				out[i] = scale * v
			}
		}
	}
	return nil
}

type dotMode int

const (
	dotProd dotMode = iota
	dotSumSq
	dotSum
)

type dotJob[T Float] struct {
	mode  dotMode
	a, b  []T
	chunk int
	part  []float64
}

func (j *dotJob[T]) run(lo, hi int) {
	var acc float64
	a := j.a[lo:hi]
	switch j.mode {
	case dotProd:
		b := j.b[lo:hi]
		for i, v := range a {
			acc += float64(v) * float64(b[i])
		}
	case dotSumSq:
		for _, v := range a {
			acc += float64(v) * float64(v)
		}
	case dotSum:
		for _, v := range a {
			acc += float64(v)
		}
	}
	j.part[lo/j.chunk] = acc
}

// dot computes a float64 reduction of a (and b) in parallel chunks whose
// partial sums are added in a fixed order (deterministic results).
func (s *CPU[T]) dot(a, b []T, mode dotMode) (float64, error) {
	n := len(a)
	if b != nil && len(b) < n {
		return math.NaN(), fmt.Errorf("kernels: dot: lengths %d and %d", n, len(b))
	}
	par := s.par(n)
	j := &s.dj
	*j = dotJob[T]{mode: mode, a: a, b: b, chunk: s.pool.chunk(n, par), part: s.part}
	clear(s.part)
	s.pool.do(n, j, par)
	var acc float64
	for _, p := range s.part {
		acc += p
	}
	j.a, j.b = nil, nil
	return acc, nil
}

// Dot implements Set.
func (s *CPU[T]) Dot(a, b Buffer[T]) (float64, error) {
	x, err := host[T]("dot a", a, a.Len())
	if err != nil {
		return math.NaN(), err
	}
	y, err := host[T]("dot b", b, len(x))
	if err != nil {
		return math.NaN(), err
	}
	return s.dot(x, y, dotProd)
}

// Norm implements Set.
func (s *CPU[T]) Norm(a Buffer[T]) (float64, error) {
	x, err := host[T]("norm", a, a.Len())
	if err != nil {
		return math.NaN(), err
	}
	ss, err := s.dot(x, nil, dotSumSq)
	return math.Sqrt(ss), err
}

// Axpy implements Set.
func (s *CPU[T]) Axpy(alpha T, x, y Buffer[T]) error {
	xd, err := host[T]("axpy x", x, x.Len())
	if err != nil {
		return err
	}
	yd, err := host[T]("axpy y", y, len(xd))
	if err != nil {
		return err
	}
	j := &s.opt
	*j = optJob[T]{kind: optAxpy, p: yd, g: xd, c0: alpha}
	s.pool.do(len(xd), j, s.par(len(xd)))
	j.p, j.g = nil, nil
	return nil
}

// NormalizeRayleigh implements Set.
func (s *CPU[T]) NormalizeRayleigh(v, w Buffer[T]) (lambda, norm float64, err error) {
	vd, err := host[T]("rayleigh v", v, v.Len())
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	wd, err := host[T]("rayleigh w", w, len(vd))
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	vw, _ := s.dot(vd, wd, dotProd)
	vv, _ := s.dot(vd, nil, dotSumSq)
	ww, _ := s.dot(wd, nil, dotSumSq)
	lambda, norm = vw/vv, math.Sqrt(ww)
	if norm > 0 {
		j := &s.opt
		*j = optJob[T]{kind: optScaleCopy, p: vd, g: wd, c0: T(1 / norm)}
		s.pool.do(len(vd), j, s.par(len(vd)))
		j.p, j.g = nil, nil
	}
	return lambda, norm, nil
}

// Orthogonalize implements Set.
func (s *CPU[T]) Orthogonalize(v Buffer[T], basis []Buffer[T]) (float64, error) {
	vd, err := host[T]("orthogonalize v", v, v.Len())
	if err != nil {
		return math.NaN(), err
	}
	for pass := 0; pass < 2; pass++ {
		for _, q := range basis {
			qd, err := host[T]("orthogonalize basis vector", q, len(vd))
			if err != nil {
				return math.NaN(), err
			}
			c, _ := s.dot(qd, vd, dotProd)
			j := &s.opt
			*j = optJob[T]{kind: optAxpy, p: vd, g: qd, c0: T(-c)}
			s.pool.do(len(vd), j, s.par(len(vd)))
			j.p, j.g = nil, nil
		}
	}
	ss, _ := s.dot(vd, nil, dotSumSq)
	return math.Sqrt(ss), nil
}

package kernels

import (
	"fmt"
	"math"
)

// normMode selects what a normJob computes.
type normMode int

const (
	lnForward   normMode = iota // over rows: statistics and y
	lnBackX                     // over rows: gx
	lnBackParam                 // over columns: gγ and gβ
	bnForward                   // over channels: statistics and y
	bnBackward                  // over channels: gγ, gβ and gx
)

// normJob is the preallocated description of one normalization kernel
// call (see CPU.nj); run covers groups [lo, hi) of the mode's split.
type normJob[T Float] struct {
	mode                       normMode
	y, mean, rstd, x, gam, bet []T
	gx, gg, gb, gy             []T
	outer, n, inner            int     // LN: rows, d, 1; BN: outer, c, inner
	eps                        float64 // forward only
	acc                        []float64
}

func (j *normJob[T]) run(lo, hi int) {
	switch j.mode {
	case lnForward:
		j.lnForward(lo, hi)
	case lnBackX:
		j.lnBackX(lo, hi)
	case lnBackParam:
		j.lnBackParam(lo, hi)
	case bnForward:
		for c := lo; c < hi; c++ {
			j.bnForward(c)
		}
	case bnBackward:
		for c := lo; c < hi; c++ {
			j.bnBackward(c)
		}
	}
}

// at returns v[k], or def when v is nil.
func at[T Float](v []T, k int, def float64) float64 {
	if v == nil {
		return def
	}
	return float64(v[k])
}

func (j *normJob[T]) lnForward(lo, hi int) {
	d := j.n
	for r := lo; r < hi; r++ {
		x := j.x[r*d : (r+1)*d]
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		m := s / float64(d)
		var q float64
		for _, v := range x {
			e := float64(v) - m
			q += e * e
		}
		rs := 1 / math.Sqrt(q/float64(d)+j.eps)
		if j.mean != nil {
			j.mean[r] = T(m)
		}
		if j.rstd != nil {
			j.rstd[r] = T(rs)
		}
		if j.y == nil {
			continue
		}
		y := j.y[r*d : (r+1)*d]
		switch {
		case j.gam != nil && j.bet != nil:
			g, b := j.gam[:d], j.bet[:d]
			for i, v := range x {
				y[i] = T((float64(v)-m)*rs*float64(g[i]) + float64(b[i]))
			}
		default:
			for i, v := range x {
				y[i] = T((float64(v)-m)*rs*at(j.gam, i, 1) + at(j.bet, i, 0))
			}
		}
	}
}

func (j *normJob[T]) lnBackX(lo, hi int) {
	d := j.n
	inv := 1 / float64(d)
	for r := lo; r < hi; r++ {
		x, gy, gx := j.x[r*d:(r+1)*d], j.gy[r*d:(r+1)*d], j.gx[r*d:(r+1)*d]
		m, rs := float64(j.mean[r]), float64(j.rstd[r])
		var a, b float64 // Σ ĝ and Σ ĝ·x̂
		for i, v := range x {
			gh := float64(gy[i]) * at(j.gam, i, 1)
			a += gh
			b += gh * (float64(v) - m) * rs
		}
		a *= inv
		b *= inv
		for i, v := range x {
			gh := float64(gy[i]) * at(j.gam, i, 1)
			gx[i] = T(rs * (gh - a - (float64(v)-m)*rs*b))
		}
	}
}

// lnBackParam accumulates gγ and gβ for columns [lo, hi) in float64,
// walking the rows in order (so the sums do not depend on the split).
func (j *normJob[T]) lnBackParam(lo, hi int) {
	d := j.n
	ag, ab := j.acc[lo:hi], j.acc[d+lo:d+hi]
	clear(ag)
	clear(ab)
	for r := 0; r < j.outer; r++ {
		x, gy := j.x[r*d+lo:r*d+hi], j.gy[r*d+lo:r*d+hi]
		m, rs := float64(j.mean[r]), float64(j.rstd[r])
		for i, v := range x {
			g := float64(gy[i])
			ag[i] += g * (float64(v) - m) * rs
			ab[i] += g
		}
	}
	if j.gg != nil {
		for i, v := range ag {
			j.gg[lo+i] = T(v)
		}
	}
	if j.gb != nil {
		for i, v := range ab {
			j.gb[lo+i] = T(v)
		}
	}
}

func (j *normJob[T]) bnForward(c int) {
	in := j.inner
	cnt := float64(j.outer * in)
	var s float64
	for o := 0; o < j.outer; o++ {
		for _, v := range j.x[(o*j.n+c)*in : (o*j.n+c+1)*in] {
			s += float64(v)
		}
	}
	m := s / cnt
	var q float64
	for o := 0; o < j.outer; o++ {
		for _, v := range j.x[(o*j.n+c)*in : (o*j.n+c+1)*in] {
			e := float64(v) - m
			q += e * e
		}
	}
	rs := 1 / math.Sqrt(q/cnt+j.eps)
	if j.mean != nil {
		j.mean[c] = T(m)
	}
	if j.rstd != nil {
		j.rstd[c] = T(rs)
	}
	if j.y == nil {
		return
	}
	sc := rs * at(j.gam, c, 1)
	sh := at(j.bet, c, 0) - m*sc
	for o := 0; o < j.outer; o++ {
		off := (o*j.n + c) * in
		y := j.y[off : off+in]
		for i, v := range j.x[off : off+in] {
			y[i] = T(float64(v)*sc + sh)
		}
	}
}

func (j *normJob[T]) bnBackward(c int) {
	in := j.inner
	cnt := float64(j.outer * in)
	m, rs := float64(j.mean[c]), float64(j.rstd[c])
	var sg, sgx float64 // Σ gy and Σ gy·x̂
	for o := 0; o < j.outer; o++ {
		off := (o*j.n + c) * in
		gy := j.gy[off : off+in]
		for i, v := range j.x[off : off+in] {
			g := float64(gy[i])
			sg += g
			sgx += g * (float64(v) - m) * rs
		}
	}
	if j.gg != nil {
		j.gg[c] = T(sgx)
	}
	if j.gb != nil {
		j.gb[c] = T(sg)
	}
	if j.gx == nil {
		return
	}
	// gx = rstd·γ·(gy − mean(gy) − x̂·mean(gy·x̂)), affine in (x, gy).
	k := rs * at(j.gam, c, 1)
	mg, mgx := sg/cnt, sgx/cnt
	for o := 0; o < j.outer; o++ {
		off := (o*j.n + c) * in
		gy, gx := j.gy[off:off+in], j.gx[off:off+in]
		for i, v := range j.x[off : off+in] {
			gx[i] = T(k * (float64(gy[i]) - mg - (float64(v)-m)*rs*mgx))
		}
	}
}

// normOperand is one buffer argument of a normalization kernel.
type normOperand[T Float] struct {
	name     string
	b        Buffer[T]
	n        int
	optional bool
	dst      *[]T
}

// normOperands resolves the operands into host slices (nil for an absent
// optional one).
func normOperands[T Float](what string, ops []normOperand[T]) error {
	for _, o := range ops {
		*o.dst = nil
		if o.b == nil {
			if !o.optional {
				return fmt.Errorf("kernels: %s: missing %s", what, o.name)
			}
			continue
		}
		d, err := host[T](o.name, o.b, o.n)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		*o.dst = d
	}
	return nil
}

// runNorm hands the prepared job to the pool over groups and clears its
// slices afterwards (so the set does not keep the buffers alive).
func (s *CPU[T]) runNorm(groups, elems int) {
	j := &s.nj
	s.pool.do(groups, j, s.par(elems))
	acc := j.acc
	*j = normJob[T]{acc: acc}
}

// LayerNorm implements Set.
func (s *CPU[T]) LayerNorm(y, mean, rstd, x, gamma, beta Buffer[T], rows, d int, eps float64) error {
	const what = "layer norm"
	if err := CheckNormSizes(what, rows, d, eps); err != nil {
		return err
	}
	j := &s.nj
	err := normOperands(what, []normOperand[T]{
		{"y", y, rows * d, true, &j.y}, {"mean", mean, rows, true, &j.mean}, {"rstd", rstd, rows, true, &j.rstd},
		{"x", x, rows * d, false, &j.x}, {"gamma", gamma, d, true, &j.gam}, {"beta", beta, d, true, &j.bet},
	})
	if err != nil || rows == 0 {
		s.runNorm(0, 0)
		return err
	}
	j.mode, j.outer, j.n, j.inner, j.eps = lnForward, rows, d, 1, eps
	s.runNorm(rows, rows*d)
	return nil
}

// LayerNormBackward implements Set: gx in one pass over the rows, gγ and gβ
// in one pass over column blocks.
func (s *CPU[T]) LayerNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy Buffer[T], rows, d int) error {
	const what = "layer norm backward"
	if err := CheckNormSizes(what, rows, d, 0); err != nil {
		return err
	}
	j := &s.nj
	err := normOperands(what, []normOperand[T]{
		{"gx", gx, rows * d, true, &j.gx}, {"ggamma", ggamma, d, true, &j.gg}, {"gbeta", gbeta, d, true, &j.gb},
		{"x", x, rows * d, false, &j.x}, {"gamma", gamma, d, true, &j.gam}, {"mean", mean, rows, false, &j.mean},
		{"rstd", rstd, rows, false, &j.rstd}, {"gy", gy, rows * d, false, &j.gy},
	})
	if err != nil || d == 0 {
		s.runNorm(0, 0)
		return err
	}
	j.outer, j.n, j.inner = rows, d, 1
	if j.gx != nil && rows > 0 {
		j.mode = lnBackX
		s.pool.do(rows, j, s.par(rows*d))
	}
	if j.gg != nil || j.gb != nil {
		if cap(j.acc) < 2*d {
			j.acc = make([]float64, 2*d)
		}
		j.acc = j.acc[:2*d]
		j.mode = lnBackParam
		s.pool.do(d, j, s.par(rows*d))
	}
	s.runNorm(0, 0)
	return nil
}

// bnSizes checks BatchNorm's sizes.
func bnSizes(what string, outer, c, inner int, eps float64) error {
	if outer < 0 || c < 0 || inner < 0 {
		return fmt.Errorf("kernels: %s: negative size %d×%d×%d", what, outer, c, inner)
	}
	return CheckNormSizes(what, c, outer*inner, eps)
}

// BatchNorm implements Set (parallel over channels).
func (s *CPU[T]) BatchNorm(y, mean, rstd, x, gamma, beta Buffer[T], outer, c, inner int, eps float64) error {
	const what = "batch norm"
	if err := bnSizes(what, outer, c, inner, eps); err != nil {
		return err
	}
	n := outer * c * inner
	j := &s.nj
	err := normOperands(what, []normOperand[T]{
		{"y", y, n, true, &j.y}, {"mean", mean, c, true, &j.mean}, {"rstd", rstd, c, true, &j.rstd},
		{"x", x, n, false, &j.x}, {"gamma", gamma, c, true, &j.gam}, {"beta", beta, c, true, &j.bet},
	})
	if err != nil || c == 0 {
		s.runNorm(0, 0)
		return err
	}
	j.mode, j.outer, j.n, j.inner, j.eps = bnForward, outer, c, inner, eps
	s.runNorm(c, n)
	return nil
}

// BatchNormBackward implements Set (parallel over channels, two passes over
// each channel's elements).
func (s *CPU[T]) BatchNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy Buffer[T], outer, c, inner int) error {
	const what = "batch norm backward"
	if err := bnSizes(what, outer, c, inner, 0); err != nil {
		return err
	}
	n := outer * c * inner
	j := &s.nj
	err := normOperands(what, []normOperand[T]{
		{"gx", gx, n, true, &j.gx}, {"ggamma", ggamma, c, true, &j.gg}, {"gbeta", gbeta, c, true, &j.gb},
		{"x", x, n, false, &j.x}, {"gamma", gamma, c, true, &j.gam}, {"mean", mean, c, false, &j.mean},
		{"rstd", rstd, c, false, &j.rstd}, {"gy", gy, n, false, &j.gy},
	})
	if err != nil || c == 0 {
		s.runNorm(0, 0)
		return err
	}
	j.mode, j.outer, j.n, j.inner = bnBackward, outer, c, inner
	s.runNorm(c, n)
	return nil
}

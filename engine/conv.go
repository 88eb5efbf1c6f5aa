package engine

import (
	"fmt"

	"github.com/gradlab/gradlab/kernels"
)

// convBuilder runs gradlab's convolution ops (forward, backward-data,
// backward-filter) as im2col/col2im plus one GEMM per image. The geometry
// comes from the op's description: x=[N,C,H,W], w=[O,C,KH,KW], stride, pad
// and dilation pairs.
func convBuilder[T kernels.Float](name, s string, a, b, out []int) (builder[T], error) {
	f, err := opIntFields(s, "conv", "x", "w", "stride", "pad", "dil")
	if err != nil {
		return nil, err
	}
	x, w, st, pad, dil := f[0], f[1], f[2], f[3], f[4]
	if len(x) != 4 || len(w) != 4 || len(st) != 2 || len(pad) != 2 || len(dil) != 2 || x[1] != w[1] {
		return nil, fmt.Errorf("conv %q: bad geometry", s)
	}
	g := kernels.ConvGeom{N: x[0], C: x[1], H: x[2], W: x[3], KH: w[2], KW: w[3],
		StrideH: st[0], StrideW: st[1], PadH: pad[0], PadW: pad[1], DilH: dil[0], DilW: dil[1]}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	oh, ow := g.Out()
	o := w[0]
	y := []int{g.N, o, oh, ow}
	ckk, howo := g.C*g.KH*g.KW, oh*ow
	same := func(p, q []int) bool {
		if len(p) != len(q) {
			return false
		}
		for i := range p {
			if p[i] != q[i] {
				return false
			}
		}
		return true
	}
	var ok bool
	switch name {
	case "Conv2d":
		ok = same(a, x) && same(b, w) && same(out, y)
	case "Conv2dBackData":
		ok = same(a, y) && same(b, w) && same(out, x)
	case "Conv2dBackFilter":
		ok = same(a, x) && same(b, y) && same(out, w)
	}
	if !ok {
		return nil, fmt.Errorf("conv %q: operand shapes %v, %v → %v do not match", s, a, b, out)
	}
	return func(set kernels.Set[T], in []kernels.Buffer[T], dst kernels.Buffer[T]) (step, error) {
		col, err := set.Alloc(g.ColLen())
		if err != nil {
			return nil, err
		}
		// Per-image views of the column matrix and of the per-image operands.
		views := func(b kernels.Buffer[T], per int) ([]kernels.Buffer[T], error) {
			vs := make([]kernels.Buffer[T], g.N)
			for i := range vs {
				v, err := set.View(b, i*per, per)
				if err != nil {
					return nil, err
				}
				vs[i] = v
			}
			return vs, nil
		}
		cols, err := views(col, ckk*howo)
		if err != nil {
			return nil, err
		}
		switch name {
		case "Conv2d":
			ys, err := views(dst, o*howo)
			if err != nil {
				return nil, err
			}
			return func() error {
				if err := set.Im2col(col, in[0], g); err != nil {
					return err
				}
				for i := range ys {
					if err := set.Gemm(false, false, o, howo, ckk, 1, in[1], cols[i], 0, ys[i]); err != nil {
						return err
					}
				}
				return nil
			}, nil
		case "Conv2dBackData":
			gys, err := views(in[0], o*howo)
			if err != nil {
				return nil, err
			}
			return func() error {
				for i := range gys {
					if err := set.Gemm(true, false, ckk, howo, o, 1, in[1], gys[i], 0, cols[i]); err != nil {
						return err
					}
				}
				return set.Col2im(dst, col, g)
			}, nil
		default: // Conv2dBackFilter
			gys, err := views(in[1], o*howo)
			if err != nil {
				return nil, err
			}
			return func() error {
				if err := set.Im2col(col, in[0], g); err != nil {
					return err
				}
				for i := range gys {
					beta := T(1)
					if i == 0 {
						beta = 0
					}
					if err := set.Gemm(false, true, o, ckk, howo, 1, gys[i], cols[i], beta, dst); err != nil {
						return err
					}
				}
				return nil
			}, nil
		}
	}, nil
}

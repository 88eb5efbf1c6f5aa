package kernels

import (
	"fmt"
	"math"
)

type softmaxJob[T Float] struct {
	dst, src []T
	cols     int
	log      bool
}

func (j *softmaxJob[T]) run(lo, hi int) {
	c := j.cols
	for r := lo; r < hi; r++ {
		x, d := j.src[r*c:(r+1)*c], j.dst[r*c:(r+1)*c]
		m := math.Inf(-1)
		for _, v := range x {
			m = max(m, float64(v))
		}
		var z float64
		for _, v := range x {
			z += math.Exp(float64(v) - m)
		}
		if j.log {
			lz := m + math.Log(z)
			for i, v := range x {
				d[i] = T(float64(v) - lz)
			}
			continue
		}
		inv := 1 / z
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)-m) * inv)
		}
	}
}

// Softmax implements Set.
func (s *CPU[T]) Softmax(dst, src Buffer[T], rows, cols int, log bool) error {
	if rows < 0 || cols <= 0 {
		return fmt.Errorf("kernels: softmax: size %d×%d", rows, cols)
	}
	x, err := host[T]("softmax src", src, rows*cols)
	if err != nil {
		return err
	}
	d, err := host[T]("softmax dst", dst, rows*cols)
	if err != nil {
		return err
	}
	j := &s.sj
	*j = softmaxJob[T]{dst: d, src: x, cols: cols, log: log}
	s.pool.do(rows, j, s.par(rows*cols))
	j.dst, j.src = nil, nil
	return nil
}

// SoftmaxCrossEntropy implements Set.
func (s *CPU[T]) SoftmaxCrossEntropy(loss, logits, targets Buffer[T], rows, cols int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("kernels: softmax cross-entropy: size %d×%d", rows, cols)
	}
	x, err := host[T]("cross-entropy logits", logits, rows*cols)
	if err != nil {
		return err
	}
	t, err := host[T]("cross-entropy targets", targets, rows*cols)
	if err != nil {
		return err
	}
	l, err := host[T]("cross-entropy loss", loss, 1)
	if err != nil {
		return err
	}
	var total float64
	for r := 0; r < rows; r++ {
		xr, tr := x[r*cols:(r+1)*cols], t[r*cols:(r+1)*cols]
		m := math.Inf(-1)
		for _, v := range xr {
			m = max(m, float64(v))
		}
		var z float64
		for _, v := range xr {
			z += math.Exp(float64(v) - m)
		}
		lz := m + math.Log(z)
		for i, v := range xr {
			if tr[i] != 0 {
				total -= float64(tr[i]) * (float64(v) - lz)
			}
		}
	}
	l[0] = T(total / float64(rows))
	return nil
}

// Im2col implements Set.
func (s *CPU[T]) Im2col(col, img Buffer[T], g ConvGeom) error {
	if err := g.Validate(); err != nil {
		return err
	}
	x, err := host[T]("im2col image", img, g.N*g.C*g.H*g.W)
	if err != nil {
		return err
	}
	c, err := host[T]("im2col columns", col, g.ColLen())
	if err != nil {
		return err
	}
	oh, ow := g.Out()
	k := 0
	for n := 0; n < g.N; n++ {
		for ch := 0; ch < g.C; ch++ {
			plane := x[(n*g.C+ch)*g.H*g.W : (n*g.C+ch+1)*g.H*g.W]
			for kh := 0; kh < g.KH; kh++ {
				for kw := 0; kw < g.KW; kw++ {
					for y := 0; y < oh; y++ {
						iy := y*g.StrideH - g.PadH + kh*g.DilH
						if iy < 0 || iy >= g.H {
							clear(c[k : k+ow])
							k += ow
							continue
						}
						row := plane[iy*g.W : (iy+1)*g.W]
						for xo := 0; xo < ow; xo++ {
							ix := xo*g.StrideW - g.PadW + kw*g.DilW
							if ix < 0 || ix >= g.W {
								c[k] = 0
							} else {
								c[k] = row[ix]
							}
							k++
						}
					}
				}
			}
		}
	}
	return nil
}

// Col2im implements Set.
func (s *CPU[T]) Col2im(img, col Buffer[T], g ConvGeom) error {
	if err := g.Validate(); err != nil {
		return err
	}
	x, err := host[T]("col2im image", img, g.N*g.C*g.H*g.W)
	if err != nil {
		return err
	}
	c, err := host[T]("col2im columns", col, g.ColLen())
	if err != nil {
		return err
	}
	clear(x)
	oh, ow := g.Out()
	k := 0
	for n := 0; n < g.N; n++ {
		for ch := 0; ch < g.C; ch++ {
			plane := x[(n*g.C+ch)*g.H*g.W : (n*g.C+ch+1)*g.H*g.W]
			for kh := 0; kh < g.KH; kh++ {
				for kw := 0; kw < g.KW; kw++ {
					for y := 0; y < oh; y++ {
						iy := y*g.StrideH - g.PadH + kh*g.DilH
						if iy < 0 || iy >= g.H {
							k += ow
							continue
						}
						row := plane[iy*g.W : (iy+1)*g.W]
						for xo := 0; xo < ow; xo++ {
							if ix := xo*g.StrideW - g.PadW + kw*g.DilW; ix >= 0 && ix < g.W {
								row[ix] += c[k]
							}
							k++
						}
					}
				}
			}
		}
	}
	return nil
}

type optKind int

const (
	optAxpy      optKind = iota // p += c0·g
	optScaleCopy                // p = c0·g
	optSGD
	optAdam
)

// optJob is an elementwise update of p (and its state m, v) from g.
type optJob[T Float] struct {
	kind        optKind
	p, g, m, v  []T
	c0          T
	sgd         SGDHyper
	stepSize    T // Adam: LR/(1−β₁ᵗ)
	invBc2s     T // Adam: 1/√(1−β₂ᵗ)
	decay       T // Adam: 1 − LR·decoupled decay
	b1, b2, eps T
}

func (j *optJob[T]) run(lo, hi int) {
	p, g := j.p[lo:hi], j.g[lo:hi]
	switch j.kind {
	case optAxpy:
		a := j.c0
		for i, v := range g {
			p[i] += a * v
		}
	case optScaleCopy:
		a := j.c0
		for i, v := range g {
			p[i] = a * v
		}
	case optSGD:
		vel := j.v[lo:hi]
		lr, mom, wd := T(j.sgd.LR), T(j.sgd.Momentum), T(j.sgd.WeightDecay)
		for i, gi := range g {
			gi += wd * p[i]
			vi := mom*vel[i] + gi
			vel[i] = vi
			if j.sgd.Nesterov {
				p[i] -= lr * (gi + mom*vi)
			} else {
				p[i] -= lr * vi
			}
		}
	case optAdam:
		m, v := j.m[lo:hi], j.v[lo:hi]
		b1, b2, eps, wd := j.b1, j.b2, j.eps, j.c0
		for i, gi := range g {
			gi += wd * p[i]
			mi := b1*m[i] + (1-b1)*gi
			vi := b2*v[i] + (1-b2)*gi*gi
			m[i], v[i] = mi, vi
			p[i] = j.decay*p[i] - j.stepSize*mi/(T(math.Sqrt(float64(vi)))*j.invBc2s+eps)
		}
	}
}

// SGDMomentum implements Set.
func (s *CPU[T]) SGDMomentum(p, g, v Buffer[T], h SGDHyper) error {
	pd, err := host[T]("sgd param", p, p.Len())
	if err != nil {
		return err
	}
	gd, err := host[T]("sgd grad", g, len(pd))
	if err != nil {
		return err
	}
	vd, err := host[T]("sgd velocity", v, len(pd))
	if err != nil {
		return err
	}
	j := &s.opt
	*j = optJob[T]{kind: optSGD, p: pd, g: gd, v: vd, sgd: h}
	s.pool.do(len(pd), j, s.par(len(pd)))
	j.p, j.g, j.v = nil, nil, nil
	return nil
}

// Adam implements Set.
func (s *CPU[T]) Adam(p, g, m, v Buffer[T], h AdamHyper) error {
	if h.Step < 1 {
		return fmt.Errorf("kernels: adam: step %d, want ≥ 1", h.Step)
	}
	pd, err := host[T]("adam param", p, p.Len())
	if err != nil {
		return err
	}
	gd, err := host[T]("adam grad", g, len(pd))
	if err != nil {
		return err
	}
	md, err := host[T]("adam first moment", m, len(pd))
	if err != nil {
		return err
	}
	vd, err := host[T]("adam second moment", v, len(pd))
	if err != nil {
		return err
	}
	t := float64(h.Step)
	j := &s.opt
	*j = optJob[T]{kind: optAdam, p: pd, g: gd, m: md, v: vd,
		b1: T(h.Beta1), b2: T(h.Beta2), eps: T(h.Eps),
		c0:       T(h.WeightDecay),
		stepSize: T(h.LR / (1 - math.Pow(h.Beta1, t))),
		invBc2s:  T(1 / math.Sqrt(1-math.Pow(h.Beta2, t))),
		decay:    T(1 - h.LR*h.DecoupledWeightDecay),
	}
	s.pool.do(len(pd), j, s.par(len(pd)))
	j.p, j.g, j.m, j.v = nil, nil, nil, nil
	return nil
}

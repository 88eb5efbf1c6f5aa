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
	optRMSprop
)

// optJob is an elementwise update of p (and its state a, b, c) from g.
type optJob[T Float] struct {
	kind    optKind
	p, g    []T
	a, b, c []T // SGD: a = momentum; Adam: a = m, b = v, c = vmax; RMSprop: a = sq, b = gavg, c = buf
	c0      T
	sgd     SGDHyper
	adam    AdamHyper
	rms     RMSpropHyper
	// Adam's per-step constants: LR/(1−β₁ᵗ), 1/√(1−β₂ᵗ), 1 − LR·decoupled decay.
	stepSize, invBc2s, decay T
}

func (j *optJob[T]) run(lo, hi int) {
	p := j.p[lo:hi]
	g := j.g[lo:hi]
	g = g[:len(p)]
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
		sgdRange(p, g, sub(j.a, lo, hi), j.sgd)
	case optAdam:
		adamRange(p, g, j.a[lo:hi], j.b[lo:hi], sub(j.c, lo, hi), j.adam, j.stepSize, j.invBc2s, j.decay)
	case optRMSprop:
		rmspropRange(p, g, j.a[lo:hi], sub(j.b, lo, hi), sub(j.c, lo, hi), j.rms)
	}
}

// sub returns s[lo:hi], or nil for a nil s.
func sub[T Float](s []T, lo, hi int) []T {
	if s == nil {
		return nil
	}
	return s[lo:hi]
}

func sgdRange[T Float](p, g, buf []T, h SGDHyper) {
	if !sgdC(p, g, buf, h) {
		sgdGo(p, g, buf, h)
	}
}

// sgdGo is SGD's update in Go. Every product is rounded before it is added
// (the conversions T(…) keep a compiler from fusing multiply-adds), so the
// loop computes what the packed C loop (sgdC) computes on every build.
func sgdGo[T Float](p, g, buf []T, h SGDHyper) {
	lr, mu, damp, wd := T(h.LR), T(h.Momentum), T(h.Dampening), T(h.WeightDecay)
	decay := T(1 - h.LR*h.DecoupledWeightDecay)
	g = g[:len(p)]
	if buf == nil {
		for i, x := range p {
			d := g[i] + T(wd*x)
			p[i] = T(x*decay) - T(lr*d)
		}
		return
	}
	buf = buf[:len(p)]
	first, nesterov := h.First, h.Nesterov
	for i, x := range p {
		d := g[i] + T(wd*x)
		b := d
		if !first {
			b = T(mu*buf[i]) + T((1-damp)*d)
		}
		buf[i] = b
		if nesterov {
			d += T(mu * b)
		} else {
			d = b
		}
		p[i] = T(x*decay) - T(lr*d)
	}
}

func adamRange[T Float](p, g, m, v, vmax []T, h AdamHyper, stepSize, invBc2s, decay T) {
	if vmax == nil && adamC(p, g, m, v, h, stepSize, invBc2s, decay) {
		return
	}
	adamGo(p, g, m, v, vmax, h, stepSize, invBc2s, decay)
}

// adamGo is Adam's update in Go (with AMSGrad when vmax is not nil).
// The conversions T(…) around products keep the compiler from fusing a
// multiply and an add (it may with GOAMD64=v3), so that the loop rounds
// every operation as the C loop (internal/cloop) and the device kernels do.
func adamGo[T Float](p, g, m, v, vmax []T, h AdamHyper, stepSize, invBc2s, decay T) {
	b1, b2, eps, wd := T(h.Beta1), T(h.Beta2), T(h.Eps), T(h.WeightDecay)
	m, v = m[:len(p)], v[:len(p)]
	if vmax == nil {
		for i, x := range p {
			gi := g[i] + T(wd*x)
			mi := T(b1*m[i]) + T((1-b1)*gi)
			vi := T(b2*v[i]) + T((1-b2)*gi*gi)
			m[i], v[i] = mi, vi
			p[i] = T(x*decay) - stepSize*mi/(T(T(math.Sqrt(float64(vi)))*invBc2s)+eps)
		}
		return
	}
	vmax = vmax[:len(p)]
	for i, x := range p {
		gi := g[i] + T(wd*x)
		mi := T(b1*m[i]) + T((1-b1)*gi)
		vi := T(b2*v[i]) + T((1-b2)*gi*gi)
		m[i], v[i] = mi, vi
		vi = max(vmax[i], vi)
		vmax[i] = vi
		p[i] = T(x*decay) - stepSize*mi/(T(T(math.Sqrt(float64(vi)))*invBc2s)+eps)
	}
}

func rmspropRange[T Float](p, g, sq, ga, buf []T, h RMSpropHyper) {
	if !rmspropC(p, g, sq, ga, buf, h) {
		rmspropGo(p, g, sq, ga, buf, h)
	}
}

// rmspropGo is RMSprop's update in Go, every product rounded before it is
// added (as sgdGo), which is what the packed C loop (rmspropC) computes.
func rmspropGo[T Float](p, g, sq, ga, buf []T, h RMSpropHyper) {
	lr, alpha, eps, wd, mu := T(h.LR), T(h.Alpha), T(h.Eps), T(h.WeightDecay), T(h.Momentum)
	g, sq = g[:len(p)], sq[:len(p)]
	if ga != nil {
		ga = ga[:len(p)]
	}
	if buf != nil {
		buf = buf[:len(p)]
	}
	for i, x := range p {
		gi := g[i] + T(wd*x)
		s := T(alpha*sq[i]) + T((1-alpha)*gi*gi)
		sq[i] = s
		if ga != nil {
			a := T(alpha*ga[i]) + T((1-alpha)*gi)
			ga[i] = a
			s -= T(a * a)
		}
		u := gi / (T(math.Sqrt(float64(s))) + eps)
		if buf != nil {
			u += T(mu * buf[i])
			buf[i] = u
		}
		p[i] = x - T(lr*u)
	}
}

// optional returns a CPU buffer's elements, nil for a nil buffer when it
// is not needed, and an error when a needed buffer is missing.
func optional[T Float](what string, b Buffer[T], n int, need bool) ([]T, error) {
	if !need {
		return nil, nil
	}
	if b == nil {
		return nil, fmt.Errorf("kernels: %s: missing buffer", what)
	}
	return host[T](what, b, n)
}

// operand is a state or gradient buffer of an optimizer update: its name
// in errors, and whether this update uses it.
type operand[T Float] struct {
	name string
	b    Buffer[T]
	need bool
}

// optOperands returns the elements of the parameter p (named pname in
// errors) and of each operand (nil for an unused one), each checked to
// hold p's length.
func optOperands[T Float](pname string, p Buffer[T], ops ...operand[T]) ([]T, [4][]T, error) {
	var out [4][]T
	pd, err := host[T](pname, p, p.Len())
	if err != nil {
		return nil, out, err
	}
	for k, o := range ops {
		if out[k], err = optional[T](o.name, o.b, len(pd), o.need); err != nil {
			return nil, out, err
		}
	}
	return pd, out, nil
}

// runOpt runs the prepared update s.opt over its parameter on the pool and
// drops its references to the caller's memory.
func (s *CPU[T]) runOpt() {
	j := &s.opt
	fast := j.kind == optAdam && j.c == nil || j.kind == optSGD || j.kind == optRMSprop
	s.pool.do(len(j.p), j, s.parFast(len(j.p), fast))
	j.p, j.g, j.a, j.b, j.c = nil, nil, nil, nil, nil
}

// SGD implements Set.
func (s *CPU[T]) SGD(p, g, v Buffer[T], h SGDHyper) error {
	pd, o, err := optOperands("sgd param", p, operand[T]{"sgd grad", g, true}, operand[T]{"sgd momentum", v, h.Momentum != 0})
	if err != nil {
		return err
	}
	s.opt = optJob[T]{kind: optSGD, p: pd, g: o[0], a: o[1], sgd: h}
	s.runOpt()
	return nil
}

// Adam implements Set.
func (s *CPU[T]) Adam(p, g, m, v, vmax Buffer[T], h AdamHyper) error {
	if h.Step < 1 {
		return fmt.Errorf("kernels: adam: step %d, want ≥ 1", h.Step)
	}
	pd, o, err := optOperands("adam param", p, operand[T]{"adam grad", g, true}, operand[T]{"adam first moment", m, true},
		operand[T]{"adam second moment", v, true}, operand[T]{"adam running maximum", vmax, h.AMSGrad})
	if err != nil {
		return err
	}
	stepSize, invBc2s, decay := adamScalars[T](h)
	s.opt = optJob[T]{kind: optAdam, p: pd, g: o[0], a: o[1], b: o[2], c: o[3], adam: h,
		stepSize: stepSize, invBc2s: invBc2s, decay: decay}
	s.runOpt()
	return nil
}

// adamScalars are Adam's per-step constants: LR/(1−β₁ᵗ), 1/√(1−β₂ᵗ) and
// 1 − LR·decoupled decay.
func adamScalars[T Float](h AdamHyper) (stepSize, invBc2s, decay T) {
	t := float64(h.Step)
	return T(h.LR / (1 - math.Pow(h.Beta1, t))), T(1 / math.Sqrt(1-math.Pow(h.Beta2, t))), T(1 - h.LR*h.DecoupledWeightDecay)
}

// RMSprop implements Set.
func (s *CPU[T]) RMSprop(p, g, sq, gavg, buf Buffer[T], h RMSpropHyper) error {
	pd, o, err := optOperands("rmsprop param", p, operand[T]{"rmsprop grad", g, true},
		operand[T]{"rmsprop square average", sq, true}, operand[T]{"rmsprop gradient average", gavg, h.Centered},
		operand[T]{"rmsprop momentum", buf, h.Momentum != 0})
	if err != nil {
		return err
	}
	s.opt = optJob[T]{kind: optRMSprop, p: pd, g: o[0], a: o[1], b: o[2], c: o[3], rms: h}
	s.runOpt()
	return nil
}

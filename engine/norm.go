package engine

import (
	"fmt"
	"slices"

	"github.com/gradlab/gradlab/kernels"
)

// normOpNames are the fused normalization ops of package ops that
// classifyNorm runs as kernels.NormKernels calls.
var normOpNames = []string{"LayerNorm", "BatchNorm", "NormStats", "NormGradX", "NormGradParam", "BatchNormStat",
	"NormProxy"}

// isNormOp reports whether the ops name is a fused normalization op.
func isNormOp(name string) bool { return slices.Contains(normOpNames, name) }

// classifyNorm plans the fused normalization ops of package ops:
//
//   - LayerNorm / BatchNorm (x, [γ], [β] → y): one forward kernel call;
//   - NormStats (x → [2, G], mean and rstd rows): the forward kernel
//     without y, writing into views of the node's buffer;
//   - NormGradX (x, stats, [γ], gy → gx) and NormGradParam (x, stats, gy
//     → gγ or gβ): the backward kernel with only that output;
//   - BatchNormStat ([2, C] → mean or biased variance 1/rstd² − ε): a copy,
//     or a power and a shift, of the statistics row;
//   - NormProxy (the identity the gradient ops differentiate through):
//     an alias of its input.
//
// The geometry comes from the op's description (kind, shape, eps, flags).
func classifyNorm[T kernels.Float](p *nodePlan[T], name, s string, in func(int) []int) error {
	nch := len(p.children)
	p.kind = kindNew
	if name == "NormProxy" {
		if nch != 1 || prod(in(0)) != p.size {
			return fmt.Errorf("norm proxy %q of %v", s, in(0))
		}
		p.kind = kindAlias
		return nil
	}
	if name == "BatchNormStat" {
		c, err := opInt(s, "c")
		if err != nil {
			return err
		}
		eps, err := opFloat(s, "eps")
		if err != nil {
			return err
		}
		part, _ := opField(s, "part")
		if nch != 1 || !slices.Equal(in(0), []int{2, c}) || p.size != c || (part != "mean" && part != "var") {
			return fmt.Errorf("batch norm statistic %q of %v", s, in(0))
		}
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			off := 0
			if part == "var" {
				off = c
			}
			row, err := set.View(in[0], off, c)
			if err != nil {
				return nil, err
			}
			if part == "mean" {
				return func() error { return set.Unary(kernels.Copy, out, row, kernels.UnaryArgs{}) }, nil
			}
			return func() error {
				if err := set.Unary(kernels.Pow, out, row, kernels.UnaryArgs{A: 1, B: -2}); err != nil {
					return err
				}
				return set.Unary(kernels.Scale, out, out, kernels.UnaryArgs{A: 1, B: -eps})
			}, nil
		}
		return nil
	}

	g, err := parseNormGeom(name, s)
	if err != nil {
		return err
	}
	x := in(0)
	if !slices.Equal(x, g.shape) {
		return fmt.Errorf("normalization %q of input %v", s, x)
	}
	stats := []int{2, g.groups}
	param := []int{g.params}
	switch name {
	case "LayerNorm", "BatchNorm":
		want := 1 + b2i(g.gamma) + b2i(g.beta)
		if nch != want || !slices.Equal(p.shape, x) {
			return fmt.Errorf("normalization %q with %d inputs", s, nch)
		}
		for k := 1; k < nch; k++ {
			if !slices.Equal(in(k), param) {
				return fmt.Errorf("normalization %q: parameter %v", s, in(k))
			}
		}
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			var gm, bt kernels.Buffer[T]
			k := 1
			if g.gamma {
				gm, k = in[k], k+1
			}
			if g.beta {
				bt = in[k]
			}
			return func() error { return normForward(set, g, out, nil, nil, in[0], gm, bt) }, nil
		}
		return nil
	case "NormStats":
		if nch != 1 || !slices.Equal(p.shape, stats) {
			return fmt.Errorf("normalization statistics %q into %v", s, p.shape)
		}
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			m, r, err := statRows(set, out, g.groups)
			if err != nil {
				return nil, err
			}
			return func() error { return normForward(set, g, nil, m, r, in[0], nil, nil) }, nil
		}
		return nil
	case "NormGradX":
		want := 3 + b2i(g.gamma)
		if nch != want || !slices.Equal(in(1), stats) || !slices.Equal(in(nch-1), x) || !slices.Equal(p.shape, x) ||
			(g.gamma && !slices.Equal(in(2), param)) {
			return fmt.Errorf("normalization input gradient %q of %d inputs", s, nch)
		}
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			m, r, err := statRows(set, in[1], g.groups)
			if err != nil {
				return nil, err
			}
			var gm kernels.Buffer[T]
			if g.gamma {
				gm = in[2]
			}
			gy := in[len(in)-1]
			return func() error { return normBackward(set, g, out, nil, nil, in[0], gm, m, r, gy) }, nil
		}
		return nil
	case "NormGradParam":
		which, _ := opField(s, "param")
		if nch != 3 || !slices.Equal(in(1), stats) || !slices.Equal(in(2), x) || !slices.Equal(p.shape, param) ||
			(which != "gamma" && which != "beta") {
			return fmt.Errorf("normalization parameter gradient %q", s)
		}
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			m, r, err := statRows(set, in[1], g.groups)
			if err != nil {
				return nil, err
			}
			if which == "gamma" {
				return func() error { return normBackward(set, g, nil, out, nil, in[0], nil, m, r, in[2]) }, nil
			}
			return func() error { return normBackward(set, g, nil, nil, out, in[0], nil, m, r, in[2]) }, nil
		}
		return nil
	}
	return fmt.Errorf("normalization op %q", s)
}

// normGeom is what classifyNorm reads from a normalization op's
// description.
type normGeom struct {
	layer       bool
	shape       []int
	eps         float64
	gamma, beta bool
	a, b, c     int // kernel sizes: LN rows, d, 1; BN outer, c, inner
	groups      int
	params      int
}

func parseNormGeom(name, s string) (normGeom, error) {
	var g normGeom
	kind, ok := opField(s, "kind")
	switch {
	case name == "LayerNorm":
		g.layer = true
	case name == "BatchNorm":
	case ok && kind == "layer":
		g.layer = true
	case ok && kind == "batch":
	default:
		return g, fmt.Errorf("normalization %q: kind", s)
	}
	sh, ok := opField(s, "shape")
	if !ok {
		return g, fmt.Errorf("normalization %q has no shape", s)
	}
	shape, err := parseInts(sh)
	if err != nil {
		return g, fmt.Errorf("normalization %q: %w", s, err)
	}
	if g.eps, err = opFloat(s, "eps"); err != nil {
		return g, err
	}
	g.shape = shape
	if v, ok := opField(s, "gamma"); ok {
		g.gamma = v == "true"
	}
	if v, ok := opField(s, "beta"); ok {
		g.beta = v == "true"
	}
	switch {
	case g.layer && len(shape) >= 1 && prod(shape) > 0:
		d := shape[len(shape)-1]
		g.a, g.b, g.c = prod(shape)/d, d, 1
		g.groups, g.params = g.a, d
	case !g.layer && (len(shape) == 2 || len(shape) == 4) && prod(shape) > 0:
		g.a, g.b, g.c = shape[0], shape[1], prod(shape[2:])
		g.groups, g.params = g.b, g.b
	default:
		return g, fmt.Errorf("normalization %q: shape %v", s, shape)
	}
	return g, nil
}

// normForward runs g's forward kernel.
func normForward[T kernels.Float](set kernels.Set[T], g normGeom, y, mean, rstd, x, gamma, beta kernels.Buffer[T]) error {
	if g.layer {
		return set.LayerNorm(y, mean, rstd, x, gamma, beta, g.a, g.b, g.eps)
	}
	return set.BatchNorm(y, mean, rstd, x, gamma, beta, g.a, g.b, g.c, g.eps)
}

// normBackward runs g's backward kernel.
func normBackward[T kernels.Float](set kernels.Set[T], g normGeom, gx, gg, gb, x, gamma, mean, rstd, gy kernels.Buffer[T]) error {
	if g.layer {
		return set.LayerNormBackward(gx, gg, gb, x, gamma, mean, rstd, gy, g.a, g.b)
	}
	return set.BatchNormBackward(gx, gg, gb, x, gamma, mean, rstd, gy, g.a, g.b, g.c)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// statRows returns views of the mean and rstd rows of a [2, groups]
// statistics buffer.
func statRows[T kernels.Float](set kernels.Set[T], st kernels.Buffer[T], groups int) (m, r kernels.Buffer[T], err error) {
	if m, err = set.View(st, 0, groups); err != nil {
		return nil, nil, err
	}
	if r, err = set.View(st, groups, groups); err != nil {
		return nil, nil, err
	}
	return m, r, nil
}

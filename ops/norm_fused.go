package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/kernels"
)

// The fused normalization ops. A layer or batch norm is one forward op
// (normOp: x, γ, β → y) whose gradient is made of separate ops: the
// statistics (normStatsOp: x → [2, G], the per-group mean and 1/√(var+ε)),
// the input gradient (normGradXOp: x, stats, γ, gy → gx) and the parameter
// gradients (normGradParamOp: x, stats, gy → gγ or gβ). The statistics
// input only saves recomputation: the gradient ops' derivatives are taken
// with respect to x as if they recomputed it (their SymDiff differentiates
// the composed form of the backward with autodiff), so they are correct to
// any order. Host execution (Do) runs the CPU kernel set.

// normKind says which normalization a spec describes.
type normKind int

const (
	layerNormKind normKind = iota // over the last axis, γ per last-axis index
	batchNormKind                 // per channel (axis 1) of [N,C] or [N,C,H,W]
)

func (k normKind) String() string {
	if k == batchNormKind {
		return "batch"
	}
	return "layer"
}

// normSpec is what every fused normalization op knows: the kind, the input
// shape and ε.
type normSpec struct {
	kind  normKind
	shape tensor.Shape
	eps   float64
}

func (s normSpec) desc() string {
	return fmt.Sprintf("kind=%v,shape=%v,eps=%v", s.kind, s.shape, s.eps)
}

// dims views the input as the kernels see it: LN rows×d(×1), BN
// outer×c×inner.
func (s normSpec) dims() (a, b, c int) {
	if s.kind == layerNormKind {
		d := s.shape[len(s.shape)-1]
		return s.shape.TotalSize() / d, d, 1
	}
	inner := 1
	for _, v := range s.shape[2:] {
		inner *= v
	}
	return s.shape[0], s.shape[1], inner
}

// groups is the number of statistics groups; params the length of γ and β.
func (s normSpec) groups() int {
	a, b, _ := s.dims()
	if s.kind == layerNormKind {
		return a
	}
	return b
}

func (s normSpec) params() int {
	_, b, _ := s.dims()
	return b
}

// statAxes are the axes the statistics run over; paramAxes those γ's
// gradient sums over.
func (s normSpec) statAxes() []int {
	if s.kind == layerNormKind {
		return []int{len(s.shape) - 1}
	}
	if len(s.shape) == 2 {
		return []int{0}
	}
	return []int{0, 2, 3}
}

func (s normSpec) paramAxes() []int {
	if s.kind == layerNormKind {
		lead := make([]int, len(s.shape)-1)
		for i := range lead {
			lead[i] = i
		}
		return lead
	}
	return s.statAxes()
}

func (s normSpec) check() error {
	switch {
	case s.kind == layerNormKind && (len(s.shape) < 1 || s.shape.TotalSize() == 0):
		return fmt.Errorf("ops: layer norm of shape %v", s.shape)
	case s.kind == batchNormKind && ((len(s.shape) != 2 && len(s.shape) != 4) || s.shape.TotalSize() == 0):
		return fmt.Errorf("ops: batch norm of shape %v (want [N,C] or [N,C,H,W])", s.shape)
	case !(s.eps >= 0):
		return fmt.Errorf("ops: normalization epsilon %v", s.eps)
	}
	return nil
}

// normForward runs the forward kernel of spec over host slices (gamma,
// beta, y may be nil).
func normForward[T float](s normSpec, y, mean, rstd, x, gamma, beta []T) error {
	set := kernels.NewCPU[T](kernels.CPUOptions{Workers: 1})
	defer set.Close()
	a, b, c := s.dims()
	if s.kind == layerNormKind {
		return set.LayerNorm(wrapOpt(y), wrapOpt(mean), wrapOpt(rstd), wrapOpt(x), wrapOpt(gamma), wrapOpt(beta), a, b, s.eps)
	}
	return set.BatchNorm(wrapOpt(y), wrapOpt(mean), wrapOpt(rstd), wrapOpt(x), wrapOpt(gamma), wrapOpt(beta), a, b, c, s.eps)
}

// normBackward runs the backward kernel of spec over host slices.
func normBackward[T float](s normSpec, gx, gg, gb, x, gamma, mean, rstd, gy []T) error {
	set := kernels.NewCPU[T](kernels.CPUOptions{Workers: 1})
	defer set.Close()
	a, b, c := s.dims()
	if s.kind == layerNormKind {
		return set.LayerNormBackward(wrapOpt(gx), wrapOpt(gg), wrapOpt(gb), wrapOpt(x), wrapOpt(gamma), wrapOpt(mean),
			wrapOpt(rstd), wrapOpt(gy), a, b)
	}
	return set.BatchNormBackward(wrapOpt(gx), wrapOpt(gg), wrapOpt(gb), wrapOpt(x), wrapOpt(gamma), wrapOpt(mean),
		wrapOpt(rstd), wrapOpt(gy), a, b, c)
}

// wrapOpt wraps a host slice as a kernel buffer, nil staying nil.
func wrapOpt[T float](d []T) kernels.Buffer[T] {
	if d == nil {
		return nil
	}
	return kernels.Wrap(d)
}

// composed builds the composed normalization x̂ (and with gamma, x̂·γ) out
// of reductions and elementwise ops: the oracle the fused ops are
// differentiated through.
func (s normSpec) composed(x, gamma *gorgonia.Node) (*gorgonia.Node, error) {
	y, _, _, err := normalize(x, s.eps, s.statAxes()...)
	if err != nil {
		return nil, err
	}
	if gamma == nil {
		return y, nil
	}
	return affine(y, gamma, nil, s.paramAxes()...)
}

// normOp is the fused forward: inputs x, then γ and β when present.
type normOp struct {
	opBase
	normSpec
	gamma, beta bool
}

func (op *normOp) Arity() int { return 1 + b2n(op.gamma) + b2n(op.beta) }
func (op *normOp) Type() hm.Type {
	d := len(op.shape)
	dims := []int{d}
	for i := 1; i < op.Arity(); i++ {
		dims = append(dims, 1)
	}
	return fnType(append(dims, d)...)
}
func (op *normOp) String() string {
	name := "LayerNorm"
	if op.kind == batchNormKind {
		name = "BatchNorm"
	}
	return fmt.Sprintf("%s{shape=%v,eps=%v,gamma=%v,beta=%v}", name, op.shape, op.eps, op.gamma, op.beta)
}
func (op *normOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normOp) Hashcode() uint32      { return hashOf(op) }
func (op *normOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	for _, s := range ss[1:] {
		if !sameShape(s, tensor.Shape{op.params()}) {
			return nil, fmt.Errorf("%v: parameter shape %v, want (%d)", op, s, op.params())
		}
	}
	return op.shape.Clone(), nil
}
func (op *normOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, normOpKernel[float64](op), normOpKernel[float32](op))
}

func normOpKernel[T float](op *normOp) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		var g, b []T
		k := 1
		if op.gamma {
			g, k = in[k], k+1
		}
		if op.beta {
			b = in[k]
		}
		y := make([]T, op.shape.TotalSize())
		if err := normForward(op.normSpec, y, nil, nil, in[0], g, b); err != nil {
			return nil, nil, err
		}
		return y, op.shape.Clone(), nil
	}
}

func (op *normOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff returns the gradient ops of x, γ and β, which share one
// statistics node.
func (op *normOp) SymDiff(in gorgonia.Nodes, _, gy *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(in))
	}
	x := in[0]
	st, err := apply(&normStatsOp{normSpec: op.normSpec}, x)
	if err != nil {
		return nil, err
	}
	xin := gorgonia.Nodes{x, st}
	if op.gamma {
		xin = append(xin, in[1])
	}
	gx, err := apply(&normGradXOp{normSpec: op.normSpec, gamma: op.gamma}, append(xin, gy)...)
	if err != nil {
		return nil, err
	}
	out := gorgonia.Nodes{gx}
	if op.gamma {
		gg, err := apply(&normGradParamOp{normSpec: op.normSpec}, x, st, gy)
		if err != nil {
			return nil, err
		}
		out = append(out, gg)
	}
	if op.beta {
		gb, err := apply(&normGradParamOp{normSpec: op.normSpec, beta: true}, x, st, gy)
		if err != nil {
			return nil, err
		}
		out = append(out, gb)
	}
	return out, nil
}

func b2n(b bool) int {
	if b {
		return 1
	}
	return 0
}

// normStatsOp computes the statistics of x: a [2, G] tensor whose rows are
// the per-group mean and 1/√(var + ε). It is not differentiable: its
// consumers (the gradient ops, BNStats) take their derivatives through x.
type normStatsOp struct {
	opBase
	normSpec
}

func (op *normStatsOp) Arity() int            { return 1 }
func (op *normStatsOp) Type() hm.Type         { return fnType(len(op.shape), 2) }
func (op *normStatsOp) String() string        { return "NormStats{" + op.desc() + "}" }
func (op *normStatsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normStatsOp) Hashcode() uint32      { return hashOf(op) }
func (op *normStatsOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return tensor.Shape{2, op.groups()}, nil
}
func (op *normStatsOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, normStatsKernel[float64](op), normStatsKernel[float32](op))
}

func normStatsKernel[T float](op *normStatsOp) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		g := op.groups()
		out := make([]T, 2*g)
		if err := normForward(op.normSpec, nil, out[:g], out[g:], in[0], nil, nil); err != nil {
			return nil, nil, err
		}
		return out, tensor.Shape{2, g}, nil
	}
}
func (op *normStatsOp) DiffWRT(int) []bool { return []bool{false} }
func (op *normStatsOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v is not differentiable", op)
}

// normGradXOp is the input gradient of a normalization: inputs x, its
// statistics, γ (when present) and the output gradient gy.
type normGradXOp struct {
	opBase
	normSpec
	gamma bool
}

func (op *normGradXOp) Arity() int { return 3 + b2n(op.gamma) }
func (op *normGradXOp) Type() hm.Type {
	d := len(op.shape)
	if op.gamma {
		return fnType(d, 2, 1, d, d)
	}
	return fnType(d, 2, d, d)
}
func (op *normGradXOp) String() string {
	return fmt.Sprintf("NormGradX{%s,gamma=%v}", op.desc(), op.gamma)
}
func (op *normGradXOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normGradXOp) Hashcode() uint32      { return hashOf(op) }
func (op *normGradXOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) || !sameShape(ss[len(ss)-1], op.shape) || !sameShape(ss[1], tensor.Shape{2, op.groups()}) ||
		(op.gamma && !sameShape(ss[2], tensor.Shape{op.params()})) {
		return nil, fmt.Errorf("%v: input shapes %v", op, ss)
	}
	return op.shape.Clone(), nil
}
func (op *normGradXOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, normGradXKernel[float64](op), normGradXKernel[float32](op))
}

func normGradXKernel[T float](op *normGradXOp) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		var g []T
		if op.gamma {
			g = in[2]
		}
		gr := op.groups()
		gx := make([]T, op.shape.TotalSize())
		if err := normBackward(op.normSpec, gx, nil, nil, in[0], g, in[1][:gr], in[1][gr:], in[len(in)-1]); err != nil {
			return nil, nil, err
		}
		return gx, op.shape.Clone(), nil
	}
}

func (op *normGradXOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i != 1
	}
	return d
}

// SymDiff differentiates the composed input gradient (the VJP of the
// composed normalization with seed gy) with respect to x, γ and gy.
func (op *normGradXOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(in))
	}
	ins := gorgonia.Nodes{in[0], in[len(in)-1]}
	if op.gamma {
		ins = append(ins, in[2])
	}
	px, err := proxies(g, ins...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	x, gy := px[0], px[1]
	var gamma *gorgonia.Node
	wrt := gorgonia.Nodes{x}
	if op.gamma {
		gamma = px[2]
		wrt = append(wrt, gamma)
	}
	wrt = append(wrt, gy)
	y, err := op.composed(x, gamma)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	f, err := autodiff.VJP(gorgonia.Nodes{y}, gorgonia.Nodes{gy}, gorgonia.Nodes{x})
	if err != nil {
		return nil, fmt.Errorf("%v: composed gradient: %w", op, err)
	}
	d, err := autodiff.VJP(f, gorgonia.Nodes{g}, wrt)
	if err != nil {
		return nil, fmt.Errorf("%v: second derivative: %w", op, err)
	}
	out := gorgonia.Nodes{d[0], nil}
	return append(out, d[1:]...), nil
}

// normGradParamOp is the gradient of γ (Σ gy·x̂) or of β (Σ gy), summed
// over every axis but the parameter's: inputs x, its statistics and gy.
type normGradParamOp struct {
	opBase
	normSpec
	beta bool
}

func (op *normGradParamOp) Arity() int { return 3 }
func (op *normGradParamOp) Type() hm.Type {
	d := len(op.shape)
	return fnType(d, 2, d, 1)
}
func (op *normGradParamOp) String() string {
	p := "gamma"
	if op.beta {
		p = "beta"
	}
	return fmt.Sprintf("NormGradParam{%s,param=%s}", op.desc(), p)
}
func (op *normGradParamOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normGradParamOp) Hashcode() uint32      { return hashOf(op) }
func (op *normGradParamOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) || !sameShape(ss[2], op.shape) || !sameShape(ss[1], tensor.Shape{2, op.groups()}) {
		return nil, fmt.Errorf("%v: input shapes %v", op, ss)
	}
	return tensor.Shape{op.params()}, nil
}
func (op *normGradParamOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, normGradParamKernel[float64](op), normGradParamKernel[float32](op))
}

func normGradParamKernel[T float](op *normGradParamOp) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		gr := op.groups()
		out := make([]T, op.params())
		gg, gb := out, []T(nil)
		if op.beta {
			gg, gb = nil, out
		}
		if err := normBackward(op.normSpec, nil, gg, gb, in[0], nil, in[1][:gr], in[1][gr:], in[2]); err != nil {
			return nil, nil, err
		}
		return out, tensor.Shape{op.params()}, nil
	}
}

func (op *normGradParamOp) DiffWRT(int) []bool { return []bool{true, false, true} }

// SymDiff differentiates the composed parameter gradient with respect to x
// and gy.
func (op *normGradParamOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%v: want 3 inputs, got %d", op, len(in))
	}
	px, err := proxies(g, in[0], in[2])
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	x, gy := px[0], px[1]
	t := gy
	if !op.beta {
		xh, err := op.composed(x, nil)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
		if t, err = gorgonia.HadamardProd(gy, xh); err != nil {
			return nil, fmt.Errorf("%v: %w", op, err)
		}
	}
	f, err := Sum(t, op.paramAxes()...)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	d, err := autodiff.VJP(gorgonia.Nodes{f}, gorgonia.Nodes{g}, gorgonia.Nodes{x, gy})
	if err != nil {
		return nil, fmt.Errorf("%v: second derivative: %w", op, err)
	}
	return gorgonia.Nodes{d[0], nil, d[1]}, nil
}

// bnStatOp turns batch norm statistics [2, C] into the batch mean (row 0)
// or the biased batch variance 1/rstd² − ε (var).
type bnStatOp struct {
	opBase
	c        int
	eps      float64
	variance bool
}

func (op *bnStatOp) Arity() int    { return 1 }
func (op *bnStatOp) Type() hm.Type { return fnType(2, 1) }
func (op *bnStatOp) String() string {
	p := "mean"
	if op.variance {
		p = "var"
	}
	return fmt.Sprintf("BatchNormStat{c=%d,eps=%v,part=%s}", op.c, op.eps, p)
}
func (op *bnStatOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *bnStatOp) Hashcode() uint32      { return hashOf(op) }
func (op *bnStatOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], tensor.Shape{2, op.c}) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return tensor.Shape{op.c}, nil
}
func (op *bnStatOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, bnStatKernel[float64](op), bnStatKernel[float32](op))
}

func bnStatKernel[T float](op *bnStatOp) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		out := make([]T, op.c)
		if !op.variance {
			copy(out, in[0][:op.c])
		} else {
			for i, r := range in[0][op.c : 2*op.c] {
				out[i] = T(1/(float64(r)*float64(r)) - op.eps)
			}
		}
		return out, tensor.Shape{op.c}, nil
	}
}
func (op *bnStatOp) DiffWRT(int) []bool { return []bool{false} }
func (op *bnStatOp) SymDiff(gorgonia.Nodes, *gorgonia.Node, *gorgonia.Node) (gorgonia.Nodes, error) {
	return nil, fmt.Errorf("%v is not differentiable", op)
}

// fusedNorm applies the fused forward op of spec to x with optional γ, β.
func fusedNorm(s normSpec, x, gamma, beta *gorgonia.Node) (*gorgonia.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	in := gorgonia.Nodes{x}
	if gamma != nil {
		in = append(in, gamma)
	}
	if beta != nil {
		in = append(in, beta)
	}
	return apply(&normOp{normSpec: s, gamma: gamma != nil, beta: beta != nil}, in...)
}

// normProxyOp is the identity. The gradient ops' SymDiff differentiates
// the composed backward built on proxies of its inputs, so that the
// derivatives autodiff returns are partial ones: the inputs themselves may
// depend on each other (gy on x, through the forward) and autodiff would
// otherwise follow those paths too. tag (the ID of the adjoint node being
// propagated) keeps the proxies of different SymDiff calls apart, so no
// other expression ever reaches them; k numbers the proxies of one call.
type normProxyOp struct {
	opBase
	shape  tensor.Shape
	tag, k int64
}

func (op *normProxyOp) Arity() int    { return 1 }
func (op *normProxyOp) Type() hm.Type { return fnType(len(op.shape), len(op.shape)) }
func (op *normProxyOp) String() string {
	return fmt.Sprintf("NormProxy{shape=%v,tag=%d,k=%d}", op.shape, op.tag, op.k)
}
func (op *normProxyOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *normProxyOp) Hashcode() uint32      { return hashOf(op) }
func (op *normProxyOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	if !sameShape(ss[0], op.shape) {
		return nil, fmt.Errorf("%v: input shape %v", op, ss[0])
	}
	return op.shape.Clone(), nil
}
func (op *normProxyOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, proxyKernel[float64](op.shape), proxyKernel[float32](op.shape))
}

func proxyKernel[T float](shape tensor.Shape) kernel[T] {
	return func(in [][]T, _ []tensor.Shape) ([]T, tensor.Shape, error) {
		return append([]T(nil), in[0]...), shape.Clone(), nil
	}
}
func (op *normProxyOp) DiffWRT(int) []bool { return []bool{true} }
func (op *normProxyOp) SymDiff(_ gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	return gorgonia.Nodes{g}, nil
}

// proxies returns a fresh proxy of each node, tagged with the adjoint g.
func proxies(g *gorgonia.Node, ns ...*gorgonia.Node) (gorgonia.Nodes, error) {
	out := make(gorgonia.Nodes, len(ns))
	for k, n := range ns {
		p, err := apply(&normProxyOp{shape: n.Shape().Clone(), tag: int64(g.ID()), k: int64(k)}, n)
		if err != nil {
			return nil, err
		}
		out[k] = p
	}
	return out, nil
}

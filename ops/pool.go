package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PoolParams are the geometry of a 2-D pooling over NCHW tensors, per
// spatial axis (height, width). A zero stride means the kernel size. Padding
// may be at most half the kernel. Output sizes round down:
// HO = (H + 2·pad - kernel)/stride + 1.
type PoolParams struct {
	Kernel [2]int
	Stride [2]int
	Pad    [2]int
	// CountIncludePad makes average pooling divide by the full kernel area
	// even where the window overlaps the padding (PyTorch's default);
	// otherwise it divides by the number of input pixels in the window.
	CountIncludePad bool
}

// poolGeom is a pooling over input shape x=[N,C,H,W].
type poolGeom struct {
	p PoolParams
	x tensor.Shape
}

func newPoolGeom(p PoolParams, x tensor.Shape) (poolGeom, error) {
	if len(x) != 4 {
		return poolGeom{}, fmt.Errorf("pooling wants a 4-D NCHW input, got %v", x)
	}
	for a := 0; a < 2; a++ {
		if p.Stride[a] == 0 {
			p.Stride[a] = p.Kernel[a]
		}
		if p.Kernel[a] < 1 || p.Stride[a] < 1 || p.Pad[a] < 0 || 2*p.Pad[a] > p.Kernel[a] {
			return poolGeom{}, fmt.Errorf("pooling: bad parameters %+v", p)
		}
	}
	g := poolGeom{p: p, x: x.Clone()}
	if x[2]+2*p.Pad[0] < p.Kernel[0] || x[3]+2*p.Pad[1] < p.Kernel[1] {
		return poolGeom{}, fmt.Errorf("pooling: empty output for input %v and %+v", x, p)
	}
	return g, nil
}

func (g poolGeom) outSize(a int) int {
	return (g.x[2+a]+2*g.p.Pad[a]-g.p.Kernel[a])/g.p.Stride[a] + 1
}

func (g poolGeom) y() tensor.Shape {
	return tensor.Shape{g.x[0], g.x[1], g.outSize(0), g.outSize(1)}
}

func (g poolGeom) String() string {
	return fmt.Sprintf("x=%v,kernel=%v,stride=%v,pad=%v,countpad=%v", g.x, g.p.Kernel, g.p.Stride, g.p.Pad, g.p.CountIncludePad)
}

// window calls f for every input pixel (index into one H×W plane) of output
// pixel (oy, ox), clipped to the image.
func (g poolGeom) window(oy, ox int, f func(idx int)) {
	h, w := g.x[2], g.x[3]
	y0, x0 := oy*g.p.Stride[0]-g.p.Pad[0], ox*g.p.Stride[1]-g.p.Pad[1]
	for iy := max(y0, 0); iy < min(y0+g.p.Kernel[0], h); iy++ {
		for ix := max(x0, 0); ix < min(x0+g.p.Kernel[1], w); ix++ {
			f(iy*w + ix)
		}
	}
}

// argmax returns, for every output element, the flat index into x of the
// largest element of its window (the first one on ties; NaN wins).
func argmax[T float](g poolGeom, x []T) []int32 {
	n, c, h, w := g.x[0], g.x[1], g.x[2], g.x[3]
	ho, wo := g.outSize(0), g.outSize(1)
	kh, kw := g.p.Kernel[0], g.p.Kernel[1]
	sh, sw := g.p.Stride[0], g.p.Stride[1]
	ph, pw := g.p.Pad[0], g.p.Pad[1]
	out := make([]int32, n*c*ho*wo)
	k := 0
	for plane := 0; plane < n*c; plane++ {
		base := plane * h * w
		for oy := 0; oy < ho; oy++ {
			y0 := oy*sh - ph
			ya, yb := max(y0, 0), min(y0+kh, h)
			for ox := 0; ox < wo; ox++ {
				x0 := ox*sw - pw
				xa, xb := max(x0, 0), min(x0+kw, w)
				bi := base + ya*w + xa
				best := x[bi]
				for iy := ya; iy < yb; iy++ {
					row := base + iy*w
					for ix := xa; ix < xb; ix++ {
						if v := x[row+ix]; v > best || (v != v && best == best) {
							best, bi = v, row+ix
						}
					}
				}
				out[k] = int32(bi)
				k++
			}
		}
	}
	return out
}

// maxPoolKind names the members of the max-pooling family.
type maxPoolKind int

const (
	maxPoolFwd     maxPoolKind = iota // x -> y
	maxPoolScatter                    // (x, gy) -> gx: gy routed to the argmax positions
	maxPoolGather                     // (x, u) -> [shape of y]: u read at the argmax positions
)

// maxPoolOp is one member of the max-pooling family. The argmax positions
// depend on x only, and are locally constant in x, so scatter and gather are
// linear in their second input, adjoint to each other, and have no
// derivative with respect to x:
//
//	y = P(x):       dx = S(x, g)
//	gx = S(x, gy):  dgy = G(x, u)
//	v = G(x, u):    du = S(x, g)
type maxPoolOp struct {
	opBase
	kind maxPoolKind
	g    poolGeom
}

func (op *maxPoolOp) Arity() int {
	if op.kind == maxPoolFwd {
		return 1
	}
	return 2
}
func (op *maxPoolOp) Type() hm.Type {
	if op.kind == maxPoolFwd {
		return fnType(4, 4)
	}
	return fnType(4, 4, 4)
}
func (op *maxPoolOp) String() string {
	name := [...]string{"MaxPool2d", "MaxPool2dScatter", "MaxPool2dGather"}[op.kind]
	return fmt.Sprintf("%s{%v}", name, op.g)
}
func (op *maxPoolOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *maxPoolOp) Hashcode() uint32      { return hashOf(op) }

func (op *maxPoolOp) shapes() (in []tensor.Shape, out tensor.Shape) {
	switch op.kind {
	case maxPoolFwd:
		return []tensor.Shape{op.g.x}, op.g.y()
	case maxPoolScatter:
		return []tensor.Shape{op.g.x, op.g.y()}, op.g.x
	default:
		return []tensor.Shape{op.g.x, op.g.x}, op.g.y()
	}
}

func checkShapes(got, want []tensor.Shape) error {
	for i := range want {
		if !sameShape(got[i], want[i]) {
			return fmt.Errorf("input %d has shape %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

func (op *maxPoolOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	want, out := op.shapes()
	if err := checkShapes(ss, want); err != nil {
		return nil, fmt.Errorf("%v: %w", op, err)
	}
	return out.Clone(), nil
}

func (op *maxPoolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, maxPoolKernel[float64](op), maxPoolKernel[float32](op))
}

func maxPoolKernel[T float](op *maxPoolOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		want, outShape := op.shapes()
		if err := checkShapes(ss, want); err != nil {
			return nil, nil, err
		}
		am := argmax(op.g, in[0])
		src := in[0]
		if op.kind != maxPoolFwd {
			src = in[1]
		}
		out := make([]T, outShape.TotalSize())
		if op.kind == maxPoolScatter {
			for k, i := range am {
				out[i] += src[k]
			}
		} else {
			for k, i := range am {
				out[k] = src[i]
			}
		}
		return out, outShape.Clone(), nil
	}
}

func (op *maxPoolOp) DiffWRT(int) []bool {
	if op.kind == maxPoolFwd {
		return []bool{true}
	}
	return []bool{false, true}
}

func (op *maxPoolOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != op.Arity() {
		return nil, fmt.Errorf("%v: want %d inputs, got %d", op, op.Arity(), len(in))
	}
	x := in[0]
	switch op.kind {
	case maxPoolFwd:
		d, err := apply(&maxPoolOp{kind: maxPoolScatter, g: op.g}, x, g)
		return gorgonia.Nodes{d}, err
	case maxPoolScatter:
		d, err := apply(&maxPoolOp{kind: maxPoolGather, g: op.g}, x, g)
		return gorgonia.Nodes{nil, d}, err
	default:
		d, err := apply(&maxPoolOp{kind: maxPoolScatter, g: op.g}, x, g)
		return gorgonia.Nodes{nil, d}, err
	}
}

// avgPoolOp averages windows (adjoint=false) or spreads each output gradient
// evenly back over its window (adjoint=true); each is the other's
// derivative.
type avgPoolOp struct {
	opBase
	adjoint bool
	g       poolGeom
}

func (op *avgPoolOp) Arity() int    { return 1 }
func (op *avgPoolOp) Type() hm.Type { return fnType(4, 4) }
func (op *avgPoolOp) String() string {
	if op.adjoint {
		return fmt.Sprintf("AvgPool2dAdjoint{%v}", op.g)
	}
	return fmt.Sprintf("AvgPool2d{%v}", op.g)
}
func (op *avgPoolOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *avgPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op *avgPoolOp) shapes() (in, out tensor.Shape) {
	if op.adjoint {
		return op.g.y(), op.g.x
	}
	return op.g.x, op.g.y()
}
func (op *avgPoolOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	in, out := op.shapes()
	if !sameShape(ss[0], in) {
		return nil, fmt.Errorf("%v: input shape %v, want %v", op, ss[0], in)
	}
	return out.Clone(), nil
}
func (op *avgPoolOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, avgPoolKernel[float64](op), avgPoolKernel[float32](op))
}
func (op *avgPoolOp) DiffWRT(int) []bool { return []bool{true} }
func (op *avgPoolOp) SymDiff(_ gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	d, err := apply(&avgPoolOp{adjoint: !op.adjoint, g: op.g}, g)
	return gorgonia.Nodes{d}, err
}

func avgPoolKernel[T float](op *avgPoolOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		inShape, outShape := op.shapes()
		if !sameShape(ss[0], inShape) {
			return nil, nil, fmt.Errorf("input shape %v, want %v", ss[0], inShape)
		}
		g := op.g
		planes, hw := g.x[0]*g.x[1], g.x[2]*g.x[3]
		ho, wo := g.outSize(0), g.outSize(1)
		out := make([]T, outShape.TotalSize())
		src := in[0]
		full := g.p.Kernel[0] * g.p.Kernel[1]
		for p := 0; p < planes; p++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					k := (p*ho+oy)*wo + ox
					div := full
					if !g.p.CountIncludePad {
						div = 0
						g.window(oy, ox, func(int) { div++ })
					}
					if op.adjoint {
						v := src[k] / T(div)
						g.window(oy, ox, func(idx int) { out[p*hw+idx] += v })
					} else {
						var s T
						g.window(oy, ox, func(idx int) { s += src[p*hw+idx] })
						out[k] = s / T(div)
					}
				}
			}
		}
		return out, outShape.Clone(), nil
	}
}

// MaxPool2d takes the maximum over each window of the NCHW input x (padding
// never wins). Its gradient routes the incoming gradient to the position of
// each window's maximum (the first one on ties).
func MaxPool2d(x *gorgonia.Node, p PoolParams) (*gorgonia.Node, error) {
	g, err := newPoolGeom(p, x.Shape())
	if err != nil {
		return nil, fmt.Errorf("ops: max-pool: %w", err)
	}
	return apply(&maxPoolOp{kind: maxPoolFwd, g: g}, x)
}

// AvgPool2d averages each window of the NCHW input x; see
// PoolParams.CountIncludePad for the divisor at the borders.
func AvgPool2d(x *gorgonia.Node, p PoolParams) (*gorgonia.Node, error) {
	g, err := newPoolGeom(p, x.Shape())
	if err != nil {
		return nil, fmt.Errorf("ops: avg-pool: %w", err)
	}
	return apply(&avgPoolOp{g: g}, x)
}

// GlobalAvgPool averages the NCHW input x over H and W, giving [N,C].
func GlobalAvgPool(x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 4 {
		return nil, fmt.Errorf("ops: global avg-pool wants a 4-D NCHW input, got %v", x.Shape())
	}
	return Mean(x, 2, 3)
}

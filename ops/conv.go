package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConvParams are the geometry of a 2-D convolution over NCHW tensors, per
// spatial axis (height, width). Zero strides and dilations mean 1.
type ConvParams struct {
	Stride   [2]int
	Pad      [2]int
	Dilation [2]int
}

// normalized replaces zero strides and dilations by 1 and checks the rest.
func (p ConvParams) normalized() (ConvParams, error) {
	for a := 0; a < 2; a++ {
		if p.Stride[a] == 0 {
			p.Stride[a] = 1
		}
		if p.Dilation[a] == 0 {
			p.Dilation[a] = 1
		}
		if p.Stride[a] < 0 || p.Dilation[a] < 0 || p.Pad[a] < 0 {
			return p, fmt.Errorf("negative stride, padding or dilation in %+v", p)
		}
	}
	return p, nil
}

// convGeom is a fully specified convolution: parameters, input shape
// x=[N,C,H,W] and weight shape w=[O,C,KH,KW]; the output is y=[N,O,HO,WO].
type convGeom struct {
	p ConvParams
	x tensor.Shape
	w tensor.Shape
}

func (g convGeom) outSize(a int) int {
	in, k := g.x[2+a], g.w[2+a]
	return (in+2*g.p.Pad[a]-g.p.Dilation[a]*(k-1)-1)/g.p.Stride[a] + 1
}

func (g convGeom) y() tensor.Shape {
	return tensor.Shape{g.x[0], g.w[0], g.outSize(0), g.outSize(1)}
}

func (g convGeom) String() string {
	return fmt.Sprintf("x=%v,w=%v,stride=%v,pad=%v,dil=%v", g.x, g.w, g.p.Stride, g.p.Pad, g.p.Dilation)
}

func newConvGeom(p ConvParams, x, w tensor.Shape) (convGeom, error) {
	p, err := p.normalized()
	if err != nil {
		return convGeom{}, err
	}
	if len(x) != 4 || len(w) != 4 {
		return convGeom{}, fmt.Errorf("conv2d wants 4-D input and weights, got %v and %v", x, w)
	}
	if x[1] != w[1] {
		return convGeom{}, fmt.Errorf("conv2d: input has %d channels, weights expect %d", x[1], w[1])
	}
	g := convGeom{p: p, x: x.Clone(), w: w.Clone()}
	for a := 0; a < 2; a++ {
		if x[2+a]+2*p.Pad[a] < p.Dilation[a]*(w[2+a]-1)+1 {
			return convGeom{}, fmt.Errorf("conv2d: kernel larger than the padded input in %v", g)
		}
	}
	if g.outSize(0) < 1 || g.outSize(1) < 1 {
		return convGeom{}, fmt.Errorf("conv2d: empty output for %v", g)
	}
	return g, nil
}

// convKind names the three members of the convolution family.
type convKind int

const (
	convFwd        convKind = iota // (x, w) -> y
	convBackData                   // (gy, w) -> gx, the transposed convolution
	convBackFilter                 // (x, gy) -> gw
)

// convOp is one member of the convolution family over a fixed geometry. The
// derivatives of each member are members of the family again:
//
//	y  = F(x, w):   dx = D(g, w),  dw = K(x, g)
//	gx = D(gy, w):  dgy = F(u, w), dw = K(u, gy)
//	gw = K(x, gy):  dx = D(gy, u), dgy = F(x, u)
type convOp struct {
	opBase
	kind convKind
	g    convGeom
}

func (op *convOp) Arity() int    { return 2 }
func (op *convOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *convOp) String() string {
	name := [...]string{"Conv2d", "Conv2dBackData", "Conv2dBackFilter"}[op.kind]
	return fmt.Sprintf("%s{%v}", name, op.g)
}
func (op *convOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *convOp) Hashcode() uint32      { return hashOf(op) }

// shapes returns the expected input shapes and the output shape.
func (op *convOp) shapes() (a, b, out tensor.Shape) {
	switch op.kind {
	case convFwd:
		return op.g.x, op.g.w, op.g.y()
	case convBackData:
		return op.g.y(), op.g.w, op.g.x
	default:
		return op.g.x, op.g.y(), op.g.w
	}
}

func (op *convOp) InferShape(ds ...gorgonia.DimSizer) (tensor.Shape, error) {
	ss, err := shapesOf(op, ds)
	if err != nil {
		return nil, err
	}
	a, b, out := op.shapes()
	if !sameShape(ss[0], a) || !sameShape(ss[1], b) {
		return nil, fmt.Errorf("%v: input shapes %v, %v; want %v, %v", op, ss[0], ss[1], a, b)
	}
	return out.Clone(), nil
}

func (op *convOp) Do(vs ...gorgonia.Value) (gorgonia.Value, error) {
	return doFloat(op, vs, convKernel[float64](op), convKernel[float32](op))
}

func (op *convOp) DiffWRT(int) []bool { return []bool{true, true} }

func (op *convOp) SymDiff(in gorgonia.Nodes, _, g *gorgonia.Node) (gorgonia.Nodes, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%v: want 2 inputs, got %d", op, len(in))
	}
	mk := func(k convKind, a, b *gorgonia.Node) (*gorgonia.Node, error) {
		return apply(&convOp{kind: k, g: op.g}, a, b)
	}
	var d0, d1 *gorgonia.Node
	var err error
	switch op.kind {
	case convFwd: // in = x, w
		if d0, err = mk(convBackData, g, in[1]); err == nil {
			d1, err = mk(convBackFilter, in[0], g)
		}
	case convBackData: // in = gy, w
		if d0, err = mk(convFwd, g, in[1]); err == nil {
			d1, err = mk(convBackFilter, g, in[0])
		}
	default: // in = x, gy
		if d0, err = mk(convBackData, in[1], g); err == nil {
			d1, err = mk(convFwd, in[0], g)
		}
	}
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{d0, d1}, nil
}

func convKernel[T float](op *convOp) kernel[T] {
	return func(in [][]T, ss []tensor.Shape) ([]T, tensor.Shape, error) {
		a, b, out := op.shapes()
		if !sameShape(ss[0], a) || !sameShape(ss[1], b) {
			return nil, nil, fmt.Errorf("input shapes %v, %v; want %v, %v", ss[0], ss[1], a, b)
		}
		var r []T
		switch op.kind {
		case convFwd:
			r = convForward(op.g, in[0], in[1])
		case convBackData:
			r = convBackwardData(op.g, in[0], in[1])
		default:
			r = convBackwardFilter(op.g, in[0], in[1])
		}
		return r, out.Clone(), nil
	}
}

// im2col writes the patches of one image x=[C,H,W] into cols, a row-major
// [C*KH*KW, HO*WO] matrix; out-of-image taps are zero.
func im2col[T float](g convGeom, x, cols []T) {
	c, h, w := g.x[1], g.x[2], g.x[3]
	kh, kw := g.w[2], g.w[3]
	ho, wo := g.outSize(0), g.outSize(1)
	sh, sw := g.p.Stride[0], g.p.Stride[1]
	ph, pw := g.p.Pad[0], g.p.Pad[1]
	dh, dw := g.p.Dilation[0], g.p.Dilation[1]
	row := 0
	for ci := 0; ci < c; ci++ {
		img := x[ci*h*w : (ci+1)*h*w]
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				dst := cols[row*ho*wo : (row+1)*ho*wo]
				for oy := 0; oy < ho; oy++ {
					iy := oy*sh - ph + i*dh
					d := dst[oy*wo : (oy+1)*wo]
					if iy < 0 || iy >= h {
						clear(d)
						continue
					}
					src := img[iy*w : (iy+1)*w]
					for ox := range d {
						ix := ox*sw - pw + j*dw
						if ix < 0 || ix >= w {
							d[ox] = 0
						} else {
							d[ox] = src[ix]
						}
					}
				}
				row++
			}
		}
	}
}

// col2im adds the columns back into the image x=[C,H,W] (the adjoint of
// im2col).
func col2im[T float](g convGeom, cols, x []T) {
	c, h, w := g.x[1], g.x[2], g.x[3]
	kh, kw := g.w[2], g.w[3]
	ho, wo := g.outSize(0), g.outSize(1)
	sh, sw := g.p.Stride[0], g.p.Stride[1]
	ph, pw := g.p.Pad[0], g.p.Pad[1]
	dh, dw := g.p.Dilation[0], g.p.Dilation[1]
	row := 0
	for ci := 0; ci < c; ci++ {
		img := x[ci*h*w : (ci+1)*h*w]
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				src := cols[row*ho*wo : (row+1)*ho*wo]
				for oy := 0; oy < ho; oy++ {
					iy := oy*sh - ph + i*dh
					if iy < 0 || iy >= h {
						continue
					}
					dst := img[iy*w : (iy+1)*w]
					s := src[oy*wo : (oy+1)*wo]
					for ox, v := range s {
						ix := ox*sw - pw + j*dw
						if ix >= 0 && ix < w {
							dst[ix] += v
						}
					}
				}
				row++
			}
		}
	}
}

// gemm computes c = alpha*op(a)*op(b) + beta*c for row-major matrices with
// gonum's registered BLAS.
func gemm[T float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	switch av := any(a).(type) {
	case []float64:
		blas64.Implementation().Dgemm(ta, tb, m, n, k, float64(alpha), av, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	case []float32:
		blas32.Implementation().Sgemm(ta, tb, m, n, k, float32(alpha), av, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	}
}

func convDims(g convGeom) (n, cin, hw, o, ckk, howo int) {
	return g.x[0], g.x[1], g.x[2] * g.x[3], g.w[0], g.w[1] * g.w[2] * g.w[3], g.outSize(0) * g.outSize(1)
}

func convForward[T float](g convGeom, x, w []T) []T {
	n, cin, hw, o, ckk, howo := convDims(g)
	y := make([]T, n*o*howo)
	cols := make([]T, ckk*howo)
	for b := 0; b < n; b++ {
		im2col(g, x[b*cin*hw:(b+1)*cin*hw], cols)
		gemm(false, false, o, howo, ckk, 1, w, ckk, cols, howo, 0, y[b*o*howo:(b+1)*o*howo], howo)
	}
	return y
}

func convBackwardData[T float](g convGeom, gy, w []T) []T {
	n, cin, hw, o, ckk, howo := convDims(g)
	gx := make([]T, n*cin*hw)
	cols := make([]T, ckk*howo)
	for b := 0; b < n; b++ {
		gemm(true, false, ckk, howo, o, 1, w, ckk, gy[b*o*howo:(b+1)*o*howo], howo, 0, cols, howo)
		col2im(g, cols, gx[b*cin*hw:(b+1)*cin*hw])
	}
	return gx
}

func convBackwardFilter[T float](g convGeom, x, gy []T) []T {
	n, cin, hw, o, ckk, howo := convDims(g)
	gw := make([]T, o*ckk)
	cols := make([]T, ckk*howo)
	for b := 0; b < n; b++ {
		im2col(g, x[b*cin*hw:(b+1)*cin*hw], cols)
		gemm(false, true, o, ckk, howo, 1, gy[b*o*howo:(b+1)*o*howo], howo, cols, howo, 1, gw, ckk)
	}
	return gw
}

// Conv2d convolves (cross-correlates, as deep-learning libraries do) the
// NCHW input x with OIHW weights w: y=[N,O,HO,WO] with
// HO = (H + 2·pad - dil·(KH-1) - 1)/stride + 1.
func Conv2d(x, w *gorgonia.Node, p ConvParams) (*gorgonia.Node, error) {
	g, err := newConvGeom(p, x.Shape(), w.Shape())
	if err != nil {
		return nil, fmt.Errorf("ops: %w", err)
	}
	return apply(&convOp{kind: convFwd, g: g}, x, w)
}

// ConvTranspose2d is the transposed convolution (the gradient of Conv2d with
// respect to its input) of x=[N,CI,H,W] with weights w=[CI,CO,KH,KW] (the
// layout PyTorch uses): the output is [N,CO,HO,WO] with
// HO = (H-1)·stride - 2·pad + dil·(KH-1) + 1 + outPad[0], and outPad[a] must be
// smaller than the stride or the dilation on that axis.
func ConvTranspose2d(x, w *gorgonia.Node, p ConvParams, outPad [2]int) (*gorgonia.Node, error) {
	p, err := p.normalized()
	if err != nil {
		return nil, fmt.Errorf("ops: conv-transpose: %w", err)
	}
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[0] {
		return nil, fmt.Errorf("ops: conv-transpose: input %v and weights %v do not match", xs, ws)
	}
	var out [2]int
	for a := 0; a < 2; a++ {
		if outPad[a] < 0 || (outPad[a] >= p.Stride[a] && outPad[a] >= p.Dilation[a]) {
			return nil, fmt.Errorf("ops: conv-transpose: output padding %v too large for %+v", outPad, p)
		}
		out[a] = (xs[2+a]-1)*p.Stride[a] - 2*p.Pad[a] + p.Dilation[a]*(ws[2+a]-1) + 1 + outPad[a]
	}
	// As a convolution, the output of the transposed one is the input.
	g, err := newConvGeom(p, tensor.Shape{xs[0], ws[1], out[0], out[1]}, tensor.Shape{ws[0], ws[1], ws[2], ws[3]})
	if err != nil {
		return nil, fmt.Errorf("ops: conv-transpose: %w", err)
	}
	if g.outSize(0) != xs[2] || g.outSize(1) != xs[3] {
		return nil, fmt.Errorf("ops: conv-transpose: geometry %v does not invert to %v", g, xs)
	}
	return apply(&convOp{kind: convBackData, g: g}, x, w)
}

package kernels

import "fmt"

// Float is the set of element types a kernel set handles.
type Float interface{ ~float32 | ~float64 }

// Buffer is a block of device memory holding Len elements of T. Its concrete
// type belongs to the Set that allocated it; passing a buffer to another Set
// is an error.
type Buffer[T Float] interface {
	Len() int
}

// UnaryOp names an elementwise function of one operand (see Set.Unary).
type UnaryOp int

// Elementwise unary operations; a, b and c are the UnaryArgs fields.
const (
	Copy      UnaryOp = iota // x
	Neg                      // −x
	Exp                      // eˣ
	Log                      // ln x
	Tanh                     // tanh x
	Sigmoid                  // 1/(1+e⁻ˣ)
	Square                   // x²
	Sqrt                     // √x
	Cube                     // x³
	Abs                      // |x|
	Sign                     // sign x (0 at 0)
	Inverse                  // 1/x
	ReLU                     // x if x > 0 else a·x (a: leak)
	ReLUSlope                // 1 if x > 0 else a
	Scale                    // a·x + b
	Pow                      // a·(x + c)^b
	Softplus                 // ln(1 + eˣ)
	Log1p                    // ln(1 + x)
	Expm1                    // eˣ − 1
	GELU                     // derivative of order a (0…MaxGELUOrder) of x·Φ(x), Φ the normal CDF
	GELUTanh                 // derivative of order a (0…MaxGELUOrder) of ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
	numUnary
)

var unaryNames = [...]string{"copy", "neg", "exp", "log", "tanh", "sigmoid", "square", "sqrt", "cube", "abs",
	"sign", "inverse", "relu", "relu-slope", "scale", "pow", "softplus", "log1p", "expm1", "gelu", "gelu-tanh"}

// MaxGELUOrder is the highest derivative order of GELU and GELUTanh a Set
// computes: order 2 is what a Hessian-vector product needs, order 3 its
// gradient; the rest leaves room for further differentiation (each
// reverse pass through GELU adds one order).
const MaxGELUOrder = 8

// CheckUnaryArgs reports whether op is known and accepts the parameters a
// (GELU and GELUTanh take an integer order 0…MaxGELUOrder); Set
// implementations call it.
func CheckUnaryArgs(op UnaryOp, a UnaryArgs) error {
	if op < 0 || op >= numUnary {
		return fmt.Errorf("kernels: unknown unary op %v", op)
	}
	if op == GELU || op == GELUTanh {
		if a.A != float64(int(a.A)) || a.A < 0 || a.A > MaxGELUOrder {
			return fmt.Errorf("kernels: %v: derivative order %v not in 0…%d", op, a.A, MaxGELUOrder)
		}
	}
	return nil
}

func (op UnaryOp) String() string {
	if op >= 0 && op < numUnary {
		return unaryNames[op]
	}
	return fmt.Sprintf("UnaryOp(%d)", int(op))
}

// UnaryArgs are the scalar parameters of the parametrised unary operations.
type UnaryArgs struct{ A, B, C float64 }

// BinaryOp names an elementwise function of two operands (see Set.Binary).
// Comparisons give 1 where they hold and 0 elsewhere.
type BinaryOp int

// Elementwise binary operations.
const (
	Add BinaryOp = iota
	Sub
	Mul
	Div
	PowOp // a^b
	Max
	Min
	Greater
	GreaterEq
	Less
	LessEq
	Equal
	NotEqual
	numBinary
)

var binaryNames = [...]string{"add", "sub", "mul", "div", "pow", "max", "min", "gt", "ge", "lt", "le", "eq", "ne"}

func (op BinaryOp) String() string {
	if op >= 0 && op < numBinary {
		return binaryNames[op]
	}
	return fmt.Sprintf("BinaryOp(%d)", int(op))
}

// ReduceOp names a reduction (see Set.Reduce).
type ReduceOp int

// Reductions.
const (
	ReduceSum ReduceOp = iota
	ReduceMax
	ReduceMin
	numReduce
)

func (op ReduceOp) String() string {
	switch op {
	case ReduceSum:
		return "sum"
	case ReduceMax:
		return "max"
	case ReduceMin:
		return "min"
	}
	return fmt.Sprintf("ReduceOp(%d)", int(op))
}

// Broadcast describes an elementwise binary operation whose operands are
// read with strides: the destination is contiguous with shape Shape, and
// element (i₀, …, iₖ) reads a[Σ iⱼ·StrideA[j]] and b[Σ iⱼ·StrideB[j]]. A
// stride of 0 repeats an operand along that axis (broadcasting). All three
// slices have the same length; an empty Shape is a single element.
type Broadcast struct {
	Shape            []int
	StrideA, StrideB []int
}

// NewBroadcast computes the Broadcast of operands with shapes a and b
// following NumPy's rules (shapes aligned on the right, size-1 axes
// repeated). It returns the output shape as Broadcast.Shape.
func NewBroadcast(a, b []int) (Broadcast, error) {
	n := max(len(a), len(b))
	bc := Broadcast{Shape: make([]int, n), StrideA: make([]int, n), StrideB: make([]int, n)}
	sa, sb := 1, 1
	for i := n - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			bc.Shape[i] = da
		case da == 1:
			bc.Shape[i] = db
		case db == 1:
			bc.Shape[i] = da
		default:
			return Broadcast{}, fmt.Errorf("kernels: shapes %v and %v do not broadcast", a, b)
		}
		if da != 1 || bc.Shape[i] == 1 {
			bc.StrideA[i] = sa
		}
		if db != 1 || bc.Shape[i] == 1 {
			bc.StrideB[i] = sb
		}
		sa *= da
		sb *= db
	}
	return bc, nil
}

// Size returns the number of output elements.
func (bc Broadcast) Size() int {
	n := 1
	for _, d := range bc.Shape {
		n *= d
	}
	return n
}

// ConvGeom is the geometry of a 2-D convolution over NCHW images: the
// im2col matrix of image n has C·KH·KW rows and OH·OW columns, stored
// row-major, images one after the other.
type ConvGeom struct {
	N, C, H, W       int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
}

// Out returns the output height and width.
func (g ConvGeom) Out() (oh, ow int) {
	oh = (g.H+2*g.PadH-g.DilH*(g.KH-1)-1)/g.StrideH + 1
	ow = (g.W+2*g.PadW-g.DilW*(g.KW-1)-1)/g.StrideW + 1
	return oh, ow
}

// ColLen returns the number of elements of the im2col matrix of all N
// images.
func (g ConvGeom) ColLen() int {
	oh, ow := g.Out()
	return g.N * g.C * g.KH * g.KW * oh * ow
}

// Validate reports whether the geometry is usable.
func (g ConvGeom) Validate() error {
	oh, ow := g.Out()
	if g.N <= 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.KH <= 0 || g.KW <= 0 || g.StrideH <= 0 || g.StrideW <= 0 ||
		g.DilH <= 0 || g.DilW <= 0 || g.PadH < 0 || g.PadW < 0 || oh <= 0 || ow <= 0 {
		return fmt.Errorf("kernels: invalid convolution geometry %+v", g)
	}
	return nil
}

// PoolGeom is the geometry of a 2-D pooling (max or average) over NCHW
// images: KH×KW windows moved by the strides over the image padded by
// PadH, PadW on each side. Padding never wins a maximum: each window's
// maximum is taken over its pixels inside the image (for averages, see
// Set.AvgPool). Outputs round down: OH = (H + 2·PadH − KH)/StrideH + 1.
type PoolGeom struct {
	N, C, H, W       int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
}

// Out returns the output height and width.
func (g PoolGeom) Out() (oh, ow int) {
	return (g.H+2*g.PadH-g.KH)/g.StrideH + 1, (g.W+2*g.PadW-g.KW)/g.StrideW + 1
}

// InLen returns the number of input elements, N·C·H·W.
func (g PoolGeom) InLen() int { return g.N * g.C * g.H * g.W }

// OutLen returns the number of output elements, N·C·OH·OW.
func (g PoolGeom) OutLen() int {
	oh, ow := g.Out()
	return g.N * g.C * oh * ow
}

// maxPlane bounds H·W so that a position within a plane is exact as a
// float32.
const maxPlane = 1 << 24

// Validate reports whether the geometry is usable: positive sizes and
// strides, padding at most half the window (so that every window holds an
// image pixel), a non-empty output and planes of at most 2²⁴ pixels.
func (g PoolGeom) Validate() error {
	if g.N <= 0 || g.C <= 0 || g.H <= 0 || g.W <= 0 || g.KH <= 0 || g.KW <= 0 || g.StrideH <= 0 || g.StrideW <= 0 ||
		g.PadH < 0 || g.PadW < 0 || 2*g.PadH > g.KH || 2*g.PadW > g.KW || g.H+2*g.PadH < g.KH || g.W+2*g.PadW < g.KW ||
		g.H*g.W > maxPlane {
		return fmt.Errorf("kernels: invalid pooling geometry %+v", g)
	}
	return nil
}

// SGDHyper are the hyperparameters of one SGD step (PyTorch's
// torch.optim.SGD, plus a decoupled decay):
//
//	d = g + WeightDecay·p
//	b = d on the First step, else Momentum·b + (1 − Dampening)·d   (Momentum ≠ 0)
//	d = d + Momentum·b with Nesterov, else d = b                   (Momentum ≠ 0)
//	p = (1 − LR·DecoupledWeightDecay)·p − LR·d
//
// With Momentum 0 there is no buffer b.
type SGDHyper struct {
	LR, Momentum, Dampening float64
	WeightDecay             float64 // coupled: added to the gradient
	DecoupledWeightDecay    float64 // decoupled: shrinks p directly
	Nesterov, First         bool
}

// AdamHyper are the hyperparameters of one Adam(W) step number Step (1 for
// the first): g' = g + WeightDecay·p; m ← β₁m + (1−β₁)g'; v ← β₂v + (1−β₂)g'²;
// with AMSGrad v̂ ← max(v̂, v) replaces v below;
// p ← (1 − LR·DecoupledWeightDecay)·p − LR/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + Eps).
type AdamHyper struct {
	LR, Beta1, Beta2, Eps float64
	WeightDecay           float64
	DecoupledWeightDecay  float64
	AMSGrad               bool
	Step                  int
}

// RMSpropHyper are the hyperparameters of one RMSprop step (PyTorch's
// torch.optim.RMSprop, no bias correction):
//
//	g' = g + WeightDecay·p; s ← αs + (1−α)g'²; ḡ ← αḡ + (1−α)g' (Centered)
//	D = √(s − ḡ²) + Eps (Centered) or √s + Eps
//	b ← Momentum·b + g'/D and p ← p − LR·b (Momentum ≠ 0), else p ← p − LR·g'/D
type RMSpropHyper struct {
	LR, Alpha, Eps, WeightDecay, Momentum float64
	Centered                              bool
}

// Set is a kernel set over element type T. A Set is not safe for
// concurrent use; results are written into destinations the caller
// allocated with Alloc. Unless stated otherwise destinations must not
// overlap inputs (Unary, Binary with equal shapes, Axpy and the optimizer
// updates are the in-place exceptions noted below).
type Set[T Float] interface {
	// Name identifies the set and its element type, e.g. "cpu/float32".
	Name() string
	// Alloc returns a buffer of n elements (contents unspecified).
	Alloc(n int) (Buffer[T], error)
	// View returns the elements [off, off+n) of b as a buffer sharing b's memory.
	View(b Buffer[T], off, n int) (Buffer[T], error)
	// Free releases a buffer from Alloc (views need no freeing).
	Free(b Buffer[T]) error
	// Upload copies host data into dst (len(src) == dst.Len()).
	Upload(dst Buffer[T], src []T) error
	// Download copies src into host memory (len(dst) == src.Len()).
	Download(dst []T, src Buffer[T]) error
	// Fill sets every element of dst to v.
	Fill(dst Buffer[T], v T) error
	// Close releases the set's resources (worker goroutines, contexts).
	Close() error

	// Gemm computes C ← α·op(A)·op(B) + β·C for row-major contiguous
	// matrices, op(A) m×k, op(B) k×n, C m×n; op transposes when tA/tB.
	// With β = 0, C's previous contents are ignored (NaN included).
	Gemm(tA, tB bool, m, n, k int, alpha T, a, b Buffer[T], beta T, c Buffer[T]) error
	// BatchedGemm is batch independent Gemms on consecutive matrices of A,
	// B and C (strides m·k, k·n, m·n).
	BatchedGemm(batch int, tA, tB bool, m, n, k int, alpha T, a, b Buffer[T], beta T, c Buffer[T]) error

	// Unary computes dst[i] = op(src[i]); dst may be src.
	Unary(op UnaryOp, dst, src Buffer[T], args UnaryArgs) error
	// Binary computes dst = op(a, b) elementwise with broadcasting as bc
	// describes; a nil bc means a, b and dst have the same length (and dst
	// may then be a or b).
	Binary(op BinaryOp, dst, a, b Buffer[T], bc *Broadcast) error
	// ReLUBackward writes g ⊙ s into dst, s the slope of the leaky ReLU at
	// x (1 where x > 0, leak elsewhere): in one pass what ReLUSlope followed
	// by a multiplication computes, with the same products. dst may be g.
	ReLUBackward(dst, x, g Buffer[T], leak float64) error
	// Reduce reduces src, viewed as outer×n×inner, over its middle axis:
	// dst[o·inner+i] = scale · op_j src[(o·n+j)·inner+i]. Any axis of an N-D
	// tensor is such a middle axis (outer: product of the dims before it,
	// inner: after it).
	Reduce(op ReduceOp, dst, src Buffer[T], outer, n, inner int, scale T) error
	// Expand is Reduce's adjoint for sums: dst[(o·n+j)·inner+i] = scale·src[o·inner+i].
	Expand(dst, src Buffer[T], outer, n, inner int, scale T) error

	// Softmax computes the softmax (log-softmax when log) of each row of a
	// rows×cols matrix.
	Softmax(dst, src Buffer[T], rows, cols int, log bool) error
	// SoftmaxCrossEntropy writes into loss (1 element) the mean over rows of
	// −Σⱼ targets[r,j]·log softmax(logits[r,:])ⱼ.
	SoftmaxCrossEntropy(loss, logits, targets Buffer[T], rows, cols int) error

	// Im2col unfolds NCHW images into g's column matrices (padding reads 0).
	Im2col(col, img Buffer[T], g ConvGeom) error
	// Col2im is Im2col's adjoint: img (overwritten) receives the sum of
	// every column element at the pixel it was read from.
	Col2im(img, col Buffer[T], g ConvGeom) error

	// MaxPool writes into y the maximum of each window of the NCHW image x
	// (the first one in row-major order on ties; a NaN wins over numbers,
	// the first NaN over later ones) and, unless arg is nil, into arg the
	// position of that maximum within its H×W plane (iy·W + ix) as a
	// number. y and arg have g.OutLen() elements.
	MaxPool(y, arg, x Buffer[T], g PoolGeom) error
	// MaxPoolScatter is the adjoint of reading at the argmax positions:
	// dx (overwritten, g.InLen() elements) receives at every position the
	// sum of the elements of gy whose arg points there (in output order).
	MaxPoolScatter(dx, arg, gy Buffer[T], g PoolGeom) error
	// MaxPoolGather reads u (g.InLen() elements) at the argmax positions:
	// v[k] = u[plane(k)·H·W + arg[k]].
	MaxPoolGather(v, arg, u Buffer[T], g PoolGeom) error

	// AvgPool writes into y (g.OutLen() elements) the mean of each window
	// of the NCHW image x: the sum over the window's pixels inside the
	// image divided by KH·KW when countPad, else by the number of those
	// pixels (padding counts as zeros or not at all).
	AvgPool(y, x Buffer[T], g PoolGeom, countPad bool) error
	// AvgPoolAdjoint is AvgPool's adjoint: dx (overwritten, g.InLen()
	// elements) receives at every pixel the sum, in output order, of
	// gy[k]/divisor(k) over the outputs k whose window holds the pixel.
	AvgPoolAdjoint(dx, gy Buffer[T], g PoolGeom, countPad bool) error
	// Upsample repeats every pixel of the planes×h×w images x scale×scale
	// times: y (planes×(h·scale)×(w·scale)) at (p, Y, X) is x at
	// (p, Y/scale, X/scale).
	Upsample(y, x Buffer[T], planes, h, w, scale int) error
	// UpsampleAdjoint is Upsample's adjoint: dx (overwritten,
	// planes×h×w) receives the sum of each scale×scale block of gy, in
	// row-major order within the block.
	UpsampleAdjoint(dx, gy Buffer[T], planes, h, w, scale int) error

	// Gather copies rows of a v×d table: dst[k·d+j] = table[ids[k]·d+j]
	// for the n ids (integers in [0, v) stored as numbers). The CPU set
	// reports other ids as an error; a device set may instead fill their
	// rows with NaN.
	Gather(dst, table, ids Buffer[T], n, v, d int) error
	// ScatterAdd is Gather's adjoint: dst (overwritten, v×d) receives at
	// row ids[k] the sum of the rows k of src (n×d). Rows added into one
	// table row are summed in id order on the CPU, in any order on a
	// device. Invalid ids are an error on the CPU and ignored on a device.
	ScatterAdd(dst, src, ids Buffer[T], n, v, d int) error

	// SGD updates p (and its momentum buffer v, nil when h.Momentum is 0)
	// in place from gradient g in one pass.
	SGD(p, g, v Buffer[T], h SGDHyper) error
	// Adam updates p and its moments m, v (and the running maximum vmax of
	// v, nil unless h.AMSGrad) in place from gradient g in one pass.
	Adam(p, g, m, v, vmax Buffer[T], h AdamHyper) error
	// RMSprop updates p, its squared-gradient average sq, the gradient
	// average gavg (nil unless h.Centered) and the momentum buffer buf (nil
	// when h.Momentum is 0) in place from gradient g in one pass.
	RMSprop(p, g, sq, gavg, buf Buffer[T], h RMSpropHyper) error

	// Dot returns Σ a[i]·b[i], accumulated in float64.
	Dot(a, b Buffer[T]) (float64, error)
	// Norm returns the Euclidean norm of a, accumulated in float64.
	Norm(a Buffer[T]) (float64, error)
	// Axpy computes y ← α·x + y.
	Axpy(alpha T, x, y Buffer[T]) error
	// NormalizeRayleigh is one power-iteration update: given v and w = H·v
	// it returns the Rayleigh quotient λ = v·w / v·v and ‖w‖, and
	// overwrites v with w/‖w‖ (v is left unchanged when ‖w‖ = 0).
	NormalizeRayleigh(v, w Buffer[T]) (lambda, norm float64, err error)
	// Orthogonalize removes from v its components along the orthonormal
	// vectors basis (modified Gram–Schmidt applied twice, as Lanczos
	// re-orthogonalisation needs) and returns the norm of the result.
	Orthogonalize(v Buffer[T], basis []Buffer[T]) (float64, error)

	NormKernels[T]
	ChainKernels[T]
}

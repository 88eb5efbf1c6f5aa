package engine

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// The ops the compiler turns into kernel calls. Gorgonia's op types are
// unexported, so built-ins are recognised by their Go type name together
// with their String form; gradlab's own ops (package ops) and autodiff's
// copying reshape by their package and String form. Every entry is covered
// by TestSupportedOps.
var (
	// builtinTypes are the gorgonia op types the compiler handles.
	builtinTypes = []string{
		"gorgonia.constantScalar", "gorgonia.constantTensor", "gorgonia.sizeOp",
		"gorgonia.reshapeOp", "gorgonia.repeatOp", "gorgonia.sumOp", "gorgonia.maxOp",
		"gorgonia.elemBinOp", "gorgonia.elemUnaryOp", "gorgonia.linAlgBinOp", "gorgonia.transposeOp",
	}
	// builtinUnary maps gorgonia's unary op names to kernels.
	builtinUnary = map[string]kernels.UnaryOp{
		"abs": kernels.Abs, "sign": kernels.Sign, "exp": kernels.Exp, "ln": kernels.Log, "neg": kernels.Neg,
		"square": kernels.Square, "sqrt": kernels.Sqrt, "inv": kernels.Inverse, "cube": kernels.Cube,
		"tanh": kernels.Tanh, "sigmoid": kernels.Sigmoid, "softplus": kernels.Softplus, "log1p": kernels.Log1p,
		"expm1": kernels.Expm1,
	}
	// builtinBinary maps gorgonia's binary operator symbols to kernels
	// (comparisons only in their same-type form, which gives 1 or 0).
	builtinBinary = map[string]kernels.BinaryOp{
		"+": kernels.Add, "-": kernels.Sub, "⊙": kernels.Mul, "÷": kernels.Div, "^": kernels.PowOp,
		"<": kernels.Less, ">": kernels.Greater, "<=": kernels.LessEq, ">=": kernels.GreaterEq,
		"==": kernels.Equal, "!=": kernels.NotEqual,
	}
	// nativeOps are the ops of package ops that run as kernels; every
	// other op of that package runs through its own Do method on the host
	// (allocating its result), copied into the planned buffer.
	nativeOps = []string{"SumAxis", "ExpandAxis", "SumAll", "Fill", "ReLU", "ReLUSlope", "Pow", "Softmax",
		"LogSoftmax", "SoftmaxCrossEntropy", "Sigmoid", "SigmoidBCE", "Reshape", "Conv2d", "Conv2dBackData",
		"Conv2dBackFilter", "GELU (orders 0–8)", "MaxPool2d", "MaxPool2dScatter", "MaxPool2dGather", "AvgPool2d",
		"AvgPool2dAdjoint", "UpsampleNearest", "UpsampleNearestAdjoint", "Gather", "ScatterAdd"}
)

const (
	opsPkg      = "github.com/gradlab/gradlab/ops"
	autodiffPkg = "github.com/gradlab/gradlab/autodiff"
)

// SupportedOps lists what the compiler runs natively: gorgonia's op types
// (with the unary and binary operators it accepts) and gradlab's ops.
// Anything else makes Compile fall back to gorgonia's TapeMachine.
func SupportedOps() []string {
	var out []string
	out = append(out, builtinTypes...)
	for k := range builtinUnary {
		out = append(out, "gorgonia.elemUnaryOp "+k)
	}
	for k := range builtinBinary {
		out = append(out, "gorgonia.elemBinOp "+k)
	}
	for _, k := range nativeOps {
		out = append(out, "ops."+k)
	}
	out = append(out, "autodiff.CopyReshape", "ops.* (other ops of package ops, through their Do method, CPU only)")
	sort.Strings(out)
	return out
}

// opType returns an op's package path and type name (pointer receivers
// dereferenced).
func opType(op gorgonia.Op) (pkg, name string) {
	if op == nil {
		return "", ""
	}
	t := reflect.TypeOf(op)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath(), t.Name()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// classify decides how a node runs: it sets p.kind and p.build (or
// p.constVal), or reports the node's op as unsupported.
func classify[T kernels.Float](p *nodePlan[T], plans []*nodePlan[T], onHost bool) error {
	op := p.n.Op()
	if op == nil {
		p.kind = kindInput
		return nil
	}
	s := op.String()
	pkg, name := opType(op)
	in := func(k int) []int { return plans[p.children[k]].shape }
	switch pkg {
	case "gorgonia.org/gorgonia":
		if !contains(builtinTypes, "gorgonia."+name) {
			return fmt.Errorf("gorgonia.%s %q", name, s)
		}
		return classifyBuiltin(p, name, s, in)
	case opsPkg:
		return classifyOps(p, op, s, in, onHost)
	case autodiffPkg:
		if strings.HasPrefix(s, "CopyReshape") && len(p.children) == 1 {
			p.kind = kindAlias
			return nil
		}
	}
	return fmt.Errorf("%s.%s %q", pkg, name, s)
}

func classifyBuiltin[T kernels.Float](p *nodePlan[T], name, s string, in func(int) []int) error {
	nch := len(p.children)
	switch name {
	case "constantScalar", "constantTensor":
		d, err := valueData[T](p.n.Value(), p.size)
		if err != nil {
			return fmt.Errorf("constant %q: %w", s, err)
		}
		p.kind, p.constVal = kindConst, append([]T(nil), d...)
		return nil
	case "sizeOp":
		var v int
		if _, err := fmt.Sscanf(s, "SizeOf=%d", &v); err != nil {
			var axis int
			if _, err := fmt.Sscanf(s, "SizeOf(%d)", &axis); err != nil || nch != 1 || axis >= len(in(0)) {
				return fmt.Errorf("size op %q", s)
			}
			v = in(0)[axis]
		}
		p.kind, p.constVal = kindConst, []T{T(v)}
		return nil
	case "reshapeOp":
		if nch != 1 {
			return fmt.Errorf("reshape %q with %d inputs", s, nch)
		}
		p.kind = kindAlias
		return nil
	case "repeatOp":
		// Repetition of size-1 axes (how gorgonia broadcasts): a strided
		// copy, run as an addition of zero.
		if nch < 1 {
			return fmt.Errorf("repeat %q without input", s)
		}
		src, dst := in(0), p.shape
		if len(src) > len(dst) {
			return fmt.Errorf("repeat %q of %v into %v", s, src, dst)
		}
		bc := kernels.Broadcast{Shape: dst, StrideA: make([]int, len(dst)), StrideB: make([]int, len(dst))}
		stride := 1
		for ax := len(dst) - 1; ax >= 0; ax-- {
			d := 1
			if j := ax - (len(dst) - len(src)); j >= 0 {
				d = src[j]
			}
			switch {
			case d == dst[ax]:
				bc.StrideA[ax] = stride
			case d == 1:
			default:
				return fmt.Errorf("repeat %q of %v into %v (only size-1 axes)", s, src, dst)
			}
			stride *= d
		}
		p.kind = kindNew
		p.repeat = true
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return repeatStep(set, in[0], out, bc)
		}
		return nil
	case "sumOp", "maxOp":
		var axes []int
		var err error
		if name == "sumOp" {
			axes, err = parseInts(strings.TrimPrefix(s, "Σ"))
		} else {
			axes, err = parseInts(strings.TrimPrefix(s, "MaxAlong"))
		}
		if err != nil || nch != 1 {
			return fmt.Errorf("reduction %q", s)
		}
		outer, n, inner, err := axesSplit(in(0), axes)
		if err != nil {
			return fmt.Errorf("reduction %q: %w", s, err)
		}
		rop := kernels.ReduceSum
		if name == "maxOp" {
			rop = kernels.ReduceMax
		}
		p.kind = kindNew
		p.build = reduceBuilder[T](rop, outer, n, inner, 1)
		return nil
	case "elemUnaryOp":
		u, ok := builtinUnary[s]
		if !ok || nch != 1 {
			return fmt.Errorf("gorgonia.elemUnaryOp %q", s)
		}
		p.kind = kindNew
		p.setUnary(u, kernels.UnaryArgs{})
		return nil
	case "elemBinOp":
		f := strings.Fields(s)
		if len(f) != 2 || nch != 2 {
			return fmt.Errorf("gorgonia.elemBinOp %q", s)
		}
		b, ok := builtinBinary[f[0]]
		if !ok {
			return fmt.Errorf("gorgonia.elemBinOp %q", s)
		}
		return binaryPlan(p, b, in(0), in(1))
	case "linAlgBinOp":
		return classifyLinAlg(p, s, in)
	case "transposeOp":
		// "Aᵀ{1, 0}": out axis j is input axis perm[j]; a strided copy.
		_, list, ok := strings.Cut(s, "{")
		if !ok || nch != 1 {
			return fmt.Errorf("transpose %q", s)
		}
		perm, err := parseInts(strings.TrimSuffix(list, "}"))
		src := in(0)
		if err != nil || len(perm) != len(src) || len(perm) != len(p.shape) {
			return fmt.Errorf("transpose %q of %v", s, src)
		}
		strides := make([]int, len(src))
		st := 1
		for ax := len(src) - 1; ax >= 0; ax-- {
			strides[ax] = st
			st *= src[ax]
		}
		bc := kernels.Broadcast{Shape: p.shape, StrideA: make([]int, len(perm)), StrideB: make([]int, len(perm))}
		for j, ax := range perm {
			if ax < 0 || ax >= len(src) || src[ax] != p.shape[j] {
				return fmt.Errorf("transpose %q of %v into %v", s, src, p.shape)
			}
			bc.StrideA[j] = strides[ax]
		}
		p.kind = kindNew
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return repeatStep(set, in[0], out, bc)
		}
		return nil
	}
	return fmt.Errorf("gorgonia.%s %q", name, s)
}

// binaryPlan plans an elementwise binary op with broadcasting.
func binaryPlan[T kernels.Float](p *nodePlan[T], b kernels.BinaryOp, sa, sb []int) error {
	p.kind = kindNew
	p.binary, p.binOp = true, b
	if prod(sa) == p.size && prod(sb) == p.size {
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return func() error { return set.Binary(b, out, in[0], in[1], nil) }, nil
		}
		return nil
	}
	bc, err := kernels.NewBroadcast(sa, sb)
	if err != nil {
		return err
	}
	if bc.Size() != p.size {
		return fmt.Errorf("broadcast of %v and %v has %d elements, node has %d", sa, sb, bc.Size(), p.size)
	}
	p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		return func() error { return set.Binary(b, out, in[0], in[1], &bc) }, nil
	}
	return nil
}

// axesSplit views a reduction over the given (contiguous) axes of shape as
// outer×n×inner.
func axesSplit(shape, axes []int) (outer, n, inner int, err error) {
	if len(axes) == 0 {
		return 0, 0, 0, fmt.Errorf("no axes")
	}
	a := append([]int(nil), axes...)
	sort.Ints(a)
	for i := range a {
		if a[i] < 0 || a[i] >= len(shape) || (i > 0 && a[i] != a[i-1]+1) {
			return 0, 0, 0, fmt.Errorf("axes %v of shape %v are not contiguous", axes, shape)
		}
	}
	return prod(shape[:a[0]]), prod(shape[a[0] : a[len(a)-1]+1]), prod(shape[a[len(a)-1]+1:]), nil
}

func classifyLinAlg[T kernels.Float](p *nodePlan[T], s string, in func(int) []int) error {
	if len(p.children) != 2 {
		return fmt.Errorf("linear algebra op %q with %d inputs", s, len(p.children))
	}
	a, b := in(0), in(1)
	tA := strings.HasPrefix(s, "Aᵀ") || strings.HasPrefix(s, "aᵀ")
	tB := strings.HasSuffix(s, "Bᵀ") || strings.HasSuffix(s, "bᵀ")
	var m, n, k, batch int
	switch {
	case strings.Contains(s, "×××"): // batched matrix product
		if len(a) != 3 || len(b) != 3 || a[0] != b[0] {
			return fmt.Errorf("batched product %q of %v and %v", s, a, b)
		}
		batch = a[0]
		m, k = a[1], a[2]
		if tA {
			m, k = k, m
		}
		n = b[2]
		if tB {
			n = b[1]
		}
	case strings.HasPrefix(s, "A") && strings.HasSuffix(strings.TrimSuffix(s, "ᵀ"), "B"): // matrix × matrix
		if len(a) != 2 || len(b) != 2 {
			return fmt.Errorf("matrix product %q of %v and %v", s, a, b)
		}
		m, k = a[0], a[1]
		if tA {
			m, k = k, m
		}
		n = b[1]
		if tB {
			n = b[0]
		}
	case strings.HasPrefix(s, "A"): // matrix × vector
		if len(a) != 2 || len(b) != 1 || tB {
			return fmt.Errorf("matrix-vector product %q of %v and %v", s, a, b)
		}
		m, k, n = a[0], a[1], 1
		if tA {
			m, k = k, m
		}
	case strings.Contains(s, "⋅"): // vector · vector
		if len(a) != 1 || len(b) != 1 {
			return fmt.Errorf("dot product %q of %v and %v", s, a, b)
		}
		m, n, k, tA, tB = 1, 1, a[0], false, false
	case strings.Contains(s, "⊗"): // outer product
		if len(a) != 1 || len(b) != 1 {
			return fmt.Errorf("outer product %q of %v and %v", s, a, b)
		}
		m, n, k, tA, tB = a[0], b[0], 1, false, false
	default:
		return fmt.Errorf("linear algebra op %q", s)
	}
	if max(batch, 1)*m*n != p.size {
		return fmt.Errorf("product %q of %v and %v gives %d elements, node %v", s, a, b, max(batch, 1)*m*n, p.shape)
	}
	p.kind = kindNew
	p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		if batch > 0 {
			return func() error { return set.BatchedGemm(batch, tA, tB, m, n, k, 1, in[0], in[1], 0, out) }, nil
		}
		return func() error { return set.Gemm(tA, tB, m, n, k, 1, in[0], in[1], 0, out) }, nil
	}
	return nil
}

// setUnary plans p as one Unary call, and records the call for the fusion
// pass (fuse_chain.go).
func (p *nodePlan[T]) setUnary(u kernels.UnaryOp, args kernels.UnaryArgs) {
	p.unary, p.unaryOp, p.unaryArgs = true, u, args
	p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		return func() error { return set.Unary(u, out, in[0], args) }, nil
	}
}

func reduceBuilder[T kernels.Float](op kernels.ReduceOp, outer, n, inner int, scale float64) builder[T] {
	return func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		return func() error { return set.Reduce(op, out, in[0], outer, n, inner, T(scale)) }, nil
	}
}

func repeatStep[T kernels.Float](set kernels.Set[T], src, out kernels.Buffer[T], bc kernels.Broadcast) (step, error) {
	zero, err := set.Alloc(1)
	if err != nil {
		return nil, err
	}
	if err := set.Fill(zero, 0); err != nil {
		return nil, err
	}
	return func() error { return set.Binary(kernels.Add, out, src, zero, &bc) }, nil
}

// classifyOps handles the ops of package ops.
func classifyOps[T kernels.Float](p *nodePlan[T], op gorgonia.Op, s string, in func(int) []int, onHost bool) error {
	name, _, _ := strings.Cut(s, "{")
	nch := len(p.children)
	var err error
	num := func(key string) float64 {
		if err != nil {
			return 0
		}
		var v float64
		v, err = opFloat(s, key)
		return v
	}
	p.kind = kindNew
	switch {
	case isNormOp(name):
		return classifyNorm(p, name, s, in)
	case name == "SumAxis" && nch == 1:
		axis, scale := int(num("axis")), num("scale")
		if err == nil {
			var outer, n, inner int
			if outer, n, inner, err = axesSplit(in(0), []int{axis}); err == nil {
				p.build = reduceBuilder[T](kernels.ReduceSum, outer, n, inner, scale)
				return nil
			}
		}
	case name == "ExpandAxis" && nch == 1:
		axis, scale := int(num("axis")), num("scale")
		if err == nil {
			var outer, n, inner int
			if outer, n, inner, err = axesSplit(p.shape, []int{axis}); err == nil {
				p.build = expandBuilder[T](outer, n, inner, scale)
				return nil
			}
		}
	case name == "SumAll" && nch == 1:
		if scale := num("scale"); err == nil {
			p.build = reduceBuilder[T](kernels.ReduceSum, 1, prod(in(0)), 1, scale)
			return nil
		}
	case name == "Fill" && nch == 1:
		if scale := num("scale"); err == nil {
			p.build = expandBuilder[T](1, p.size, 1, scale)
			return nil
		}
	case (name == "ReLU" || name == "ReLUSlope") && nch == 1:
		if leak := num("leak"); err == nil {
			u := kernels.ReLU
			if name == "ReLUSlope" {
				u = kernels.ReLUSlope
				p.slope, p.leak = true, leak
			}
			p.setUnary(u, kernels.UnaryArgs{A: leak})
			return nil
		}
	case name == "Pow" && nch == 1:
		scale, pw, shift := num("scale"), num("p"), num("shift")
		if err == nil {
			p.setUnary(kernels.Pow, kernels.UnaryArgs{A: scale, B: pw, C: shift})
			return nil
		}
	case name == "Sigmoid" && nch == 1:
		p.setUnary(kernels.Sigmoid, kernels.UnaryArgs{})
		return nil
	case name == "Reshape" && nch == 1:
		p.kind = kindAlias
		return nil
	case (name == "Softmax" || name == "LogSoftmax") && nch == 1 && len(in(0)) > 0:
		sh := in(0)
		cols := sh[len(sh)-1]
		rows, log := prod(sh)/max(cols, 1), name == "LogSoftmax"
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return func() error { return set.Softmax(out, in[0], rows, cols, log) }, nil
		}
		return nil
	case name == "SoftmaxCrossEntropy" && nch == 2 && len(in(0)) > 0:
		sh := in(0)
		cols := sh[len(sh)-1]
		rows := prod(sh) / max(cols, 1)
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return func() error { return set.SoftmaxCrossEntropy(out, in[0], in[1], rows, cols) }, nil
		}
		return nil
	case name == "SigmoidBCE" && nch == 2 && prod(in(0)) > 0 && prod(in(1)) == prod(in(0)):
		p.build = sigmoidBCEBuilder[T](prod(in(0)))
		return nil
	case name == "GELU" && nch == 1:
		// "GELU{tanh,order=1,shape=(2, 3)}"; orders above
		// kernels.MaxGELUOrder stay on the host.
		order := int(num("order"))
		u := kernels.GELU
		if strings.HasPrefix(s, "GELU{tanh,") {
			u = kernels.GELUTanh
		} else if !strings.HasPrefix(s, "GELU{erf,") {
			err = fmt.Errorf("GELU form in %q", s)
		}
		if err == nil && order >= 0 && order <= kernels.MaxGELUOrder && prod(in(0)) == p.size {
			p.setUnary(u, kernels.UnaryArgs{A: float64(order)})
			return nil
		}
	case strings.HasPrefix(name, "MaxPool2d"):
		if b, perr := maxPoolBuilder[T](name, s, nch, in, p.shape); perr == nil {
			p.build = b
			return nil
		} else if !onHost {
			return perr
		}
	case (name == "AvgPool2d" || name == "AvgPool2dAdjoint") && nch == 1:
		if b, perr := avgPoolBuilder[T](name == "AvgPool2dAdjoint", s, in(0), p.shape); perr == nil {
			p.build = b
			return nil
		} else if !onHost {
			return perr
		}
	case (name == "UpsampleNearest" || name == "UpsampleNearestAdjoint") && nch == 1:
		if b, uerr := upsampleBuilder[T](name == "UpsampleNearestAdjoint", s, in(0), p.shape); uerr == nil {
			p.build = b
			return nil
		} else if !onHost {
			return uerr
		}
	case (name == "Gather" || name == "ScatterAdd") && nch == 2:
		if b, gerr := rowsBuilder[T](name == "ScatterAdd", in(0), in(1), p.shape); gerr == nil {
			p.build = b
			return nil
		} else if !onHost {
			return gerr
		}
	case strings.HasPrefix(name, "Conv2d") && nch == 2:
		if b, cerr := convBuilder[T](name, s, in(0), in(1), p.shape); cerr == nil {
			p.build = b
			return nil
		} else if !onHost {
			return cerr
		}
	}
	if err != nil {
		return err
	}
	if !onHost {
		return fmt.Errorf("ops %q (runs only on the host)", s)
	}
	shapes := make([][]int, nch)
	for k := range shapes {
		shapes[k] = in(k)
	}
	p.build = hostDoBuilder[T](op, shapes, p.size)
	p.hostDo = true
	return nil
}

// maxPoolBuilder runs the max-pooling family of package ops: the forward
// (x → y) as one MaxPool; the scatter (x, gy → gx) and gather (x, u → v),
// whose argmax positions depend on x, as MaxPool into scratch buffers
// followed by MaxPoolScatter or MaxPoolGather. The geometry comes from
// the op's description (kernel, stride, pad pairs; x from the input).
func maxPoolBuilder[T kernels.Float](name, s string, nch int, in func(int) []int, out []int) (builder[T], error) {
	want := map[string]int{"MaxPool2d": 1, "MaxPool2dScatter": 2, "MaxPool2dGather": 2}
	if n, ok := want[name]; !ok || n != nch {
		return nil, fmt.Errorf("max-pool op %q with %d inputs", s, nch)
	}
	f, err := opIntFields(s, "max-pool", "kernel", "stride", "pad")
	if err != nil {
		return nil, err
	}
	k, st, pad := f[0], f[1], f[2]
	x := in(0)
	if len(x) != 4 || len(k) != 2 || len(st) != 2 || len(pad) != 2 {
		return nil, fmt.Errorf("max-pool %q of %v: bad geometry", s, x)
	}
	g := kernels.PoolGeom{N: x[0], C: x[1], H: x[2], W: x[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1],
		PadH: pad[0], PadW: pad[1]}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	oh, ow := g.Out()
	y := []int{g.N, g.C, oh, ow}
	var ok bool
	switch name {
	case "MaxPool2d":
		ok = slices.Equal(out, y)
	case "MaxPool2dScatter":
		ok = slices.Equal(in(1), y) && slices.Equal(out, x)
	default:
		ok = slices.Equal(in(1), x) && slices.Equal(out, y)
	}
	if !ok {
		return nil, fmt.Errorf("max-pool %q: operand shapes do not match %+v", s, g)
	}
	return func(set kernels.Set[T], in []kernels.Buffer[T], dst kernels.Buffer[T]) (step, error) {
		if name == "MaxPool2d" {
			return func() error { return set.MaxPool(dst, nil, in[0], g) }, nil
		}
		ys, err := set.Alloc(g.OutLen())
		if err != nil {
			return nil, err
		}
		arg, err := set.Alloc(g.OutLen())
		if err != nil {
			return nil, err
		}
		adj := set.MaxPoolScatter
		if name == "MaxPool2dGather" {
			adj = set.MaxPoolGather
		}
		return func() error {
			if err := set.MaxPool(ys, arg, in[0], g); err != nil {
				return err
			}
			return adj(dst, arg, in[1], g)
		}, nil
	}, nil
}

// avgPoolBuilder runs AvgPool2d (x → y) or its adjoint (gy → gx) as one
// kernel call. The geometry comes from the op's description (kernel,
// stride, pad pairs and the countpad flag; the shape x from the image
// operand: the input of the forward, the output of the adjoint).
func avgPoolBuilder[T kernels.Float](adjoint bool, s string, in, out []int) (builder[T], error) {
	f, err := opIntFields(s, "avg-pool", "kernel", "stride", "pad")
	if err != nil {
		return nil, err
	}
	k, st, pad := f[0], f[1], f[2]
	cp, ok := opField(s, "countpad")
	if !ok || (cp != "true" && cp != "false") {
		return nil, fmt.Errorf("avg-pool %q: countpad flag", s)
	}
	countPad := cp == "true"
	x, y := in, out
	if adjoint {
		x, y = out, in
	}
	if len(x) != 4 || len(k) != 2 || len(st) != 2 || len(pad) != 2 {
		return nil, fmt.Errorf("avg-pool %q of %v: bad geometry", s, x)
	}
	g := kernels.PoolGeom{N: x[0], C: x[1], H: x[2], W: x[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1],
		PadH: pad[0], PadW: pad[1]}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if oh, ow := g.Out(); !slices.Equal(y, []int{g.N, g.C, oh, ow}) {
		return nil, fmt.Errorf("avg-pool %q: operand shapes do not match %+v", s, g)
	}
	return func(set kernels.Set[T], in []kernels.Buffer[T], dst kernels.Buffer[T]) (step, error) {
		if adjoint {
			return func() error { return set.AvgPoolAdjoint(dst, in[0], g, countPad) }, nil
		}
		return func() error { return set.AvgPool(dst, in[0], g, countPad) }, nil
	}, nil
}

// upsampleBuilder runs UpsampleNearest (small → big) or its adjoint (big
// → small) as one kernel call; the scale comes from the op's description.
func upsampleBuilder[T kernels.Float](adjoint bool, s string, in, out []int) (builder[T], error) {
	scale, err := opInt(s, "scale")
	if err != nil {
		return nil, err
	}
	small, big := in, out
	if adjoint {
		small, big = out, in
	}
	if len(small) != 4 || scale < 1 ||
		!slices.Equal(big, []int{small[0], small[1], small[2] * scale, small[3] * scale}) {
		return nil, fmt.Errorf("upsample %q of %v into %v", s, in, out)
	}
	planes, h, w := small[0]*small[1], small[2], small[3]
	return func(set kernels.Set[T], in []kernels.Buffer[T], dst kernels.Buffer[T]) (step, error) {
		if adjoint {
			return func() error { return set.UpsampleAdjoint(dst, in[0], planes, h, w, scale) }, nil
		}
		return func() error { return set.Upsample(dst, in[0], planes, h, w, scale) }, nil
	}, nil
}

// rowsBuilder runs the embedding's Gather (table [V,D], ids → ids×[D]) or
// ScatterAdd (rows ids×[D], ids → [V,D]) as one kernel call.
func rowsBuilder[T kernels.Float](scatter bool, a, ids, out []int) (builder[T], error) {
	table, rows := a, out
	if scatter {
		table, rows = out, a
	}
	n := prod(ids)
	if len(table) != 2 || prod(rows) != n*table[1] || len(rows) != len(ids)+1 || rows[len(ids)] != table[1] {
		return nil, fmt.Errorf("gather/scatter of %v by ids %v into %v", a, ids, out)
	}
	v, d := table[0], table[1]
	return func(set kernels.Set[T], in []kernels.Buffer[T], dst kernels.Buffer[T]) (step, error) {
		if scatter {
			return func() error { return set.ScatterAdd(dst, in[0], in[1], n, v, d) }, nil
		}
		return func() error { return set.Gather(dst, in[0], in[1], n, v, d) }, nil
	}, nil
}

// sigmoidBCEBuilder computes mean(softplus(x) − t·x) over n logits x and
// targets t with four kernel calls over two scratch buffers.
func sigmoidBCEBuilder[T kernels.Float](n int) builder[T] {
	return func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		sp, err := set.Alloc(n)
		if err != nil {
			return nil, err
		}
		tx, err := set.Alloc(n)
		if err != nil {
			return nil, err
		}
		x, t := in[0], in[1]
		return func() error {
			if err := set.Unary(kernels.Softplus, sp, x, kernels.UnaryArgs{}); err != nil {
				return err
			}
			if err := set.Binary(kernels.Mul, tx, t, x, nil); err != nil {
				return err
			}
			if err := set.Binary(kernels.Sub, sp, sp, tx, nil); err != nil {
				return err
			}
			return set.Reduce(kernels.ReduceSum, out, sp, 1, n, 1, T(1/float64(n)))
		}, nil
	}
}

func expandBuilder[T kernels.Float](outer, n, inner int, scale float64) builder[T] {
	return func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		return func() error { return set.Expand(out, in[0], outer, n, inner, T(scale)) }, nil
	}
}

// hostDoBuilder runs an op through its own Do method on host buffers: the
// op allocates its result, which is copied into the planned buffer.
func hostDoBuilder[T kernels.Float](op gorgonia.Op, shapes [][]int, size int) builder[T] {
	return func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
		hosts := make([]*kernels.Host[T], len(in))
		for k, b := range in {
			h, ok := b.(*kernels.Host[T])
			if !ok {
				return nil, fmt.Errorf("%v needs host buffers", op)
			}
			hosts[k] = h
		}
		od, ok := out.(*kernels.Host[T])
		if !ok {
			return nil, fmt.Errorf("%v needs host buffers", op)
		}
		vals := make([]gorgonia.Value, len(in))
		ptrs := make([]*T, len(in))
		wrap := func(k int) {
			d := hosts[k].Data[:prod(shapes[k])]
			vals[k] = gt.New(gt.WithShape(shapes[k]...), gt.WithBacking(d))
			ptrs[k] = unsafe.SliceData(d)
		}
		for k := range in {
			wrap(k)
		}
		return func() error {
			for k := range in {
				if unsafe.SliceData(hosts[k].Data) != ptrs[k] {
					wrap(k) // an input tensor was replaced
				}
			}
			v, err := op.Do(vals...)
			if err != nil {
				return err
			}
			switch d := v.Data().(type) {
			case []T:
				if len(d) < size {
					return fmt.Errorf("result of %d elements, want %d", len(d), size)
				}
				copy(od.Data[:size], d)
			case T:
				od.Data[0] = d
			default:
				return fmt.Errorf("result of type %T", d)
			}
			return nil
		}, nil
	}
}

// opIntFields parses the integer-list fields keys of the op description s
// (what names the op in errors), e.g. "kernel" and "stride" of a pooling op.
func opIntFields(s, what string, keys ...string) ([][]int, error) {
	out := make([][]int, len(keys))
	for i, key := range keys {
		v, ok := opField(s, key)
		if !ok {
			return nil, fmt.Errorf("%s %q has no %s", what, s, key)
		}
		xs, err := parseInts(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %s: %w", what, s, key, err)
		}
		out[i] = xs
	}
	return out, nil
}

//go:build cuda || gradlabcuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/gradlab/gradlab/kernels"
)

// Buffer is device memory: n elements of T starting at ptr.
type Buffer[T kernels.Float] struct {
	ptr   cu.DevicePtr
	n     int
	class int  // size class of the allocation (view: -1)
	owned bool // allocated by Alloc (views are not)
}

// Len implements kernels.Buffer.
func (b *Buffer[T]) Len() int { return b.n }

// Ptr returns the device address.
func (b *Buffer[T]) Ptr() cu.DevicePtr { return b.ptr }

const (
	threads  = 256
	maxGrid  = 65535
	partials = 1024 // blocks of the dot kernel; one float64 partial each
)

// Set is the CUDA kernel set over element type T.
type Set[T kernels.Float] struct {
	name   string
	elem   int64
	ctx    cu.CUContext
	mod    cu.Module
	fn     map[string]cu.Function
	pool   map[int][]cu.DevicePtr // free allocations by size class (bytes = 1<<class)
	live   map[cu.DevicePtr]int   // class of each allocation handed out
	part   cu.DevicePtr           // partial sums of the dot kernel
	partH  []float64
	rowBuf *Buffer[T] // per-row losses of SoftmaxCrossEntropy
	args   [32]uint64
	argp   [32]unsafe.Pointer
	closed bool
	tf32   bool
}

// Options configure a CUDA set.
type Options struct {
	// Device is the GPU ordinal.
	Device int
	// TF32 runs float32 GEMMs on tensor cores (compute capability 8.0 or
	// newer) with TF32 inputs (10 mantissa bits) and float32 accumulation:
	// faster, but only accurate to about 1e-3 relative, so it is off by
	// default and the conformance suite runs without it.
	TF32 bool
}

// New creates a CUDA kernel set on device ordinal dev with its own
// context. Any goroutine may use the set, one at a time: every method pins
// its goroutine to the OS thread and makes the set's context current for
// the duration of the call.
func New[T kernels.Float](dev int) (*Set[T], error) {
	return NewWithOptions[T](Options{Device: dev})
}

// NewWithOptions is New with options.
func NewWithOptions[T kernels.Float](o Options) (*Set[T], error) {
	dev := o.Device
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var z T
	suffix, name, elem := "f64", "cuda/float64", int64(8)
	if _, ok := any(z).(float32); ok {
		suffix, name, elem = "f32", "cuda/float32", 4
	}
	d, err := cu.GetDevice(dev)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", dev, err)
	}
	major, _, err := d.ComputeCapability()
	if err != nil {
		return nil, fmt.Errorf("cuda: compute capability: %w", err)
	}
	ctx, err := d.MakeContext(cu.SchedAuto)
	if err != nil {
		return nil, fmt.Errorf("cuda: context: %w", err)
	}
	if err := cu.SetCurrentContext(ctx); err != nil {
		_ = ctx.Destroy()
		return nil, fmt.Errorf("cuda: set context: %w", err)
	}
	s := &Set[T]{name: name, elem: elem, ctx: ctx, fn: map[string]cu.Function{},
		pool: map[int][]cu.DevicePtr{}, live: map[cu.DevicePtr]int{}, partH: make([]float64, partials)}
	for i := range s.argp {
		s.argp[i] = unsafe.Pointer(&s.args[i])
	}
	var z2 T
	_, isF32 := any(z2).(float32)
	s.tf32 = o.TF32 && isF32
	if s.tf32 && major < 8 {
		_ = s.Close()
		return nil, fmt.Errorf("cuda: TF32 needs compute capability 8.0, device has %d.x", major)
	}
	ptx := ptxSM80
	if major >= 9 {
		ptx = ptxSM90
	}
	if s.mod, err = cu.LoadData(ptx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cuda: load PTX: %w", err)
	}
	names := []string{"fill", "gemm", "unary", "binary", "reduce", "expand", "dot", "axpy", "softmax",
		"softmax_ce_rows", "im2col", "col2im", "sgd", "adam", "rmsprop", "relu_backward", "maxpool", "maxpool_scatter",
		"maxpool_gather", "avgpool", "avgpool_adjoint", "upsample", "upsample_adjoint", "gather_rows",
		"scatter_add"}
	names = append(append(names, normFunctions...), chainFunctions...)
	for _, k := range names {
		f, err := s.mod.Function(k + "_" + suffix)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("cuda: kernel %s_%s: %w", k, suffix, err)
		}
		s.fn[k] = f
	}
	if s.tf32 {
		if s.fn["gemm_tf32"], err = s.mod.Function("gemm_tf32_f32"); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("cuda: kernel gemm_tf32_f32: %w", err)
		}
	}
	if s.part, err = cu.MemAlloc(partials * 8); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("cuda: alloc: %w", err)
	}
	return s, nil
}

// NewSets creates a float32 and a float64 set on device ordinal dev (what
// a device holding models of either element type needs) and a function
// that closes both.
func NewSets(dev int) (s32 *Set[float32], s64 *Set[float64], closeBoth func() error, err error) {
	if s32, err = New[float32](dev); err != nil {
		return nil, nil, nil, err
	}
	if s64, err = New[float64](dev); err != nil {
		return nil, nil, nil, errors.Join(err, s32.Close())
	}
	return s32, s64, func() error { return errors.Join(s64.Close(), s32.Close()) }, nil
}

// enter pins the goroutine to its OS thread and makes the set's context
// current there; the caller must runtime.UnlockOSThread when done.
func (s *Set[T]) enter() error {
	if s.closed {
		return fmt.Errorf("cuda: set is closed")
	}
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(s.ctx); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("cuda: set context: %w", err)
	}
	return nil
}

// Name implements kernels.Set.
func (s *Set[T]) Name() string {
	if s.tf32 {
		return s.name + "+tf32"
	}
	return s.name
}

// Close frees all device memory and destroys the context.
func (s *Set[T]) Close() error {
	if s.closed {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	s.closed = true
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, ps := range s.pool {
		for _, p := range ps {
			keep(cu.MemFree(p))
		}
	}
	for p := range s.live {
		keep(cu.MemFree(p))
	}
	if s.part != 0 {
		keep(cu.MemFree(s.part))
	}
	keep(s.ctx.Destroy())
	return first
}

func sizeClass(bytes int64) int {
	if bytes <= 256 {
		return 8
	}
	return 64 - bits.LeadingZeros64(uint64(bytes-1))
}

// Alloc implements kernels.Set: memory from the pool when a free block of
// the size class exists, from cuMemAlloc otherwise.
func (s *Set[T]) Alloc(n int) (kernels.Buffer[T], error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer runtime.UnlockOSThread()
	if n < 0 {
		return nil, fmt.Errorf("cuda: alloc of %d elements", n)
	}
	c := sizeClass(max(int64(n), 1) * s.elem)
	var p cu.DevicePtr
	if free := s.pool[c]; len(free) > 0 {
		p = free[len(free)-1]
		s.pool[c] = free[:len(free)-1]
	} else {
		var err error
		if p, err = cu.MemAlloc(int64(1) << c); err != nil {
			return nil, fmt.Errorf("cuda: alloc %d bytes: %w", int64(1)<<c, err)
		}
	}
	s.live[p] = c
	return &Buffer[T]{ptr: p, n: n, class: c, owned: true}, nil
}

// Free implements kernels.Set: the memory returns to the pool.
func (s *Set[T]) Free(b kernels.Buffer[T]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.dev("free", b, 0)
	if err != nil {
		return err
	}
	if !d.owned {
		return nil
	}
	c, ok := s.live[d.ptr]
	if !ok {
		return fmt.Errorf("cuda: free of memory this set does not own")
	}
	delete(s.live, d.ptr)
	s.pool[c] = append(s.pool[c], d.ptr)
	d.owned = false
	return nil
}

// View implements kernels.Set.
func (s *Set[T]) View(b kernels.Buffer[T], off, n int) (kernels.Buffer[T], error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer runtime.UnlockOSThread()
	d, err := s.dev("view", b, off+n)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("cuda: view [%d, %d+%d)", off, off, n)
	}
	return &Buffer[T]{ptr: d.ptr + cu.DevicePtr(int64(off)*s.elem), n: n, class: -1}, nil
}

func (s *Set[T]) dev(what string, b kernels.Buffer[T], n int) (*Buffer[T], error) {
	d, ok := b.(*Buffer[T])
	if !ok {
		return nil, fmt.Errorf("cuda: %s: buffer %T is not a CUDA buffer of this element type", what, b)
	}
	if d.n < n {
		return nil, fmt.Errorf("cuda: %s: buffer of %d elements, need %d", what, d.n, n)
	}
	return d, nil
}

// operand is one buffer argument for devs: its name in error messages, the
// buffer, and the elements it must hold (with like set: as many as the first
// operand's buffer holds).
type operand[T kernels.Float] struct {
	what string
	b    kernels.Buffer[T]
	n    int
	like bool
}

// sized is the operand b, named what, that must hold n elements.
// (A method, not a function: T cannot be inferred from a Buffer[T], whose
// methods do not mention T.)
func (*Set[T]) sized(what string, b kernels.Buffer[T], n int) operand[T] {
	return operand[T]{what: what, b: b, n: n}
}

// likeFirst is the operand b, named what, that must hold as many elements
// as the first operand of the same devs call (never the first itself).
func (*Set[T]) likeFirst(what string, b kernels.Buffer[T]) operand[T] {
	return operand[T]{what: what, b: b, like: true}
}

// maxOperands is the most operands one devs call takes.
const maxOperands = 4

// devs checks the operands with dev, in order, and returns their device
// buffers in the same positions; it stops at the first error and returns it
// unchanged. The array result and the variadic slice stay on the stack.
func (s *Set[T]) devs(ops ...operand[T]) ([maxOperands]*Buffer[T], error) {
	var d [maxOperands]*Buffer[T]
	for i, o := range ops {
		n := o.n
		if o.like {
			n = d[0].n
		}
		var err error
		if d[i], err = s.dev(o.what, o.b, n); err != nil {
			return d, err
		}
	}
	return d, nil
}

// Upload implements kernels.Set.
func (s *Set[T]) Upload(dst kernels.Buffer[T], src []T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.dev("upload", dst, len(src))
	if err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if err := cu.MemcpyHtoD(d.ptr, unsafe.Pointer(&src[0]), int64(len(src))*s.elem); err != nil {
		return fmt.Errorf("cuda: upload: %w", err)
	}
	return nil
}

// Download implements kernels.Set (it waits for pending kernels).
func (s *Set[T]) Download(dst []T, src kernels.Buffer[T]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.dev("download", src, len(dst))
	if err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), d.ptr, int64(len(dst))*s.elem); err != nil {
		return fmt.Errorf("cuda: download: %w", err)
	}
	return nil
}

// arg helpers write launch arguments into the preallocated argument block.
func (s *Set[T]) i(k int, v int64)      { s.args[k] = uint64(v) }
func (s *Set[T]) f(k int, v float64)    { s.args[k] = math.Float64bits(v) }
func (s *Set[T]) p(k int, b *Buffer[T]) { s.args[k] = uint64(b.ptr) }
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// launch runs kernel k with nargs arguments over a 1-D grid for n items.
func (s *Set[T]) launch(k string, nargs int, n int64) error {
	grid := (n + threads - 1) / threads
	grid = max(1, min(grid, maxGrid))
	return s.launchGrid(k, nargs, int(grid), 1, 1)
}

func (s *Set[T]) launchGrid(k string, nargs, gx, gy, gz int) error {
	return s.launchBlock(k, nargs, gx, gy, gz, threads)
}

func (s *Set[T]) launchBlock(k string, nargs, gx, gy, gz, block int) error {
	if err := s.fn[k].Launch(gx, gy, gz, block, 1, 1, 0, cu.NoStream, s.argp[:nargs]); err != nil {
		return fmt.Errorf("cuda: launch %s: %w", k, err)
	}
	return nil
}

// Fill implements kernels.Set.
func (s *Set[T]) Fill(dst kernels.Buffer[T], v T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.dev("fill", dst, 0)
	if err != nil {
		return err
	}
	s.p(0, d)
	s.f(1, float64(v))
	s.i(2, int64(d.n))
	return s.launch("fill", 3, int64(d.n))
}

// Gemm implements kernels.Set.
func (s *Set[T]) Gemm(tA, tB bool, m, n, k int, alpha T, a, b kernels.Buffer[T], beta T, c kernels.Buffer[T]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	return s.BatchedGemm(1, tA, tB, m, n, k, alpha, a, b, beta, c)
}

// BatchedGemm implements kernels.Set with the tiled GEMM kernel.
func (s *Set[T]) BatchedGemm(batch int, tA, tB bool, m, n, k int, alpha T, a, b kernels.Buffer[T], beta T, c kernels.Buffer[T]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if batch < 0 || m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("cuda: gemm: negative size %d×(%d×%d×%d)", batch, m, n, k)
	}
	d, err := s.devs(s.sized("gemm A", a, batch*m*k), s.sized("gemm B", b, batch*k*n),
		s.sized("gemm C", c, batch*m*n))
	if err != nil {
		return err
	}
	ad, bd, cd := d[0], d[1], d[2]
	if batch == 0 || m == 0 || n == 0 {
		return nil
	}
	if batch > maxGrid {
		return fmt.Errorf("cuda: gemm: batch %d over %d", batch, maxGrid)
	}
	s.i(0, b2i(tA))
	s.i(1, b2i(tB))
	s.i(2, int64(m))
	s.i(3, int64(n))
	s.i(4, int64(k))
	s.f(5, float64(alpha))
	s.p(6, ad)
	s.p(7, bd)
	s.f(8, float64(beta))
	s.p(9, cd)
	s.i(10, int64(m*k))
	s.i(11, int64(k*n))
	s.i(12, int64(m*n))
	if s.tf32 {
		return s.launchBlock("gemm_tf32", 13, (n+63)/64, (m+63)/64, batch, 128)
	}
	return s.launchGrid("gemm", 13, (n+63)/64, (m+63)/64, batch)
}

// Unary implements kernels.Set.
func (s *Set[T]) Unary(op kernels.UnaryOp, dst, src kernels.Buffer[T], args kernels.UnaryArgs) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := kernels.CheckUnaryArgs(op, args); err != nil {
		return err
	}
	ds, err := s.devs(s.sized("unary src", src, 0), s.likeFirst("unary dst", dst))
	if err != nil {
		return err
	}
	x, d := ds[0], ds[1]
	s.i(0, int64(op))
	s.p(1, d)
	s.p(2, x)
	s.i(3, int64(x.n))
	s.f(4, args.A)
	s.f(5, args.B)
	s.f(6, args.C)
	return s.launch("unary", 7, int64(x.n))
}

// ReLUBackward implements kernels.Set.
func (s *Set[T]) ReLUBackward(dst, x, g kernels.Buffer[T], leak float64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("relu backward x", x, 0), s.likeFirst("relu backward gradient", g),
		s.likeFirst("relu backward dst", dst))
	if err != nil {
		return err
	}
	xd, gd, dd := d[0], d[1], d[2]
	s.p(0, dd)
	s.p(1, xd)
	s.p(2, gd)
	s.i(3, int64(xd.n))
	s.f(4, leak)
	return s.launch("relu_backward", 5, int64(xd.n))
}

// Binary implements kernels.Set (broadcasts of up to 4 merged axes).
func (s *Set[T]) Binary(op kernels.BinaryOp, dst, a, b kernels.Buffer[T], bc *kernels.Broadcast) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	var shape, sa, sb [4]int64
	for i := range shape {
		shape[i] = 1
	}
	var n, na, nb int64 = 1, 1, 1
	if bc == nil {
		n = int64(dst.Len())
		shape[3], sa[3], sb[3] = n, 1, 1
		na, nb = n, n
	} else {
		if len(bc.StrideA) != len(bc.Shape) || len(bc.StrideB) != len(bc.Shape) {
			return fmt.Errorf("cuda: binary: malformed broadcast")
		}
		r := 0
		var ms, ma, mb [8]int64
		for ax, d := range bc.Shape {
			if d == 0 {
				return nil
			}
			n *= int64(d)
			na += int64(d-1) * int64(bc.StrideA[ax])
			nb += int64(d-1) * int64(bc.StrideB[ax])
			if d == 1 {
				continue
			}
			if r > 0 && ma[r-1] == int64(d*bc.StrideA[ax]) && mb[r-1] == int64(d*bc.StrideB[ax]) {
				ms[r-1] *= int64(d)
				ma[r-1], mb[r-1] = int64(bc.StrideA[ax]), int64(bc.StrideB[ax])
				continue
			}
			if r == 4 {
				return fmt.Errorf("cuda: binary: more than 4 axes after merging %v", bc.Shape)
			}
			ms[r], ma[r], mb[r] = int64(d), int64(bc.StrideA[ax]), int64(bc.StrideB[ax])
			r++
		}
		// Right-align the merged axes into the kernel's 4.
		for i := 0; i < r; i++ {
			shape[4-r+i], sa[4-r+i], sb[4-r+i] = ms[i], ma[i], mb[i]
		}
	}
	ds, err := s.devs(s.sized("binary a", a, int(na)), s.sized("binary b", b, int(nb)),
		s.sized("binary dst", dst, int(n)))
	if err != nil {
		return err
	}
	ad, bd, d := ds[0], ds[1], ds[2]
	s.i(0, int64(op))
	s.p(1, d)
	s.p(2, ad)
	s.p(3, bd)
	s.i(4, n)
	s.i(5, shape[1])
	s.i(6, shape[2])
	s.i(7, shape[3])
	for i := 0; i < 4; i++ {
		s.i(8+i, sa[i])
		s.i(12+i, sb[i])
	}
	return s.launch("binary", 16, n)
}

// Reduce implements kernels.Set.
func (s *Set[T]) Reduce(op kernels.ReduceOp, dst, src kernels.Buffer[T], outer, n, inner int, scale T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if outer < 0 || n < 0 || inner < 0 {
		return fmt.Errorf("cuda: reduce: negative size")
	}
	ds, err := s.devs(s.sized("reduce src", src, outer*n*inner), s.sized("reduce dst", dst, outer*inner))
	if err != nil {
		return err
	}
	x, d := ds[0], ds[1]
	if outer*inner == 0 {
		return nil
	}
	s.i(0, int64(op))
	s.p(1, d)
	s.p(2, x)
	s.i(3, int64(outer))
	s.i(4, int64(n))
	s.i(5, int64(inner))
	s.f(6, float64(scale))
	return s.launchGrid("reduce", 7, min(outer*inner, maxGrid), 1, 1)
}

// Expand implements kernels.Set.
func (s *Set[T]) Expand(dst, src kernels.Buffer[T], outer, n, inner int, scale T) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	ds, err := s.devs(s.sized("expand src", src, outer*inner), s.sized("expand dst", dst, outer*n*inner))
	if err != nil {
		return err
	}
	x, d := ds[0], ds[1]
	s.p(0, d)
	s.p(1, x)
	s.i(2, int64(outer))
	s.i(3, int64(n))
	s.i(4, int64(inner))
	s.f(5, float64(scale))
	return s.launch("expand", 6, int64(outer*n*inner))
}

// Softmax implements kernels.Set.
func (s *Set[T]) Softmax(dst, src kernels.Buffer[T], rows, cols int, log bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	ds, err := s.devs(s.sized("softmax src", src, rows*cols), s.sized("softmax dst", dst, rows*cols))
	if err != nil {
		return err
	}
	x, d := ds[0], ds[1]
	if rows == 0 {
		return nil
	}
	s.p(0, d)
	s.p(1, x)
	s.i(2, int64(rows))
	s.i(3, int64(cols))
	s.i(4, b2i(log))
	return s.launchGrid("softmax", 5, min(rows, maxGrid), 1, 1)
}

// SoftmaxCrossEntropy implements kernels.Set: per-row losses, then their
// mean with the reduction kernel.
func (s *Set[T]) SoftmaxCrossEntropy(loss, logits, targets kernels.Buffer[T], rows, cols int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("cuda: softmax cross-entropy: size %d×%d", rows, cols)
	}
	d, err := s.devs(s.sized("cross-entropy logits", logits, rows*cols),
		s.sized("cross-entropy targets", targets, rows*cols), s.sized("cross-entropy loss", loss, 1))
	if err != nil {
		return err
	}
	x, t := d[0], d[1]
	if s.rowBuf == nil || s.rowBuf.n < rows {
		if s.rowBuf != nil {
			if err := s.Free(s.rowBuf); err != nil {
				return err
			}
		}
		b, err := s.Alloc(rows)
		if err != nil {
			return err
		}
		s.rowBuf = b.(*Buffer[T])
	}
	s.p(0, s.rowBuf)
	s.p(1, x)
	s.p(2, t)
	s.i(3, int64(rows))
	s.i(4, int64(cols))
	if err := s.launchGrid("softmax_ce_rows", 5, min(rows, maxGrid), 1, 1); err != nil {
		return err
	}
	return s.Reduce(kernels.ReduceSum, loss, s.rowBuf, 1, rows, 1, T(1/float64(rows)))
}

func (s *Set[T]) geom(g kernels.ConvGeom) {
	oh, ow := g.Out()
	for i, v := range []int{g.N, g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, g.DilH, g.DilW, oh, ow} {
		s.i(2+i, int64(v))
	}
}

// Im2col implements kernels.Set.
func (s *Set[T]) Im2col(col, img kernels.Buffer[T], g kernels.ConvGeom) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := g.Validate(); err != nil {
		return err
	}
	d, err := s.devs(s.sized("im2col image", img, g.N*g.C*g.H*g.W), s.sized("im2col columns", col, g.ColLen()))
	if err != nil {
		return err
	}
	x, c := d[0], d[1]
	s.p(0, c)
	s.p(1, x)
	s.geom(g)
	return s.launch("im2col", 16, int64(g.ColLen()))
}

// Col2im implements kernels.Set.
func (s *Set[T]) Col2im(img, col kernels.Buffer[T], g kernels.ConvGeom) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := g.Validate(); err != nil {
		return err
	}
	d, err := s.devs(s.sized("col2im image", img, g.N*g.C*g.H*g.W), s.sized("col2im columns", col, g.ColLen()))
	if err != nil {
		return err
	}
	x, c := d[0], d[1]
	s.p(0, x)
	s.p(1, c)
	s.geom(g)
	return s.launch("col2im", 16, int64(g.N*g.C*g.H*g.W))
}

// pool2d launches one of the max-pooling kernels: dst gets outLen (or
// inLen for the scatter) elements; arg may be nil only for the forward.
func (s *Set[T]) pool2d(k string, dst, arg, src kernels.Buffer[T], g kernels.PoolGeom) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := g.Validate(); err != nil {
		return err
	}
	in, out := g.InLen(), g.OutLen()
	nd, ns, work := out, in, out
	if k == "maxpool_scatter" {
		nd, ns, work = in, out, in
	}
	// Constant names: building them per call would allocate.
	ds, err := s.devs(s.sized("max-pool output", dst, nd), s.sized("max-pool input", src, ns))
	if err != nil {
		return err
	}
	d, x := ds[0], ds[1]
	a, err := s.optDev("max-pool argmax", arg, out, arg != nil || k != "maxpool")
	if err != nil {
		return err
	}
	oh, ow := g.Out()
	s.p(0, d)
	s.pOpt(1, a)
	s.p(2, x)
	for i, v := range []int{g.N * g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, oh, ow} {
		s.i(3+i, int64(v))
	}
	return s.launch(k, 14, int64(work))
}

// MaxPool implements kernels.Set.
func (s *Set[T]) MaxPool(y, arg, x kernels.Buffer[T], g kernels.PoolGeom) error {
	return s.pool2d("maxpool", y, arg, x, g)
}

// MaxPoolScatter implements kernels.Set (one thread per input pixel, no
// atomics: deterministic).
func (s *Set[T]) MaxPoolScatter(dx, arg, gy kernels.Buffer[T], g kernels.PoolGeom) error {
	return s.pool2d("maxpool_scatter", dx, arg, gy, g)
}

// MaxPoolGather implements kernels.Set.
func (s *Set[T]) MaxPoolGather(v, arg, u kernels.Buffer[T], g kernels.PoolGeom) error {
	return s.pool2d("maxpool_gather", v, arg, u, g)
}

// avgPool launches the average-pooling forward (y from x) or adjoint (dx
// from gy) kernel: one thread per output or per input pixel.
func (s *Set[T]) avgPool(adjoint bool, dst, src kernels.Buffer[T], g kernels.PoolGeom, countPad bool) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := g.Validate(); err != nil {
		return err
	}
	k, nd, ns := "avgpool", g.OutLen(), g.InLen()
	dname, sname := "avg-pool output", "avg-pool input"
	if adjoint {
		k, nd, ns = "avgpool_adjoint", g.InLen(), g.OutLen()
		dname, sname = "avg-pool adjoint output", "avg-pool adjoint gradient"
	}
	ds, err := s.devs(s.sized(dname, dst, nd), s.sized(sname, src, ns))
	if err != nil {
		return err
	}
	d, x := ds[0], ds[1]
	oh, ow := g.Out()
	s.p(0, d)
	s.p(1, x)
	for i, v := range []int{g.N * g.C, g.H, g.W, g.KH, g.KW, g.StrideH, g.StrideW, g.PadH, g.PadW, oh, ow} {
		s.i(2+i, int64(v))
	}
	s.i(13, b2i(countPad))
	return s.launch(k, 14, int64(nd))
}

// AvgPool implements kernels.Set (one thread per output).
func (s *Set[T]) AvgPool(y, x kernels.Buffer[T], g kernels.PoolGeom, countPad bool) error {
	return s.avgPool(false, y, x, g, countPad)
}

// AvgPoolAdjoint implements kernels.Set (one thread per input pixel, no
// atomics: deterministic).
func (s *Set[T]) AvgPoolAdjoint(dx, gy kernels.Buffer[T], g kernels.PoolGeom, countPad bool) error {
	return s.avgPool(true, dx, gy, g, countPad)
}

// upsample launches the nearest-upsampling forward (y from x) or adjoint
// (dx from gy) kernel: one thread per destination element.
func (s *Set[T]) upsample(adjoint bool, dst, src kernels.Buffer[T], planes, h, w, scale int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if err := kernels.CheckUpsample(planes, h, w, scale); err != nil {
		return err
	}
	small, big := planes*h*w, planes*h*w*scale*scale
	k, nd, ns := "upsample", big, small
	dname, sname := "upsample output", "upsample input"
	if adjoint {
		k, nd, ns = "upsample_adjoint", small, big
		dname, sname = "upsample adjoint output", "upsample adjoint gradient"
	}
	ds, err := s.devs(s.sized(dname, dst, nd), s.sized(sname, src, ns))
	if err != nil {
		return err
	}
	d, x := ds[0], ds[1]
	if nd == 0 {
		return nil
	}
	s.p(0, d)
	s.p(1, x)
	s.i(2, int64(planes))
	s.i(3, int64(h))
	s.i(4, int64(w))
	s.i(5, int64(scale))
	return s.launch(k, 6, int64(nd))
}

// Upsample implements kernels.Set (one thread per output).
func (s *Set[T]) Upsample(y, x kernels.Buffer[T], planes, h, w, scale int) error {
	return s.upsample(false, y, x, planes, h, w, scale)
}

// UpsampleAdjoint implements kernels.Set (one thread per small pixel, no
// atomics: deterministic).
func (s *Set[T]) UpsampleAdjoint(dx, gy kernels.Buffer[T], planes, h, w, scale int) error {
	return s.upsample(true, dx, gy, planes, h, w, scale)
}

// Gather implements kernels.Set; an invalid id gives a row of NaN.
func (s *Set[T]) Gather(dst, table, ids kernels.Buffer[T], n, v, d int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if n < 0 || v < 0 || d < 0 {
		return fmt.Errorf("cuda: gather: negative size n=%d v=%d d=%d", n, v, d)
	}
	b, err := s.devs(s.sized("gather output", dst, n*d), s.sized("gather table", table, v*d),
		s.sized("gather ids", ids, n))
	if err != nil {
		return err
	}
	dd, td, id := b[0], b[1], b[2]
	if n*d == 0 {
		return nil
	}
	s.p(0, dd)
	s.p(1, td)
	s.p(2, id)
	s.i(3, int64(n))
	s.i(4, int64(v))
	s.i(5, int64(d))
	return s.launch("gather_rows", 6, int64(n*d))
}

// ScatterAdd implements kernels.Set: dst is cleared, then every source
// element is added into its row with atomicAdd (the order of the sums is
// not fixed); invalid ids are skipped.
func (s *Set[T]) ScatterAdd(dst, src, ids kernels.Buffer[T], n, v, d int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if n < 0 || v < 0 || d < 0 {
		return fmt.Errorf("cuda: scatter-add: negative size n=%d v=%d d=%d", n, v, d)
	}
	b, err := s.devs(s.sized("scatter-add output", dst, v*d), s.sized("scatter-add rows", src, n*d),
		s.sized("scatter-add ids", ids, n))
	if err != nil {
		return err
	}
	dd, sd, id := b[0], b[1], b[2]
	if v*d == 0 {
		return nil
	}
	s.p(0, dd)
	s.f(1, 0)
	s.i(2, int64(v*d))
	if err := s.launch("fill", 3, int64(v*d)); err != nil {
		return err
	}
	if n*d == 0 {
		return nil
	}
	s.p(0, dd)
	s.p(1, sd)
	s.p(2, id)
	s.i(3, int64(n))
	s.i(4, int64(v))
	s.i(5, int64(d))
	return s.launch("scatter_add", 6, int64(n*d))
}

// optDev returns the device buffer of an optional argument, or nil when
// the update does not use it (its kernel argument is then a null pointer).
func (s *Set[T]) optDev(what string, b kernels.Buffer[T], n int, need bool) (*Buffer[T], error) {
	if !need {
		return nil, nil
	}
	if b == nil {
		return nil, fmt.Errorf("cuda: %s: missing buffer", what)
	}
	return s.dev(what, b, n)
}

// pOpt sets kernel argument k to b's device pointer, or to null for nil.
func (s *Set[T]) pOpt(k int, b *Buffer[T]) {
	if b == nil {
		s.args[k] = 0
		return
	}
	s.p(k, b)
}

// SGD implements kernels.Set.
func (s *Set[T]) SGD(p, g, v kernels.Buffer[T], h kernels.SGDHyper) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("sgd param", p, 0), s.likeFirst("sgd grad", g))
	if err != nil {
		return err
	}
	pd, gd := d[0], d[1]
	vd, err := s.optDev("sgd momentum", v, pd.n, h.Momentum != 0)
	if err != nil {
		return err
	}
	s.p(0, pd)
	s.p(1, gd)
	s.pOpt(2, vd)
	s.i(3, int64(pd.n))
	s.f(4, h.LR)
	s.f(5, h.Momentum)
	s.f(6, h.Dampening)
	s.f(7, h.WeightDecay)
	s.f(8, 1-h.LR*h.DecoupledWeightDecay)
	s.i(9, b2i(h.Nesterov))
	s.i(10, b2i(h.First))
	return s.launch("sgd", 11, int64(pd.n))
}

// Adam implements kernels.Set.
func (s *Set[T]) Adam(p, g, m, v, vmax kernels.Buffer[T], h kernels.AdamHyper) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if h.Step < 1 {
		return fmt.Errorf("cuda: adam: step %d, want ≥ 1", h.Step)
	}
	d, err := s.devs(s.sized("adam param", p, 0), s.likeFirst("adam grad", g), s.likeFirst("adam first moment", m),
		s.likeFirst("adam second moment", v))
	if err != nil {
		return err
	}
	pd, gd, md, vd := d[0], d[1], d[2], d[3]
	xd, err := s.optDev("adam running maximum", vmax, pd.n, h.AMSGrad)
	if err != nil {
		return err
	}
	t := float64(h.Step)
	s.p(0, pd)
	s.p(1, gd)
	s.p(2, md)
	s.p(3, vd)
	s.pOpt(4, xd)
	s.i(5, int64(pd.n))
	s.f(6, h.LR/(1-math.Pow(h.Beta1, t)))
	s.f(7, h.Beta1)
	s.f(8, h.Beta2)
	s.f(9, h.Eps)
	s.f(10, h.WeightDecay)
	s.f(11, 1-h.LR*h.DecoupledWeightDecay)
	s.f(12, 1/math.Sqrt(1-math.Pow(h.Beta2, t)))
	return s.launch("adam", 13, int64(pd.n))
}

// RMSprop implements kernels.Set.
func (s *Set[T]) RMSprop(p, g, sq, gavg, buf kernels.Buffer[T], h kernels.RMSpropHyper) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("rmsprop param", p, 0), s.likeFirst("rmsprop grad", g),
		s.likeFirst("rmsprop square average", sq))
	if err != nil {
		return err
	}
	pd, gd, sd := d[0], d[1], d[2]
	ad, err := s.optDev("rmsprop gradient average", gavg, pd.n, h.Centered)
	if err != nil {
		return err
	}
	bd, err := s.optDev("rmsprop momentum", buf, pd.n, h.Momentum != 0)
	if err != nil {
		return err
	}
	s.p(0, pd)
	s.p(1, gd)
	s.p(2, sd)
	s.pOpt(3, ad)
	s.pOpt(4, bd)
	s.i(5, int64(pd.n))
	s.f(6, h.LR)
	s.f(7, h.Alpha)
	s.f(8, h.Eps)
	s.f(9, h.WeightDecay)
	s.f(10, h.Momentum)
	return s.launch("rmsprop", 11, int64(pd.n))
}

// reduce64 runs the dot kernel and adds its per-block partials on the host
// in a fixed order.
func (s *Set[T]) reduce64(a, b *Buffer[T], mode int64) (float64, error) {
	n := int64(a.n)
	grid := max(1, min((n+threads-1)/threads, partials))
	s.p(0, a)
	if b != nil {
		s.p(1, b)
	} else {
		s.p(1, a)
	}
	s.args[2] = uint64(s.part)
	s.i(3, n)
	s.i(4, mode)
	if err := s.launchGrid("dot", 5, int(grid), 1, 1); err != nil {
		return math.NaN(), err
	}
	if err := cu.MemcpyDtoH(unsafe.Pointer(&s.partH[0]), s.part, grid*8); err != nil {
		return math.NaN(), fmt.Errorf("cuda: download partial sums: %w", err)
	}
	var acc float64
	for _, v := range s.partH[:grid] {
		acc += v
	}
	return acc, nil
}

// Dot implements kernels.Set.
func (s *Set[T]) Dot(a, b kernels.Buffer[T]) (float64, error) {
	if err := s.enter(); err != nil {
		return math.NaN(), err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("dot a", a, 0), s.likeFirst("dot b", b))
	if err != nil {
		return math.NaN(), err
	}
	ad, bd := d[0], d[1]
	return s.reduce64(ad, bd, 0)
}

// Norm implements kernels.Set.
func (s *Set[T]) Norm(a kernels.Buffer[T]) (float64, error) {
	if err := s.enter(); err != nil {
		return math.NaN(), err
	}
	defer runtime.UnlockOSThread()
	ad, err := s.dev("norm", a, 0)
	if err != nil {
		return math.NaN(), err
	}
	ss, err := s.reduce64(ad, nil, 1)
	return math.Sqrt(ss), err
}

func (s *Set[T]) axpy(alpha float64, x, y *Buffer[T], mode int64) error {
	s.f(0, alpha)
	s.p(1, x)
	s.p(2, y)
	s.i(3, int64(x.n))
	s.i(4, mode)
	return s.launch("axpy", 5, int64(x.n))
}

// Axpy implements kernels.Set.
func (s *Set[T]) Axpy(alpha T, x, y kernels.Buffer[T]) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("axpy x", x, 0), s.likeFirst("axpy y", y))
	if err != nil {
		return err
	}
	xd, yd := d[0], d[1]
	return s.axpy(float64(alpha), xd, yd, 0)
}

// NormalizeRayleigh implements kernels.Set.
func (s *Set[T]) NormalizeRayleigh(v, w kernels.Buffer[T]) (lambda, norm float64, err error) {
	if err = s.enter(); err != nil {
		return math.NaN(), math.NaN(), err
	}
	defer runtime.UnlockOSThread()
	d, err := s.devs(s.sized("rayleigh v", v, 0), s.likeFirst("rayleigh w", w))
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	vd, wd := d[0], d[1]
	vw, err := s.reduce64(vd, wd, 0)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	vv, err := s.reduce64(vd, nil, 1)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	ww, err := s.reduce64(wd, nil, 1)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	lambda, norm = vw/vv, math.Sqrt(ww)
	if norm > 0 {
		if err := s.axpy(1/norm, wd, vd, 1); err != nil {
			return math.NaN(), math.NaN(), err
		}
	}
	return lambda, norm, nil
}

// Orthogonalize implements kernels.Set (modified Gram–Schmidt, two passes).
func (s *Set[T]) Orthogonalize(v kernels.Buffer[T], basis []kernels.Buffer[T]) (float64, error) {
	if err := s.enter(); err != nil {
		return math.NaN(), err
	}
	defer runtime.UnlockOSThread()
	vd, err := s.dev("orthogonalize v", v, 0)
	if err != nil {
		return math.NaN(), err
	}
	for pass := 0; pass < 2; pass++ {
		for _, q := range basis {
			qd, err := s.dev("orthogonalize basis vector", q, vd.n)
			if err != nil {
				return math.NaN(), err
			}
			c, err := s.reduce64(qd, vd, 0)
			if err != nil {
				return math.NaN(), err
			}
			if err := s.axpy(-c, qd, vd, 0); err != nil {
				return math.NaN(), err
			}
		}
	}
	ss, err := s.reduce64(vd, nil, 1)
	return math.Sqrt(ss), err
}

var _ kernels.Set[float32] = (*Set[float32])(nil)
var _ kernels.Set[float64] = (*Set[float64])(nil)

// unlock undoes enter (for code outside the methods, e.g. tests).
func unlock() { runtime.UnlockOSThread() }

package kernels

import (
	"fmt"
	"runtime"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/gradlab/gradlab/internal/cloop"
)

// BLAS is the part of a BLAS implementation the CPU set uses (gorgonia's
// BLAS type satisfies it, so gorgonia.WhichBLAS() can be passed).
type BLAS interface {
	blas.Float32
	blas.Float64
}

// Host is a CPU buffer: a Go slice.
type Host[T Float] struct{ Data []T }

// Len implements Buffer.
func (h *Host[T]) Len() int { return len(h.Data) }

// Wrap makes a CPU buffer that uses data as its memory (no copy): the CPU
// set reads and writes data directly.
func Wrap[T Float](data []T) *Host[T] { return &Host[T]{Data: data} }

// CPUOptions configure a CPU kernel set.
type CPUOptions struct {
	// Workers is the number of goroutines that share large elementwise and
	// reduction kernels; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// MinParallel is the number of elements below which a kernel runs on
	// the calling goroutine alone; 0 means 1<<15.
	MinParallel int
	// BLAS performs the GEMMs; nil means gonum's pure-Go BLAS. The engine
	// passes the BLAS registered with gorgonia (OpenBLAS after
	// internal/openblas.Enable). This package does not import gorgonia, so
	// that its cuda-tagged build does not switch gorgonia into its own CUDA
	// mode.
	//
	// A BLAS with a method Threads() int that returns 1 at the time of a
	// call (OpenBLAS after internal/openblas.SetThreads(1)) runs each call
	// on the calling thread; the set then splits a large GEMM into one
	// block of rows (or columns) of C per worker and runs the blocks on its
	// workers (results equal the unsplit product's to rounding, and are
	// repeatable for a given number of workers).
	BLAS BLAS
}

// CPU is the kernel set on the host. Create it with NewCPU and Close it to
// stop its workers.
type CPU[T Float] struct {
	name   string
	f32    bool
	bl     BLAS
	pool   *pool
	minPar int

	// Preallocated job descriptions (a Set is used by one goroutine at a
	// time), so that handing work to the pool allocates nothing.
	uj   unaryJob[T]
	rbj  reluBackJob[T]
	bj   binaryJob[T]
	rj   reduceJob[T]
	dj   dotJob[T]
	sj   softmaxJob[T]
	opt  optJob[T]
	pj   poolJob[T]
	aj   avgJob[T]
	xj   rowsJob[T]
	nj   normJob[T] // cpu_norm.go
	gj   gemmJob[T]
	part []float64
}

// threadCounter is a BLAS that reports how many threads one call uses.
type threadCounter interface{ Threads() int }

// NewCPU returns a CPU kernel set.
func NewCPU[T Float](o CPUOptions) *CPU[T] {
	w := o.Workers
	if w <= 0 {
		w = runtime.GOMAXPROCS(0)
	}
	mp := o.MinParallel
	if mp <= 0 {
		mp = 1 << 15
	}
	bl := o.BLAS
	if bl == nil {
		bl = gonum.Implementation{}
	}
	var z T
	_, f32 := any(z).(float32)
	name := "cpu/float64"
	if f32 {
		name = "cpu/float32"
	}
	return &CPU[T]{name: name, f32: f32, bl: bl, pool: newPool(w), minPar: mp, part: make([]float64, w)}
}

// Name implements Set.
func (s *CPU[T]) Name() string { return s.name }

// Close stops the worker goroutines.
func (s *CPU[T]) Close() error { s.pool.close(); return nil }

func (s *CPU[T]) par(n int) bool { return n >= s.minPar }

// fastFactor is how many times longer than MinParallel a vector must be
// before a kernel that runs as a packed C loop (internal/cloop) is split
// over the workers: such a loop handles tens of elements per nanosecond,
// so for shorter vectors waking a worker costs more than it saves.
const fastFactor = 8

// parFast is par for the kernels whose loops are packed C loops when those
// are built in (fast says whether this call takes such a loop).
func (s *CPU[T]) parFast(n int, fast bool) bool {
	if fast && cloop.Available() {
		return n >= fastFactor*s.minPar
	}
	return s.par(n)
}

func host[T Float](what string, b Buffer[T], n int) ([]T, error) {
	h, ok := b.(*Host[T])
	if !ok {
		return nil, fmt.Errorf("kernels: %s: buffer %T is not a CPU buffer", what, b)
	}
	if len(h.Data) < n {
		return nil, fmt.Errorf("kernels: %s: buffer of %d elements, need %d", what, len(h.Data), n)
	}
	return h.Data[:n], nil
}

// Alloc implements Set.
func (s *CPU[T]) Alloc(n int) (Buffer[T], error) {
	if n < 0 {
		return nil, fmt.Errorf("kernels: alloc of %d elements", n)
	}
	return &Host[T]{Data: make([]T, n)}, nil
}

// View implements Set.
func (s *CPU[T]) View(b Buffer[T], off, n int) (Buffer[T], error) {
	d, err := host[T]("view", b, off+n)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("kernels: view [%d, %d+%d)", off, off, n)
	}
	return &Host[T]{Data: d[off : off+n : off+n]}, nil
}

// Free implements Set (the garbage collector owns CPU memory).
func (s *CPU[T]) Free(Buffer[T]) error { return nil }

// Upload implements Set.
func (s *CPU[T]) Upload(dst Buffer[T], src []T) error {
	d, err := host[T]("upload", dst, len(src))
	if err != nil {
		return err
	}
	copy(d, src)
	return nil
}

// Download implements Set.
func (s *CPU[T]) Download(dst []T, src Buffer[T]) error {
	d, err := host[T]("download", src, len(dst))
	if err != nil {
		return err
	}
	copy(dst, d)
	return nil
}

// Fill implements Set.
func (s *CPU[T]) Fill(dst Buffer[T], v T) error {
	d, err := host[T]("fill", dst, dst.Len())
	if err != nil {
		return err
	}
	for i := range d {
		d[i] = v
	}
	return nil
}

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// minSplitGEMM is the number of multiply-adds below which a GEMM is not
// split over workers.
const minSplitGEMM = 1 << 18

// gemmAlign is the granularity (rows or columns of C) in which a split
// GEMM is cut, so that every block keeps whole register tiles.
const gemmAlign = 16

// gemm computes C = α·op(A)·op(B) + β·C for contiguous row-major A, B, C.
func (s *CPU[T]) gemm(tA, tB bool, m, n, k int, alpha T, a, b []T, beta T, c []T) {
	s.gj = gemmJob[T]{s: s, tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta, c: c, rows: m >= n}
	defer func() { s.gj = gemmJob[T]{} }()
	if s.pool.workers > 1 && m*n*k >= minSplitGEMM && max(m, n) >= 2*gemmAlign {
		if tc, ok := s.bl.(threadCounter); ok && tc.Threads() == 1 {
			dim := n
			if s.gj.rows {
				dim = m
			}
			s.pool.do((dim+gemmAlign-1)/gemmAlign, &s.gj, true)
			return
		}
	}
	s.gj.rows = true
	s.gj.block(0, m)
}

// gemmJob is one GEMM, split into blocks of gemmAlign rows (rows) or
// columns of C. A split along the longer side of C packs the smaller of
// op(A) and op(B) once per worker.
type gemmJob[T Float] struct {
	s            *CPU[T]
	tA, tB, rows bool
	m, n, k      int
	alpha, beta  T
	a, b, c      []T
}

func (j *gemmJob[T]) run(lo, hi int) {
	if j.rows {
		j.block(lo*gemmAlign, min(hi*gemmAlign, j.m))
		return
	}
	j.block(lo*gemmAlign, min(hi*gemmAlign, j.n))
}

// block computes rows (or columns) lo…hi of C.
func (j *gemmJob[T]) block(lo, hi int) {
	m, n, k := j.m, j.n, j.k
	lda, ldb := k, n
	if j.tA {
		lda = m
	}
	if j.tB {
		ldb = k
	}
	a, b, c := j.a, j.b, j.c
	if j.rows {
		// Rows lo…hi of op(A): row i of A (at i·k), or column i of a
		// transposed k×m A (at i).
		if j.tA {
			a = a[lo:]
		} else {
			a = a[lo*k:]
		}
		c, m = c[lo*n:], hi-lo
	} else {
		// Columns lo…hi of op(B): column j of B (at j), or row j of a
		// transposed n×k B (at j·k).
		if j.tB {
			b = b[lo*k:]
		} else {
			b = b[lo:]
		}
		c, n = c[lo:], hi-lo
	}
	ldc := j.n
	if k == 0 || j.beta == 0 {
		// BLAS leaves C untouched for k = 0 only when β = 1; reference BLAS
		// skips reading C when β = 0, but clear it anyway so that NaNs in a
		// reused buffer can never leak through.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if j.beta == 0 {
				clear(row)
			} else {
				for p := range row {
					row[p] *= j.beta
				}
			}
		}
		if k == 0 {
			return
		}
	}
	if j.s.f32 {
		j.s.bl.Sgemm(trans(j.tA), trans(j.tB), m, n, k, float32(j.alpha), asF32(a), max(lda, 1), asF32(b), max(ldb, 1),
			float32(j.beta), asF32(c), max(ldc, 1))
		return
	}
	j.s.bl.Dgemm(trans(j.tA), trans(j.tB), m, n, k, float64(j.alpha), asF64(a), max(lda, 1), asF64(b), max(ldb, 1),
		float64(j.beta), asF64(c), max(ldc, 1))
}

// Gemm implements Set.
func (s *CPU[T]) Gemm(tA, tB bool, m, n, k int, alpha T, a, b Buffer[T], beta T, c Buffer[T]) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("kernels: gemm: negative size %d×%d×%d", m, n, k)
	}
	ad, err := host[T]("gemm A", a, m*k)
	if err != nil {
		return err
	}
	bd, err := host[T]("gemm B", b, k*n)
	if err != nil {
		return err
	}
	cd, err := host[T]("gemm C", c, m*n)
	if err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	s.gemm(tA, tB, m, n, k, alpha, ad, bd, beta, cd)
	return nil
}

// BatchedGemm implements Set.
func (s *CPU[T]) BatchedGemm(batch int, tA, tB bool, m, n, k int, alpha T, a, b Buffer[T], beta T, c Buffer[T]) error {
	if batch < 0 || m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("kernels: batched gemm: negative size %d×(%d×%d×%d)", batch, m, n, k)
	}
	ad, err := host[T]("batched gemm A", a, batch*m*k)
	if err != nil {
		return err
	}
	bd, err := host[T]("batched gemm B", b, batch*k*n)
	if err != nil {
		return err
	}
	cd, err := host[T]("batched gemm C", c, batch*m*n)
	if err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	for i := 0; i < batch; i++ {
		s.gemm(tA, tB, m, n, k, alpha, ad[i*m*k:(i+1)*m*k], bd[i*k*n:(i+1)*k*n], beta, cd[i*m*n:(i+1)*m*n])
	}
	return nil
}

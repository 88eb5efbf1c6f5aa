//go:build cgo && !noopenblas

package openblas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
// int openblas_get_num_threads(void);
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// Implementation is OpenBLAS through gonum's netlib binding, with a
// Threads method that reports how many threads OpenBLAS runs each call on.
// kernels.CPU reads it: when OpenBLAS runs single-threaded, the kernel set
// splits each large GEMM into blocks on its own workers instead.
type Implementation struct{ netlib.Implementation }

// Threads reports the number of threads OpenBLAS uses for one call.
func (Implementation) Threads() int { return Threads() }

// Enable makes gorgonia, tensor and gonum's blas32/blas64 entry points
// (used by gradlab's own ops, e.g. convolution) use OpenBLAS. It is
// idempotent; call it once at program start, before any graph is compiled.
// It leaves OpenBLAS's thread count alone (see SetThreads).
func Enable() {
	impl := Implementation{}
	gorgonia.Use(impl)
	blas32.Use(impl)
	blas64.Use(impl)
}

// Name reports which BLAS Enable installs.
func Name() string { return "openblas" }

// Threads reports the number of threads OpenBLAS uses for one call.
func Threads() int { return int(C.openblas_get_num_threads()) }

// SetThreads sets the number of threads OpenBLAS uses for one call (n < 1
// counts as 1) and returns the previous number. The setting belongs to the
// process: OpenBLAS keeps it in one library-wide variable.
//
// With n = 1 no OpenBLAS worker thread runs, so none busy-waits for the next
// call and takes a core from Go code in between; gradlab's CPU kernel set
// then runs GEMMs as blocks on its own workers (see kernels.CPUOptions).
func SetThreads(n int) int {
	prev := Threads()
	C.openblas_set_num_threads(C.int(max(n, 1)))
	return prev
}

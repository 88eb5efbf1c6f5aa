// Package kernels defines gradlab's kernel set: the numerical primitives a
// compiled program (package engine), the optimizers and the curvature
// routines run on a device, behind one interface, Set.
//
// A Set[T] works on buffers of one element type T (float32 or float64) that
// it allocates itself. Buffers are opaque: on the CPU they are Go slices
// (see Host), on a GPU they are device memory. Every operation takes its
// sizes explicitly and writes every element of its destination, so a caller
// can preallocate all buffers once and run the same sequence of calls many
// times without allocating.
//
// Two implementations exist:
//
//   - CPU (always built): GEMM through a BLAS passed in CPUOptions (the
//     engine passes gorgonia's, which is OpenBLAS after
//     internal/openblas.Enable; gonum's pure-Go BLAS by default), every
//     other kernel in plain Go, split across a small pool of worker
//     goroutines when the work is large enough to pay for it.
//   - CUDA (subpackage cuda, built only with the cuda build tag): the same
//     operations as .cu kernels compiled to PTX and launched through
//     gorgonia.org/cu.
//
// Subpackage conformance holds the test suite every Set must pass: random
// inputs of awkward sizes, destinations poisoned with NaN to catch
// unwritten elements, compared with an independent float64 reference
// written with plain loops.
package kernels

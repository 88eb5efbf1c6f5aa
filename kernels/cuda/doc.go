// Package cuda is the CUDA kernel set: kernels.Set implemented with the
// kernels of kernels.cu, compiled to PTX by `make kernels` (nvcc, targets
// compute_80 and compute_90), embedded, and launched through
// gorgonia.org/cu's driver API.
//
// Everything but this comment and the PTX freshness test is behind the
// cuda build tag: importing gorgonia.org/cu makes a process without a GPU
// exit at start-up, so CPU builds never link it. Build GPU programs with
// `-tags cuda` (CGO_CFLAGS/CGO_LDFLAGS pointing at CUDA headers and the
// libcuda stub; scripts/cuda-compile-check.sh fetches Debian's).
//
// gorgonia itself selects its own cuDNN-based GPU code with the same cuda
// tag, so a cuda-tagged binary that imports gorgonia (anything using
// package engine) needs cuDNN headers, and gorgonia's cu/dnn does not build
// against cuDNN 9. This package and package kernels do not import gorgonia.
// Programs that combine the engine with this kernel set use the
// gradlabcuda tag instead, which selects this package's code and leaves
// gorgonia on the CPU.
//
// A Set owns a CUDA context. CUDA contexts are current per OS thread, so
// every method locks its goroutine to the thread and makes the context
// current for the call: any goroutine may use a set, one at a time.
// Device memory comes from cuMemAlloc in power-of-two size classes and is
// recycled by Free; Close releases everything. Every driver call's result
// is checked, and kernel launches are checked again at the next
// synchronising call (downloads, reductions that return a number).
package cuda

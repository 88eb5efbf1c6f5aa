// Package cloop holds a few hot loops of the CPU kernel set written in C
// with packed SIMD instructions (square roots and divisions on 8 floats at
// a time, which Go's compiler does not emit): Adam's, SGD's and RMSprop's
// updates, contiguous add, subtract, multiply and divide, and (leaky) ReLU
// with its backward. Each function computes exactly what the kernel set's
// Go loop computes, operation for operation, in the same order and
// precision (no contraction into fused multiply-adds), so results are
// equal bit for bit; the Go loops stay as the fallback and the reference
// the tests compare against.
//
// Each loop exists for SSE2 (every x86-64 processor) and AVX or AVX2,
// chosen at run time by what the processor supports; other architectures
// have no C loops. Builds without cgo, or with the tag noopenblas (the
// pure-Go build), report Available() false and the kernel set keeps its Go
// loops.
package cloop

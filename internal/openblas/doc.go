// Package openblas selects the CPU BLAS used by gorgonia and gorgonia.org/tensor.
//
// The normal build links OpenBLAS through cgo (gonum's netlib binding, with
// the library named by a #cgo directive in this package, so no environment
// variables are needed). Building with the tag "noopenblas" keeps the pure-Go
// BLAS that gonum provides; both paths are tested.
package openblas

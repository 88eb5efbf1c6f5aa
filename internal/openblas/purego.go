//go:build !cgo || noopenblas

package openblas

// Enable keeps gonum's pure-Go BLAS (this build has no OpenBLAS).
func Enable() {}

// Name reports which BLAS Enable installs.
func Name() string { return "gonum (pure Go)" }

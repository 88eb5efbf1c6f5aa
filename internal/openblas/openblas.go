//go:build cgo && !noopenblas

package openblas

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// Enable makes gorgonia, tensor and gonum's blas32/blas64 entry points
// (used by gradlab's own ops, e.g. convolution) use OpenBLAS. It is
// idempotent; call it once at program start, before any graph is compiled.
func Enable() {
	impl := netlib.Implementation{}
	gorgonia.Use(impl)
	blas32.Use(impl)
	blas64.Use(impl)
}

// Name reports which BLAS Enable installs.
func Name() string { return "openblas" }

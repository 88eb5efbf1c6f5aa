//go:build cgo && !noopenblas

package openblas

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// Enable makes gorgonia and tensor use OpenBLAS. It is idempotent; call it
// once at program start, before any graph is compiled.
func Enable() { gorgonia.Use(netlib.Implementation{}) }

// Name reports which BLAS Enable installs.
func Name() string { return "openblas" }

//go:build !cgo || noopenblas

package openblas

// Enable keeps gonum's pure-Go BLAS (this build has no OpenBLAS).
func Enable() {}

// Name reports which BLAS Enable installs.
func Name() string { return "gonum (pure Go)" }

// Threads reports 1: gonum's BLAS runs each call on the calling goroutine
// (its level-3 routines split large products over goroutines themselves).
func Threads() int { return 1 }

// SetThreads does nothing in this build and returns 1.
func SetThreads(int) int { return 1 }

//go:build !cgo || noopenblas || !amd64

package cloop

// Available reports whether the C loops are built in (not in this build).
func Available() bool { return false }

// Adam32 reports false: this build has no C loops.
func Adam32(p, g, m, v []float32, b1, b2, eps, wd, decay, step, invBc2s float32) bool { return false }

// Adam64 reports false: this build has no C loops.
func Adam64(p, g, m, v []float64, b1, b2, eps, wd, decay, step, invBc2s float64) bool { return false }

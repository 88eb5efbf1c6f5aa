//go:build !cgo || noopenblas || !amd64

package cloop

// Available reports whether the C loops are built in (not in this build).
func Available() bool { return false }

// Adam32 reports false: this build has no C loops.
func Adam32(p, g, m, v []float32, b1, b2, eps, wd, decay, step, invBc2s float32) bool { return false }

// Adam64 reports false: this build has no C loops.
func Adam64(p, g, m, v []float64, b1, b2, eps, wd, decay, step, invBc2s float64) bool { return false }

// Binary32 reports false: this build has no C loops.
func Binary32(op Op, d, a, b []float32) bool { return false }

// Binary64 reports false: this build has no C loops.
func Binary64(op Op, d, a, b []float64) bool { return false }

// ReLU32 reports false: this build has no C loops.
func ReLU32(d, x []float32, leak float32, times bool) bool { return false }

// ReLU64 reports false: this build has no C loops.
func ReLU64(d, x []float64, leak float64, times bool) bool { return false }

// ReLUMul32 reports false: this build has no C loops.
func ReLUMul32(d, x, g []float32, leak float32) bool { return false }

// ReLUMul64 reports false: this build has no C loops.
func ReLUMul64(d, x, g []float64, leak float64) bool { return false }

// SGD32 reports false: this build has no C loops.
func SGD32(p, g, buf []float32, lr, mu, damp, wd, decay float32, first, nesterov bool) bool {
	return false
}

// SGD64 reports false: this build has no C loops.
func SGD64(p, g, buf []float64, lr, mu, damp, wd, decay float64, first, nesterov bool) bool {
	return false
}

// RMSprop32 reports false: this build has no C loops.
func RMSprop32(p, g, sq, ga, buf []float32, lr, alpha, eps, wd, mu float32) bool { return false }

// RMSprop64 reports false: this build has no C loops.
func RMSprop64(p, g, sq, ga, buf []float64, lr, alpha, eps, wd, mu float64) bool { return false }

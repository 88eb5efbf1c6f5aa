//go:build cgo && !noopenblas && amd64

package cloop

// #cgo CFLAGS: -O3
// #include "elem.h"
import "C"

import "unsafe"

// minLen is the length below which the elementwise functions decline (the
// cgo call would cost more than the Go loop it replaces).
const minLen = 256

func f32p(s []float32) *C.float  { return (*C.float)(unsafe.Pointer(&s[0])) }
func f64p(s []float64) *C.double { return (*C.double)(unsafe.Pointer(&s[0])) }

// Binary32 sets d[i] = a[i] op b[i] for i < len(d) (a and b at least as
// long; d may be a or b). It reports false, doing nothing, for slices
// shorter than a few hundred elements and when the C loops are not built
// in.
func Binary32(op Op, d, a, b []float32) bool {
	n := len(d)
	if n < minLen || op < Add || op > Div {
		return false
	}
	_, _ = a[n-1], b[n-1]
	C.gl_binary_f32(C.int(op), f32p(d), f32p(a), f32p(b), C.ptrdiff_t(n))
	return true
}

// Binary64 is Binary32 for float64.
func Binary64(op Op, d, a, b []float64) bool {
	n := len(d)
	if n < minLen || op < Add || op > Div {
		return false
	}
	_, _ = a[n-1], b[n-1]
	C.gl_binary_f64(C.int(op), f64p(d), f64p(a), f64p(b), C.ptrdiff_t(n))
	return true
}

// ReLU32 sets d[i] = s(x[i])·x[i] (times) or s(x[i]), s being the (leaky)
// ReLU slope: 1 where the bits of x[i] read as a signed integer are
// positive, leak elsewhere. It reports false as Binary32 does.
func ReLU32(d, x []float32, leak float32, times bool) bool {
	n := len(x)
	if n < minLen {
		return false
	}
	_ = d[n-1]
	C.gl_relu_f32(f32p(d), f32p(x), C.ptrdiff_t(n), C.float(leak), cbool(times))
	return true
}

// ReLU64 is ReLU32 for float64.
func ReLU64(d, x []float64, leak float64, times bool) bool {
	n := len(x)
	if n < minLen {
		return false
	}
	_ = d[n-1]
	C.gl_relu_f64(f64p(d), f64p(x), C.ptrdiff_t(n), C.double(leak), cbool(times))
	return true
}

// ReLUMul32 sets d[i] = g[i]·s(x[i]) (ReLU32's slope) for i < len(x). It
// reports false as Binary32 does.
func ReLUMul32(d, x, g []float32, leak float32) bool {
	n := len(x)
	if n < minLen {
		return false
	}
	_, _ = d[n-1], g[n-1]
	C.gl_relu_mul_f32(f32p(d), f32p(x), f32p(g), C.ptrdiff_t(n), C.float(leak))
	return true
}

// ReLUMul64 is ReLUMul32 for float64.
func ReLUMul64(d, x, g []float64, leak float64) bool {
	n := len(x)
	if n < minLen {
		return false
	}
	_, _ = d[n-1], g[n-1]
	C.gl_relu_mul_f64(f64p(d), f64p(x), f64p(g), C.ptrdiff_t(n), C.double(leak))
	return true
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

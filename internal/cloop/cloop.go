//go:build cgo && !noopenblas && amd64

package cloop

// #cgo CFLAGS: -O3
// #cgo LDFLAGS: -lm
// #include "adam.h"
import "C"

import "unsafe"

// Available reports whether the C loops are built in.
func Available() bool { return true }

// Adam32 is one Adam update without AMSGrad over float32 slices of equal
// length (see kernels.Set.Adam): g ← g + wd·p, m ← β₁m + (1−β₁)g,
// v ← β₂v + (1−β₂)g², p ← p·decay − step·m/(√v·invBc2s + eps), with g
// itself left unchanged. It reports false (doing nothing) when the C loops
// are not built in.
func Adam32(p, g, m, v []float32, b1, b2, eps, wd, decay, step, invBc2s float32) bool {
	n := len(p)
	if n == 0 {
		return true
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	C.gl_adam_f32((*C.float)(unsafe.Pointer(&p[0])), (*C.float)(unsafe.Pointer(&g[0])), (*C.float)(unsafe.Pointer(&m[0])),
		(*C.float)(unsafe.Pointer(&v[0])), C.ptrdiff_t(n), C.float(b1), C.float(b2), C.float(eps), C.float(wd),
		C.float(decay), C.float(step), C.float(invBc2s))
	return true
}

// Adam64 is Adam32 for float64.
func Adam64(p, g, m, v []float64, b1, b2, eps, wd, decay, step, invBc2s float64) bool {
	n := len(p)
	if n == 0 {
		return true
	}
	_, _, _ = g[n-1], m[n-1], v[n-1]
	C.gl_adam_f64((*C.double)(unsafe.Pointer(&p[0])), (*C.double)(unsafe.Pointer(&g[0])), (*C.double)(unsafe.Pointer(&m[0])),
		(*C.double)(unsafe.Pointer(&v[0])), C.ptrdiff_t(n), C.double(b1), C.double(b2), C.double(eps), C.double(wd),
		C.double(decay), C.double(step), C.double(invBc2s))
	return true
}

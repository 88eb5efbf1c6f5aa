//go:build cgo && !noopenblas && amd64

package cloop

// #cgo CFLAGS: -O3
// #cgo LDFLAGS: -lm
// #include "optim.h"
import "C"

// SGD32 is one SGD update over float32 slices of equal length (see
// kernels.Set.SGD): d = g + wd·p; with momentum (buf not nil) b = d on the
// first step, μ·buf + (1−dampening)·d after, buf = b, d = d + μ·b
// (Nesterov) or b; p = p·decay − lr·d. It reports false, doing nothing,
// for slices shorter than a few hundred elements and when the C loops are
// not built in.
func SGD32(p, g, buf []float32, lr, mu, damp, wd, decay float32, first, nesterov bool) bool {
	n := len(p)
	if n < minLen {
		return false
	}
	_ = g[n-1]
	var pb *C.float
	if buf != nil {
		_ = buf[n-1]
		pb = f32p(buf)
	}
	C.gl_sgd_f32(f32p(p), f32p(g), pb, C.ptrdiff_t(n), C.float(lr), C.float(mu), C.float(damp), C.float(wd),
		C.float(decay), cbool(first), cbool(nesterov))
	return true
}

// SGD64 is SGD32 for float64.
func SGD64(p, g, buf []float64, lr, mu, damp, wd, decay float64, first, nesterov bool) bool {
	n := len(p)
	if n < minLen {
		return false
	}
	_ = g[n-1]
	var pb *C.double
	if buf != nil {
		_ = buf[n-1]
		pb = f64p(buf)
	}
	C.gl_sgd_f64(f64p(p), f64p(g), pb, C.ptrdiff_t(n), C.double(lr), C.double(mu), C.double(damp), C.double(wd),
		C.double(decay), cbool(first), cbool(nesterov))
	return true
}

// RMSprop32 is one RMSprop update over float32 slices of equal length
// (see kernels.Set.RMSprop; ga nil: not centered; buf nil: no momentum).
// It reports false as SGD32 does.
func RMSprop32(p, g, sq, ga, buf []float32, lr, alpha, eps, wd, mu float32) bool {
	n := len(p)
	if n < minLen {
		return false
	}
	_, _ = g[n-1], sq[n-1]
	var pa, pb *C.float
	if ga != nil {
		_ = ga[n-1]
		pa = f32p(ga)
	}
	if buf != nil {
		_ = buf[n-1]
		pb = f32p(buf)
	}
	C.gl_rmsprop_f32(f32p(p), f32p(g), f32p(sq), pa, pb, C.ptrdiff_t(n), C.float(lr), C.float(alpha), C.float(eps),
		C.float(wd), C.float(mu))
	return true
}

// RMSprop64 is RMSprop32 for float64.
func RMSprop64(p, g, sq, ga, buf []float64, lr, alpha, eps, wd, mu float64) bool {
	n := len(p)
	if n < minLen {
		return false
	}
	_, _ = g[n-1], sq[n-1]
	var pa, pb *C.double
	if ga != nil {
		_ = ga[n-1]
		pa = f64p(ga)
	}
	if buf != nil {
		_ = buf[n-1]
		pb = f64p(buf)
	}
	C.gl_rmsprop_f64(f64p(p), f64p(g), f64p(sq), pa, pb, C.ptrdiff_t(n), C.double(lr), C.double(alpha),
		C.double(eps), C.double(wd), C.double(mu))
	return true
}

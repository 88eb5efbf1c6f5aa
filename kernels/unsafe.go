package kernels

import "unsafe"

// asF32 and asF64 reinterpret a slice of a Float type whose underlying type
// is float32 (float64) without copying; callers check the element type first.
func asF32[T Float](x []T) []float32 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&x[0])), len(x))
}

func asF64[T Float](x []T) []float64 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&x[0])), len(x))
}

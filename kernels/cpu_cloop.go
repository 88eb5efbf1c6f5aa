package kernels

import "github.com/gradlab/gradlab/internal/cloop"

// The loops below hand slices of float32 or float64 (not other types with
// those underlying types) to the packed C loops of internal/cloop, which
// compute exactly what the Go loops compute; each reports whether it ran
// (not for short slices, nor in builds without the C loops), and the Go
// loop runs otherwise.

// adamC runs Adam without AMSGrad through the packed C loop when it is built
// in (internal/cloop), which computes exactly what adamGo computes; it
// reports whether it did.
func adamC[T Float](p, g, m, v []T, h AdamHyper, stepSize, invBc2s, decay T) bool {
	b1, b2, eps, wd := T(h.Beta1), T(h.Beta2), T(h.Eps), T(h.WeightDecay)
	switch ps := any(p).(type) {
	case []float32:
		return cloop.Adam32(ps, any(g).([]float32), any(m).([]float32), any(v).([]float32), float32(b1), float32(b2),
			float32(eps), float32(wd), float32(decay), float32(stepSize), float32(invBc2s))
	case []float64:
		return cloop.Adam64(ps, any(g).([]float64), any(m).([]float64), any(v).([]float64), float64(b1), float64(b2),
			float64(eps), float64(wd), float64(decay), float64(stepSize), float64(invBc2s))
	}
	return false
}

// cBinary is the C loop of binLoop's contiguous Add, Sub, Mul and Div.
func cBinary[T Float](op BinaryOp, d, a, b []T) bool {
	var o cloop.Op
	switch op {
	case Add:
		o = cloop.Add
	case Sub:
		o = cloop.Sub
	case Mul:
		o = cloop.Mul
	case Div:
		o = cloop.Div
	default:
		return false
	}
	switch ds := any(d).(type) {
	case []float32:
		return cloop.Binary32(o, ds, any(a).([]float32), any(b).([]float32))
	case []float64:
		return cloop.Binary64(o, ds, any(a).([]float64), any(b).([]float64))
	}
	return false
}

// cReLU is the C loop of reluRange.
func cReLU[T Float](d, x []T, leak T, times bool) bool {
	switch xs := any(x).(type) {
	case []float32:
		return cloop.ReLU32(any(d).([]float32), xs, float32(leak), times)
	case []float64:
		return cloop.ReLU64(any(d).([]float64), xs, float64(leak), times)
	}
	return false
}

// cReLUMul is the C loop of reluMulRange.
func cReLUMul[T Float](d, x, g []T, leak T) bool {
	switch xs := any(x).(type) {
	case []float32:
		return cloop.ReLUMul32(any(d).([]float32), xs, any(g).([]float32), float32(leak))
	case []float64:
		return cloop.ReLUMul64(any(d).([]float64), xs, any(g).([]float64), float64(leak))
	}
	return false
}

// sgdC is the C loop of sgdGo.
func sgdC[T Float](p, g, buf []T, h SGDHyper) bool {
	lr, mu, damp, wd := T(h.LR), T(h.Momentum), T(h.Dampening), T(h.WeightDecay)
	decay := T(1 - h.LR*h.DecoupledWeightDecay)
	switch ps := any(p).(type) {
	case []float32:
		b, _ := any(buf).([]float32)
		return cloop.SGD32(ps, any(g).([]float32), b, float32(lr), float32(mu), float32(damp), float32(wd), float32(decay),
			h.First, h.Nesterov)
	case []float64:
		b, _ := any(buf).([]float64)
		return cloop.SGD64(ps, any(g).([]float64), b, float64(lr), float64(mu), float64(damp), float64(wd), float64(decay),
			h.First, h.Nesterov)
	}
	return false
}

// rmspropC is the C loop of rmspropGo.
func rmspropC[T Float](p, g, sq, ga, buf []T, h RMSpropHyper) bool {
	lr, alpha, eps, wd, mu := T(h.LR), T(h.Alpha), T(h.Eps), T(h.WeightDecay), T(h.Momentum)
	switch ps := any(p).(type) {
	case []float32:
		a, _ := any(ga).([]float32)
		b, _ := any(buf).([]float32)
		return cloop.RMSprop32(ps, any(g).([]float32), any(sq).([]float32), a, b, float32(lr), float32(alpha), float32(eps),
			float32(wd), float32(mu))
	case []float64:
		a, _ := any(ga).([]float64)
		b, _ := any(buf).([]float64)
		return cloop.RMSprop64(ps, any(g).([]float64), any(sq).([]float64), a, b, float64(lr), float64(alpha), float64(eps),
			float64(wd), float64(mu))
	}
	return false
}

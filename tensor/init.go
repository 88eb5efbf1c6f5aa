package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"

	gt "gorgonia.org/tensor"
)

// Float is the set of element types gradlab computes in.
type Float interface{ ~float32 | ~float64 }

// Init fills a tensor of the given dtype and shape with values drawn from rng.
type Init func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error)

func fill(dt gt.Dtype, shape []int, f func() float64) (*gt.Dense, error) {
	n := 1
	for _, s := range shape {
		if s <= 0 {
			return nil, fmt.Errorf("tensor: init: bad shape %v", shape)
		}
		n *= s
	}
	switch dt {
	case gt.Float64:
		b := make([]float64, n)
		for i := range b {
			b[i] = f()
		}
		return gt.New(gt.WithShape(shape...), gt.WithBacking(b)), nil
	case gt.Float32:
		b := make([]float32, n)
		for i := range b {
			b[i] = float32(f())
		}
		return gt.New(gt.WithShape(shape...), gt.WithBacking(b)), nil
	}
	return nil, fmt.Errorf("tensor: init: unsupported dtype %v (want float32 or float64)", dt)
}

// Zeros returns a zero tensor.
func Zeros(dt gt.Dtype, shape ...int) (*gt.Dense, error) {
	return Constant(0)(nil, dt, shape...)
}

// Constant returns an initializer that sets every element to c.
func Constant(c float64) Init {
	return func(_ *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		return fill(dt, shape, func() float64 { return c })
	}
}

// Normal returns an initializer drawing from N(mean, std²).
func Normal(mean, std float64) Init {
	return func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		return fill(dt, shape, func() float64 { return mean + std*rng.NormFloat64() })
	}
}

// Uniform returns an initializer drawing from U(lo, hi).
func Uniform(lo, hi float64) Init {
	return func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		return fill(dt, shape, func() float64 { return lo + (hi-lo)*rng.Float64() })
	}
}

// Fans returns the fan-in and fan-out of a weight shape: [in, out] for a
// dense layer (gradlab stores dense weights as in×out) and
// [out, in, kh, kw] for a convolution.
func Fans(shape []int) (fanIn, fanOut int) {
	switch len(shape) {
	case 0:
		return 1, 1
	case 1:
		return shape[0], shape[0]
	case 2:
		return shape[0], shape[1]
	}
	rf := 1
	for _, s := range shape[2:] {
		rf *= s
	}
	return shape[1] * rf, shape[0] * rf
}

// GlorotUniform draws from U(−a, a) with a = gain·√(6/(fanIn+fanOut)).
func GlorotUniform(gain float64) Init {
	return func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		in, out := Fans(shape)
		a := gain * math.Sqrt(6/float64(in+out))
		return Uniform(-a, a)(rng, dt, shape...)
	}
}

// HeNormal draws from N(0, gain²/fanIn) (gain √2 for ReLU).
func HeNormal(gain float64) Init {
	return func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		in, _ := Fans(shape)
		return Normal(0, gain/math.Sqrt(float64(in)))(rng, dt, shape...)
	}
}

// KaimingUniform draws from U(−b, b) with b = 1/√fanIn, the default of
// common deep-learning libraries for dense and convolution layers.
func KaimingUniform() Init {
	return func(rng *rand.Rand, dt gt.Dtype, shape ...int) (*gt.Dense, error) {
		in, _ := Fans(shape)
		b := 1 / math.Sqrt(float64(in))
		return Uniform(-b, b)(rng, dt, shape...)
	}
}

// NewRNG returns the generator gradlab uses for a seed and a stream: the
// same (seed, stream) always gives the same sequence.
func NewRNG(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

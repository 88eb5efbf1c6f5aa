package optim

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"
)

// NoiseKind selects the distribution of label noise.
type NoiseKind int

const (
	// NoiseSign adds ±σ with probability ½ each.
	NoiseSign NoiseKind = iota
	// NoiseGaussian adds N(0, σ²).
	NoiseGaussian
)

// LabelNoise perturbs regression targets for label-noise SGD: each call to
// Apply draws fresh, independent noise from a seeded generator.
type LabelNoise struct {
	kind  NoiseKind
	sigma float64
	rng   *rand.Rand
}

// NewLabelNoise returns a label-noise source with the given kind, scale σ ≥ 0
// and seed.
func NewLabelNoise(kind NoiseKind, sigma float64, seed uint64) (*LabelNoise, error) {
	if sigma < 0 {
		return nil, fmt.Errorf("optim: label noise: sigma %v < 0", sigma)
	}
	if kind != NoiseSign && kind != NoiseGaussian {
		return nil, fmt.Errorf("optim: label noise: unknown kind %d", kind)
	}
	return &LabelNoise{kind: kind, sigma: sigma, rng: rand.New(rand.NewPCG(seed, 0x6c61626e6f697365))}, nil
}

// Apply writes dst = src + noise. dst and src must have the same shape and
// dtype; they may be the same tensor.
func (n *LabelNoise) Apply(dst, src *tensor.Dense) error {
	if err := checkPairs([]*tensor.Dense{dst}, []*tensor.Dense{src}); err != nil {
		return fmt.Errorf("optim: label noise: %w", err)
	}
	if dst.Dtype() == tensor.Float64 {
		addNoise(n, dst.Float64s(), src.Float64s())
	} else {
		addNoise(n, dst.Float32s(), src.Float32s())
	}
	return nil
}

// Float64s writes dst = src + noise for plain slices of equal length.
func (n *LabelNoise) Float64s(dst, src []float64) error {
	if len(dst) != len(src) {
		return fmt.Errorf("optim: label noise: lengths %d and %d differ", len(dst), len(src))
	}
	addNoise(n, dst, src)
	return nil
}

func addNoise[T float](n *LabelNoise, dst, src []T) {
	src = src[:len(dst)]
	for i := range dst {
		var e float64
		if n.kind == NoiseGaussian {
			e = n.sigma * n.rng.NormFloat64()
		} else if n.rng.Uint64()&1 == 1 {
			e = n.sigma
		} else {
			e = -n.sigma
		}
		dst[i] = src[i] + T(e)
	}
}

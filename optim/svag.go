package optim

import (
	"fmt"

	"gorgonia.org/tensor"
)

// SVAGCombine writes dst[i] = c₁·g1[i] + c₂·g2[i], the gradient of the SVAG
// loss c₁·L(b₁) + c₂·L(b₂) from the gradients on the two minibatches, with
// c₁, c₂ from SVAGCoefficients(l). dst may be g1 or g2.
func SVAGCombine(dst, g1, g2 []*tensor.Dense, l float64) error {
	c1, c2, err := SVAGCoefficients(l)
	if err != nil {
		return err
	}
	if len(g1) != len(dst) || len(g2) != len(dst) {
		return fmt.Errorf("optim: svag combine: %d, %d and %d tensors", len(dst), len(g1), len(g2))
	}
	if err := checkPairs(dst, g1); err != nil {
		return fmt.Errorf("optim: svag combine: first batch: %w", err)
	}
	if err := checkPairs(dst, g2); err != nil {
		return fmt.Errorf("optim: svag combine: second batch: %w", err)
	}
	for i, d := range dst {
		if d.Dtype() == tensor.Float64 {
			lincomb(d.Float64s(), g1[i].Float64s(), g2[i].Float64s(), c1, c2)
		} else {
			lincomb(d.Float32s(), g1[i].Float32s(), g2[i].Float32s(), float32(c1), float32(c2))
		}
	}
	return nil
}

func lincomb[T float](dst, a, b []T, ca, cb T) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = ca*a[i] + cb*b[i]
	}
}

package kernels

import "fmt"

// NormKernels are the fused batch and layer normalization kernels of a Set.
//
// Both normalize groups of elements to zero mean and unit (biased)
// variance and apply a scale γ and shift β:
//
//	y = (x − mean)·rstd·γ + β,  rstd = 1/√(var + eps),
//
// with the statistics accumulated in float64 whatever T is. The forward
// kernels also write the per-group mean and rstd, which the backward
// kernels take back (and which batch norm's running statistics are made
// of). With x̂ = (x − mean)·rstd and ĝ = gy·γ, the backward kernels write
//
//	gx = rstd·(ĝ − mean_group(ĝ) − x̂·mean_group(ĝ·x̂))
//	gγ = Σ gy·x̂,  gβ = Σ gy   (sums over everything but γ's index)
//
// In every method gamma may be nil (γ = 1) and beta may be nil (β = 0);
// in the forward kernels y may be nil (only the statistics are written),
// and in the backward kernels any of gx, ggamma and gbeta may be nil (that
// output is not computed). Outputs must not overlap inputs.
type NormKernels[T Float] interface {
	// LayerNorm normalizes each row of the rows×d matrix x: mean and rstd
	// have rows elements, gamma and beta d elements.
	LayerNorm(y, mean, rstd, x, gamma, beta Buffer[T], rows, d int, eps float64) error
	// LayerNormBackward writes the gradients of LayerNorm with respect to
	// x (rows×d), gamma and beta (d elements each) given the upstream
	// gradient gy and the statistics LayerNorm wrote.
	LayerNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy Buffer[T], rows, d int) error
	// BatchNorm normalizes x viewed as outer×c×inner (N×C×H·W) per channel:
	// channel k's statistics run over its outer·inner elements; mean, rstd,
	// gamma and beta have c elements.
	BatchNorm(y, mean, rstd, x, gamma, beta Buffer[T], outer, c, inner int, eps float64) error
	// BatchNormBackward writes the gradients of BatchNorm with respect to
	// x, gamma and beta given the upstream gradient gy and the statistics
	// BatchNorm wrote.
	BatchNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy Buffer[T], outer, c, inner int) error
}

// CheckNormSizes reports whether a normalization kernel's sizes are
// usable: groups groups of size elements each (none at all is fine, empty
// groups are not) and a non-negative epsilon (backward kernels pass 0). Set
// implementations call it.
func CheckNormSizes(what string, groups, size int, eps float64) error {
	if groups < 0 || size < 0 || (groups > 0 && size == 0) {
		return fmt.Errorf("kernels: %s: %d groups of %d elements", what, groups, size)
	}
	if !(eps >= 0) {
		return fmt.Errorf("kernels: %s: epsilon %v", what, eps)
	}
	return nil
}

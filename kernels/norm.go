package kernels

// NormKernels are the fused batch and layer normalization kernels of a Set.
type NormKernels[T Float] interface{}

package kernels

// ChainKernels run fused chains of elementwise operations in one pass.
type ChainKernels[T Float] interface{}

// Batch and layer normalization kernels (included by kernels.cu).

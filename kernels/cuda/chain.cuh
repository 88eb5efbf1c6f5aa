// Fused elementwise chains (included by kernels.cu).

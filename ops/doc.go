// Package ops holds gradlab's own gorgonia operations: the ones gorgonia lacks,
// gets wrong, or cannot differentiate twice.
//
// Every op here implements gorgonia.Op and gorgonia.SDOp. The derivative of an
// op is built only from nodes whose own SymDiff is correct (other ops of this
// package, or gorgonia's same-shape elementwise ops), so a reverse-mode pass
// that differentiates the gradient graph again (Hessian-vector products) sees
// correct derivatives at every order. Backward ops are separate op types; for
// the linear families (convolution, pooling, reductions, gather/scatter) each
// op's derivative is another member of the same family.
//
// Every parameter of an op (axes, shapes, strides, scales) is written into its
// hash, because gorgonia's compiler merges nodes whose ops hash equally.
//
// Forward kernels are plain Go (with gonum BLAS for the convolution GEMMs) and
// accept Float64 and Float32 values on the CPU.
package ops

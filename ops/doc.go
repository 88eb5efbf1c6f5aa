// Package ops holds gradlab's own gorgonia operations: the ones gorgonia lacks,
// gets wrong, or cannot differentiate twice.
//
// Every op here implements gorgonia.Op and gorgonia.SDOp. The derivative of an
// op is built only from nodes whose own SymDiff is correct (other ops of this
// package, or gorgonia's same-shape elementwise ops HadamardProd, Add, Sub,
// Mul and Exp), so a reverse-mode pass that differentiates the gradient graph
// again (package autodiff's HVP) sees correct derivatives at every order.
// Backward ops are separate op types; for the linear families each op's
// derivative is another member of the same family:
//
//   - SumAxis/MeanAxis/Sum/Mean/SumAll/MeanAll ↔ Expand/ExpandAs/Fill
//     (reductions over any axis of an N-D tensor);
//   - Conv2d, its backward-data op (= ConvTranspose2d) and its
//     backward-filter op;
//   - MaxPool2d, its argmax scatter and argmax gather;
//   - AvgPool2d and its adjoint; UpsampleNearest and its block sum;
//   - Embedding (gather) and its scatter-add; Reshape/Flatten.
//
// Nonlinear elementwise ops carry their derivative as another instance of
// the same op: GELU and GELUTanh (derivative of any order), Pow (scale·(x+c)^p),
// ReLU/LeakyReLU (slope op with zero derivative). Softmax, LogSoftmax and
// SoftmaxCrossEntropy (last axis, mean over rows, one-hot or soft targets)
// are fused forward ops whose derivatives are composed from the above, as
// are Sigmoid and SigmoidBCE (binary cross-entropy from logits).
// LayerNorm and BatchNorm are composed from reductions, Pow and elementwise
// ops; BatchNorm keeps its running statistics in a Go struct that changes
// only through an explicit Update call.
//
// Every parameter of an op (axes, shapes, strides, scales) is written into its
// hash, because gorgonia's compiler merges nodes whose ops hash equally.
//
// Forward kernels are plain Go (with gonum's registered BLAS for the
// convolution GEMMs) and accept Float64 and Float32 values on the CPU; each
// call allocates its output.
package ops

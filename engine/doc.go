// Package engine runs gorgonia expression graphs.
//
// A Program is a graph compiled for repeated execution: the caller writes
// new inputs into the backing slices of the graph's input tensors (no
// allocation), calls Run, and reads the declared outputs through the
// program (Scalar, Dense, Output). Node values of the graph itself are not
// updated.
//
// Compile translates the part of the graph that reaches the outputs into
// a list of kernel calls over preallocated buffers (package kernels):
// nodes run in gorgonia.Sort's topological order; a buffer plan gives each
// node a buffer and hands a buffer to a later node once its last reader has
// run (reshapes share their input's buffer, inputs are read in place from
// their tensors, constants are copied once); each node becomes one kernel
// call (or a short fixed sequence, e.g. im2col + GEMM for a convolution).
// A steady-state Run allocates nothing.
//
// What compiles is an explicit list (SupportedOps, each entry tested
// against the TapeMachine): gorgonia's constants, size, reshape, repeat
// (broadcast), sum and max along contiguous axes, the elementwise unary and
// binary operators listed there, and matrix, matrix-vector, vector and
// batched products with transposes; gorgonia.Read nodes; autodiff's copying
// reshape; and the ops of package ops: as kernels the reductions,
// expansion, ReLU family, Pow, sigmoid, sigmoid binary cross-entropy
// (SigmoidBCE), softmax, log-softmax, softmax cross-entropy, reshape, the
// three convolution ops, GELU in both forms (derivative orders 0 to
// kernels.MaxGELUOrder = 8: order 2 for Hessian-vector products, order 3
// for their gradients), max pooling with its scatter and gather backward
// ops (the argmax recomputed from the input by each), average pooling and
// nearest upsampling with their adjoints, and the embedding's Gather and
// ScatterAdd; the one remaining case, GELU of order 9 and above, runs
// through the op's own Do method on the host, which allocates and needs
// the CPU set — HostOps lists such ops. Built-ins are
// recognised by their Go type name and String form, since gorgonia does not
// export its op types.
//
// A graph with any other op (or a non-float element type) runs on
// gorgonia's TapeMachine instead; the reason is logged once per Compile
// and reported by Fallback. Options.Backend forces the tape (for
// comparisons) or forbids the fallback.
//
// The kernel set is the CPU set by default (OpenBLAS GEMM when
// internal/openblas.Enable was called). Options.Set32/Set64 accept any
// kernels.Set, e.g. the CUDA set of kernels/cuda: inputs are then uploaded
// before and outputs downloaded after every Run, except the inputs named in
// Options.Resident (uploaded once, then synchronised only by Upload and
// Download: parameters and probe vectors stay on the device between steps)
// and the outputs named in Options.DeviceOutputs (gradients an optimizer on
// the same set reads in place; Buffers returns those device buffers).
package engine

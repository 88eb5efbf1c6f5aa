// Package autodiff is a reverse-mode differentiation pass over gorgonia
// expression graphs that stays correct when applied to its own output.
//
// gorgonia.Grad caches each node's derivative inside the node during the first
// backward pass and reuses that cache on the next one, so the gradient of an
// expression that already contains gradient nodes (a Hessian-vector product,
// a gradient-matching loss) comes out silently wrong. The pass in this package
// keeps all of its bookkeeping in local maps and only uses gorgonia's public
// API: gorgonia.Sort for the order, ExprGraph.From for a node's operands,
// the SDOp interface (SymDiff, DiffWRT) for local derivatives and ReduceAdd
// for fan-in. Any operation that implements gorgonia.SDOp, including ops
// defined outside gorgonia, can be differentiated, and so can the graphs its
// SymDiff builds as long as their ops are SDOps as well.
//
// Grad returns symbolic gradients as new nodes of the cost's graph; VJP does
// the same for a non-scalar output and a seed; HVP builds an exact
// Hessian-vector product by differentiating twice. Subpackage fdcheck compares
// all of these with central finite differences.
//
// The pass corrects the gorgonia derivatives that are wrong in v0.9.18 (see
// the regression tests in gorgonia_bugs_test.go):
//
//   - the slice-gradient op's DiffWRT (see DiffWRT);
//   - OuterProd, InverseSqrt and Log2, whose SymDiff is wrong (the gradient of
//     a matrix-vector product is an OuterProd, so second derivatives of every
//     dense layer applied to a vector depend on this);
//   - Reshape, whose gradient aliases memory and, for the shape (), has the
//     wrong value type; it is replaced by this package's copying Reshape.
//
// Use Reshape instead of gorgonia.Reshape in model graphs as well: gorgonia's
// reshape shares memory with its input, and an in-place op after it corrupts
// the input, which silently breaks first derivatives already. Tensordot that
// contracts every axis of its second operand has a gradient that fails at run
// time; contract fewer axes or use Mul.
package autodiff

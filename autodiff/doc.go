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
package autodiff

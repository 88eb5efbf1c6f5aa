// Package fdcheck compares the derivatives that package autodiff builds with
// central finite differences in float64.
//
// A model is given as a Builder: a function that, given parameter nodes of a
// fresh graph, builds a scalar loss. Problem compiles the loss, its gradient
// and (on first use) its Hessian-vector product into gorgonia TapeMachines and
// evaluates them at any parameter point. CheckGrad and CheckHVP compare
// directional derivatives of the loss and of the gradient along seeded random
// unit directions with a five-point central stencil, whose truncation error is
// O(h⁴), and report absolute and relative errors per direction.
package fdcheck

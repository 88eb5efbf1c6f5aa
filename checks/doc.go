// Package checks is the catalogue of derivative checks behind
// `gradlab check`: for every op of package ops and every model family of
// package nn, the gradient and the Hessian-vector product built by package
// autodiff are compared with float64 central differences along random
// directions (package autodiff/fdcheck) on random inputs.
//
// An op's output y is turned into the scalar Σ r⊙y + ½ Σ y⊙y with a fixed
// random r, so that the checked Hessian involves both the op's first and its
// second derivative (a plain Σ r⊙y has a zero Hessian for linear ops).
package checks

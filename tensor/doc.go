// Package tensor holds gradlab's flat-vector view of a model's parameters
// and its seeded initializers.
//
// A model's parameters are a list of gorgonia.org/tensor dense tensors. Many
// algorithms (optimizers, curvature probes, checkpoints) treat that list as
// one long vector: List gives the vector operations (dot, axpy, scale, norm,
// copy) without flattening, and Flatten/Unflatten convert to and from a
// single float64 slice when an algorithm needs one.
//
// gorgonia's own initializers draw from a clock-seeded source; the
// initializers here take an explicit *rand.Rand so that a seed fixes every
// weight.
package tensor

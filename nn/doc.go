// Package nn holds gradlab's models as gorgonia graph builders.
//
// A model owns named parameter tensors (Param); Bind creates one graph node
// per parameter on a given graph, sharing the parameter's backing tensor, so
// that several graphs (a training graph, an evaluation graph with another
// batch size, an HVP graph) see the same weights and an in-place optimizer
// update is visible to all of them. Parameters are created in their final
// shape: gorgonia can overwrite a reshaped input in place.
package nn

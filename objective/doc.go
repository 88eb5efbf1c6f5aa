// Package objective builds a model's loss on a batch of a dataset as a
// gorgonia graph: the shared front half of every program gradlab runs —
// the trainer's gradient step, evaluation, and the curvature probes' HVPs.
package objective

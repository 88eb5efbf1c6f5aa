// Package train runs the training loop: minibatches from a dataset through
// a compiled gradient program, optimizer updates, evaluation and probes on a
// schedule, metrics written as they are measured, checkpoints that resume the
// identical trajectory, and a stop with a clear message when the loss or the
// parameters stop being finite.
//
// The loop is deliberately short; the pieces it uses live in its
// subpackages (checkpoint, metrics, plot) and in nn, optim and engine.
package train

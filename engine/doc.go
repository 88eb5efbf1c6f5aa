// Package engine runs gorgonia expression graphs.
//
// A Program is a graph compiled for repeated execution: the caller writes
// new inputs into the backing slices of the graph's input tensors (no
// allocation), calls Run, and reads the declared outputs. This first
// implementation executes on gorgonia's TapeMachine; outputs are read
// through gorgonia.Read nodes, since the values of intermediate nodes are
// not reliable after a run (registers are reused).
package engine

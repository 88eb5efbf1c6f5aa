package engine

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
)

// residency is what Options says about values kept in the set's memory:
// the IDs of resident inputs and of outputs Run does not download.
type residency struct {
	inputs  map[int64]*gorgonia.Node
	outputs map[int64]bool
	bind    []Binding // Options.Bind (share.go)
}

func newResidency(o Options) residency {
	r := residency{inputs: make(map[int64]*gorgonia.Node, len(o.Resident)), outputs: make(map[int64]bool, len(o.DeviceOutputs)), bind: o.Bind}
	for _, n := range o.Resident {
		r.inputs[n.ID()] = n
	}
	for _, n := range o.DeviceOutputs {
		r.outputs[n.ID()] = true
	}
	return r
}

// check verifies that every resident input is an input of the compiled
// subgraph (index maps node IDs to positions in the execution order;
// isInput says whether the node at a position is read from its tensor).
func (r residency) check(index map[int64]int, isInput func(int) bool) error {
	for id, n := range r.inputs {
		i, ok := index[id]
		if !ok {
			return fmt.Errorf("resident node %s does not reach the outputs", n.Name())
		}
		if !isInput(i) {
			return fmt.Errorf("resident node %s is not an input", n.Name())
		}
	}
	return nil
}

// checkResidency validates Options.Resident and Options.DeviceOutputs
// against the graph and the outputs, and records them on the program.
func (p *Program) checkResidency(g *gorgonia.ExprGraph, o Options) error {
	p.outIndex = make(map[int64]int, len(p.outputs))
	for i := len(p.outputs) - 1; i >= 0; i-- {
		p.outIndex[p.outputs[i].ID()] = i
	}
	p.resident = make(map[int64]bool, len(o.Resident))
	for i, n := range o.Resident {
		switch {
		case n == nil:
			return fmt.Errorf("engine: resident node %d is nil", i)
		case n.Graph() != g:
			return fmt.Errorf("engine: resident node %s belongs to another graph", n.Name())
		case n.Op() != nil:
			return fmt.Errorf("engine: resident node %s is not an input (op %v)", n.Name(), n.Op())
		}
		p.resident[n.ID()] = true
	}
	for i, n := range o.DeviceOutputs {
		if n == nil {
			return fmt.Errorf("engine: device output %d is nil", i)
		}
		if _, ok := p.outIndex[n.ID()]; !ok {
			return fmt.Errorf("engine: device output %s is not an output of the program", n.Name())
		}
	}
	return nil
}

// residentRunner is implemented by runners whose values may live outside
// host memory.
type residentRunner interface {
	upload(n *gorgonia.Node) error
	downloadInput(n *gorgonia.Node) error
	downloadOutput(i int) error
}

// Upload copies the current host values of resident inputs (Options.Resident)
// to the kernel set, after the caller changed them on the host or bound
// new values with gorgonia.Let. On the host CPU set it only follows a
// rebinding; on the TapeMachine it does nothing (all values live on the
// host).
func (p *Program) Upload(nodes ...*gorgonia.Node) error {
	for _, n := range nodes {
		if n == nil || !p.resident[n.ID()] {
			return fmt.Errorf("engine: upload: %s is not a resident input", nodeName(n))
		}
		if r, ok := p.r.(residentRunner); ok {
			if err := r.upload(n); err != nil {
				return fmt.Errorf("engine: upload: %w", err)
			}
		}
	}
	return nil
}

// Download copies values from the kernel set to the host: for a resident
// input, into the tensor bound to the node (which must be a dense tensor);
// for an output, into the tensor that Dense and Output return (needed only
// for Options.DeviceOutputs; other outputs are downloaded by every Run).
// On the host CPU set and on the TapeMachine it does nothing, since the
// host values are the program's own.
func (p *Program) Download(nodes ...*gorgonia.Node) error {
	for _, n := range nodes {
		if n == nil {
			return fmt.Errorf("engine: download: nil node")
		}
		r, ok := p.r.(residentRunner)
		switch i, isOut := p.outIndex[n.ID()]; {
		case p.resident[n.ID()]:
			if ok {
				if err := r.downloadInput(n); err != nil {
					return fmt.Errorf("engine: download: %w", err)
				}
			}
		case isOut:
			if ok {
				if err := r.downloadOutput(i); err != nil {
					return fmt.Errorf("engine: download: output %d (%s): %w", i, n.Name(), err)
				}
			}
		default:
			return fmt.Errorf("engine: download: %s is neither a resident input nor an output", n.Name())
		}
	}
	return nil
}

// Buffers returns the kernel-set buffers that hold the given nodes' values:
// resident inputs (Options.Resident) and outputs. Kernels of the program's
// set may read them between runs and may update resident inputs in place
// (an optimizer step); output buffers are rewritten by every Run. The
// buffers belong to the program and are invalid after Close. On the host
// CPU set they alias the host tensors. Buffers fails for a program on the
// TapeMachine, for an element type other than the program's and for any
// other node.
func Buffers[T kernels.Float](p *Program, nodes ...*gorgonia.Node) ([]kernels.Buffer[T], error) {
	nat, ok := p.r.(*native[T])
	if !ok {
		var z T
		if p.backend == "tape" {
			return nil, fmt.Errorf("engine: buffers: the program runs on the TapeMachine (%s)", p.fallback)
		}
		return nil, fmt.Errorf("engine: buffers: the program runs on %s, not on a %T kernel set", p.backend, z)
	}
	out := make([]kernels.Buffer[T], len(nodes))
	for k, n := range nodes {
		if n == nil {
			return nil, fmt.Errorf("engine: buffers: node %d is nil", k)
		}
		if p.resident[n.ID()] {
			out[k] = nat.resident[n.ID()].buf
			continue
		}
		i, isOut := p.outIndex[n.ID()]
		if !isOut {
			return nil, fmt.Errorf("engine: buffers: %s is neither a resident input nor an output", n.Name())
		}
		out[k] = nat.outBufs[i]
	}
	return out, nil
}

func nodeName(n *gorgonia.Node) string {
	if n == nil {
		return "nil node"
	}
	return n.Name()
}

func (nat *native[T]) upload(n *gorgonia.Node) error {
	return nat.sync(nat.resident[n.ID()])
}

func (nat *native[T]) downloadInput(n *gorgonia.Node) error {
	e := nat.resident[n.ID()]
	if e.host != nil {
		return nil
	}
	v := n.Value()
	switch v.(type) {
	case *gorgonia.F64, *gorgonia.F32:
		return fmt.Errorf("input %s holds a scalar, which cannot be written in place", n.Name())
	}
	if v != e.val {
		// Rebound since the last upload: write into the new tensor.
		d, err := valueData[T](v, e.buf.Len())
		if err != nil {
			return fmt.Errorf("input %s: %w", n.Name(), err)
		}
		e.val, e.data = v, d
	}
	if err := nat.set.Download(e.data, e.buf); err != nil {
		return fmt.Errorf("input %s: %w", n.Name(), err)
	}
	return nil
}

func (nat *native[T]) downloadOutput(i int) error {
	if nat.onHost {
		return nil
	}
	return nat.set.Download(nat.outHost[i], nat.outBufs[i])
}

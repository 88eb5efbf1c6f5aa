package engine

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
)

// Binding ties an input node of a graph being compiled to a buffer of the
// program's kernel set that the caller owns (Options.Bind); make one with
// Bind.
type Binding struct {
	node *gorgonia.Node
	buf  any  // a kernels.Buffer[T]
	f32  bool // T is float32 (Buffer's method set does not tell)
}

// Bind returns the binding of input node n to buffer b. Binding the
// parameter nodes of one graph to the buffers Buffers returns for the
// resident parameters of another program makes the two programs read the
// same memory: an optimizer step on the first program's buffers is seen
// by the next run of the second, with no copy and no upload.
func Bind[T kernels.Float](n *gorgonia.Node, b kernels.Buffer[T]) Binding {
	var z T
	_, f32 := any(z).(float32)
	return Binding{node: n, buf: b, f32: f32}
}

// Node returns the bound input node.
func (b Binding) Node() *gorgonia.Node { return b.node }

// checkBindings validates Options.Bind: each bound node is an input of g,
// listed in Options.Resident, bound once, to a non-nil buffer.
func checkBindings(g *gorgonia.ExprGraph, o Options) error {
	if len(o.Bind) == 0 {
		return nil
	}
	if o.Backend == Tape {
		return fmt.Errorf("engine: bound inputs need a compiled program, not the TapeMachine")
	}
	resident := make(map[int64]bool, len(o.Resident))
	for _, n := range o.Resident {
		if n != nil {
			resident[n.ID()] = true
		}
	}
	seen := make(map[int64]bool, len(o.Bind))
	for i, b := range o.Bind {
		switch n := b.node; {
		case n == nil:
			return fmt.Errorf("engine: binding %d has no node", i)
		case b.buf == nil:
			return fmt.Errorf("engine: binding of %s has no buffer", n.Name())
		case n.Graph() != g:
			return fmt.Errorf("engine: bound node %s belongs to another graph", n.Name())
		case !resident[n.ID()]:
			return fmt.Errorf("engine: bound node %s is not listed in Options.Resident", n.Name())
		case seen[n.ID()]:
			return fmt.Errorf("engine: node %s is bound twice", n.Name())
		}
		seen[b.node.ID()] = true
	}
	return nil
}

// boundBuffers returns the buffers of the bindings by node ID, checking
// their element type.
func boundBuffers[T kernels.Float](bind []Binding) (map[int64]kernels.Buffer[T], error) {
	if len(bind) == 0 {
		return nil, nil
	}
	out := make(map[int64]kernels.Buffer[T], len(bind))
	var z T
	_, f32 := any(z).(float32)
	for _, b := range bind {
		buf, ok := b.buf.(kernels.Buffer[T])
		if !ok || buf == nil || b.f32 != f32 {
			return nil, fmt.Errorf("bound node %s: buffer %T does not hold %T elements", b.node.Name(), b.buf, z)
		}
		out[b.node.ID()] = buf
	}
	return out, nil
}

// addBound gives input p (external e, host data data) its bound buffer,
// when it has one, and reports whether it did. A bound input is not
// uploaded at compile time, never refreshed by Run (Upload copies the
// node's host value into the buffer, Download the other way), and not
// freed by Close.
func (nat *native[T]) addBound(p *nodePlan[T], e *external[T], data []T) (bool, error) {
	b, ok := nat.bound[p.n.ID()]
	if !ok {
		return false, nil
	}
	if b.Len() != p.size {
		return true, fmt.Errorf("bound node %s: buffer of %d elements for a value of %d", p.n.Name(), b.Len(), p.size)
	}
	e.buf, e.data, e.bound = b, data, true
	p.ext = len(nat.exts)
	nat.exts = append(nat.exts, e)
	return true, nil
}

// KernelSet returns the kernel set a compiled program runs on, for kernels
// that work on its Buffers (and for programs that bind them). It fails as
// Buffers does: for a program on the TapeMachine or of another element
// type.
func KernelSet[T kernels.Float](p *Program) (kernels.Set[T], error) {
	nat, ok := p.r.(*native[T])
	if !ok {
		var z T
		if p.backend == "tape" {
			return nil, fmt.Errorf("engine: kernel set: the program runs on the TapeMachine (%s)", p.fallback)
		}
		return nil, fmt.Errorf("engine: kernel set: the program runs on %s, not on a %T kernel set", p.backend, z)
	}
	return nat.set, nil
}

// OptionsOn returns options that compile a program to kernel calls on set
// (Backend Native, set in the slot of its element type).
func OptionsOn[T kernels.Float](set kernels.Set[T]) Options {
	o := Options{Backend: Native}
	switch s := any(set).(type) {
	case kernels.Set[float32]:
		o.Set32 = s
	case kernels.Set[float64]:
		o.Set64 = s
	}
	return o
}

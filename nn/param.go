package nn

import (
	"fmt"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/tensor"
)

// Param is a named parameter tensor. Names are stable across versions:
// checkpoints store tensors by name.
type Param struct {
	Name  string
	Value *gt.Dense
	// Frozen parameters are part of the model but not trained.
	Frozen bool
}

// Params is an ordered list of parameters.
type Params []*Param

// Values returns the parameters' tensors in order.
func (ps Params) Values() tensor.List {
	l := make(tensor.List, len(ps))
	for i, p := range ps {
		l[i] = p.Value
	}
	return l
}

// Trainable returns the parameters that are not frozen.
func (ps Params) Trainable() Params {
	var out Params
	for _, p := range ps {
		if !p.Frozen {
			out = append(out, p)
		}
	}
	return out
}

// Count returns the number of scalar parameters.
func (ps Params) Count() int { return ps.Values().Len() }

// ByName returns the named parameter.
func (ps Params) ByName(name string) (*Param, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Model is anything that builds an output node from an input node on a
// graph where its parameters are bound.
type Model interface {
	// Params lists all parameters in a fixed order.
	Params() Params
	// Forward builds the model's output for input x using the nodes of b.
	Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error)
}

// Binding holds one graph node per parameter of a model.
type Binding struct {
	g      *gorgonia.ExprGraph
	params Params
	nodes  map[string]*gorgonia.Node
}

// Bind creates a node on g for each parameter, backed by the parameter's
// tensor.
func Bind(g *gorgonia.ExprGraph, params Params) (*Binding, error) {
	b := &Binding{g: g, params: params, nodes: make(map[string]*gorgonia.Node, len(params))}
	for _, p := range params {
		if _, dup := b.nodes[p.Name]; dup {
			return nil, fmt.Errorf("nn: duplicate parameter name %q", p.Name)
		}
		shape := p.Value.Shape().Clone()
		n := gorgonia.NewTensor(g, p.Value.Dtype(), len(shape), gorgonia.WithShape(shape...),
			gorgonia.WithName(p.Name), gorgonia.WithValue(p.Value))
		b.nodes[p.Name] = n
	}
	return b, nil
}

// Graph returns the graph the parameters are bound on.
func (b *Binding) Graph() *gorgonia.ExprGraph { return b.g }

// Node returns the node of the named parameter; it panics on an unknown name,
// which is a programming error in a model.
func (b *Binding) Node(name string) *gorgonia.Node {
	n, ok := b.nodes[name]
	if !ok {
		panic(fmt.Sprintf("nn: no parameter %q bound", name))
	}
	return n
}

// Nodes returns the nodes of the given parameters in their order.
func (b *Binding) Nodes(ps Params) gorgonia.Nodes {
	out := make(gorgonia.Nodes, len(ps))
	for i, p := range ps {
		out[i] = b.Node(p.Name)
	}
	return out
}

// BindNodes binds the trainable parameters of params to the given nodes (in
// the order of params.Trainable()) and creates nodes for the frozen ones.
// It serves code that creates the parameter nodes itself, such as the
// finite-difference checkers.
func BindNodes(g *gorgonia.ExprGraph, params Params, trainable gorgonia.Nodes) (*Binding, error) {
	tr := params.Trainable()
	if len(tr) != len(trainable) {
		return nil, fmt.Errorf("nn: %d nodes for %d trainable parameters", len(trainable), len(tr))
	}
	b := &Binding{g: g, params: params, nodes: make(map[string]*gorgonia.Node, len(params))}
	for i, p := range tr {
		if !trainable[i].Shape().Eq(p.Value.Shape()) {
			return nil, fmt.Errorf("nn: node for %q has shape %v, parameter has %v", p.Name, trainable[i].Shape(), p.Value.Shape())
		}
		b.nodes[p.Name] = trainable[i]
	}
	for _, p := range params {
		if !p.Frozen {
			continue
		}
		shape := p.Value.Shape().Clone()
		b.nodes[p.Name] = gorgonia.NewTensor(g, p.Value.Dtype(), len(shape), gorgonia.WithShape(shape...),
			gorgonia.WithName(p.Name), gorgonia.WithValue(p.Value))
	}
	return b, nil
}

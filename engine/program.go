package engine

import (
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"
)

// Program is a compiled graph with a fixed list of outputs.
type Program struct {
	vm      gorgonia.VM
	outputs []*gorgonia.Node
	vals    []gorgonia.Value
}

// Compile prepares g for execution and arranges for the given output nodes
// to be readable after every Run. All outputs must belong to g. Compile must
// be called after the whole graph (including gradient nodes) is built.
func Compile(g *gorgonia.ExprGraph, outputs ...*gorgonia.Node) (*Program, error) {
	p := &Program{outputs: outputs, vals: make([]gorgonia.Value, len(outputs))}
	reads := make(gorgonia.Nodes, len(outputs))
	for i, n := range outputs {
		if n == nil {
			return nil, fmt.Errorf("engine: output %d is nil", i)
		}
		if n.Graph() != g {
			return nil, fmt.Errorf("engine: output %d (%s) belongs to another graph", i, n.Name())
		}
		reads[i] = gorgonia.Read(n, &p.vals[i])
	}
	// Only the part of the graph that reaches the outputs is compiled:
	// symbolic differentiation also creates nodes nothing needs.
	p.vm = gorgonia.NewTapeMachine(g.SubgraphRoots(reads...))
	return p, nil
}

// Run executes the program once. Output values are valid until the next Run.
func (p *Program) Run() error {
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	return nil
}

// Output returns output i's value after the last Run.
func (p *Program) Output(i int) gorgonia.Value { return p.vals[i] }

// Dense returns output i as a dense tensor. Scalars come back as 0-d tensors.
func (p *Program) Dense(i int) (*gt.Dense, error) {
	switch v := p.vals[i].(type) {
	case *gt.Dense:
		return v, nil
	case nil:
		return nil, fmt.Errorf("engine: output %d (%s) has no value; was Run called?", i, p.outputs[i].Name())
	default:
		return nil, fmt.Errorf("engine: output %d (%s) is %T, not a dense tensor", i, p.outputs[i].Name(), v)
	}
}

// Scalar returns output i as a float64; the output must hold one element.
func (p *Program) Scalar(i int) (float64, error) {
	v := p.vals[i]
	if v == nil {
		return math.NaN(), fmt.Errorf("engine: output %d (%s) has no value; was Run called?", i, p.outputs[i].Name())
	}
	switch d := v.Data().(type) {
	case float64:
		return d, nil
	case float32:
		return float64(d), nil
	case []float64:
		if len(d) == 1 {
			return d[0], nil
		}
	case []float32:
		if len(d) == 1 {
			return float64(d[0]), nil
		}
	}
	return math.NaN(), fmt.Errorf("engine: output %d (%s) is not a scalar (shape %v)", i, p.outputs[i].Name(), v.Shape())
}

// Close releases the machine.
func (p *Program) Close() error { return p.vm.Close() }

package fdcheck

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
)

// Param is one float64 parameter of a checked model: its name, its shape
// (empty for a scalar) and its values in row-major order.
type Param struct {
	Name  string
	Shape []int
	Data  []float64
}

// RandomParam returns a parameter of the given shape with entries drawn
// uniformly from [-scale, scale) by rng.
func RandomParam(name string, rng *rand.Rand, scale float64, shape ...int) Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = scale * (2*rng.Float64() - 1)
	}
	return Param{Name: name, Shape: append([]int(nil), shape...), Data: d}
}

// Builder builds a scalar float64 loss in g from the parameter nodes (one per
// Param, in order, with the Param's name and shape). Data the loss needs
// besides the parameters can be created inside the builder as constants or
// inputs with values.
type Builder func(g *gorgonia.ExprGraph, params gorgonia.Nodes) (*gorgonia.Node, error)

// Problem is a compiled loss with its gradient and Hessian-vector product,
// evaluated on flat parameter vectors (the parameters' data concatenated in
// order).
type Problem struct {
	g       *gorgonia.ExprGraph
	params  gorgonia.Nodes
	shapes  [][]int
	offsets []int // len(params)+1
	init    []float64
	loss    *gorgonia.Node

	lossVM  gorgonia.VM
	lossOut gorgonia.Value

	gradVM   gorgonia.VM
	gradLoss gorgonia.Value
	gradOut  []gorgonia.Value

	hvpVM  gorgonia.VM
	probes gorgonia.Nodes
	hvpOut []gorgonia.Value
}

// NewProblem builds the graph with build, differentiates it with
// autodiff.Grad and compiles the loss and gradient machines. The HVP machine
// is built on the first call to HVP, so that a model whose second derivative
// cannot be built can still have its gradient checked.
func NewProblem(build Builder, params []Param) (*Problem, error) {
	if len(params) == 0 {
		return nil, errors.New("fdcheck: no parameters")
	}
	p := &Problem{g: gorgonia.NewGraph(), offsets: []int{0}}
	for _, pr := range params {
		size := 1
		for _, s := range pr.Shape {
			size *= s
		}
		if size != len(pr.Data) {
			return nil, fmt.Errorf("fdcheck: parameter %q has shape %v but %d values", pr.Name, pr.Shape, len(pr.Data))
		}
		var n *gorgonia.Node
		if len(pr.Shape) == 0 {
			n = gorgonia.NewScalar(p.g, tensor.Float64, gorgonia.WithName(pr.Name), gorgonia.WithValue(pr.Data[0]))
		} else {
			t := tensor.New(tensor.WithShape(pr.Shape...), tensor.WithBacking(append([]float64(nil), pr.Data...)))
			n = gorgonia.NewTensor(p.g, tensor.Float64, len(pr.Shape), gorgonia.WithShape(pr.Shape...),
				gorgonia.WithName(pr.Name), gorgonia.WithValue(t))
		}
		p.params = append(p.params, n)
		p.shapes = append(p.shapes, append([]int(nil), pr.Shape...))
		p.offsets = append(p.offsets, p.offsets[len(p.offsets)-1]+size)
		p.init = append(p.init, pr.Data...)
	}
	loss, err := build(p.g, p.params)
	if err != nil {
		return nil, fmt.Errorf("fdcheck: building the loss: %w", err)
	}
	if loss == nil || loss.Dtype() != tensor.Float64 || (!loss.IsScalar() && loss.Shape().TotalSize() != 1) {
		return nil, fmt.Errorf("fdcheck: the builder must return a float64 scalar loss, got %v", loss)
	}
	p.loss = loss

	grads, err := autodiff.Grad(loss, p.params...)
	if err != nil {
		return nil, fmt.Errorf("fdcheck: gradient: %w", err)
	}

	lossRead := gorgonia.Read(loss, &p.lossOut)
	if p.lossVM, err = compile(p.g, lossRead); err != nil {
		return nil, fmt.Errorf("fdcheck: compiling the loss: %w", err)
	}
	roots := gorgonia.Nodes{gorgonia.Read(loss, &p.gradLoss)}
	p.gradOut = make([]gorgonia.Value, len(grads))
	for i, gr := range grads {
		roots = append(roots, gorgonia.Read(gr, &p.gradOut[i]))
	}
	if p.gradVM, err = compile(p.g, roots...); err != nil {
		return nil, fmt.Errorf("fdcheck: compiling the gradient: %w", err)
	}
	return p, nil
}

func compile(g *gorgonia.ExprGraph, roots ...*gorgonia.Node) (vm gorgonia.VM, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compile panicked: %v", r)
		}
	}()
	return gorgonia.NewTapeMachine(g.SubgraphRoots(roots...)), nil
}

// Dim is the total number of parameter entries.
func (p *Problem) Dim() int { return p.offsets[len(p.offsets)-1] }

// Point returns a copy of the parameter values the problem was built with.
func (p *Problem) Point() []float64 { return append([]float64(nil), p.init...) }

// Graph returns the problem's expression graph.
func (p *Problem) Graph() *gorgonia.ExprGraph { return p.g }

// Params returns the parameter nodes.
func (p *Problem) Params() gorgonia.Nodes { return p.params }

// Close releases the machines.
func (p *Problem) Close() error {
	var errs []error
	for _, vm := range []gorgonia.VM{p.lossVM, p.gradVM, p.hvpVM} {
		if vm != nil {
			errs = append(errs, vm.Close())
		}
	}
	return errors.Join(errs...)
}

// set binds fresh copies of theta's pieces to the parameter nodes, so that an
// op that writes into its input cannot change the caller's data.
func (p *Problem) set(theta []float64) error {
	if len(theta) != p.Dim() {
		return fmt.Errorf("fdcheck: point has %d entries, want %d", len(theta), p.Dim())
	}
	for i, n := range p.params {
		chunk := theta[p.offsets[i]:p.offsets[i+1]]
		var err error
		if len(p.shapes[i]) == 0 {
			err = gorgonia.Let(n, chunk[0])
		} else {
			err = gorgonia.Let(n, tensor.New(tensor.WithShape(p.shapes[i]...), tensor.WithBacking(append([]float64(nil), chunk...))))
		}
		if err != nil {
			return fmt.Errorf("fdcheck: setting %q: %w", n.Name(), err)
		}
	}
	return nil
}

func run(vm gorgonia.VM) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("fdcheck: machine panicked: %v", r)
		}
	}()
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		return fmt.Errorf("fdcheck: run: %w", err)
	}
	return nil
}

// Loss evaluates the loss at theta.
func (p *Problem) Loss(theta []float64) (float64, error) {
	if err := p.set(theta); err != nil {
		return 0, err
	}
	if err := run(p.lossVM); err != nil {
		return 0, err
	}
	return scalar(p.lossOut)
}

// Grad evaluates the loss and its gradient (flat) at theta.
func (p *Problem) Grad(theta []float64) (float64, []float64, error) {
	if err := p.set(theta); err != nil {
		return 0, nil, err
	}
	if err := run(p.gradVM); err != nil {
		return 0, nil, err
	}
	l, err := scalar(p.gradLoss)
	if err != nil {
		return 0, nil, err
	}
	g, err := p.flatten(p.gradOut)
	return l, g, err
}

// HVP evaluates the Hessian-vector product H(theta)·v (flat) with the graph
// built by autodiff.HVP.
func (p *Problem) HVP(theta, v []float64) ([]float64, error) {
	if p.hvpVM == nil {
		probes, err := autodiff.NewProbe(p.g, p.params)
		if err != nil {
			return nil, fmt.Errorf("fdcheck: %w", err)
		}
		hv, err := autodiff.HVP(p.loss, p.params, probes)
		if err != nil {
			return nil, fmt.Errorf("fdcheck: HVP graph: %w", err)
		}
		out := make([]gorgonia.Value, len(hv))
		roots := make(gorgonia.Nodes, len(hv))
		for i, n := range hv {
			roots[i] = gorgonia.Read(n, &out[i])
		}
		vm, err := compile(p.g, roots...)
		if err != nil {
			return nil, fmt.Errorf("fdcheck: compiling the HVP: %w", err)
		}
		p.probes, p.hvpOut, p.hvpVM = probes, out, vm
	}
	if len(v) != p.Dim() {
		return nil, fmt.Errorf("fdcheck: vector has %d entries, want %d", len(v), p.Dim())
	}
	if err := p.set(theta); err != nil {
		return nil, err
	}
	for i, n := range p.probes {
		chunk := v[p.offsets[i]:p.offsets[i+1]]
		var err error
		if len(p.shapes[i]) == 0 {
			err = gorgonia.Let(n, chunk[0])
		} else {
			err = gorgonia.Let(n, tensor.New(tensor.WithShape(p.shapes[i]...), tensor.WithBacking(append([]float64(nil), chunk...))))
		}
		if err != nil {
			return nil, fmt.Errorf("fdcheck: setting probe %q: %w", n.Name(), err)
		}
	}
	if err := run(p.hvpVM); err != nil {
		return nil, err
	}
	return p.flatten(p.hvpOut)
}

func (p *Problem) flatten(vals []gorgonia.Value) ([]float64, error) {
	out := make([]float64, 0, p.Dim())
	for i, v := range vals {
		if v == nil {
			return nil, fmt.Errorf("fdcheck: no value read for %q", p.params[i].Name())
		}
		switch d := v.Data().(type) {
		case float64:
			out = append(out, d)
		case []float64:
			out = append(out, d...)
		default:
			return nil, fmt.Errorf("fdcheck: value for %q is %T, want float64 data", p.params[i].Name(), d)
		}
		if len(out) != p.offsets[i+1] {
			return nil, fmt.Errorf("fdcheck: value for %q has %d entries, want %d", p.params[i].Name(), len(out)-p.offsets[i], p.offsets[i+1]-p.offsets[i])
		}
	}
	return out, nil
}

func scalar(v gorgonia.Value) (float64, error) {
	if v == nil {
		return 0, errors.New("fdcheck: no value read for the loss")
	}
	switch d := v.Data().(type) {
	case float64:
		return d, nil
	case []float64:
		if len(d) == 1 {
			return d[0], nil
		}
	}
	return 0, fmt.Errorf("fdcheck: loss value %v is not a float64 scalar", v)
}

package autodiff

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Grad returns the symbolic gradients of the scalar cost with respect to each
// node of wrt, as new nodes of the cost's graph, in the order of wrt.
//
// cost must hold a single value: either a scalar node or a tensor with one
// element. A node of wrt on which cost does not depend (or depends only
// through non-differentiable paths such as integer inputs or constants) gets
// a zero constant of its own shape. wrt may name intermediate nodes as well as
// inputs; the gradient with respect to an intermediate node is the total
// adjoint flowing into it.
//
// Grad keeps no state in the nodes, so the expression it returns may itself be
// differentiated again (see HVP) to any order.
func Grad(cost *gorgonia.Node, wrt ...*gorgonia.Node) (gorgonia.Nodes, error) {
	if cost == nil {
		return nil, errors.New("autodiff: Grad: nil cost")
	}
	if !cost.IsScalar() && cost.Shape().TotalSize() != 1 {
		return nil, fmt.Errorf("autodiff: Grad: cost %q has shape %v, want a scalar", cost.Name(), cost.Shape())
	}
	seed, err := constantLike(cost, 1)
	if err != nil {
		return nil, fmt.Errorf("autodiff: Grad: seed for %q: %w", cost.Name(), err)
	}
	return VJP(gorgonia.Nodes{cost}, gorgonia.Nodes{seed}, wrt)
}

// VJP returns the vector-Jacobian product Σ_k seeds[k]ᵀ ∂outputs[k]/∂w for
// each node w of wrt, as new nodes of the outputs' graph. seeds[k] must have
// the shape and dtype of outputs[k]; it may be any node (a constant, an input
// that is set at run time, or an expression), and the result is linear in it.
// Grad(cost, wrt...) is VJP({cost}, {1}, wrt).
func VJP(outputs, seeds, wrt gorgonia.Nodes) (gorgonia.Nodes, error) {
	if len(outputs) == 0 {
		return nil, errors.New("autodiff: VJP: no outputs")
	}
	if len(outputs) != len(seeds) {
		return nil, fmt.Errorf("autodiff: VJP: %d outputs but %d seeds", len(outputs), len(seeds))
	}
	g := outputs[0].Graph()
	for i, o := range outputs {
		s := seeds[i]
		if o == nil || s == nil {
			return nil, fmt.Errorf("autodiff: VJP: output or seed %d is nil", i)
		}
		if o.Graph() != g || s.Graph() != g {
			return nil, fmt.Errorf("autodiff: VJP: output %q or its seed belongs to another graph", o.Name())
		}
		if !sameShape(o, s) {
			return nil, fmt.Errorf("autodiff: VJP: output %q has shape %v but its seed %q has shape %v",
				o.Name(), o.Shape(), s.Name(), s.Shape())
		}
		if o.Dtype() != s.Dtype() {
			return nil, fmt.Errorf("autodiff: VJP: output %q is %v but its seed is %v", o.Name(), o.Dtype(), s.Dtype())
		}
	}
	for i, w := range wrt {
		if w == nil {
			return nil, fmt.Errorf("autodiff: wrt[%d] is nil", i)
		}
		if w.Graph() != g {
			return nil, fmt.Errorf("autodiff: wrt[%d] %q belongs to another graph", i, w.Name())
		}
	}

	p, err := newPass(g)
	if err != nil {
		return nil, err
	}
	if err := p.analyse(outputs, wrt); err != nil {
		return nil, err
	}
	adj, err := p.backward(outputs, seeds)
	if err != nil {
		return nil, err
	}

	out := make(gorgonia.Nodes, len(wrt))
	for i, w := range wrt {
		if a, ok := adj[w]; ok {
			out[i] = a
			continue
		}
		z, err := constantLike(w, 0)
		if err != nil {
			return nil, fmt.Errorf("autodiff: zero gradient for %q: %w", w.Name(), err)
		}
		out[i] = z
	}
	return out, nil
}

// pass holds the bookkeeping of one backward pass. Nothing is stored in the
// nodes themselves.
type pass struct {
	g        *gorgonia.ExprGraph
	sorted   gorgonia.Nodes // parents before children
	children map[*gorgonia.Node]gorgonia.Nodes
	diffs    map[*gorgonia.Node][]bool // nil for inputs and non-SDOp ops
	diffErr  map[*gorgonia.Node]error  // why diffs is nil for an op node
	active   map[*gorgonia.Node]bool
}

func newPass(g *gorgonia.ExprGraph) (*pass, error) {
	sorted, err := gorgonia.Sort(g)
	if err != nil {
		return nil, fmt.Errorf("autodiff: sorting graph: %w", err)
	}
	p := &pass{
		g:        g,
		sorted:   sorted,
		children: make(map[*gorgonia.Node]gorgonia.Nodes, len(sorted)),
		diffs:    make(map[*gorgonia.Node][]bool, len(sorted)),
		diffErr:  make(map[*gorgonia.Node]error),
	}
	for _, n := range sorted {
		ch := Children(g, n)
		p.children[n] = ch
		if len(ch) == 0 {
			continue
		}
		// A failure only matters if the node lies between an output and
		// wrt; other parts of the graph (statements, unrelated subgraphs)
		// are left alone.
		d, err := DiffWRT(n, len(ch))
		if err != nil {
			p.diffErr[n] = err
			continue
		}
		if d == nil {
			p.diffErr[n] = fmt.Errorf("autodiff: node %q (op %v) depends on a differentiated node but its op does not implement gorgonia.SDOp", n.Name(), n.Op())
			continue
		}
		p.diffs[n] = d
	}
	return p, nil
}

// analyse marks the active nodes: those reachable from an output through
// differentiable edges and that depend differentiably on some node of wrt.
func (p *pass) analyse(outputs, wrt gorgonia.Nodes) error {
	reach := make(map[*gorgonia.Node]bool)
	for _, o := range outputs {
		reach[o] = true
	}
	for _, n := range p.sorted {
		if !reach[n] {
			continue
		}
		d := p.diffs[n]
		for j, c := range p.children[n] {
			if d != nil && d[j] {
				reach[c] = true
			}
		}
	}

	wrtSet := make(map[*gorgonia.Node]bool, len(wrt))
	for _, w := range wrt {
		wrtSet[w] = true
	}
	dep := make(map[*gorgonia.Node]bool)
	for i := len(p.sorted) - 1; i >= 0; i-- {
		n := p.sorted[i]
		if wrtSet[n] {
			dep[n] = true
			continue
		}
		ch := p.children[n]
		d := p.diffs[n]
		for j, c := range ch {
			if !dep[c] {
				continue
			}
			if d == nil {
				// An op without derivative sits between an output and wrt.
				if reach[n] && isFloat(n.Dtype()) && p.diffErr[n] != nil {
					return p.diffErr[n]
				}
				break
			}
			if d[j] {
				dep[n] = true
				break
			}
		}
	}

	p.active = make(map[*gorgonia.Node]bool)
	for n := range reach {
		if dep[n] {
			p.active[n] = true
		}
	}
	return nil
}

// backward walks the active nodes from the outputs down and returns the
// adjoint of every active node.
func (p *pass) backward(outputs, seeds gorgonia.Nodes) (map[*gorgonia.Node]*gorgonia.Node, error) {
	terms := make(map[*gorgonia.Node]gorgonia.Nodes)
	for i, o := range outputs {
		if p.active[o] {
			terms[o] = append(terms[o], seeds[i])
		}
	}
	adj := make(map[*gorgonia.Node]*gorgonia.Node)
	for _, n := range p.sorted {
		if !p.active[n] {
			continue
		}
		ts := terms[n]
		delete(terms, n)
		if len(ts) == 0 {
			return nil, fmt.Errorf("autodiff: node %q (op %v): no gradient reached it (internal error)", n.Name(), n.Op())
		}
		total, err := gorgonia.ReduceAdd(ts)
		if err != nil {
			return nil, fmt.Errorf("autodiff: summing %d gradient terms of node %q (op %v): %w", len(ts), n.Name(), n.Op(), err)
		}
		adj[n] = total

		ch := p.children[n]
		d := p.diffs[n]
		needed := false
		for j, c := range ch {
			if d[j] && p.active[c] {
				needed = true
				break
			}
		}
		if !needed {
			continue
		}
		cg, err := localGrads(n, ch, total)
		if err != nil {
			return nil, err
		}
		for j, c := range ch {
			if !d[j] || !p.active[c] {
				continue
			}
			gj := cg[j]
			if gj == nil {
				return nil, fmt.Errorf("autodiff: node %q (op %v): SymDiff returned no gradient for operand %d %q", n.Name(), n.Op(), j, c.Name())
			}
			if gj, err = p.conform(gj, c); err != nil {
				return nil, fmt.Errorf("autodiff: node %q (op %v), operand %d: %w", n.Name(), n.Op(), j, err)
			}
			terms[c] = append(terms[c], gj)
		}
	}
	return adj, nil
}

// localGrads returns the gradient terms of n's operands given n's adjoint.
// It replaces the derivative of gorgonia ops whose SymDiff is wrong:
//
//   - gorgonia.Reshape: its gradient is another aliasing reshape (see
//     Reshape), and a reshape to () yields a tensor where a scalar is typed;
//     this package's copying Reshape is used instead.
//   - OuterProd (z = x yᵀ): gorgonia returns x·z̄ and y·z̄, which is the
//     gradient of y for the first and nonsense for the second; the right
//     pair is z̄·y and z̄ᵀ·x. gorgonia's own gradient of a matrix-vector
//     product is an OuterProd, so every second derivative through a
//     matrix-vector product needs this.
//   - InverseSqrt (y = x^{-1/2}): gorgonia divides by 2y³ instead of
//     multiplying; the derivative is −½ y³ ḡ.
//   - Log2: gorgonia returns ḡ ln2 / x; the derivative is ḡ / (x ln2).
//
// Every other op goes through its own SymDiff.
func localGrads(n *gorgonia.Node, ch gorgonia.Nodes, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	op := n.Op()
	switch {
	case isUnary(op, "invSqrt") && len(ch) == 1:
		d, err := invSqrtGrad(n, grad)
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %q (op %v): %w", n.Name(), op, err)
		}
		return gorgonia.Nodes{d}, nil
	case isUnary(op, "log2") && len(ch) == 1:
		d, err := log2Grad(ch[0], grad)
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %q (op %v): %w", n.Name(), op, err)
		}
		return gorgonia.Nodes{d}, nil
	case fmt.Sprintf("%T", op) == "gorgonia.reshapeOp" && len(ch) == 1:
		to := ch[0].Shape().Clone()
		if ch[0].IsScalar() {
			to = tensor.Shape{}
		}
		r, err := Reshape(grad, to)
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %q (op %v): %w", n.Name(), op, err)
		}
		return gorgonia.Nodes{r}, nil
	case isOuterProd(op) && len(ch) == 2:
		dx, err := gorgonia.Mul(grad, ch[1])
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %q (op %v): gradient of the left operand: %w", n.Name(), op, err)
		}
		dy, err := gorgonia.Mul(ch[0], grad)
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %q (op %v): gradient of the right operand: %w", n.Name(), op, err)
		}
		return gorgonia.Nodes{dx, dy}, nil
	}
	return symDiff(n, ch, grad)
}

func isUnary(op gorgonia.Op, name string) bool {
	return fmt.Sprintf("%T", op) == "gorgonia.elemUnaryOp" && op.String() == name
}

// invSqrtGrad returns −½ y³ ⊙ ḡ for y = x^{-1/2}.
func invSqrtGrad(y, grad *gorgonia.Node) (*gorgonia.Node, error) {
	c, err := scalarConst(y.Dtype(), -0.5)
	if err != nil {
		return nil, err
	}
	y3, err := gorgonia.Cube(y)
	if err != nil {
		return nil, err
	}
	d, err := mulElem(y3, c)
	if err != nil {
		return nil, err
	}
	return mulElem(grad, d)
}

// log2Grad returns ḡ / (x ln2).
func log2Grad(x, grad *gorgonia.Node) (*gorgonia.Node, error) {
	c, err := scalarConst(x.Dtype(), math.Ln2)
	if err != nil {
		return nil, err
	}
	xl, err := mulElem(x, c)
	if err != nil {
		return nil, err
	}
	if xl.IsScalar() {
		return gorgonia.Div(grad, xl)
	}
	return gorgonia.HadamardDiv(grad, xl)
}

// mulElem multiplies elementwise, with a scalar on either side.
func mulElem(a, b *gorgonia.Node) (*gorgonia.Node, error) {
	if a.IsScalar() || b.IsScalar() {
		return gorgonia.Mul(a, b)
	}
	return gorgonia.HadamardProd(a, b)
}

func scalarConst(dt tensor.Dtype, v float64) (*gorgonia.Node, error) {
	switch dt {
	case tensor.Float64:
		return gorgonia.NewConstant(v), nil
	case tensor.Float32:
		return gorgonia.NewConstant(float32(v)), nil
	}
	return nil, fmt.Errorf("dtype %v is not a float type", dt)
}

func isOuterProd(op gorgonia.Op) bool {
	return fmt.Sprintf("%T", op) == "gorgonia.linAlgBinOp" && strings.Contains(op.String(), "⊗")
}

// symDiff calls the node's SymDiff, turning panics inside gorgonia into errors.
func symDiff(n *gorgonia.Node, children gorgonia.Nodes, grad *gorgonia.Node) (out gorgonia.Nodes, err error) {
	sd, ok := n.Op().(gorgonia.SDOp)
	if !ok {
		return nil, fmt.Errorf("autodiff: node %q (op %v) is not differentiable", n.Name(), n.Op())
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("autodiff: node %q (op %v): SymDiff panicked: %v", n.Name(), n.Op(), r)
		}
	}()
	out, err = sd.SymDiff(children, n, grad)
	if err != nil {
		return nil, fmt.Errorf("autodiff: node %q (op %v): SymDiff: %w", n.Name(), n.Op(), err)
	}
	if len(out) != len(children) {
		return nil, fmt.Errorf("autodiff: node %q (op %v): SymDiff returned %d gradients for %d operands", n.Name(), n.Op(), len(out), len(children))
	}
	return out, nil
}

// conform makes a local gradient gj usable as a gradient term of operand c.
//
// gorgonia's Reshape SymDiff produces a Reshape to the scalar shape () when it
// differentiates a reshape from a scalar; such a node has a tensor type and
// cannot be added to scalar terms, so it becomes a Sum of its one-element
// operand. A one-element gradient of a scalar operand is summed for the same
// reason. Other shape mismatches of equal size (a scalar gradient of a (1, 1)
// operand, say) become a copying Reshape; a size mismatch is an error.
func (p *pass) conform(gj, c *gorgonia.Node) (*gorgonia.Node, error) {
	if isScalarReshape(gj) {
		inner := Children(p.g, gj)
		if len(inner) == 1 {
			s, err := gorgonia.Sum(inner[0])
			if err != nil {
				return nil, fmt.Errorf("summing scalar-shaped reshape %q: %w", gj.Name(), err)
			}
			gj = s
		}
	}
	if sameShape(gj, c) && gj.IsScalar() == c.IsScalar() {
		return gj, nil
	}
	if gj.Shape().TotalSize() != c.Shape().TotalSize() {
		return nil, fmt.Errorf("gradient %q has shape %v but operand %q has shape %v", gj.Name(), gj.Shape(), c.Name(), c.Shape())
	}
	if c.IsScalar() {
		if gj.IsScalar() {
			return gj, nil
		}
		s, err := gorgonia.Sum(gj)
		if err != nil {
			return nil, fmt.Errorf("summing one-element gradient %q: %w", gj.Name(), err)
		}
		return s, nil
	}
	r, err := Reshape(gj, c.Shape())
	if err != nil {
		return nil, fmt.Errorf("reshaping gradient %q to %v: %w", gj.Name(), c.Shape(), err)
	}
	return r, nil
}

// Children returns the operands of n in order (with repeats, as in Mul(x, x)).
func Children(g *gorgonia.ExprGraph, n *gorgonia.Node) gorgonia.Nodes {
	it := g.From(n.ID())
	if it == nil {
		return nil
	}
	out := make(gorgonia.Nodes, 0, it.Len())
	for it.Next() {
		out = append(out, it.Node().(*gorgonia.Node))
	}
	return out
}

// DiffWRT reports, for each of the arity operands of n, whether n's value is
// differentiable with respect to it. It returns nil when n's op does not
// implement gorgonia.SDOp (or n is an input).
//
// It corrects gorgonia's slice-gradient op ("T[...]+=..."), whose DiffWRT
// claims the opposite of the truth: its output does not depend on the values
// of its first operand (used only for the shape) and is linear in its second
// (the incoming gradient). Without this correction a second backward pass
// stops at every Slice.
func DiffWRT(n *gorgonia.Node, arity int) (d []bool, err error) {
	op := n.Op()
	if op == nil {
		return nil, nil
	}
	if isSliceIncr(op) && arity == 2 {
		return []bool{false, true}, nil
	}
	sd, ok := op.(gorgonia.SDOp)
	if !ok {
		return nil, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("autodiff: node %q (op %v): DiffWRT panicked: %v", n.Name(), op, r)
		}
	}()
	d = sd.DiffWRT(arity)
	if len(d) != arity {
		return nil, fmt.Errorf("autodiff: node %q (op %v): DiffWRT(%d) returned %d flags", n.Name(), op, arity, len(d))
	}
	return d, nil
}

func isSliceIncr(op gorgonia.Op) bool {
	return fmt.Sprintf("%T", op) == "gorgonia.sliceIncrOp"
}

func isScalarReshape(n *gorgonia.Node) bool {
	op := n.Op()
	return op != nil && fmt.Sprintf("%T", op) == "gorgonia.reshapeOp" && len(n.Shape()) == 0 && !n.IsScalar()
}

func sameShape(a, b *gorgonia.Node) bool {
	return a.Shape().Eq(b.Shape())
}

func isFloat(dt tensor.Dtype) bool {
	return dt == tensor.Float64 || dt == tensor.Float32
}

// constantLike returns a constant node of n's graph with n's dtype and shape,
// every element equal to v (0 or 1).
func constantLike(n *gorgonia.Node, v float64) (*gorgonia.Node, error) {
	dt := n.Dtype()
	name := fmt.Sprintf("autodiff/const(%v)%v%v", v, dt, n.Shape())
	var val interface{}
	if n.IsScalar() {
		switch dt {
		case tensor.Float64:
			val = v
		case tensor.Float32:
			val = float32(v)
		default:
			return nil, fmt.Errorf("dtype %v is not a float type", dt)
		}
	} else {
		t := tensor.New(tensor.WithShape(n.Shape().Clone()...), tensor.Of(dt))
		if v != 0 {
			var one interface{}
			switch dt {
			case tensor.Float64:
				one = v
			case tensor.Float32:
				one = float32(v)
			default:
				return nil, fmt.Errorf("dtype %v is not a float type", dt)
			}
			if err := t.Memset(one); err != nil {
				return nil, err
			}
		}
		val = t
	}
	c := gorgonia.NewConstant(val, gorgonia.WithName(name))
	return n.Graph().AddNode(c), nil
}

package engine

import (
	"fmt"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
)

// chainOperand is an operand of an elementwise node: the plan that
// produces it and how the node reads it (in full, or broadcast).
type chainOperand struct {
	plan int
	in   kernels.ChainInput
}

// chainForm is a node seen as chain instructions over its operands: X and
// Y of code name operand k as −1−k and the form's own instruction j as j.
type chainForm struct {
	ok       bool
	operands []chainOperand
	code     []kernels.ChainInstr
}

// fuseChains turns maximal trees of elementwise nodes into single steps
// that run a kernels.ChainProgram: a tree grows from a root (any
// elementwise node) into operands that are elementwise nodes of the same
// size read in full, with exactly one reader (their node in the tree) and
// not program outputs — looking through reshapes with one reader. Each
// external operand becomes one input of the program, read once (operands
// read with broadcasting included), and only the root's value is
// written. A tree grows breadth first while its program fits the
// kernels' limits; a tree of one node stays as it was. The chain kernels
// apply the very same per-element functions as Unary, Binary and
// ReLUBackward, so the results do not change by a bit.
func fuseChains[T kernels.Float](plans []*nodePlan[T], index map[int64]int, outputs []*gorgonia.Node) error {
	readers := make([]int, len(plans))
	for _, p := range plans {
		if p.kind == kindFused || p.kind == kindConst {
			continue // no step (a size op's value is known at compile time)
		}
		for _, c := range p.children {
			readers[c]++
		}
	}
	for _, o := range outputs {
		readers[index[o.ID()]]++
	}
	forms := make([]chainForm, len(plans))
	for i, p := range plans {
		forms[i] = formOf(p, plans)
	}
	taken := make([]bool, len(plans))
	for root := len(plans) - 1; root >= 0; root-- {
		if !forms[root].ok || taken[root] {
			continue
		}
		t := &chainTree[T]{plans: plans, forms: forms, member: map[int]bool{root: true}, through: map[int]int{}, root: root}
		prog, inputs, err := t.program()
		if err != nil {
			continue // a single node that does not fit (not reached with the kernels' limits)
		}
		n := plans[root].size
		for q := []int{root}; len(q) > 0; q = q[1:] {
			for _, op := range forms[q[0]].operands {
				if !op.in.Full() {
					continue
				}
				c, aliases := op.plan, t.aliases[:0]
				for a := plans[c]; a.kind == kindAlias && readers[c] == 1 && a.size == n && len(a.children) == 1; a = plans[c] {
					aliases = append(aliases, c)
					c = a.children[0]
				}
				t.aliases = aliases
				if taken[c] || t.member[c] || !forms[c].ok || readers[c] != 1 || plans[c].size != n {
					continue
				}
				t.member[c] = true
				for _, a := range aliases {
					t.through[a] = c
				}
				p, in, err := t.program()
				if err != nil {
					delete(t.member, c)
					for _, a := range aliases {
						delete(t.through, a)
					}
					continue
				}
				prog, inputs = p, in
				q = append(q, c)
			}
		}
		if len(t.member) < 2 {
			continue
		}
		for c := range t.member {
			taken[c] = true
			if c != root {
				plans[c].kind = kindFused
			}
		}
		for a := range t.through {
			plans[a].kind = kindFused
		}
		// Name the step after the program and the ops it runs.
		t.program()
		names := make([]string, len(t.order))
		for k, i := range t.order {
			names[k] = plans[i].label
			if names[k] == "" {
				names[k] = plans[i].n.Op().String()
			}
		}
		p := plans[root]
		p.children = inputs
		p.binary, p.relu = false, false
		p.label = fmt.Sprintf("Chain[%v] of %s", prog, strings.Join(names, "; "))
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return func() error { return set.Chain(out, in, prog) }, nil
		}
	}
	return nil
}

// chainTree is a tree being grown: its member nodes and the reshapes it
// looks through (each alias → the node behind it and any further
// reshapes).
type chainTree[T kernels.Float] struct {
	plans   []*nodePlan[T]
	forms   []chainForm
	member  map[int]bool
	through map[int]int
	root    int
	aliases []int // scratch: the reshapes in front of a candidate

	inputs []chainOperand
	code   []kernels.ChainInstr
	order  []int // member nodes in the order of their instructions
}

// inner returns the member node an operand reads, if it reads one in full.
func (t *chainTree[T]) inner(op chainOperand) (int, bool) {
	if !op.in.Full() {
		return 0, false
	}
	c := op.plan
	if b, ok := t.through[c]; ok {
		c = b
	}
	return c, t.member[c]
}

// program builds the tree's program: the external operands in the order
// a depth-first walk meets them, then the instructions in post-order. It
// returns the plans the inputs are read from.
func (t *chainTree[T]) program() (*kernels.ChainProgram, []int, error) {
	t.inputs, t.code, t.order = t.inputs[:0], t.code[:0], t.order[:0]
	t.collect(t.root)
	t.emit(t.root)
	in := make([]kernels.ChainInput, len(t.inputs))
	plans := make([]int, len(t.inputs))
	for k, op := range t.inputs {
		in[k], plans[k] = op.in, op.plan
	}
	prog, err := kernels.NewChainProgram(in, t.code)
	return prog, plans, err
}

func (t *chainTree[T]) input(op chainOperand) int {
	for k, o := range t.inputs {
		if o == op {
			return k
		}
	}
	return -1
}

func (t *chainTree[T]) collect(i int) {
	for _, op := range t.forms[i].operands {
		if c, ok := t.inner(op); ok {
			t.collect(c)
		} else if t.input(op) < 0 {
			t.inputs = append(t.inputs, op)
		}
	}
}

// emit appends node i's instructions (after those of its member operands)
// and returns the register of its value.
func (t *chainTree[T]) emit(i int) int {
	f := t.forms[i]
	var regs [2]int
	for k, op := range f.operands {
		if c, ok := t.inner(op); ok {
			regs[k] = t.emit(c)
		} else {
			regs[k] = t.input(op)
		}
	}
	base := len(t.inputs) + len(t.code)
	reg := func(x int) int {
		if x < 0 {
			return regs[-1-x]
		}
		return base + x
	}
	for _, c := range f.code {
		c.X = reg(c.X)
		if c.Binary {
			c.Y = reg(c.Y)
		}
		t.code = append(t.code, c)
	}
	t.order = append(t.order, i)
	return len(t.inputs) + len(t.code) - 1
}

// formOf recognises the elementwise nodes a chain can hold: the binary ops
// planned by binaryPlan (operands of the node's size or broadcast along
// one block of contiguous axes), the unary ops classify runs as Unary
// kernels, and ReLUBackward folds (ReLUSlope then a product).
func formOf[T kernels.Float](p *nodePlan[T], plans []*nodePlan[T]) chainForm {
	if p.kind != kindNew || p.hostDo {
		return chainForm{}
	}
	full := func(c int) bool { return plans[c].size == p.size }
	switch {
	case p.relu && len(p.children) == 2 && full(p.children[0]) && full(p.children[1]):
		return chainForm{ok: true,
			operands: []chainOperand{{plan: p.children[0]}, {plan: p.children[1]}},
			code: []kernels.ChainInstr{
				kernels.ChainUnary(kernels.ReLUSlope, -1, kernels.UnaryArgs{A: p.leak}),
				kernels.ChainBinary(kernels.Mul, 0, -2),
			}}
	case p.binary && len(p.children) == 2:
		a, b := p.children[0], p.children[1]
		var ia, ib kernels.ChainInput
		if !full(a) || !full(b) {
			bc, err := kernels.NewBroadcast(plans[a].shape, plans[b].shape)
			if err != nil || bc.Size() != p.size {
				return chainForm{}
			}
			var oka, okb bool
			ia, oka = broadcastInput(bc.Shape, bc.StrideA, p.size, plans[a].size)
			ib, okb = broadcastInput(bc.Shape, bc.StrideB, p.size, plans[b].size)
			if !oka || !okb {
				return chainForm{}
			}
		}
		return chainForm{ok: true, operands: []chainOperand{{a, ia}, {b, ib}},
			code: []kernels.ChainInstr{kernels.ChainBinary(p.binOp, -1, -2)}}
	case len(p.children) == 1 && full(p.children[0]) && p.unary && p.label == "":
		return chainForm{ok: true, operands: []chainOperand{{plan: p.children[0]}},
			code: []kernels.ChainInstr{kernels.ChainUnary(p.unaryOp, -1, p.unaryArgs)}}
	}
	return chainForm{}
}

// broadcastInput expresses an operand read with strides over a contiguous
// output of the given shape as a ChainInput: possible when the axes it
// varies along form one block of contiguous axes laid out row-major in
// the operand (a scalar, a row repeated down a matrix, a column repeated
// across it, …). have is the operand's number of elements.
func broadcastInput(shape, stride []int, size, have int) (kernels.ChainInput, bool) {
	first, last := -1, -1
	for ax, d := range shape {
		if d > 1 && stride[ax] != 0 {
			if first < 0 {
				first = ax
			}
			last = ax
		}
	}
	if first < 0 {
		return kernels.ChainInput{Len: 1}, have >= 1
	}
	inner, n, want := 1, 1, 1
	for ax := len(shape) - 1; ax > last; ax-- {
		inner *= shape[ax]
	}
	for ax := last; ax >= first; ax-- {
		if shape[ax] == 1 {
			continue
		}
		if stride[ax] != want {
			return kernels.ChainInput{}, false
		}
		want *= shape[ax]
		n *= shape[ax]
	}
	if n > have {
		return kernels.ChainInput{}, false
	}
	if n == size {
		return kernels.ChainInput{}, true
	}
	return kernels.ChainInput{Len: n, Inner: inner}, true
}

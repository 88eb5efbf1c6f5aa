package engine

import (
	"fmt"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
)

// fuse folds nodes into their consumers where that saves a pass over
// memory without changing any result. Two rules:
//
//   - gorgonia broadcasts by materialising a repetition of size-1 axes
//     (repeatOp) and then applying an elementwise op of equal shapes; when
//     the repetition's only reader is such an op, the op reads the
//     repetition's input through broadcast strides instead, and the
//     repetition disappears (e.g. the bias of every linear layer:
//     A×B + Repeat(b) becomes one broadcast addition);
//   - the backward of a (leaky) ReLU multiplies the incoming gradient by
//     ReLUSlope(x); when the slope's only reader is that product, the two
//     become one ReLUBackward pass over x and the gradient.
//
// Then, unless chains is false, maximal trees of elementwise ops become
// single Chain kernel calls (fuseChains, fuse_chain.go).
//
// The arithmetic is the same, element for element.
func fuse[T kernels.Float](plans []*nodePlan[T], index map[int64]int, outputs []*gorgonia.Node, chains bool) error {
	readers := make([]int, len(plans))
	for _, p := range plans {
		for _, c := range p.children {
			readers[c]++
		}
	}
	for _, o := range outputs {
		readers[index[o.ID()]]++ // an output is read after the run
	}
	for _, p := range plans {
		foldSlope(p, plans, readers)
		if p.kind != kindNew || !p.binary || len(p.children) != 2 {
			continue
		}
		shapes := [2][]int{plans[p.children[0]].shape, plans[p.children[1]].shape}
		var folded []int
		children := append([]int(nil), p.children...)
		for k, c := range p.children {
			r := plans[c]
			if !r.repeat || r.kind != kindNew || readers[c] != 1 || len(r.children) < 1 {
				continue
			}
			if p.children[0] == p.children[1] {
				break // both operands are the same repetition
			}
			src := plans[r.children[0]]
			shapes[k] = src.shape
			children[k] = r.children[0]
			folded = append(folded, c)
		}
		if len(folded) == 0 {
			continue
		}
		// Re-plan the op over the repetitions' inputs; keep the original
		// plan when the shapes do not broadcast to the node's shape.
		q := *p
		if err := binaryPlan(&q, p.binOp, shapes[0], shapes[1]); err != nil {
			continue
		}
		*p = q
		p.children = children
		for _, c := range folded {
			plans[c].kind = kindFused
		}
	}
	if chains {
		return fuseChains(plans, index, outputs)
	}
	return nil
}

// foldSlope turns p = ReLUSlope(x) ⊙ g (either operand order, equal
// shapes) into one ReLUBackward step when the slope has no other reader.
func foldSlope[T kernels.Float](p *nodePlan[T], plans []*nodePlan[T], readers []int) {
	if p.kind != kindNew || !p.binary || p.binOp != kernels.Mul || len(p.children) != 2 || p.children[0] == p.children[1] {
		return
	}
	for k, c := range p.children {
		s, g := plans[c], plans[p.children[1-k]]
		if !s.slope || s.kind != kindNew || readers[c] != 1 || len(s.children) != 1 || s.size != p.size || g.size != p.size {
			continue
		}
		leak := s.leak
		p.children = []int{s.children[0], p.children[1-k]}
		p.binary = false
		p.relu, p.leak = true, leak
		p.label = fmt.Sprintf("ReLUBackward{leak=%v}", leak)
		p.build = func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error) {
			return func() error { return set.ReLUBackward(out, in[0], in[1], leak) }, nil
		}
		s.kind = kindFused
		return
	}
}

package autodiff

import (
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// HVP returns nodes holding the exact Hessian-vector product H·v of the scalar
// cost with respect to wrt, where v[i] has the shape of wrt[i] and the product
// is taken over the concatenation of all wrt. It differentiates twice:
// g = Grad(cost, wrt), s = Σ_i sum(g_i ⊙ v_i), HVP = Grad(s, wrt).
//
// v is usually a set of inputs made by NewProbe and set before each run; the
// result is linear in v.
func HVP(cost *gorgonia.Node, wrt, v gorgonia.Nodes) (gorgonia.Nodes, error) {
	if len(wrt) != len(v) {
		return nil, fmt.Errorf("autodiff: HVP: %d wrt nodes but %d vectors", len(wrt), len(v))
	}
	for i := range wrt {
		if wrt[i] == nil || v[i] == nil {
			return nil, fmt.Errorf("autodiff: HVP: wrt or vector %d is nil", i)
		}
		if !sameShape(wrt[i], v[i]) || wrt[i].IsScalar() != v[i].IsScalar() {
			return nil, fmt.Errorf("autodiff: HVP: %q has shape %v but its vector %q has shape %v",
				wrt[i].Name(), wrt[i].Shape(), v[i].Name(), v[i].Shape())
		}
	}
	grads, err := Grad(cost, wrt...)
	if err != nil {
		return nil, fmt.Errorf("autodiff: HVP: first derivative: %w", err)
	}
	s, err := Dot(grads, v)
	if err != nil {
		return nil, fmt.Errorf("autodiff: HVP: %w", err)
	}
	hv, err := Grad(s, wrt...)
	if err != nil {
		return nil, fmt.Errorf("autodiff: HVP: second derivative: %w", err)
	}
	return hv, nil
}

// Dot returns a scalar node Σ_i sum(a_i ⊙ b_i): the inner product of two lists
// of nodes with matching shapes, seen as one long vector.
func Dot(a, b gorgonia.Nodes) (*gorgonia.Node, error) {
	if len(a) != len(b) || len(a) == 0 {
		return nil, fmt.Errorf("autodiff: Dot: %d and %d nodes", len(a), len(b))
	}
	terms := make(gorgonia.Nodes, len(a))
	for i := range a {
		var p *gorgonia.Node
		var err error
		if a[i].IsScalar() && b[i].IsScalar() {
			p, err = gorgonia.Mul(a[i], b[i])
		} else {
			p, err = gorgonia.HadamardProd(a[i], b[i])
			if err == nil {
				p, err = gorgonia.Sum(p)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("autodiff: Dot: term %d (%q·%q): %w", i, a[i].Name(), b[i].Name(), err)
		}
		terms[i] = p
	}
	s, err := gorgonia.ReduceAdd(terms)
	if err != nil {
		return nil, fmt.Errorf("autodiff: Dot: sum of terms: %w", err)
	}
	return s, nil
}

// NewProbe creates one input node per node of wrt, with the same dtype and
// shape, named "probe/<name>" and holding zeros; pass them as v to HVP and set
// their values (gorgonia.Let, or by writing into the bound tensor) before each
// run.
func NewProbe(g *gorgonia.ExprGraph, wrt gorgonia.Nodes) (gorgonia.Nodes, error) {
	out := make(gorgonia.Nodes, len(wrt))
	for i, w := range wrt {
		if w == nil {
			return nil, fmt.Errorf("autodiff: NewProbe: wrt[%d] is nil", i)
		}
		name := "probe/" + w.Name()
		dt := w.Dtype()
		if w.IsScalar() {
			var zero interface{}
			switch dt {
			case tensor.Float64:
				zero = 0.0
			case tensor.Float32:
				zero = float32(0)
			default:
				return nil, fmt.Errorf("autodiff: NewProbe: %q has non-float dtype %v", w.Name(), dt)
			}
			out[i] = gorgonia.NewScalar(g, dt, gorgonia.WithName(name), gorgonia.WithValue(zero))
			continue
		}
		shape := w.Shape().Clone()
		val := tensor.New(tensor.WithShape(shape...), tensor.Of(dt))
		out[i] = gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithName(name), gorgonia.WithValue(val))
	}
	return out, nil
}

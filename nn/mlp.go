package nn

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/tensor"
)

// MLP is a fully connected network: widths[0] inputs, widths[len-1] outputs,
// the activation after every hidden layer and none after the last.
// Parameters are named "fc<i>.w" (in×out) and "fc<i>.b" (out).
type MLP struct {
	Widths []int
	Act    Activation
	params Params
}

// NewMLP creates an MLP with weights drawn by init (biases zero).
func NewMLP(rng *rand.Rand, dt gt.Dtype, widths []int, act Activation, init tensor.Init) (*MLP, error) {
	if len(widths) < 2 {
		return nil, fmt.Errorf("nn: MLP needs at least 2 widths, got %v", widths)
	}
	m := &MLP{Widths: append([]int(nil), widths...), Act: act}
	for i := 0; i+1 < len(widths); i++ {
		if widths[i] <= 0 || widths[i+1] <= 0 {
			return nil, fmt.Errorf("nn: MLP widths must be positive, got %v", widths)
		}
		w, err := init(rng, dt, widths[i], widths[i+1])
		if err != nil {
			return nil, fmt.Errorf("nn: MLP layer %d: %w", i, err)
		}
		b, err := tensor.Zeros(dt, widths[i+1])
		if err != nil {
			return nil, err
		}
		m.params = append(m.params,
			&Param{Name: fmt.Sprintf("fc%d.w", i), Value: w},
			&Param{Name: fmt.Sprintf("fc%d.b", i), Value: b})
	}
	return m, nil
}

// Params implements Model.
func (m *MLP) Params() Params { return m.params }

// Forward implements Model; x has shape (batch, widths[0]).
func (m *MLP) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 2 || x.Shape()[1] != m.Widths[0] {
		return nil, fmt.Errorf("nn: MLP input has shape %v, want (batch, %d)", x.Shape(), m.Widths[0])
	}
	h := x
	layers := len(m.Widths) - 1
	for i := 0; i < layers; i++ {
		var err error
		h, err = Dense(h, b.Node(fmt.Sprintf("fc%d.w", i)), b.Node(fmt.Sprintf("fc%d.b", i)))
		if err != nil {
			return nil, fmt.Errorf("nn: MLP layer %d: %w", i, err)
		}
		if i+1 < layers {
			if h, err = m.Act.Apply(h); err != nil {
				return nil, fmt.Errorf("nn: MLP activation %d: %w", i, err)
			}
		}
	}
	return h, nil
}

// Dense returns x·w + b with b broadcast over the batch; b may be nil.
func Dense(x, w, b *gorgonia.Node) (*gorgonia.Node, error) {
	h, err := gorgonia.Mul(x, w)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return h, nil
	}
	return gorgonia.BroadcastAdd(h, b, nil, []byte{0})
}

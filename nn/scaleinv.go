package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/ops"
)

// ScaleInvMLP is a fully connected network whose loss is scale-invariant in
// its trainable parameters: every hidden layer is x·W + b followed by a layer
// normalization without affine parameters (over the features) and the
// activation, and the last layer is a fixed (Frozen) matrix without bias.
// Scaling all trainable parameters by c > 0 scales every pre-normalization
// activation by c, which the normalization removes, so L(cθ) = L(θ),
// θ·∇L(θ) = 0 and ∇²L(cθ) = ∇²L(θ)/c². The invariance is exact for Eps = 0
// and holds only approximately (for ‖pre-activation‖² ≫ Eps) otherwise.
//
// Parameters are "fc<i>.w" (in×out) and "fc<i>.b" (out) for the hidden
// layers and "out.w" (frozen) for the last one.
type ScaleInvMLP struct {
	Widths []int
	Act    Activation
	// Eps is added to the variance inside the normalization.
	Eps    float64
	params Params
}

// NewScaleInvMLP creates the network for widths (input, hidden..., output):
// hidden weights with entries N(0, 1/fan_in), zero biases, and a fixed last
// layer with entries N(0, 1/fan_in).
func NewScaleInvMLP(rng *rand.Rand, dt gt.Dtype, widths []int, act Activation, eps float64) (*ScaleInvMLP, error) {
	if len(widths) < 3 {
		return nil, fmt.Errorf("nn: scale-invariant MLP needs at least one hidden layer, got widths %v", widths)
	}
	if !(eps >= 0) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("nn: scale-invariant MLP eps %v: want a finite non-negative number", eps)
	}
	if dt != gt.Float64 && dt != gt.Float32 {
		return nil, fmt.Errorf("nn: scale-invariant MLP dtype %v: want float64 or float32", dt)
	}
	m := &ScaleInvMLP{Widths: append([]int(nil), widths...), Act: act, Eps: eps}
	normal := func(n int, std float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = std * rng.NormFloat64()
		}
		return v
	}
	last := len(widths) - 2
	for i := 0; i+1 < len(widths); i++ {
		in, out := widths[i], widths[i+1]
		if in <= 0 || out <= 0 {
			return nil, fmt.Errorf("nn: scale-invariant MLP widths must be positive, got %v", widths)
		}
		w := denseOf(dt, normal(in*out, 1/math.Sqrt(float64(in))), in, out)
		if i == last {
			m.params = append(m.params, &Param{Name: "out.w", Value: w, Frozen: true})
			break
		}
		m.params = append(m.params,
			&Param{Name: fmt.Sprintf("fc%d.w", i), Value: w},
			&Param{Name: fmt.Sprintf("fc%d.b", i), Value: denseOf(dt, make([]float64, out), out)})
	}
	return m, nil
}

// Params implements Model.
func (m *ScaleInvMLP) Params() Params { return m.params }

// Forward implements Model; x has shape (batch, widths[0]).
func (m *ScaleInvMLP) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 2 || x.Shape()[1] != m.Widths[0] {
		return nil, fmt.Errorf("nn: scale-invariant MLP input has shape %v, want (batch, %d)", x.Shape(), m.Widths[0])
	}
	h := x
	for i := 0; i+2 < len(m.Widths); i++ {
		var err error
		if h, err = Dense(h, b.Node(fmt.Sprintf("fc%d.w", i)), b.Node(fmt.Sprintf("fc%d.b", i))); err != nil {
			return nil, fmt.Errorf("nn: scale-invariant MLP layer %d: %w", i, err)
		}
		if h, err = ops.LayerNorm(h, nil, nil, m.Eps); err != nil {
			return nil, fmt.Errorf("nn: scale-invariant MLP normalization %d: %w", i, err)
		}
		if h, err = m.Act.Apply(h); err != nil {
			return nil, fmt.Errorf("nn: scale-invariant MLP activation %d: %w", i, err)
		}
	}
	out, err := gorgonia.Mul(h, b.Node("out.w"))
	if err != nil {
		return nil, fmt.Errorf("nn: scale-invariant MLP last layer: %w", err)
	}
	return out, nil
}

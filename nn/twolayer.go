package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"
)

// TwoLayerConfig describes a two-layer leaky-ReLU network
// f(x) = Σ_k a_k φ(w_kᵀx) with φ(z) = max(z, αz), no biases.
type TwoLayerConfig struct {
	In, Width int
	// Alpha is the leaky-ReLU slope α ∈ [0, 1).
	Alpha float64
	// InitScale is the standard deviation of every initial weight: w_k's
	// entries and, when the second layer is trained, a_k.
	InitScale float64
	// FixedSecond freezes the second layer at a_k = ±1/√Width (signs
	// alternating, + for even k), so only the w_k are trained.
	FixedSecond bool
	// Dtype is the parameters' type (default Float64).
	Dtype gt.Dtype
}

// TwoLayer is the network of TwoLayerConfig. Its parameters are "w"
// (In×Width, column k is w_k) and "a" (Width×1); the output has shape
// (batch, 1). With both layers trained f is 2-homogeneous in θ = (w, a).
type TwoLayer struct {
	Config TwoLayerConfig
	params Params
}

// NewTwoLayer draws the initial weights from rng.
func NewTwoLayer(rng *rand.Rand, c TwoLayerConfig) (*TwoLayer, error) {
	if c.In <= 0 || c.Width <= 0 {
		return nil, fmt.Errorf("nn: two-layer net needs positive input size and width, got %d and %d", c.In, c.Width)
	}
	if !(c.Alpha >= 0 && c.Alpha < 1) {
		return nil, fmt.Errorf("nn: two-layer net slope α = %v: want 0 ≤ α < 1", c.Alpha)
	}
	if !(c.InitScale >= 0) || math.IsInf(c.InitScale, 0) {
		return nil, fmt.Errorf("nn: two-layer net init scale %v: want a finite non-negative number", c.InitScale)
	}
	if c.Dtype == (gt.Dtype{}) {
		c.Dtype = gt.Float64
	}
	if c.Dtype != gt.Float64 && c.Dtype != gt.Float32 {
		return nil, fmt.Errorf("nn: two-layer net dtype %v: want float64 or float32", c.Dtype)
	}
	w := make([]float64, c.In*c.Width)
	for i := range w {
		w[i] = c.InitScale * rng.NormFloat64()
	}
	a := make([]float64, c.Width)
	for k := range a {
		if c.FixedSecond {
			a[k] = 1 / math.Sqrt(float64(c.Width))
			if k%2 == 1 {
				a[k] = -a[k]
			}
		} else {
			a[k] = c.InitScale * rng.NormFloat64()
		}
	}
	m := &TwoLayer{Config: c}
	m.params = Params{
		{Name: "w", Value: denseOf(c.Dtype, w, c.In, c.Width)},
		{Name: "a", Value: denseOf(c.Dtype, a, c.Width, 1), Frozen: c.FixedSecond},
	}
	return m, nil
}

func denseOf(dt gt.Dtype, v []float64, shape ...int) *gt.Dense {
	if dt == gt.Float32 {
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		return gt.New(gt.WithShape(shape...), gt.WithBacking(f))
	}
	return gt.New(gt.WithShape(shape...), gt.WithBacking(append([]float64(nil), v...)))
}

// Params implements Model.
func (m *TwoLayer) Params() Params { return m.params }

// Forward implements Model; x has shape (batch, In) and the output (batch, 1).
func (m *TwoLayer) Forward(b *Binding, x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Dims() != 2 || x.Shape()[1] != m.Config.In {
		return nil, fmt.Errorf("nn: two-layer net input has shape %v, want (batch, %d)", x.Shape(), m.Config.In)
	}
	h, err := gorgonia.Mul(x, b.Node("w"))
	if err != nil {
		return nil, fmt.Errorf("nn: two-layer net first layer: %w", err)
	}
	if h, err = LeakyReLU(h, m.Config.Alpha); err != nil {
		return nil, fmt.Errorf("nn: two-layer net activation: %w", err)
	}
	out, err := gorgonia.Mul(h, b.Node("a"))
	if err != nil {
		return nil, fmt.Errorf("nn: two-layer net second layer: %w", err)
	}
	return out, nil
}

// Weights returns copies of the current weights in float64: w[k] is the
// first-layer vector w_k and a[k] the second-layer weight a_k.
func (m *TwoLayer) Weights() (w [][]float64, a []float64) {
	wf := asFloat64(m.params[0].Value)
	af := asFloat64(m.params[1].Value)
	c := m.Config
	w = make([][]float64, c.Width)
	for k := range w {
		w[k] = make([]float64, c.In)
		for i := range w[k] {
			w[k][i] = wf[i*c.Width+k]
		}
	}
	return w, append([]float64(nil), af...)
}

// EffectiveLinear returns β with f_odd(x) = βᵀx, where
// f_odd(x) = (f(x) − f(−x))/2 is the odd part of the network. Since
// φ(z) − φ(−z) = (1+α)z, β = (1+α)/2 · Σ_k a_k w_k exactly. The even part,
// (f(x) + f(−x))/2 = (1−α)/2 · Σ_k a_k |w_kᵀx|, vanishes in the margin of a
// symmetric data set's worst pair only when f is linear.
func (m *TwoLayer) EffectiveLinear() []float64 {
	w, a := m.Weights()
	beta := make([]float64, m.Config.In)
	for k := range w {
		for i := range beta {
			beta[i] += (1 + m.Config.Alpha) / 2 * a[k] * w[k][i]
		}
	}
	return beta
}

// Eval computes f(x) for one input in float64 with plain loops.
func (m *TwoLayer) Eval(x []float64) float64 {
	w, a := m.Weights()
	var f float64
	for k := range w {
		var z float64
		for i, xi := range x {
			z += w[k][i] * xi
		}
		f += a[k] * math.Max(z, m.Config.Alpha*z)
	}
	return f
}

func asFloat64(d *gt.Dense) []float64 {
	switch v := d.Data().(type) {
	case []float64:
		return v
	case []float32:
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return nil
}

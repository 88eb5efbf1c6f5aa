package optim

import (
	"encoding/json"
	"fmt"
	"slices"

	"gorgonia.org/tensor"
)

// jsonBuffer is the JSON form of one state buffer. Float32 values are stored
// as float64, which represents them exactly.
type jsonBuffer struct {
	Dtype string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type jsonState struct {
	Kind    string                `json:"kind"`
	Scalars map[string]float64    `json:"scalars"`
	Buffers map[string]jsonBuffer `json:"buffers"`
}

// MarshalJSON encodes the state exactly (shortest round-trip decimal form).
// Non-finite values cannot be encoded and give an error.
func (s State) MarshalJSON() ([]byte, error) {
	js := jsonState{Kind: s.Kind, Scalars: s.Scalars, Buffers: make(map[string]jsonBuffer, len(s.Buffers))}
	for k, b := range s.Buffers {
		if b == nil {
			return nil, fmt.Errorf("optim: state buffer %q is nil", k)
		}
		var data []float64
		switch b.Dtype() {
		case tensor.Float64:
			data = b.Float64s()
		case tensor.Float32:
			f := b.Float32s()
			data = make([]float64, len(f))
			for i, v := range f {
				data[i] = float64(v)
			}
		default:
			return nil, fmt.Errorf("optim: state buffer %q has dtype %v", k, b.Dtype())
		}
		js.Buffers[k] = jsonBuffer{Dtype: b.Dtype().String(), Shape: []int(b.Shape()), Data: data}
	}
	return json.Marshal(js)
}

// UnmarshalJSON decodes a state written by MarshalJSON.
func (s *State) UnmarshalJSON(b []byte) error {
	var js jsonState
	if err := json.Unmarshal(b, &js); err != nil {
		return fmt.Errorf("optim: decode state: %w", err)
	}
	out := State{Kind: js.Kind, Scalars: js.Scalars, Buffers: make(map[string]*tensor.Dense, len(js.Buffers))}
	if out.Scalars == nil {
		out.Scalars = map[string]float64{}
	}
	for k, jb := range js.Buffers {
		n := 1
		for _, d := range jb.Shape {
			if d < 0 {
				return fmt.Errorf("optim: decode state: buffer %q has shape %v", k, jb.Shape)
			}
			n *= d
		}
		if n != len(jb.Data) {
			return fmt.Errorf("optim: decode state: buffer %q has shape %v but %d values", k, jb.Shape, len(jb.Data))
		}
		shape := slices.Clone(jb.Shape)
		switch jb.Dtype {
		case tensor.Float64.String():
			out.Buffers[k] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(jb.Data)))
		case tensor.Float32.String():
			f := make([]float32, len(jb.Data))
			for i, v := range jb.Data {
				f[i] = float32(v)
			}
			out.Buffers[k] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(f))
		default:
			return fmt.Errorf("optim: decode state: buffer %q has dtype %q", k, jb.Dtype)
		}
	}
	*s = out
	return nil
}

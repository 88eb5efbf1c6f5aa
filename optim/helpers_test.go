package optim

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// f64 builds a float64 tensor with the given shape and a copy of data.
func f64(data []float64, shape ...int) *tensor.Dense {
	d := append([]float64(nil), data...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// f32 builds a float32 tensor with the given shape from float64 data.
func f32(data []float64, shape ...int) *tensor.Dense {
	d := make([]float32, len(data))
	for i, v := range data {
		d[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// values returns the data of a float32 or float64 tensor as float64.
func values(t *tensor.Dense) []float64 {
	if t.Dtype() == tensor.Float32 {
		s := t.Float32s()
		out := make([]float64, len(s))
		for i, v := range s {
			out[i] = float64(v)
		}
		return out
	}
	return append([]float64(nil), t.Float64s()...)
}

// closeRel reports whether got is within rel relative error of want (with an
// absolute floor abs for values near zero).
func closeRel(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+abs
}

func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

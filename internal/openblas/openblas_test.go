package openblas

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestMatMulAgreesWithNaiveProduct runs a float32 and a float64 matrix
// product through gorgonia after Enable and compares it with a plain loop.
func TestMatMulAgreesWithNaiveProduct(t *testing.T) {
	Enable()
	t.Logf("BLAS: %s", Name())
	const m, k, n = 7, 13, 5
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	for i := range a {
		a[i] = math.Sin(float64(i))
	}
	for i := range b {
		b[i] = math.Cos(float64(3 * i))
	}
	want := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				want[i*n+j] += a[i*k+p] * b[p*n+j]
			}
		}
	}
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			g := gorgonia.NewGraph()
			var av, bv *tensor.Dense
			if dt == tensor.Float64 {
				av = tensor.New(tensor.WithShape(m, k), tensor.WithBacking(append([]float64(nil), a...)))
				bv = tensor.New(tensor.WithShape(k, n), tensor.WithBacking(append([]float64(nil), b...)))
			} else {
				a32, b32 := make([]float32, len(a)), make([]float32, len(b))
				for i := range a {
					a32[i] = float32(a[i])
				}
				for i := range b {
					b32[i] = float32(b[i])
				}
				av = tensor.New(tensor.WithShape(m, k), tensor.WithBacking(a32))
				bv = tensor.New(tensor.WithShape(k, n), tensor.WithBacking(b32))
			}
			x := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(m, k), gorgonia.WithValue(av), gorgonia.WithName("a"))
			y := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(k, n), gorgonia.WithValue(bv), gorgonia.WithName("b"))
			z := gorgonia.Must(gorgonia.Mul(x, y))
			vm := gorgonia.NewTapeMachine(g)
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			got := z.Value().(*tensor.Dense)
			tol := 1e-12
			if dt == tensor.Float32 {
				tol = 1e-5
			}
			for i := range want {
				var v float64
				switch d := got.Data().(type) {
				case []float64:
					v = d[i]
				case []float32:
					v = float64(d[i])
				}
				if math.Abs(v-want[i]) > tol*(1+math.Abs(want[i])) {
					t.Fatalf("element %d: got %v, want %v", i, v, want[i])
				}
			}
		})
	}
}

package openblas

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"

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

// TestGonumEntryPointsFollow checks that blas64/blas32 compute the same
// product as the loop after Enable (our convolution calls them directly).
func TestGonumEntryPointsFollow(t *testing.T) {
	Enable()
	a := []float64{1, 2, 3, 4, 5, 6}    // 2×3
	b := []float64{1, 0, -1, 2, 0.5, 1} // 3×2
	c := make([]float64, 4)
	blas64.Implementation().Dgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	want := []float64{1*1 + 2*(-1) + 3*0.5, 1*0 + 2*2 + 3*1, 4*1 + 5*(-1) + 6*0.5, 4*0 + 5*2 + 6*1}
	for i := range want {
		if math.Abs(c[i]-want[i]) > 1e-12 {
			t.Fatalf("Dgemm %v, want %v", c, want)
		}
	}
	a32 := []float32{1, 2, 3, 4, 5, 6}
	b32 := []float32{1, 0, -1, 2, 0.5, 1}
	c32 := make([]float32, 4)
	blas32.Implementation().Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, a32, 3, b32, 2, 0, c32, 2)
	for i := range want {
		if math.Abs(float64(c32[i])-want[i]) > 1e-5 {
			t.Fatalf("Sgemm %v, want %v", c32, want)
		}
	}
	t.Logf("blas64: %T, blas32: %T", blas64.Implementation(), blas32.Implementation())
}

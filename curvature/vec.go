package curvature

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// The vector helpers below are the only arithmetic the iterative solvers
// perform on full-length vectors; none of them allocates.

func dot(a, b []float64) float64 { return floats.Dot(a, b) }

// axpy sets y += alpha·x.
func axpy(y []float64, alpha float64, x []float64) { floats.AddScaled(y, alpha, x) }

func scal(x []float64, alpha float64) { floats.Scale(alpha, x) }

func nrm2(x []float64) float64 { return math.Sqrt(floats.Dot(x, x)) }

// orthogonalize removes from x its components along the rows of basis
// (each of length len(x), assumed orthonormal). It runs two classical
// Gram–Schmidt passes, enough to keep x orthogonal to working precision.
func orthogonalize(x []float64, basis [][]float64) {
	for pass := 0; pass < 2; pass++ {
		for _, q := range basis {
			axpy(x, -dot(q, x), q)
		}
	}
}

// orthogonalizeFlat is orthogonalize for k vectors of length n stored one
// after another in flat.
func orthogonalizeFlat(x []float64, flat []float64, k int) {
	n := len(x)
	for pass := 0; pass < 2; pass++ {
		for j := 0; j < k; j++ {
			q := flat[j*n : (j+1)*n]
			axpy(x, -dot(q, x), q)
		}
	}
}

// residualNorm returns ‖w − θv‖ in one pass without modifying w.
func residualNorm(w, v []float64, theta float64) float64 {
	v = v[:len(w)]
	var s float64
	for i, x := range w {
		d := x - theta*v[i]
		s += d * d
	}
	return math.Sqrt(s)
}

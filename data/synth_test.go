package data

import (
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestLinearRegression(t *testing.T) {
	w := []float32{1, -2, 0.5, 3}
	const n, noise = 2000, 0.1
	ds, err := LinearRegression(n, w, noise, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil || ds.Len() != n || ds.TargetDim != 1 || ds.Y != nil {
		t.Fatalf("Validate %v, Len %d", err, ds.Len())
	}
	// Least squares with gonum recovers w* to about noise/√n per coordinate,
	// and the residual variance is about noise².
	X := mat.NewDense(n, len(w), nil)
	y := mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		for j := range w {
			X.Set(i, j, float64(ds.X[i*len(w)+j]))
		}
		y.SetVec(i, float64(ds.Targets[i]))
	}
	var wHat mat.VecDense
	if err := wHat.SolveVec(X, y); err != nil {
		t.Fatal(err)
	}
	for j := range w {
		if math.Abs(wHat.AtVec(j)-float64(w[j])) > 5*noise/math.Sqrt(n) {
			t.Fatalf("least squares w[%d] = %v, want %v", j, wHat.AtVec(j), w[j])
		}
	}
	var res mat.VecDense
	res.MulVec(X, &wHat)
	res.SubVec(y, &res)
	if v := mat.Dot(&res, &res) / n; math.Abs(v-noise*noise) > 0.1*noise*noise {
		t.Fatalf("residual variance %v, want ≈ %v", v, noise*noise)
	}
	// Inputs are standard normal: sample covariance close to I.
	var cov mat.SymDense
	cov.SymOuterK(1.0/n, X.T())
	for i := range w {
		for j := range w {
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(cov.At(i, j)-want) > 0.1 {
				t.Fatalf("E[x_%d x_%d] = %v", i, j, cov.At(i, j))
			}
		}
	}
	// Noise-free targets are exact inner products; same seed, same data.
	clean, _ := LinearRegression(10, w, 0, 5)
	for i := 0; i < 10; i++ {
		var dot float64
		for j := range w {
			dot += float64(clean.X[i*4+j]) * float64(w[j])
		}
		if float64(clean.Targets[i]) != float64(float32(dot)) {
			t.Fatalf("noise-free target %d = %v, want %v", i, clean.Targets[i], dot)
		}
	}
	again, _ := LinearRegression(n, w, noise, 5)
	if !slices.Equal(again.X, ds.X) || !slices.Equal(again.Targets, ds.Targets) {
		t.Fatal("same seed, different data")
	}
	if other, _ := LinearRegression(n, w, noise, 6); slices.Equal(other.X, ds.X) {
		t.Fatal("different seed, same data")
	}
	for _, bad := range []struct {
		n     int
		w     []float32
		noise float64
	}{{0, w, 0}, {5, nil, 0}, {5, w, -1}, {5, w, math.NaN()}, {5, w, math.Inf(1)}} {
		if _, err := LinearRegression(bad.n, bad.w, bad.noise, 1); err == nil {
			t.Errorf("LinearRegression(%d, %v, %v) succeeded", bad.n, bad.w, bad.noise)
		}
	}
}

func TestSparseRegression(t *testing.T) {
	// The label-noise study's small setting: d = 100, κ = 5, n = 40.
	ds, w, err := SparseRegression(40, 100, 5, 0, 9)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 40 || !slices.Equal(ds.Shape, []int{100}) || len(w) != 100 {
		t.Fatalf("%d examples of shape %v, |w*| = %d", ds.Len(), ds.Shape, len(w))
	}
	ones := 0
	for _, v := range w {
		switch v {
		case 1:
			ones++
		case 0:
		default:
			t.Fatalf("w* has entry %v", v)
		}
	}
	if ones != 5 {
		t.Fatalf("w* has %d non-zeros, want 5", ones)
	}
	for i := 0; i < ds.Len(); i++ {
		var dot float64
		for j, v := range ds.Example(i) {
			dot += float64(v) * float64(w[j])
		}
		if math.Abs(dot-float64(ds.Targets[i])) > 1e-5 {
			t.Fatalf("target %d = %v, ⟨z, w*⟩ = %v", i, ds.Targets[i], dot)
		}
	}
	_, w2, _ := SparseRegression(40, 100, 5, 0, 10)
	if slices.Equal(w, w2) {
		t.Fatal("another seed gave the same support")
	}
	if _, _, err := SparseRegression(10, 5, 6, 0, 1); err == nil {
		t.Fatal("κ > d accepted")
	}
}

func TestSymmetricSeparable(t *testing.T) {
	const n, d, margin = 20, 10, 0.3
	ds, u, err := SymmetricSeparable(n, d, margin, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil || ds.Len() != 2*n {
		t.Fatalf("Validate %v, Len %d", err, ds.Len())
	}
	var norm float64
	for _, v := range u {
		norm += float64(v) * float64(v)
	}
	if math.Abs(norm-1) > 1e-6 {
		t.Fatalf("|u|² = %v", norm)
	}
	pos := 0
	for i := 0; i < 2*n; i++ {
		y := float64(ds.Targets[i])
		if (y == 1) != (ds.Y[i] == 1) || math.Abs(y) != 1 {
			t.Fatalf("example %d: target %v, class %d", i, y, ds.Y[i])
		}
		var dot float64
		for j, v := range ds.Example(i) {
			dot += float64(v) * float64(u[j])
		}
		if y*dot < margin-1e-5 {
			t.Fatalf("example %d has margin %v < %v", i, y*dot, margin)
		}
		if i < n {
			mirror := ds.Example(n + i)
			for j, v := range ds.Example(i) {
				if mirror[j] != -v {
					t.Fatalf("example %d is not the mirror of %d", n+i, i)
				}
			}
			if ds.Targets[n+i] != -ds.Targets[i] {
				t.Fatalf("label of %d is not the negation of %d's", n+i, i)
			}
		}
		if y > 0 {
			pos++
		}
	}
	if pos != n {
		t.Fatalf("%d positives among %d points, symmetry wants %d", pos, 2*n, n)
	}
}

func TestGaussianMixture(t *testing.T) {
	const classes, modes, per, radius, std = 5, 4, 400, 10.0, 0.5
	ds, err := GaussianMixture(classes, modes, per, radius, std, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil || ds.Len() != classes*modes*per || ds.Classes != classes {
		t.Fatalf("Validate %v, Len %d", err, ds.Len())
	}
	counts := make([]int, classes)
	for _, y := range ds.Y {
		counts[y]++
	}
	for c, k := range counts {
		if k != modes*per {
			t.Fatalf("class %d has %d points", c, k)
		}
	}
	// Each mode's sample mean sits within 5 standard errors of its centre on
	// the circle, and its spread matches std.
	for m := 0; m < classes*modes; m++ {
		cx, cy := MixtureCenter(m, classes, modes, radius)
		if math.Abs(math.Hypot(cx, cy)-radius) > 1e-9 {
			t.Fatalf("centre %d off the circle", m)
		}
		var sx, sy, ss float64
		for p := 0; p < per; p++ {
			i := m*per + p
			if ds.Y[i] != m%classes {
				t.Fatalf("point %d of mode %d has class %d", i, m, ds.Y[i])
			}
			x, y := float64(ds.X[2*i]), float64(ds.X[2*i+1])
			sx += x
			sy += y
			ss += (x-cx)*(x-cx) + (y-cy)*(y-cy)
		}
		se := std / math.Sqrt(per)
		if math.Abs(sx/per-cx) > 5*se || math.Abs(sy/per-cy) > 5*se {
			t.Fatalf("mode %d mean (%v,%v), centre (%v,%v)", m, sx/per, sy/per, cx, cy)
		}
		if v := ss / (2 * per); math.Abs(v-std*std) > 0.25*std*std {
			t.Fatalf("mode %d variance %v, want %v", m, v, std*std)
		}
	}
	if _, err := GaussianMixture(0, 1, 1, 1, 1, 1); err == nil {
		t.Fatal("zero classes accepted")
	}
}

package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Random streams of the generators, so that one seed gives unrelated draws
// in different generators.
const (
	streamLinear uint64 = 0x11 + iota
	streamSparse
	streamSeparable
	streamMixture
)

// LinearRegression draws n examples x ~ N(0, I_d), d = len(wStar), with
// targets ⟨x, wStar⟩ + noise·ε, ε ~ N(0,1). The result has Shape [d],
// TargetDim 1 and no class labels.
func LinearRegression(n int, wStar []float32, noise float64, seed uint64) (*Dataset, error) {
	if n <= 0 || len(wStar) == 0 {
		return nil, fmt.Errorf("linear regression: need n > 0 (got %d) and a non-empty w* (got %d entries)", n, len(wStar))
	}
	if !(noise >= 0) || math.IsInf(noise, 0) {
		return nil, fmt.Errorf("linear regression: noise %v must be finite and non-negative", noise)
	}
	return linearData("linear-regression", n, wStar, noise, rand.New(rand.NewPCG(seed, streamLinear))), nil
}

func linearData(name string, n int, w []float32, noise float64, r *rand.Rand) *Dataset {
	d := len(w)
	ds := &Dataset{Name: name, Shape: []int{d}, X: make([]float32, n*d), Targets: make([]float32, n), TargetDim: 1}
	for i := 0; i < n; i++ {
		x := ds.X[i*d : (i+1)*d]
		var dot float64
		for j := range x {
			x[j] = float32(r.NormFloat64())
			dot += float64(x[j]) * float64(w[j])
		}
		ds.Targets[i] = float32(dot + noise*r.NormFloat64())
	}
	return ds
}

// SparseRegression draws a κ-sparse w* ∈ ℝ^d (value 1 on kappa coordinates
// chosen uniformly at random, 0 elsewhere) and n examples z ~ N(0, I_d) with
// targets ⟨z, w*⟩ + noise·ε. It returns the data and w*.
func SparseRegression(n, d, kappa int, noise float64, seed uint64) (*Dataset, []float32, error) {
	if n <= 0 || d <= 0 || kappa < 0 || kappa > d {
		return nil, nil, fmt.Errorf("sparse regression: need n > 0, d > 0 and 0 ≤ κ ≤ d (got n=%d d=%d κ=%d)", n, d, kappa)
	}
	if !(noise >= 0) || math.IsInf(noise, 0) {
		return nil, nil, fmt.Errorf("sparse regression: noise %v must be finite and non-negative", noise)
	}
	r := rand.New(rand.NewPCG(seed, streamSparse))
	w := make([]float32, d)
	perm := make([]int, d)
	fillPermutation(perm, r)
	for _, j := range perm[:kappa] {
		w[j] = 1
	}
	return linearData("sparse-regression", n, w, noise, r), w, nil
}

// SymmetricSeparable draws n points of a linearly separable binary problem
// and adds the mirror (−x, −y) of each. A unit direction u is drawn
// uniformly; each x ~ N(0, I_d) gets the label y = sign⟨u, x⟩ and is pushed
// by y·margin along u, so y⟨u, x⟩ ≥ margin for every point. Examples i and
// n+i are mirrors. Labels are stored twice: Y ∈ {0, 1} (1 for y = +1,
// Classes 2) and Targets = y ∈ {−1, +1} (TargetDim 1). It returns the data
// and u.
func SymmetricSeparable(n, d int, margin float64, seed uint64) (*Dataset, []float32, error) {
	if n <= 0 || d <= 0 {
		return nil, nil, fmt.Errorf("symmetric separable: need n > 0 and d > 0 (got n=%d d=%d)", n, d)
	}
	if !(margin >= 0) || math.IsInf(margin, 0) {
		return nil, nil, fmt.Errorf("symmetric separable: margin %v must be finite and non-negative", margin)
	}
	r := rand.New(rand.NewPCG(seed, streamSeparable))
	u64 := make([]float64, d)
	var norm float64
	for norm == 0 {
		norm = 0
		for j := range u64 {
			u64[j] = r.NormFloat64()
			norm += u64[j] * u64[j]
		}
		norm = math.Sqrt(norm)
	}
	u := make([]float32, d)
	for j := range u {
		u64[j] /= norm
		u[j] = float32(u64[j])
	}
	ds := &Dataset{
		Name: "symmetric-separable", Shape: []int{d}, Classes: 2, TargetDim: 1,
		X: make([]float32, 2*n*d), Y: make([]int, 2*n), Targets: make([]float32, 2*n),
	}
	x := make([]float64, d)
	for i := 0; i < n; i++ {
		var dot float64
		for j := range x {
			x[j] = r.NormFloat64()
			dot += x[j] * u64[j]
		}
		y := 1.0
		if dot < 0 {
			y = -1
		}
		a, b := ds.X[i*d:(i+1)*d], ds.X[(n+i)*d:(n+i+1)*d]
		for j := range x {
			v := x[j] + y*margin*u64[j]
			a[j] = float32(v)
			b[j] = -a[j]
		}
		ds.Targets[i], ds.Targets[n+i] = float32(y), float32(-y)
		if y > 0 {
			ds.Y[i] = 1
		} else {
			ds.Y[n+i] = 1
		}
	}
	return ds, u, nil
}

// MixtureCenter is the centre of mode t of [GaussianMixture] with the given
// number of classes and modes per class: the k·m centres sit evenly on a
// circle of the given radius, centre t at angle 2πt/(k·m), and centre t
// belongs to class t mod k, so that neighbouring modes belong to different
// classes.
func MixtureCenter(t, classes, modes int, radius float64) (x, y float64) {
	th := 2 * math.Pi * float64(t) / float64(classes*modes)
	return radius * math.Cos(th), radius * math.Sin(th)
}

// GaussianMixture draws perMode 2-D points around each of the classes·modes
// centres of [MixtureCenter], with isotropic Gaussian spread std. Points are
// stored centre by centre; the label is the centre's class.
func GaussianMixture(classes, modes, perMode int, radius, std float64, seed uint64) (*Dataset, error) {
	if classes <= 0 || modes <= 0 || perMode <= 0 {
		return nil, fmt.Errorf("gaussian mixture: classes %d, modes %d and points per mode %d must be positive", classes, modes, perMode)
	}
	if !(std >= 0) || math.IsInf(std, 0) || math.IsNaN(radius) || math.IsInf(radius, 0) {
		return nil, fmt.Errorf("gaussian mixture: radius %v and std %v must be finite, std non-negative", radius, std)
	}
	r := rand.New(rand.NewPCG(seed, streamMixture))
	k := classes * modes
	ds := &Dataset{
		Name: "gaussian-mixture", Shape: []int{2}, Classes: classes,
		X: make([]float32, 2*k*perMode), Y: make([]int, k*perMode),
	}
	i := 0
	for t := 0; t < k; t++ {
		cx, cy := MixtureCenter(t, classes, modes, radius)
		for p := 0; p < perMode; p++ {
			ds.X[2*i] = float32(cx + std*r.NormFloat64())
			ds.X[2*i+1] = float32(cy + std*r.NormFloat64())
			ds.Y[i] = t % classes
			i++
		}
	}
	return ds, nil
}

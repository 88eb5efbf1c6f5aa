package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dataset is a set of fixed-shape examples stored contiguously.
//
// Example i occupies X[i*ExampleSize() : (i+1)*ExampleSize()], laid out in
// row-major order of Shape (channels first for images). Y holds class labels
// in [0, Classes) or is nil; Targets holds TargetDim regression values per
// example or is nil.
type Dataset struct {
	Name      string
	X         []float32
	Shape     []int // per-example shape, e.g. [1 28 28] or [d]
	Y         []int
	Targets   []float32
	TargetDim int
	Classes   int
}

// ExampleSize is the number of float32 values per example (the product of
// Shape).
func (d *Dataset) ExampleSize() int {
	if len(d.Shape) == 0 {
		return 0
	}
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// Len is the number of examples.
func (d *Dataset) Len() int {
	es := d.ExampleSize()
	if es == 0 {
		return 0
	}
	return len(d.X) / es
}

// Example returns a view (not a copy) of example i's values.
func (d *Dataset) Example(i int) []float32 {
	es := d.ExampleSize()
	return d.X[i*es : (i+1)*es : (i+1)*es]
}

// Validate checks that the fields are mutually consistent: positive shape,
// X a whole number of examples, Y and Targets of matching length and labels
// in range.
func (d *Dataset) Validate() error {
	if len(d.Shape) == 0 {
		return fmt.Errorf("dataset %q: empty shape", d.Name)
	}
	for _, s := range d.Shape {
		if s <= 0 {
			return fmt.Errorf("dataset %q: non-positive dimension in shape %v", d.Name, d.Shape)
		}
	}
	es := d.ExampleSize()
	if len(d.X)%es != 0 {
		return fmt.Errorf("dataset %q: len(X)=%d is not a multiple of the example size %d", d.Name, len(d.X), es)
	}
	n := len(d.X) / es
	if d.Y != nil {
		if len(d.Y) != n {
			return fmt.Errorf("dataset %q: %d labels for %d examples", d.Name, len(d.Y), n)
		}
		for i, y := range d.Y {
			if y < 0 || (d.Classes > 0 && y >= d.Classes) {
				return fmt.Errorf("dataset %q: label %d of example %d outside [0,%d)", d.Name, y, i, d.Classes)
			}
		}
	}
	if d.Targets != nil {
		if d.TargetDim <= 0 {
			return fmt.Errorf("dataset %q: targets present but TargetDim=%d", d.Name, d.TargetDim)
		}
		if len(d.Targets) != n*d.TargetDim {
			return fmt.Errorf("dataset %q: %d target values for %d examples of dimension %d", d.Name, len(d.Targets), n, d.TargetDim)
		}
	}
	return nil
}

// Subset returns a new dataset holding copies of the examples at the given
// indices, in that order (indices may repeat).
func (d *Dataset) Subset(indices []int) (*Dataset, error) {
	n := d.Len()
	es := d.ExampleSize()
	out := &Dataset{
		Name:      d.Name,
		Shape:     append([]int(nil), d.Shape...),
		TargetDim: d.TargetDim,
		Classes:   d.Classes,
		X:         make([]float32, len(indices)*es),
	}
	if d.Y != nil {
		out.Y = make([]int, len(indices))
	}
	if d.Targets != nil {
		out.Targets = make([]float32, len(indices)*d.TargetDim)
	}
	for j, i := range indices {
		if i < 0 || i >= n {
			return nil, fmt.Errorf("dataset %q: subset index %d out of range [0,%d)", d.Name, i, n)
		}
		copy(out.X[j*es:(j+1)*es], d.X[i*es:(i+1)*es])
		if d.Y != nil {
			out.Y[j] = d.Y[i]
		}
		if d.Targets != nil {
			td := d.TargetDim
			copy(out.Targets[j*td:(j+1)*td], d.Targets[i*td:(i+1)*td])
		}
	}
	return out, nil
}

// Head returns a copy of the first n examples (all of them if n exceeds Len;
// none if n < 0).
func (d *Dataset) Head(n int) *Dataset {
	n = max(0, min(n, d.Len()))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	out, _ := d.Subset(idx) // indices are in range by construction
	return out
}

// Split returns copies of the first n examples and of the rest.
func (d *Dataset) Split(n int) (first, rest *Dataset, err error) {
	if n < 0 || n > d.Len() {
		return nil, nil, fmt.Errorf("dataset %q: split point %d outside [0,%d]", d.Name, n, d.Len())
	}
	a := make([]int, n)
	b := make([]int, d.Len()-n)
	for i := range a {
		a[i] = i
	}
	for i := range b {
		b[i] = n + i
	}
	first, _ = d.Subset(a)
	rest, _ = d.Subset(b)
	return first, rest, nil
}

// Shuffled returns a copy of the dataset with its examples in a random order
// that depends only on seed.
func (d *Dataset) Shuffled(seed uint64) *Dataset {
	perm := Permutation(d.Len(), seed, 0)
	out, _ := d.Subset(perm) // a permutation is in range
	return out
}

// Permutation returns a random permutation of [0,n) that is a pure function
// of (seed, stream).
func Permutation(n int, seed, stream uint64) []int {
	p := make([]int, n)
	fillPermutation(p, rand.New(rand.NewPCG(seed, stream)))
	return p
}

// fillPermutation writes the identity into p and Fisher–Yates shuffles it.
func fillPermutation(p []int, r *rand.Rand) {
	for i := range p {
		p[i] = i
	}
	for i := len(p) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// Channels is the number of normalization channels: Shape[0] for examples
// of rank 2 or more (images, channels first), otherwise 1.
func (d *Dataset) Channels() int {
	if len(d.Shape) >= 2 {
		return d.Shape[0]
	}
	return 1
}

// MeanStd returns the per-channel mean and (population) standard deviation
// of X, accumulated in float64. See [Dataset.Channels].
func (d *Dataset) MeanStd() (mean, std []float32) {
	c := d.Channels()
	es := d.ExampleSize()
	if es == 0 {
		return make([]float32, c), make([]float32, c)
	}
	per := es / c
	sum := make([]float64, c)
	n := d.Len()
	for i := 0; i < n; i++ {
		ex := d.X[i*es : (i+1)*es]
		for ch := 0; ch < c; ch++ {
			var s float64
			for _, v := range ex[ch*per : (ch+1)*per] {
				s += float64(v)
			}
			sum[ch] += s
		}
	}
	count := float64(n * per)
	mean = make([]float32, c)
	std = make([]float32, c)
	if count == 0 {
		return mean, std
	}
	mu := make([]float64, c)
	for ch := range mu {
		mu[ch] = sum[ch] / count
	}
	ss := make([]float64, c)
	for i := 0; i < n; i++ {
		ex := d.X[i*es : (i+1)*es]
		for ch := 0; ch < c; ch++ {
			var s float64
			for _, v := range ex[ch*per : (ch+1)*per] {
				dv := float64(v) - mu[ch]
				s += dv * dv
			}
			ss[ch] += s
		}
	}
	for ch := range mu {
		mean[ch] = float32(mu[ch])
		std[ch] = float32(math.Sqrt(ss[ch] / count))
	}
	return mean, std
}

// Normalize maps every value x of channel c to (x − mean[c]) / std[c] in
// place. mean and std have one entry per channel, or one entry for all.
// Typically the statistics come from the training set's [Dataset.MeanStd]
// and are applied to both training and test sets.
func (d *Dataset) Normalize(mean, std []float32) error {
	c := d.Channels()
	if len(mean) != len(std) || (len(mean) != c && len(mean) != 1) {
		return fmt.Errorf("dataset %q: normalize with %d means and %d stds for %d channels", d.Name, len(mean), len(std), c)
	}
	for i, s := range std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("dataset %q: normalize: std[%d]=%v is not positive and finite", d.Name, i, s)
		}
	}
	es := d.ExampleSize()
	if es == 0 {
		return nil
	}
	per := es / c
	for i := 0; i < d.Len(); i++ {
		ex := d.X[i*es : (i+1)*es]
		for ch := 0; ch < c; ch++ {
			k := 0
			if len(mean) > 1 {
				k = ch
			}
			m, inv := mean[k], 1/std[k]
			seg := ex[ch*per : (ch+1)*per]
			for j := range seg {
				seg[j] = (seg[j] - m) * inv
			}
		}
	}
	return nil
}

// OneHot writes the one-hot encoding of labels (len(labels)×classes, row
// major) into dst, reusing dst's storage when it is large enough, and
// returns it. A label outside [0, classes) is an error.
func OneHot(dst []float32, labels []int, classes int) ([]float32, error) {
	if classes <= 0 {
		return dst, fmt.Errorf("one-hot: classes=%d must be positive", classes)
	}
	need := len(labels) * classes
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	dst = dst[:need]
	clear(dst)
	for i, y := range labels {
		if y < 0 || y >= classes {
			return dst, fmt.Errorf("one-hot: label %d at %d outside [0,%d)", y, i, classes)
		}
		dst[i*classes+y] = 1
	}
	return dst, nil
}

// OneHotY returns the one-hot encoding of the dataset's labels
// (Len()×Classes).
func (d *Dataset) OneHotY() ([]float32, error) {
	if d.Y == nil {
		return nil, fmt.Errorf("dataset %q has no labels", d.Name)
	}
	out, err := OneHot(nil, d.Y, d.Classes)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", d.Name, err)
	}
	return out, nil
}

// ArgMax returns the index of the largest of the first classes values of
// each row of scores (rows×classes, row major), writing into dst when it is
// large enough. It is the inverse of [OneHot] for one-hot rows.
func ArgMax(dst []int, scores []float32, classes int) []int {
	if classes <= 0 {
		return dst[:0]
	}
	rows := len(scores) / classes
	if cap(dst) < rows {
		dst = make([]int, rows)
	}
	dst = dst[:rows]
	for r := range dst {
		row := scores[r*classes : (r+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		dst[r] = best
	}
	return dst
}

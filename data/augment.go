package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Pad returns a copy of an image dataset (rank-3 shape [C H W]) with p
// pixels of the given value added on every side: shape [C H+2p W+2p]. For
// example, Fashion-MNIST padded by 2 has the 32×32 size of CIFAR-10.
func (d *Dataset) Pad(p int, value float32) (*Dataset, error) {
	if len(d.Shape) != 3 || p < 0 {
		return nil, fmt.Errorf("dataset %q: pad %d needs p ≥ 0 and images of shape [C H W], not %v", d.Name, p, d.Shape)
	}
	c, h, w := d.Shape[0], d.Shape[1], d.Shape[2]
	H, W := h+2*p, w+2*p
	out := d.withX(make([]float32, d.Len()*c*H*W), []int{c, H, W})
	if value != 0 {
		for i := range out.X {
			out.X[i] = value
		}
	}
	for i := 0; i < d.Len(); i++ {
		src, dst := d.Example(i), out.Example(i)
		for ch := 0; ch < c; ch++ {
			for r := 0; r < h; r++ {
				copy(dst[ch*H*W+(r+p)*W+p:][:w], src[ch*h*w+r*w:][:w])
			}
		}
	}
	return out, nil
}

// RepeatChannels returns a copy of a single-channel image dataset (shape
// [1 H W]) with its channel repeated c times (shape [c H W]), e.g. to feed
// grey-scale images to a network built for RGB.
func (d *Dataset) RepeatChannels(c int) (*Dataset, error) {
	if len(d.Shape) != 3 || d.Shape[0] != 1 || c <= 0 {
		return nil, fmt.Errorf("dataset %q: repeat channels %d needs c > 0 and images of shape [1 H W], not %v", d.Name, c, d.Shape)
	}
	plane := d.Shape[1] * d.Shape[2]
	out := d.withX(make([]float32, d.Len()*c*plane), []int{c, d.Shape[1], d.Shape[2]})
	for i := 0; i < d.Len(); i++ {
		src, dst := d.Example(i), out.Example(i)
		for ch := 0; ch < c; ch++ {
			copy(dst[ch*plane:(ch+1)*plane], src)
		}
	}
	return out, nil
}

// withX returns a dataset with d's labels and targets (copied) and the given
// inputs and shape.
func (d *Dataset) withX(x []float32, shape []int) *Dataset {
	out := &Dataset{Name: d.Name, X: x, Shape: shape, TargetDim: d.TargetDim, Classes: d.Classes}
	if d.Y != nil {
		out.Y = append([]int(nil), d.Y...)
	}
	if d.Targets != nil {
		out.Targets = append([]float32(nil), d.Targets...)
	}
	return out
}

// Augmenter applies random data augmentations to batches in place. Its
// randomness is a pure function of (seed, step): call [Augmenter.Seek] with
// the training step before augmenting a batch and a resumed run draws the
// same augmentations. Scratch buffers are reused, so steady-state use does
// not allocate.
type Augmenter struct {
	seed    uint64
	pcg     *rand.PCG
	rng     *rand.Rand
	scratch []float32
	scratT  []float32
	perm    []int
}

// NewAugmenter returns an augmenter positioned at step 0.
func NewAugmenter(seed uint64) *Augmenter {
	pcg := rand.NewPCG(seed, 1<<63)
	a := &Augmenter{seed: seed, pcg: pcg, rng: rand.New(pcg)}
	a.Seek(0)
	return a
}

// Seek makes the following draws those of the given step.
func (a *Augmenter) Seek(step uint64) { a.pcg.Seed(a.seed, 1<<63|step) }

// imageDims checks that x holds whole images of shape [C H W].
func imageDims(x []float32, shape []int) (n, c, h, w int, err error) {
	if len(shape) != 3 || shape[0] <= 0 || shape[1] <= 0 || shape[2] <= 0 {
		return 0, 0, 0, 0, fmt.Errorf("augment: want an image shape [C H W], got %v", shape)
	}
	es := shape[0] * shape[1] * shape[2]
	if len(x)%es != 0 {
		return 0, 0, 0, 0, fmt.Errorf("augment: %d values are not a whole number of %v images", len(x), shape)
	}
	return len(x) / es, shape[0], shape[1], shape[2], nil
}

// RandomCrop shifts each image of x (images of shape [C H W], contiguous)
// by an offset drawn uniformly from [−pad, pad]² and fills the uncovered
// border with zeros: the usual "pad by pad, crop back to H×W" augmentation.
func (a *Augmenter) RandomCrop(x []float32, shape []int, pad int) error {
	n, c, h, w, err := imageDims(x, shape)
	if err != nil {
		return err
	}
	if pad < 0 {
		return fmt.Errorf("augment: negative crop padding %d", pad)
	}
	es := c * h * w
	a.scratch = resize(a.scratch, es)
	for i := 0; i < n; i++ {
		dy := a.rng.IntN(2*pad+1) - pad
		dx := a.rng.IntN(2*pad+1) - pad
		shiftImage(x[i*es:(i+1)*es], a.scratch, c, h, w, dy, dx)
	}
	return nil
}

// shiftImage sets img(ch, r, col) = img(ch, r+dy, col+dx), zero outside.
func shiftImage(img, scratch []float32, c, h, w, dy, dx int) {
	if dy == 0 && dx == 0 {
		return
	}
	copy(scratch, img)
	clear(img)
	c0, c1 := max(0, -dx), min(w, w-dx) // destination columns whose source is inside
	if c0 >= c1 {
		return
	}
	for ch := 0; ch < c; ch++ {
		for r := max(0, -dy); r < min(h, h-dy); r++ {
			src := scratch[ch*h*w+(r+dy)*w:][:w]
			dst := img[ch*h*w+r*w:][:w]
			copy(dst[c0:c1], src[c0+dx:c1+dx])
		}
	}
}

// HorizontalFlip mirrors each image of x left to right with probability p.
func (a *Augmenter) HorizontalFlip(x []float32, shape []int, p float64) error {
	n, c, h, w, err := imageDims(x, shape)
	if err != nil {
		return err
	}
	es := c * h * w
	for i := 0; i < n; i++ {
		if a.rng.Float64() >= p {
			continue
		}
		img := x[i*es : (i+1)*es]
		for row := 0; row < c*h; row++ {
			line := img[row*w : (row+1)*w]
			for l, r := 0, w-1; l < r; l, r = l+1, r-1 {
				line[l], line[r] = line[r], line[l]
			}
		}
	}
	return nil
}

// GaussianNoise adds std·N(0,1) to every value of x.
func (a *Augmenter) GaussianNoise(x []float32, std float64) {
	for i := range x {
		x[i] += float32(std * a.rng.NormFloat64())
	}
}

// SignFlip negates, with probability p, each of the n examples of x and its
// row of targets (n×(len(targets)/n), e.g. ±1 labels); targets may be nil.
// Applied to data that is symmetric under (x, y) → (−x, −y) it keeps the
// distribution unchanged.
func (a *Augmenter) SignFlip(x, targets []float32, n int, p float64) error {
	if n <= 0 || len(x)%n != 0 || len(targets)%n != 0 {
		return fmt.Errorf("augment: sign flip of %d examples over %d inputs and %d targets", n, len(x), len(targets))
	}
	es, td := len(x)/n, len(targets)/n
	for i := 0; i < n; i++ {
		if a.rng.Float64() >= p {
			continue
		}
		for j := range x[i*es : (i+1)*es] {
			x[i*es+j] = -x[i*es+j]
		}
		for j := range targets[i*td : (i+1)*td] {
			targets[i*td+j] = -targets[i*td+j]
		}
	}
	return nil
}

// MixUp replaces the n examples of x and their soft targets (n×k, e.g.
// one-hot rows) by convex combinations λ·(xᵢ, tᵢ) + (1−λ)·(x_π(i), t_π(i))
// with one λ ~ Beta(alpha, alpha) for the batch and a random permutation π.
// It returns λ.
func (a *Augmenter) MixUp(x, targets []float32, n int, alpha float64) (float64, error) {
	if n <= 0 || len(x)%n != 0 || len(targets)%n != 0 || len(targets) == 0 {
		return 0, fmt.Errorf("augment: mixup of %d examples over %d inputs and %d targets", n, len(x), len(targets))
	}
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return 0, fmt.Errorf("augment: mixup alpha %v must be positive and finite", alpha)
	}
	lam := betaSample(a.rng, alpha, alpha)
	a.perm = resize(a.perm, n)
	fillPermutation(a.perm, a.rng)
	a.scratch = append(a.scratch[:0], x...)
	a.scratT = append(a.scratT[:0], targets...)
	mix(x, a.scratch, a.perm, lam)
	mix(targets, a.scratT, a.perm, lam)
	return lam, nil
}

// mix sets row i of dst to lam·src_i + (1−lam)·src_perm(i).
func mix(dst, src []float32, perm []int, lam float64) {
	m := len(dst) / len(perm)
	l, r := float32(lam), float32(1-lam)
	for i, j := range perm {
		d, s, t := dst[i*m:(i+1)*m], src[i*m:(i+1)*m], src[j*m:(j+1)*m]
		for k := range d {
			d[k] = l*s[k] + r*t[k]
		}
	}
}

// betaSample draws from Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).
func betaSample(r *rand.Rand, a, b float64) float64 {
	x, y := gammaSample(r, a), gammaSample(r, b)
	if x+y == 0 { // both underflowed (tiny shapes): pick an end with the right odds
		if r.Float64() < a/(a+b) {
			return 1
		}
		return 0
	}
	return x / (x + y)
}

// gammaSample draws from Gamma(k, 1) by Marsaglia and Tsang's method, with
// the boost Gamma(k) = Gamma(k+1)·U^(1/k) for k < 1.
func gammaSample(r *rand.Rand, k float64) float64 {
	if k < 1 {
		return gammaSample(r, k+1) * math.Pow(r.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		z := r.NormFloat64()
		v := 1 + c*z
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*z*z+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

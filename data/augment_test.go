package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rampImages returns n images of shape [c h w] whose value at (i, ch, r, x)
// is 1 + i + 0.1ch + 0.01r + 0.0001x (never zero).
func rampImages(n, c, h, w int) []float32 {
	out := make([]float32, 0, n*c*h*w)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for r := 0; r < h; r++ {
				for x := 0; x < w; x++ {
					out = append(out, float32(1+float64(i)+0.1*float64(ch)+0.01*float64(r)+0.0001*float64(x)))
				}
			}
		}
	}
	return out
}

func TestPadAndRepeatChannels(t *testing.T) {
	ds := &Dataset{Name: "img", Shape: []int{1, 2, 3}, X: rampImages(2, 1, 2, 3), Y: []int{4, 7}, Classes: 10}
	p, err := ds.Pad(2, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Shape, []int{1, 6, 7}) || p.Len() != 2 || !slices.Equal(p.Y, ds.Y) {
		t.Fatalf("padded shape %v, %d examples", p.Shape, p.Len())
	}
	for i := 0; i < 2; i++ {
		src, dst := ds.Example(i), p.Example(i)
		for r := 0; r < 6; r++ {
			for x := 0; x < 7; x++ {
				want := float32(-1)
				if r >= 2 && r < 4 && x >= 2 && x < 5 {
					want = src[(r-2)*3+x-2]
				}
				if dst[r*7+x] != want {
					t.Fatalf("example %d (%d,%d) = %v, want %v", i, r, x, dst[r*7+x], want)
				}
			}
		}
	}
	rgb, err := p.RepeatChannels(3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rgb.Shape, []int{3, 6, 7}) {
		t.Fatalf("shape %v", rgb.Shape)
	}
	for ch := 0; ch < 3; ch++ {
		if !slices.Equal(rgb.Example(1)[ch*42:(ch+1)*42], p.Example(1)) {
			t.Fatalf("channel %d is not a copy", ch)
		}
	}
	if _, err := rgb.RepeatChannels(3); err == nil {
		t.Fatal("RepeatChannels of a 3-channel dataset succeeded")
	}
	if _, err := (&Dataset{Shape: []int{4}}).Pad(1, 0); err == nil {
		t.Fatal("Pad of vectors succeeded")
	}
}

func TestRandomCrop(t *testing.T) {
	const n, c, h, w, pad = 200, 2, 5, 6, 2
	shape := []int{c, h, w}
	orig := rampImages(n, c, h, w)
	x := slices.Clone(orig)
	a := NewAugmenter(1)
	if err := a.RandomCrop(x, shape, pad); err != nil {
		t.Fatal(err)
	}
	es := c * h * w
	seen := map[[2]int]int{}
	for i := 0; i < n; i++ {
		// Oracle: find the shift (dy, dx) that explains the output.
		got, src := x[i*es:(i+1)*es], orig[i*es:(i+1)*es]
		found := false
		for dy := -pad; dy <= pad && !found; dy++ {
			for dx := -pad; dx <= pad && !found; dx++ {
				ok := true
				for ch := 0; ch < c && ok; ch++ {
					for r := 0; r < h && ok; r++ {
						for col := 0; col < w && ok; col++ {
							want := float32(0)
							if r+dy >= 0 && r+dy < h && col+dx >= 0 && col+dx < w {
								want = src[ch*h*w+(r+dy)*w+col+dx]
							}
							ok = got[ch*h*w+r*w+col] == want
						}
					}
				}
				if ok {
					found = true
					seen[[2]int{dy, dx}]++
				}
			}
		}
		if !found {
			t.Fatalf("image %d is not a shift of its original by at most %d", i, pad)
		}
	}
	if len(seen) != (2*pad+1)*(2*pad+1) {
		t.Fatalf("only %d of the %d shifts occurred in %d draws", len(seen), (2*pad+1)*(2*pad+1), n)
	}
	y := slices.Clone(orig)
	if a.RandomCrop(y, shape, 0); !slices.Equal(y, orig) {
		t.Fatal("crop with no padding changed the images")
	}
	// Shifts wider than the image leave zeros.
	z := rampImages(1, 1, 2, 2)
	shiftImage(z, make([]float32, 4), 1, 2, 2, 0, 3)
	if !slices.Equal(z, []float32{0, 0, 0, 0}) {
		t.Fatalf("shift by 3 of a 2-wide image gave %v", z)
	}
	if err := a.RandomCrop(x[:5], shape, 1); err == nil {
		t.Fatal("ragged images accepted")
	}
}

func TestHorizontalFlipNoiseSignFlip(t *testing.T) {
	shape := []int{2, 3, 4}
	orig := rampImages(400, 2, 3, 4)
	x := slices.Clone(orig)
	a := NewAugmenter(2)
	if err := a.HorizontalFlip(x, shape, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(x); i += 4 {
		if x[i] != orig[i+3] || x[i+1] != orig[i+2] {
			t.Fatal("flip with p=1 did not mirror every row")
		}
	}
	x = slices.Clone(orig)
	a.HorizontalFlip(x, shape, 0.5)
	flipped := 0
	for i := 0; i < 400; i++ {
		if x[i*24] != orig[i*24] {
			flipped++
		}
	}
	if flipped < 150 || flipped > 250 { // Binomial(400, ½): mean 200, sd 10
		t.Fatalf("%d of 400 images flipped with p=½", flipped)
	}

	noise := make([]float32, 100000)
	a.GaussianNoise(noise, 0.5)
	var m, v float64
	for _, e := range noise {
		m += float64(e)
	}
	m /= float64(len(noise))
	for _, e := range noise {
		v += (float64(e) - m) * (float64(e) - m)
	}
	v /= float64(len(noise))
	if math.Abs(m) > 0.01 || math.Abs(v-0.25) > 0.01 {
		t.Fatalf("noise mean %v variance %v, want 0 and 0.25", m, v)
	}

	xs := []float32{1, 2, 3, 4, 5, 6}
	ts := []float32{1, -1, 1}
	if err := a.SignFlip(xs, ts, 3, 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(xs, []float32{-1, -2, -3, -4, -5, -6}) || !slices.Equal(ts, []float32{-1, 1, -1}) {
		t.Fatalf("sign flip gave %v %v", xs, ts)
	}
	if err := a.SignFlip(xs, ts, 4, 1); err == nil {
		t.Fatal("sign flip with a wrong count succeeded")
	}
}

func TestMixUp(t *testing.T) {
	const n, d, k = 6, 3, 6
	a := NewAugmenter(3)
	for trial := 0; trial < 20; trial++ {
		x := make([]float32, n*d)
		for i := range x {
			x[i] = float32(i * i % 17)
		}
		orig := slices.Clone(x)
		y, _ := OneHot(nil, []int{0, 1, 2, 3, 4, 5}, k)
		lam, err := a.MixUp(x, y, n, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		if lam < 0 || lam > 1 {
			t.Fatalf("λ = %v", lam)
		}
		// Every target row must be λ at its own class plus 1−λ at its partner's;
		// the inputs must mix with the same partner.
		for i := 0; i < n; i++ {
			row := y[i*k : (i+1)*k]
			partner := -1
			for j, v := range row {
				if j != i && v != 0 {
					partner = j
				}
			}
			if partner < 0 { // mixed with itself: weight 1 on its own class
				partner = i
				if math.Abs(float64(row[i])-1) > 1e-6 {
					t.Fatalf("row %d = %v", i, row)
				}
			} else if math.Abs(float64(row[i])-lam) > 1e-6 || math.Abs(float64(row[partner])-(1-lam)) > 1e-6 {
				t.Fatalf("row %d = %v for λ=%v", i, row, lam)
			}
			for j := 0; j < d; j++ {
				want := lam*float64(orig[i*d+j]) + (1-lam)*float64(orig[partner*d+j])
				if math.Abs(float64(x[i*d+j])-want) > 1e-4 {
					t.Fatalf("x[%d][%d] = %v, want %v", i, j, x[i*d+j], want)
				}
			}
		}
	}
	if _, err := a.MixUp(make([]float32, 6), make([]float32, 6), 2, 0); err == nil {
		t.Fatal("alpha 0 accepted")
	}
}

// TestBetaSampler checks the Beta sampler against the closed-form mean
// a/(a+b) and variance ab/((a+b)²(a+b+1)), including shapes below 1.
func TestBetaSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, p := range [][2]float64{{0.4, 0.4}, {2, 0.5}, {1, 1}, {5, 3}} {
		a, b := p[0], p[1]
		const m = 40000
		var s, ss float64
		for i := 0; i < m; i++ {
			v := betaSample(r, a, b)
			if v < 0 || v > 1 {
				t.Fatalf("Beta(%v,%v) drew %v", a, b, v)
			}
			s += v
			ss += v * v
		}
		mean := s / m
		vr := ss/m - mean*mean
		wantM := a / (a + b)
		wantV := a * b / ((a + b) * (a + b) * (a + b + 1))
		if math.Abs(mean-wantM) > 5*math.Sqrt(wantV/m) || math.Abs(vr-wantV) > 0.05*wantV {
			t.Fatalf("Beta(%v,%v): mean %v var %v, want %v %v", a, b, mean, vr, wantM, wantV)
		}
	}
}

func TestAugmenterSeek(t *testing.T) {
	shape := []int{1, 4, 4}
	run := func(a *Augmenter, step uint64) []float32 {
		a.Seek(step)
		x := rampImages(8, 1, 4, 4)
		a.RandomCrop(x, shape, 1)
		a.HorizontalFlip(x, shape, 0.5)
		a.GaussianNoise(x, 0.1)
		return x
	}
	a, b := NewAugmenter(9), NewAugmenter(9)
	first := run(a, 0)
	run(a, 1)
	if !slices.Equal(run(b, 0), first) {
		t.Fatal("step 0 differs between two augmenters with one seed")
	}
	if !slices.Equal(run(a, 0), first) {
		t.Fatal("seeking back to step 0 does not repeat it")
	}
	if slices.Equal(run(b, 1), first) {
		t.Fatal("steps 0 and 1 drew the same augmentation")
	}
	x := rampImages(8, 1, 4, 4)
	if allocs := testing.AllocsPerRun(20, func() { a.RandomCrop(x, shape, 1) }); allocs != 0 {
		t.Fatalf("%v allocations per crop", allocs)
	}
}

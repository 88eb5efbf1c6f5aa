package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// smallDataset has 4 examples of shape [2 1 3] (two channels of three
// values), labels and two-dimensional targets; example i holds the values
// 10i .. 10i+5.
func smallDataset() *Dataset {
	ds := &Dataset{Name: "small", Shape: []int{2, 1, 3}, Classes: 3, TargetDim: 2}
	for i := 0; i < 4; i++ {
		for j := 0; j < 6; j++ {
			ds.X = append(ds.X, float32(10*i+j))
		}
		ds.Y = append(ds.Y, i%3)
		ds.Targets = append(ds.Targets, float32(i), float32(-i))
	}
	return ds
}

func TestDatasetBasics(t *testing.T) {
	ds := smallDataset()
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 4 || ds.ExampleSize() != 6 || ds.Channels() != 2 {
		t.Fatalf("Len=%d ExampleSize=%d Channels=%d, want 4 6 2", ds.Len(), ds.ExampleSize(), ds.Channels())
	}
	if got := ds.Example(2); !slices.Equal(got, []float32{20, 21, 22, 23, 24, 25}) {
		t.Fatalf("Example(2) = %v", got)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Dataset)
		want   string
	}{
		{"empty shape", func(d *Dataset) { d.Shape = nil }, "empty shape"},
		{"zero dim", func(d *Dataset) { d.Shape = []int{2, 0, 3} }, "non-positive"},
		{"ragged X", func(d *Dataset) { d.X = d.X[:7] }, "not a multiple"},
		{"label count", func(d *Dataset) { d.Y = d.Y[:3] }, "3 labels for 4 examples"},
		{"label range", func(d *Dataset) { d.Y[1] = 3 }, "label 3 of example 1"},
		{"negative label", func(d *Dataset) { d.Y[0] = -1 }, "label -1"},
		{"target count", func(d *Dataset) { d.Targets = d.Targets[:5] }, "5 target values"},
		{"target dim", func(d *Dataset) { d.TargetDim = 0 }, "TargetDim=0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := smallDataset()
			tc.modify(ds)
			err := ds.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSubsetHeadSplit(t *testing.T) {
	ds := smallDataset()
	sub, err := ds.Subset([]int{3, 1, 3})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Len() != 3 || !slices.Equal(sub.Y, []int{0, 1, 0}) ||
		!slices.Equal(sub.Targets, []float32{3, -3, 1, -1, 3, -3}) ||
		!slices.Equal(sub.Example(1), ds.Example(1)) || !slices.Equal(sub.Example(2), ds.Example(3)) {
		t.Fatalf("Subset gave Y=%v Targets=%v X=%v", sub.Y, sub.Targets, sub.X)
	}
	sub.X[0] = -99 // a copy, not a view
	if ds.Example(3)[0] == -99 {
		t.Fatal("Subset shares storage with its source")
	}
	if _, err := ds.Subset([]int{0, 4}); err == nil || !strings.Contains(err.Error(), "index 4 out of range") {
		t.Fatalf("out-of-range Subset error = %v", err)
	}
	for _, tc := range []struct{ n, want int }{{-1, 0}, {0, 0}, {2, 2}, {4, 4}, {9, 4}} {
		if h := ds.Head(tc.n); h.Len() != tc.want || (tc.want > 0 && !slices.Equal(h.X, ds.X[:tc.want*6])) {
			t.Errorf("Head(%d) has %d examples, want %d", tc.n, h.Len(), tc.want)
		}
	}
	a, b, err := ds.Split(1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 1 || b.Len() != 3 || !slices.Equal(b.Y, ds.Y[1:]) || !slices.Equal(a.X, ds.X[:6]) {
		t.Fatalf("Split(1) = %d + %d examples", a.Len(), b.Len())
	}
	if _, _, err := ds.Split(5); err == nil {
		t.Fatal("Split(5) of 4 examples succeeded")
	}
	sh := ds.Shuffled(7)
	if sh.Len() != 4 {
		t.Fatal("Shuffled changed the size")
	}
	// Each shuffled example must be some original example with its label.
	for i := 0; i < 4; i++ {
		src := int(sh.Example(i)[0]) / 10
		if sh.Y[i] != ds.Y[src] || sh.Targets[2*i] != float32(src) {
			t.Fatalf("shuffled example %d lost its label or target", i)
		}
	}
}

func TestPermutation(t *testing.T) {
	p := Permutation(100, 3, 0)
	seen := make([]bool, 100)
	for _, v := range p {
		if seen[v] {
			t.Fatalf("value %d repeated", v)
		}
		seen[v] = true
	}
	if !slices.Equal(p, Permutation(100, 3, 0)) {
		t.Fatal("same seed gave different permutations")
	}
	if slices.Equal(p, Permutation(100, 4, 0)) || slices.Equal(p, Permutation(100, 3, 1)) {
		t.Fatal("different seeds gave the same permutation")
	}
}

func TestMeanStdNormalize(t *testing.T) {
	ds := smallDataset()
	mean, std := ds.MeanStd()
	// Channel 0 holds 10i+j for i<4, j<3; channel 1 holds 10i+3+j.
	// Oracle: direct float64 population statistics of those 12 numbers.
	for ch := 0; ch < 2; ch++ {
		var vals []float64
		for i := 0; i < 4; i++ {
			for j := 0; j < 3; j++ {
				vals = append(vals, float64(10*i+3*ch+j))
			}
		}
		var m, v float64
		for _, x := range vals {
			m += x
		}
		m /= float64(len(vals))
		for _, x := range vals {
			v += (x - m) * (x - m)
		}
		s := math.Sqrt(v / float64(len(vals)))
		if math.Abs(float64(mean[ch])-m) > 1e-5 || math.Abs(float64(std[ch])-s) > 1e-5 {
			t.Fatalf("channel %d: mean %v std %v, want %v %v", ch, mean[ch], std[ch], m, s)
		}
	}
	if err := ds.Normalize(mean, std); err != nil {
		t.Fatal(err)
	}
	m2, s2 := ds.MeanStd()
	for ch := range m2 {
		if math.Abs(float64(m2[ch])) > 1e-6 || math.Abs(float64(s2[ch])-1) > 1e-6 {
			t.Fatalf("after Normalize channel %d: mean %v std %v", ch, m2[ch], s2[ch])
		}
	}
	// One scalar mean/std for all channels.
	ds = smallDataset()
	if err := ds.Normalize([]float32{5}, []float32{2}); err != nil {
		t.Fatal(err)
	}
	if ds.X[4] != (4-5)/2.0 || ds.X[23] != (35-5)/2.0 {
		t.Fatalf("scalar Normalize gave %v, %v", ds.X[4], ds.X[23])
	}
	for _, tc := range []struct {
		name      string
		mean, std []float32
	}{
		{"three channels", []float32{0, 0, 0}, []float32{1, 1, 1}},
		{"length mismatch", []float32{0, 0}, []float32{1}},
		{"zero std", []float32{0}, []float32{0}},
		{"NaN std", []float32{0}, []float32{float32(math.NaN())}},
	} {
		if err := smallDataset().Normalize(tc.mean, tc.std); err == nil {
			t.Errorf("%s: Normalize succeeded", tc.name)
		}
	}
}

func TestVectorDatasetHasOneChannel(t *testing.T) {
	ds := &Dataset{Shape: []int{2}, X: []float32{1, 10, 3, 30}}
	mean, std := ds.MeanStd()
	if len(mean) != 1 || mean[0] != 11 || math.Abs(float64(std[0])-math.Sqrt(((100+1+64+361)/4.0))) > 1e-5 {
		t.Fatalf("MeanStd of a vector dataset = %v %v", mean, std)
	}
}

func TestOneHotArgMax(t *testing.T) {
	got, err := OneHot(nil, []int{2, 0, 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 1, 1, 0, 0, 0, 1, 0}
	if !slices.Equal(got, want) {
		t.Fatalf("OneHot = %v", got)
	}
	// Reuse of a dirty buffer.
	buf := []float32{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
	got, _ = OneHot(buf, []int{2, 0, 1}, 3)
	if &got[0] != &buf[0] || !slices.Equal(got, want) {
		t.Fatalf("OneHot into a buffer = %v", got)
	}
	if am := ArgMax(nil, got, 3); !slices.Equal(am, []int{2, 0, 1}) {
		t.Fatalf("ArgMax = %v", am)
	}
	if _, err := OneHot(nil, []int{3}, 3); err == nil {
		t.Fatal("OneHot accepted label 3 of 3 classes")
	}
	oh, err := smallDataset().OneHotY()
	if err != nil || len(oh) != 12 || oh[3+1] != 1 {
		t.Fatalf("OneHotY = %v, %v", oh, err)
	}
	if _, err := (&Dataset{Name: "nolabels", Shape: []int{1}}).OneHotY(); err == nil {
		t.Fatal("OneHotY without labels succeeded")
	}
}

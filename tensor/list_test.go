package tensor

import (
	"math"
	"testing"

	gt "gorgonia.org/tensor"
)

func mk(dt gt.Dtype, vals []float64, shape ...int) *gt.Dense {
	t, _ := Zeros(dt, shape...)
	l := List{t}
	if err := l.Unflatten(vals); err != nil {
		panic(err)
	}
	return t
}

func TestListOps(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			a := List{mk(dt, []float64{1, 2, 3, 4}, 2, 2), mk(dt, []float64{-1, 0.5}, 2)}
			b := List{mk(dt, []float64{0.5, -1, 2, 0}, 2, 2), mk(dt, []float64{3, 4}, 2)}
			cases := []struct {
				name string
				got  func() float64
				want float64
			}{
				{"len", func() float64 { return float64(a.Len()) }, 6},
				{"dot", func() float64 { d, _ := a.Dot(b); return d }, 0.5 - 2 + 6 + 0 - 3 + 2},
				{"norm", func() float64 { return a.Norm() }, math.Sqrt(1 + 4 + 9 + 16 + 1 + 0.25)},
			}
			for _, c := range cases {
				if g := c.got(); math.Abs(g-c.want) > 1e-6 {
					t.Errorf("%s = %v, want %v", c.name, g, c.want)
				}
			}
			c := a.Clone()
			if err := c.Axpy(2, b); err != nil {
				t.Fatal(err)
			}
			want := []float64{2, 0, 7, 4, 5, 8.5}
			if got := c.Flatten(nil); !near(got, want) {
				t.Errorf("axpy: %v, want %v", got, want)
			}
			c.Scale(0.5)
			if got := c.Flatten(nil); !near(got, []float64{1, 0, 3.5, 2, 2.5, 4.25}) {
				t.Errorf("scale: %v", got)
			}
			if err := c.CopyFrom(a); err != nil {
				t.Fatal(err)
			}
			if got := c.Flatten(nil); !near(got, a.Flatten(nil)) {
				t.Errorf("copy: %v", got)
			}
			if !a.AllFinite() {
				t.Error("finite list reported non-finite")
			}
			if err := c.Unflatten([]float64{1, 2, 3, 4, math.NaN(), 0}); err != nil {
				t.Fatal(err)
			}
			if c.AllFinite() {
				t.Error("NaN not detected")
			}
			if err := c.Unflatten([]float64{1}); err == nil {
				t.Error("unflatten accepted a short slice")
			}
			if _, err := a.Dot(List{a[0]}); err == nil {
				t.Error("dot accepted lists of different lengths")
			}
			if err := a.Axpy(1, List{b[1], b[0]}); err == nil {
				t.Error("axpy accepted mismatched shapes")
			}
		})
	}
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6 {
			return false
		}
	}
	return true
}

func TestInitializersAreSeeded(t *testing.T) {
	inits := map[string]Init{
		"normal":  Normal(0, 1),
		"uniform": Uniform(-1, 1),
		"glorot":  GlorotUniform(1),
		"he":      HeNormal(math.Sqrt2),
		"kaiming": KaimingUniform(),
	}
	for name, in := range inits {
		t.Run(name, func(t *testing.T) {
			a, err := in(NewRNG(7, 1), gt.Float64, 64, 32)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := in(NewRNG(7, 1), gt.Float64, 64, 32)
			c, _ := in(NewRNG(8, 1), gt.Float64, 64, 32)
			fa, fb, fc := List{a}.Flatten(nil), List{b}.Flatten(nil), List{c}.Flatten(nil)
			if !near(fa, fb) {
				t.Error("same seed gave different values")
			}
			if near(fa, fc) {
				t.Error("different seeds gave the same values")
			}
		})
	}
}

// TestInitializerMoments checks the scale of each initializer against its
// definition using the sample variance of a large draw.
func TestInitializerMoments(t *testing.T) {
	const in, out = 400, 100
	cases := []struct {
		name string
		init Init
		vari float64
	}{
		{"normal", Normal(0, 0.3), 0.09},
		{"glorot", GlorotUniform(1), 2.0 / (in + out)},
		{"he", HeNormal(math.Sqrt2), 2.0 / in},
		{"kaiming", KaimingUniform(), 1.0 / (3 * in)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := c.init(NewRNG(1, 2), gt.Float64, in, out)
			if err != nil {
				t.Fatal(err)
			}
			v := List{w}.Flatten(nil)
			var m, s float64
			for _, x := range v {
				m += x
			}
			m /= float64(len(v))
			for _, x := range v {
				s += (x - m) * (x - m)
			}
			s /= float64(len(v) - 1)
			if math.Abs(s/c.vari-1) > 0.05 {
				t.Errorf("variance %v, want %v", s, c.vari)
			}
		})
	}
}

func TestFans(t *testing.T) {
	cases := []struct {
		shape   []int
		in, out int
	}{
		{[]int{784, 128}, 784, 128},
		{[]int{16, 3, 3, 3}, 27, 144},
		{[]int{10}, 10, 10},
	}
	for _, c := range cases {
		if i, o := Fans(c.shape); i != c.in || o != c.out {
			t.Errorf("Fans(%v) = %d,%d want %d,%d", c.shape, i, o, c.in, c.out)
		}
	}
	if _, err := Zeros(gt.Int, 2); err == nil {
		t.Error("int dtype accepted")
	}
	if _, err := Zeros(gt.Float32, 0, 2); err == nil {
		t.Error("zero dimension accepted")
	}
}

package experiments

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/tensor"
)

// bruteForceMargin2D scans unit directions in the plane for the largest
// minᵢ yᵢ⟨u, xᵢ⟩, then refines around the best angle by golden section.
func bruteForceMargin2D(d marginData) (gamma, angle float64) {
	margin := func(phi float64) float64 {
		u := []float64{math.Cos(phi), math.Sin(phi)}
		m := math.Inf(1)
		for i, x := range d.X {
			m = math.Min(m, d.Y[i]*dot(u, x))
		}
		return m
	}
	const grid = 200000
	best, bestPhi := math.Inf(-1), 0.0
	for k := 0; k < grid; k++ {
		phi := 2 * math.Pi * float64(k) / grid
		if m := margin(phi); m > best {
			best, bestPhi = m, phi
		}
	}
	lo, hi := bestPhi-4*math.Pi/grid, bestPhi+4*math.Pi/grid
	r := (math.Sqrt(5) - 1) / 2
	for it := 0; it < 200; it++ {
		a, b := hi-r*(hi-lo), lo+r*(hi-lo)
		if margin(a) > margin(b) {
			hi = b
		} else {
			lo = a
		}
	}
	phi := (lo + hi) / 2
	return margin(phi), phi
}

func TestMaxMarginSVM(t *testing.T) {
	// Two orthogonal points: w = (1, 1), γ* = 1/√2.
	two := marginData{X: [][]float64{{1, 0}, {0, 1}}, Y: []float64{1, 1}}
	res, err := maxMarginSVM(two, 1e-12, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Gamma-1/math.Sqrt2) > 1e-10 || math.Abs(res.W[0]-1) > 1e-9 || math.Abs(res.W[1]-1) > 1e-9 {
		t.Errorf("two points: γ = %v, w = %v; want 1/√2 and (1, 1)", res.Gamma, res.W)
	}
	// Random separable planar data against a brute-force angle scan.
	for seed := uint64(1); seed <= 4; seed++ {
		rng := tensor.NewRNG(seed, 5)
		var d marginData
		for len(d.X) < 12 {
			x := []float64{rng.NormFloat64(), rng.NormFloat64()}
			s := 0.8*x[0] - 0.6*x[1]
			if math.Abs(s) < 0.2 {
				continue
			}
			d.X, d.Y = append(d.X, x), append(d.Y, math.Copysign(1, s))
		}
		res, err := maxMarginSVM(d, 1e-11, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		g, phi := bruteForceMargin2D(d)
		if math.Abs(res.Gamma-g) > 1e-8*g {
			t.Errorf("seed %d: SVM γ* %v, brute force %v", seed, res.Gamma, g)
		}
		if c := cosine(res.W, []float64{math.Cos(phi), math.Sin(phi)}); c < 1-1e-8 {
			t.Errorf("seed %d: cos(SVM, brute-force direction) = %v", seed, c)
		}
		if res.MaxKKT > 1e-11 || res.DualGap > 1e-11 || math.Abs(res.MinScore-1) > 1e-10 {
			t.Errorf("seed %d: KKT violation %g, dual gap %g, min score %v", seed, res.MaxKKT, res.DualGap, res.MinScore)
		}
	}
	// Non-separable data is reported, not looped on forever.
	bad := marginData{X: [][]float64{{1, 0}, {1, 0}}, Y: []float64{1, -1}}
	if _, err := maxMarginSVM(bad, 1e-10, 100000); err == nil {
		t.Error("non-separable data accepted")
	}
}

func TestLogisticLossIsStable(t *testing.T) {
	z := []float64{-800, -30, -1, -1e-3, 0, 2, 40, 300, 700, 1e-9}
	n := len(z)
	g := gorgonia.NewGraph()
	f := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, 1), gorgonia.WithName("f"),
		gorgonia.WithValue(gt.New(gt.WithShape(n, 1), gt.WithBacking(append([]float64(nil), z...)))))
	ys := make([]float64, n)
	for i := range ys {
		ys[i] = 1
		if i%2 == 1 { // y = −1 with f = −z gives the same yf
			ys[i] = -1
		}
	}
	fv := f.Value().Data().([]float64)
	for i := range fv {
		fv[i] = ys[i] * z[i]
	}
	y := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, 1), gorgonia.WithName("y"),
		gorgonia.WithValue(gt.New(gt.WithShape(n, 1), gt.WithBacking(ys))))
	loss, err := logisticLoss(f, y)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := autodiff.Grad(loss, f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(g, loss, grads[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	got, _ := p.Scalar(0)
	var want float64
	for _, v := range z {
		// log(1+e^{−z}) in closed form, split by sign.
		if v > 0 {
			want += math.Log1p(math.Exp(-v))
		} else {
			want += -v + math.Log1p(math.Exp(v))
		}
	}
	want /= float64(n)
	if math.Abs(got-want) > 1e-14*want {
		t.Errorf("loss %.17g, want %.17g", got, want)
	}
	gd, _ := p.Dense(1)
	for i, gi := range gd.Data().([]float64) {
		if z[i] == 0 {
			continue // relu's kink convention, see logisticLoss
		}
		// d/df log(1+e^{−yf}) = −y·σ(−yf) = −y/(1+e^{z}).
		w := -ys[i] / (1 + math.Exp(z[i])) / float64(n)
		if math.Abs(gi-w) > 1e-12*math.Abs(w) && math.Abs(gi-w) > 1e-300 {
			t.Errorf("gradient %d (z = %v): %v, want %v", i, z[i], gi, w)
		}
	}
}

func TestAlignment(t *testing.T) {
	mu := []float64{1, 0}
	w := [][]float64{{2, 0}, {-1, 0}, {0, 0}}
	if a := alignment(w, mu); math.Abs(a-1) > 1e-15 {
		t.Errorf("aligned neurons: %v", a)
	}
	w = [][]float64{{3, 0}, {0, 1}}
	if a := alignment(w, mu); math.Abs(a-0.75) > 1e-15 {
		t.Errorf("weighted alignment %v, want 0.75", a)
	}
}

// TestMarginEndToEnd runs a tiny configuration through the runner.
func TestMarginEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"data.n=8", "data.d=4", "data.push=0.3", "model.width=6", "train.steps=3000", "train.log_every=100"}
	s, err := Run(context.Background(), Margin(), RunOptions{Sets: sets, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"phase1_alignment": true, "margin_ratio": true, "cos_beta_svm": true, "control_margin_ratio_minus_symmetric": false}
	for _, c := range s.Checks {
		must, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected check %s", c.Name)
			continue
		}
		delete(want, c.Name)
		if !finite(c.Value) {
			t.Errorf("%s: value %v", c.Name, c.Value)
		}
		if must && !c.Pass {
			t.Errorf("%s = %v fails (%s) on the tiny symmetric problem", c.Name, c.Value, c.Want)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing checks %v", want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"margin_ratio_vs_control.png", "directions.png", "margin_ratio.png"} {
		if _, err := os.Stat(filepath.Join(dir, "plots", p)); err != nil {
			t.Errorf("plot %s: %v", p, err)
		}
	}
}

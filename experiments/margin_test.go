package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
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
// TestMarginEndToEnd runs the tiny default problem: the symmetric checks
// and the wedge control's checks (linear, stable, beaten by the witness)
// must all pass, and the reported ratio must be the quotient of the two
// reported margins.
func TestMarginEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"data.n=8", "data.d=4", "data.push=0.3", "model.width=6", "train.steps=3000", "train.log_every=100",
		"witness.starts=3", "witness.iters=1500"}
	s, err := Run(context.Background(), Margin(), RunOptions{Sets: sets, Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"phase1_alignment": true, "margin_ratio": true, "cos_beta_svm": true,
		"control_margin_over_witness": true, "control_linear_alignment": true, "control_family_growth_ratio": true,
		"control_minority_best_growth": true}
	for _, c := range s.Checks {
		if _, ok := want[c.Name]; !ok {
			t.Errorf("unexpected check %s", c.Name)
			continue
		}
		delete(want, c.Name)
		if !finite(c.Value) || !c.Pass {
			t.Errorf("%s = %v fails (%s) on the tiny problem", c.Name, c.Value, c.Want)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing checks %v", want)
	}
	v := s.Values
	if v["control_mode"] != "wedge" {
		t.Errorf("control_mode %v, want wedge by default", v["control_mode"])
	}
	cm, ok1 := v["control_normalized_margin"].(float64)
	wm, ok2 := v["witness_margin"].(float64)
	r, ok3 := v["control_margin_over_witness"].(float64)
	if !ok1 || !ok2 || !ok3 || math.Abs(r-cm/wm) > 1e-12 {
		t.Errorf("control margin %v, witness %v, ratio %v", v["control_normalized_margin"], v["witness_margin"], v["control_margin_over_witness"])
	}
	// The control ends as the single family a_k > 0 on the SVM direction:
	// its margin tends to cos θ/2 (the two wide positives are the support
	// vectors; see TestMarginWedgeData); after 3,000 steps it is within a few
	// percent of it, from below.
	if th := 70 * math.Pi / 180; cm > math.Cos(th)/2+1e-9 || cm < 0.95*math.Cos(th)/2 {
		t.Errorf("control normalized margin %v, want cos θ/2 = %v", cm, math.Cos(th)/2)
	}
}

func TestMarginEndToEndRepeat(t *testing.T) {
	dir := t.TempDir()
	sets := []string{"control.mode=repeat", "data.n=8", "data.d=4", "data.push=0.3", "model.width=6", "train.steps=3000", "train.log_every=100"}
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
	// The repeat control: same point set (γ* unchanged), twice as many
	// positive copies, and the a_k > 0 family alone at the end of the early
	// phase (the other family starts about ε^{1/2} smaller in norm).
	v := s.Values
	if v["control_mode"] != "repeat" {
		t.Errorf("control_mode %v, want repeat", v["control_mode"])
	}
	if g, ok := v["control_gamma_ratio"].(float64); !ok || math.Abs(g-1) > 1e-9 {
		t.Errorf("control γ*/γ* = %v, want 1", v["control_gamma_ratio"])
	}
	if p, ok := v["control_phase1_positive_share"].(float64); !ok || p < 0.999 {
		t.Errorf("control share of ‖θ‖² in a_k > 0 neurons at t₁ = %v, want ≥ 0.999", v["control_phase1_positive_share"])
	}
	for _, k := range []string{"control_linear_alignment", "control_linear_agree_data", "control_linear_agree_random",
		"control_linear_cos_svm", "control_positive_share", "control_family_growth_ratio"} {
		if f, ok := v[k].(float64); !ok || !finite(f) {
			t.Errorf("%s = %v", k, v[k])
		}
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

func TestMarginRepeatRejectsSmallRepeat(t *testing.T) {
	_, err := Run(context.Background(), Margin(), RunOptions{Sets: []string{"control.mode=repeat", "control.repeat=1", "data.n=4", "data.d=2"}, Out: t.TempDir()})
	if err == nil {
		t.Error("control.repeat=1 accepted")
	}
}

// TestRepeatPositivesControl checks the repeat control's data: the point
// set, and so the SVM, is that of the symmetric data; the multiset breaks
// the symmetry exactly by giving each positive point K copies and its
// mirror one; and the early-phase growth rates of the two families along
// the SVM direction u are (K+α)·S and (1+Kα)·S, computed here directly
// from G(w) = mean yᵢφ(wᵀxᵢ).
func TestRepeatPositivesControl(t *testing.T) {
	const alpha = 0.2
	for _, tc := range []struct {
		n, d, k int
		seed    uint64
	}{{6, 3, 2, 1}, {6, 3, 3, 2}, {9, 5, 3, 3}, {5, 4, 5, 4}} {
		ds, _, err := data.SymmetricSeparable(tc.n, tc.d, 0.2, tc.seed)
		if err != nil {
			t.Fatal(err)
		}
		sym := marginFromDataset(ds)
		ctrl := repeatPositives(sym, tc.k)
		key := func(x []float64, y float64) string { return fmt.Sprint(x, y) }
		count := map[string]int{}
		for i, x := range ctrl.X {
			count[key(x, ctrl.Y[i])]++
		}
		var npos int
		for i, x := range sym.X {
			want := 1
			if sym.Y[i] > 0 {
				want, npos = tc.k, npos+1
			}
			if got := count[key(x, sym.Y[i])]; got != want {
				t.Errorf("%+v: point %d (y = %v) appears %d times, want %d", tc, i, sym.Y[i], got, want)
			}
			delete(count, key(x, sym.Y[i]))
		}
		if len(count) != 0 || len(ctrl.X) != tc.k*npos+len(sym.X)-npos {
			t.Errorf("%+v: %d points, %d not from the symmetric set", tc, len(ctrl.X), len(count))
		}
		s1, err := maxMarginSVM(sym, 1e-11, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := maxMarginSVM(ctrl, 1e-11, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(s2.Gamma-s1.Gamma) > 1e-9*s1.Gamma || cosine(s1.W, s2.W) < 1-1e-12 || s2.MinScore < 1-1e-9 {
			t.Errorf("%+v: control γ* %v vs %v, cos %v, min score %v", tc, s2.Gamma, s1.Gamma, cosine(s1.W, s2.W), s2.MinScore)
		}
		// Early-phase rates along u = SVM direction (every positive point has uᵀx > 0).
		u := s1.W
		phi := func(z float64) float64 { return math.Max(z, alpha*z) }
		var gPlus, gMinus, sum float64
		for i, x := range ctrl.X {
			gPlus += ctrl.Y[i] * phi(dot(u, x))
			gMinus -= ctrl.Y[i] * phi(-dot(u, x))
		}
		for i, x := range sym.X {
			if sym.Y[i] > 0 {
				sum += dot(u, x)
			}
		}
		m := float64(len(ctrl.X))
		k := float64(tc.k)
		if w := (k + alpha) * sum / m; math.Abs(gPlus/m-w) > 1e-12*w {
			t.Errorf("%+v: G(u) = %v, want (K+α)S = %v", tc, gPlus/m, w)
		}
		if w := (1 + k*alpha) * sum / m; math.Abs(gMinus/m-w) > 1e-12*w {
			t.Errorf("%+v: −G(−u) = %v, want (1+Kα)S = %v", tc, gMinus/m, w)
		}
	}
}

// setTwoLayer builds a TwoLayer net with the given neurons.
func setTwoLayer(t *testing.T, w [][]float64, a []float64, alpha float64) *nn.TwoLayer {
	t.Helper()
	m, err := nn.NewTwoLayer(tensor.NewRNG(1, 1), nn.TwoLayerConfig{In: len(w[0]), Width: len(w), Alpha: alpha, InitScale: 1, Dtype: gt.Float64})
	if err != nil {
		t.Fatal(err)
	}
	wp, _ := m.Params().ByName("w")
	ap, _ := m.Params().ByName("a")
	wd, ad := wp.Value.Data().([]float64), ap.Value.Data().([]float64)
	for k := range w {
		for j, v := range w[k] {
			wd[j*len(w)+k] = v
		}
		ad[k] = a[k]
	}
	return m
}

func TestMeasureLinearity(t *testing.T) {
	const alpha = 0.2
	d := marginData{X: [][]float64{{1, 0.5, 0}, {-1, 0.2, 1}, {0.3, 1, -1}, {-0.5, -1, 0}}, Y: []float64{1, -1, 1, -1}}
	// Two families on ±u: exactly the classifier sign(uᵀx).
	u := []float64{0.6, 0.8, 0}
	m := setTwoLayer(t, [][]float64{{1.2, 1.6, 0}, {-0.6, -0.8, 0}}, []float64{2, -1}, alpha)
	l := measureLinearity(m, d, u, 2000, 3)
	if cosine(l.Dir, u) < 1-1e-12 || math.Abs(l.Aligned-1) > 1e-12 || math.Abs(l.AlignedPos-1) > 1e-12 || math.Abs(l.AlignedNeg-1) > 1e-12 {
		t.Errorf("linear net: direction %v, alignment %v %v %v", l.Dir, l.Aligned, l.AlignedPos, l.AlignedNeg)
	}
	if l.AgreeData != 1 || l.AgreeRandom != 1 || math.Abs(l.CosSVM-1) > 1e-12 {
		t.Errorf("linear net: agreement %v %v, cos %v", l.AgreeData, l.AgreeRandom, l.CosSVM)
	}
	if want := 8.0 / 10; math.Abs(l.PosShare-want) > 1e-15 { // (4+4)/((4+4)+(1+1))
		t.Errorf("linear net: positive share %v, want %v", l.PosShare, want)
	}
	// f(x) = φ(2x₁) + φ(x₂): u = e₁; alignment (2·1 + 1·0)/3; sign f ≠ sign x₁
	// on the wedges 0 < x₁ < α|x₂|/2, x₂ < 0 and x₁ < 0, x₂ > 2α|x₁| of the
	// plane, of Gaussian measure (atan(α/2) + π/2 − atan(2α))/(2π).
	m = setTwoLayer(t, [][]float64{{2, 0}, {0, 1}}, []float64{1, 1}, alpha)
	d2 := marginData{X: [][]float64{{1, 0.1}, {2, -0.3}, {-1, -0.2}}, Y: []float64{1, 1, -1}}
	const probes = 40000
	l = measureLinearity(m, d2, []float64{1, 0}, probes, 5)
	if cosine(l.Dir, []float64{1, 0}) < 1-1e-12 || math.Abs(l.Aligned-2.0/3) > 1e-12 || !math.IsNaN(l.AlignedNeg) {
		t.Errorf("two-direction net: direction %v, alignment %v (negative family %v)", l.Dir, l.Aligned, l.AlignedNeg)
	}
	want := 1 - (math.Atan(alpha/2)+math.Pi/2-math.Atan(2*alpha))/(2*math.Pi)
	if sd := math.Sqrt(want * (1 - want) / probes); math.Abs(l.AgreeRandom-want) > 5*sd {
		t.Errorf("two-direction net: agreement on random points %v, want %v ± %v", l.AgreeRandom, want, 5*sd)
	}
	if l.PosShare != 1 || !math.IsNaN(l.GrowthRatio) {
		t.Errorf("two-direction net: positive share %v, growth ratio %v (one family only)", l.PosShare, l.GrowthRatio)
	}
}

// TestFamilyGrowthRatio compares the growth ratio with the rates
// d‖θ_F‖²/dt = −2⟨θ_F, ∇_F L⟩ from a central-difference gradient of the
// mean logistic loss, computed here independently.
func TestFamilyGrowthRatio(t *testing.T) {
	const alpha = 0.2
	rng := tensor.NewRNG(7, 1)
	var d marginData
	for i := 0; i < 7; i++ {
		d.X = append(d.X, []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
		d.Y = append(d.Y, float64(2*(i%2)-1))
	}
	w := [][]float64{{1, 0.5, -0.2}, {0.3, -1, 0.4}, {-0.7, 0.2, 0.9}, {0.1, 0.8, -0.5}}
	a := []float64{0.9, -0.6, 1.1, -0.4}
	loss := func(w [][]float64, a []float64) float64 {
		var s float64
		for i, x := range d.X {
			var f float64
			for k := range w {
				z := dot(w[k], x)
				f += a[k] * math.Max(z, alpha*z)
			}
			s += math.Log1p(math.Exp(-d.Y[i] * f))
		}
		return s / float64(len(d.X))
	}
	const h = 1e-6
	var rate, size [2]float64
	for k := range w {
		fam := 0
		if a[k] <= 0 {
			fam = 1
		}
		var inner float64 // ⟨θ_k, ∇_k L⟩
		for j := range w[k] {
			old := w[k][j]
			w[k][j] = old + h
			lp := loss(w, a)
			w[k][j] = old - h
			lm := loss(w, a)
			w[k][j] = old
			inner += old * (lp - lm) / (2 * h)
		}
		old := a[k]
		a[k] = old + h
		lp := loss(w, a)
		a[k] = old - h
		lm := loss(w, a)
		a[k] = old
		inner += old * (lp - lm) / (2 * h)
		rate[fam] += -2 * inner
		size[fam] += dot(w[k], w[k]) + a[k]*a[k]
	}
	want := (rate[1] / size[1]) / (rate[0] / size[0])
	if size[0] < size[1] {
		want = 1 / want
	}
	m := setTwoLayer(t, w, a, alpha)
	if got := familyGrowthRatio(w, a, alpha, d, m); math.Abs(got-want) > 1e-6*math.Abs(want) {
		t.Errorf("growth ratio %v, finite differences %v", got, want)
	}
}

// TestMarginWedgeData checks the wedge control's construction: sizes, labels,
// the wide positives at angle θ on either side of the cluster axis u, the
// negatives at distance Far along −u, and, without jitter, the SVM: the two
// wide positives are its only support vectors, so γ* = cos θ along u.
func TestMarginWedgeData(t *testing.T) {
	for _, tc := range []wedgeConfig{
		{N: 5, D: 3, Angle: 70, Far: 4, Spread: 0, Seed: 1},
		{N: 20, D: 10, Angle: 70, Far: 4, Spread: 0.3, Seed: 2},
		{N: 30, D: 8, Angle: 60, Far: 5, Spread: 0.3, Seed: 3},
	} {
		d, u, err := wedgeData(tc)
		if err != nil {
			t.Fatal(err)
		}
		nneg := max(2, tc.N/10)
		if len(d.X) != tc.N+2+nneg || math.Abs(norm(u)-1) > 1e-12 {
			t.Fatalf("%+v: %d points, ‖u‖ = %v", tc, len(d.X), norm(u))
		}
		th := tc.Angle * math.Pi / 180
		for i, x := range d.X {
			wantY := 1.0
			if i >= tc.N+2 {
				wantY = -1
			}
			if d.Y[i] != wantY || len(x) != tc.D {
				t.Errorf("%+v: point %d has label %v and %d coordinates", tc, i, d.Y[i], len(x))
			}
			switch {
			case i < tc.N: // cluster: within Spread·(a few) of u
				if dist := math.Sqrt(dot(x, x) - 2*dot(x, u) + 1); dist > 5*tc.Spread+1e-12 {
					t.Errorf("%+v: cluster point %d at distance %v from u", tc, i, dist)
				}
			case i < tc.N+2:
				if math.Abs(norm(x)-1) > 1e-12 || math.Abs(dot(x, u)-math.Cos(th)) > 1e-12 {
					t.Errorf("%+v: wide point %d: norm %v, uᵀx %v, want 1 and cos θ", tc, i, norm(x), dot(x, u))
				}
			default:
				if math.Abs(dot(x, u)+tc.Far) > 5*tc.Spread+1e-12 {
					t.Errorf("%+v: negative %d: uᵀx = %v, want about −%v", tc, i, dot(x, u), tc.Far)
				}
			}
		}
		// The wide pair is mirror-symmetric about u.
		p, q := d.X[tc.N], d.X[tc.N+1]
		if math.Abs(cosine(p, q)-math.Cos(2*th)) > 1e-12 {
			t.Errorf("%+v: cos between the wide points %v, want cos 2θ", tc, cosine(p, q))
		}
		if tc.Spread == 0 {
			svm, err := maxMarginSVM(d, 1e-11, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(svm.Gamma-math.Cos(th)) > 1e-9 || cosine(svm.W, u) < 1-1e-12 {
				t.Errorf("%+v: γ* = %v, cos(w, u) = %v; want cos θ = %v and 1", tc, svm.Gamma, cosine(svm.W, u), math.Cos(th))
			}
		}
	}
	if _, _, err := wedgeData(wedgeConfig{N: 5, D: 3, Angle: 95, Far: 4}); err == nil {
		t.Error("angle 95° accepted")
	}
}

// wedgeWitness is the hand-made witness for the wedge without jitter: two
// neurons with a_k = 1, w_k = cos β·u ± sin β·v, v the in-plane direction
// of the wide positives. Its normalized margin is
// min{(cos(θ−β) + α·cos(θ+β))/4, cos β/2, α·Far·cos β/2} (wide points,
// cluster, negatives; ‖θ‖² = 4) when θ + β > 90°.
func wedgeWitness(d marginData, n int, u []float64, beta, alpha float64) plainNet {
	p := d.X[n] // cos θ·u + sin θ·v
	v := make([]float64, len(u))
	for j := range v {
		v[j] = p[j] - dot(p, u)*u[j]
	}
	scale(v, 1/norm(v))
	net := plainNet{Alpha: alpha, A: []float64{1, 1}}
	for _, s := range []float64{1, -1} {
		w := make([]float64, len(u))
		for j := range w {
			w[j] = math.Cos(beta)*u[j] + s*math.Sin(beta)*v[j]
		}
		net.W = append(net.W, w)
	}
	return net
}

// TestMarginWitnessExact checks plainNet's normalized margin against
// nn.TwoLayer's forward pass on random nets, and against the closed forms
// on the wedge without jitter: the control's limit (one family on u) has
// cos θ/2, the two-neuron witness the minimum above.
func TestMarginWitnessExact(t *testing.T) {
	const alpha = 0.2
	d, u, err := wedgeData(wedgeConfig{N: 6, D: 4, Angle: 70, Far: 4, Spread: 0, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(9, 9)
	for trial := 0; trial < 5; trial++ {
		net := plainNet{Alpha: alpha}
		for k := 0; k < 3; k++ {
			w := []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
			net.W, net.A = append(net.W, w), append(net.A, rng.NormFloat64())
		}
		ref := setTwoLayer(t, net.W, net.A, alpha)
		want := math.Inf(1)
		var nsq float64
		for k, w := range net.W {
			nsq += dot(w, w) + net.A[k]*net.A[k]
		}
		for i, x := range d.X {
			want = math.Min(want, d.Y[i]*ref.Eval(x)/nsq)
		}
		if got := net.normalizedMargin(d); math.Abs(got-want) > 1e-14*math.Max(1, math.Abs(want)) {
			t.Errorf("random net %d: margin %v, nn.TwoLayer gives %v", trial, got, want)
		}
	}
	th := 70 * math.Pi / 180
	// One family on u, balanced (a = ‖w‖ = 1, ‖θ‖² = 2): margin cos θ/2.
	lin := plainNet{Alpha: alpha, W: [][]float64{append([]float64(nil), u...)}, A: []float64{1}}
	if got := lin.normalizedMargin(d); math.Abs(got-math.Cos(th)/2) > 1e-14 {
		t.Errorf("linear single family: margin %v, want cos θ/2 = %v", got, math.Cos(th)/2)
	}
	for _, deg := range []float64{40, 55, 60} {
		beta := deg * math.Pi / 180
		want := math.Min((math.Cos(th-beta)+alpha*math.Cos(th+beta))/4, math.Min(math.Cos(beta)/2, alpha*4*math.Cos(beta)/2))
		if got := wedgeWitness(d, 6, u, beta, alpha).normalizedMargin(d); math.Abs(got-want) > 1e-14 {
			t.Errorf("witness β = %v°: margin %v, want %v", deg, got, want)
		}
	}
	// β = 55° beats the linear limit by about 24%.
	if w := wedgeWitness(d, 6, u, 55*math.Pi/180, alpha).normalizedMargin(d); w < 1.2*math.Cos(th)/2 {
		t.Errorf("witness margin %v, linear %v", w, math.Cos(th)/2)
	}
}

// TestMarginFindWitness checks the direct search on the wedge without jitter: it
// must reach the hand-made witness's margin (to 1%), clearly above the
// linear limit's cos θ/2, and the margin it reports must be that of the
// net it returns, recomputed with nn.TwoLayer.
func TestMarginFindWitness(t *testing.T) {
	const alpha = 0.2
	d, u, err := wedgeData(wedgeConfig{N: 6, D: 4, Angle: 70, Far: 4, Spread: 0, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	hand := wedgeWitness(d, 6, u, 55*math.Pi/180, alpha).normalizedMargin(d)
	res := findWitness(d, witnessSearch{Width: 8, Alpha: alpha, Starts: 6, Iters: 4000, Seed: 1})
	if len(res.Starts) != 6 || res.Margin < 0.99*hand {
		t.Errorf("search: best %v over starts %v; hand-made witness %v", res.Margin, res.Starts, hand)
	}
	ref := setTwoLayer(t, res.Net.W, res.Net.A, alpha)
	var nsq float64
	for k, w := range res.Net.W {
		nsq += dot(w, w) + res.Net.A[k]*res.Net.A[k]
	}
	m := math.Inf(1)
	for i, x := range d.X {
		m = math.Min(m, d.Y[i]*ref.Eval(x)/nsq)
	}
	if math.Abs(m-res.Margin) > 1e-13 {
		t.Errorf("reported margin %v, recomputed %v", res.Margin, m)
	}
}

// TestMarginRateCertificate checks the growth-rate comparison against closed
// forms. On the wedge without jitter, a net of one big family on u (plus a
// tiny neuron of the other sign) puts all loss weight on the two wide
// points, so the smaller family's best rate is α times the family's (at
// w = −u) and the larger sign's best rate is the maximum over the plane of
// the wide points of ½(φ(wᵀp₊) + φ(wᵀp₋)), found here by an angle scan,
// divided by cos θ. On symmetric data with one support pair, a large odd
// linear net along the SVM direction is at the global maximum, and both
// ratios are 1.
func TestMarginRateCertificate(t *testing.T) {
	const alpha = 0.2
	d, u, err := wedgeData(wedgeConfig{N: 6, D: 4, Angle: 70, Far: 4, Spread: 0, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	const big = 40.0 // large scale: the loss weights concentrate on the smallest margins
	net := plainNet{Alpha: alpha, W: [][]float64{scaled(u, big), scaled(u, big/2), {1e-6, 0, 0, 0}}, A: []float64{big, big / 2, -1e-6}}
	minor, major := rateCertificate(net, d, 1)
	th := 70 * math.Pi / 180
	if math.Abs(minor-alpha) > 1e-9 {
		t.Errorf("wedge: smaller family's best rate ratio %v, want α = %v", minor, alpha)
	}
	p, q := d.X[6], d.X[7]
	e2 := make([]float64, len(u)) // in-plane unit vector orthogonal to u
	for j := range e2 {
		e2[j] = p[j] - math.Cos(th)*u[j]
	}
	scale(e2, 1/norm(e2))
	phi := func(z float64) float64 { return math.Max(z, alpha*z) }
	var scan float64
	for k := 0; k < 360000; k++ {
		a := 2 * math.Pi * float64(k) / 360000
		w := make([]float64, len(u))
		for j := range w {
			w[j] = math.Cos(a)*u[j] + math.Sin(a)*e2[j]
		}
		scan = math.Max(scan, (phi(dot(w, p))+phi(dot(w, q)))/2)
	}
	if want := scan / math.Cos(th); math.Abs(major-want) > 1e-6 {
		t.Errorf("wedge: larger sign's best rate ratio %v, want %v", major, want)
	}
	if major < 1.2 {
		t.Errorf("wedge: larger sign's best rate ratio %v, want well above 1", major)
	}

	// Symmetric data whose SVM has one support pair, ±(1, 0): the loss
	// weights of a large linear net along the SVM direction are then the
	// SVM's dual (½ on each of the pair), whatever the scale.
	var sym marginData
	for _, x := range [][]float64{{1, 0}, {2, 1}, {1.5, -2}} {
		sym.X, sym.Y = append(sym.X, x, scaled(x, -1)), append(sym.Y, 1, -1)
	}
	svm, err := maxMarginSVM(sym, 1e-12, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(svm.Gamma-1) > 1e-9 || cosine(svm.W, []float64{1, 0}) < 1-1e-12 {
		t.Fatalf("toy SVM: γ* = %v along %v; want 1 along (1, 0)", svm.Gamma, svm.W)
	}
	w := scaled(svm.W, big/norm(svm.W))
	lin := plainNet{Alpha: alpha, W: [][]float64{w, scaled(w, -1)}, A: []float64{big, -big}}
	minor, major = rateCertificate(lin, sym, 1)
	if math.Abs(minor-1) > 1e-9 || math.Abs(major-1) > 1e-9 {
		t.Errorf("symmetric data, linear max-margin net: rate ratios %v, %v; want 1 and 1", minor, major)
	}
}

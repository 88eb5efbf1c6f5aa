package curvature

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
)

type hvpCase struct {
	name    string
	model   func(t testing.TB) nn.Model
	ds      *data.Dataset
	flatten bool
}

func hvpCases() []hvpCase {
	return []hvpCase{
		{name: "mlp-tanh", model: func(t testing.TB) nn.Model { return newTinyMLP(t, gt.Float64, 5, 4, 6, 3) },
			ds: gaussianData(12, 3, 11, 4), flatten: true},
		{name: "conv-bn", model: func(t testing.TB) nn.Model { return newConvBN(t, 6) },
			ds: gaussianData(8, 3, 12, 1, 5, 5)},
		{name: "attention", model: func(t testing.TB) nn.Model { return newAttention(t, 7, 3, 4, 3) },
			ds: gaussianData(6, 3, 13, 3, 4)},
	}
}

// denseFromOperator builds H column by column as H·e_i.
func denseFromOperator(t testing.TB, op Operator) *mat.Dense {
	t.Helper()
	n := op.Dim()
	h := mat.NewDense(n, n, nil)
	e := make([]float64, n)
	col := make([]float64, n)
	for i := 0; i < n; i++ {
		e[i] = 1
		if err := op.Apply(col, e); err != nil {
			t.Fatal(err)
		}
		e[i] = 0
		h.SetCol(i, col)
	}
	return h
}

// denseFromGradients builds H column by column by central differences of
// the gradient, (∇L(θ+εe_i) − ∇L(θ−εe_i))/2ε, moving the shared parameter
// tensors and restoring them afterwards.
func denseFromGradients(t testing.TB, h *HessianOperator, eps float64) *mat.Dense {
	t.Helper()
	n := h.Dim()
	theta := h.ParamVector(nil)
	vals := h.Params().Values()
	defer func() {
		if err := vals.Unflatten(theta); err != nil {
			t.Fatal(err)
		}
	}()
	out := mat.NewDense(n, n, nil)
	gp, gm := make([]float64, n), make([]float64, n)
	x := slices.Clone(theta)
	for i := 0; i < n; i++ {
		x[i] = theta[i] + eps
		if err := vals.Unflatten(x); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Gradient(gp); err != nil {
			t.Fatal(err)
		}
		x[i] = theta[i] - eps
		if err := vals.Unflatten(x); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Gradient(gm); err != nil {
			t.Fatal(err)
		}
		x[i] = theta[i]
		for j := range gp {
			out.Set(j, i, (gp[j]-gm[j])/(2*eps))
		}
	}
	return out
}

func symmetrize(a *mat.Dense) *mat.SymDense {
	n, _ := a.Dims()
	s := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			s.SetSym(i, j, (a.At(i, j)+a.At(j, i))/2)
		}
	}
	return s
}

func maxAbs(a mat.Matrix) float64 {
	r, c := a.Dims()
	var m float64
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			m = math.Max(m, math.Abs(a.At(i, j)))
		}
	}
	return m
}

func eigenvalues(t testing.TB, s *mat.SymDense) []float64 {
	t.Helper()
	var es mat.EigenSym
	if !es.Factorize(s, false) {
		t.Fatal("EigenSym failed")
	}
	v := es.Values(nil)
	slices.Sort(v)
	return v
}

// TestHessianOperatorAgainstDense checks the operator on three tiny
// float64 models against two dense Hessians: one assembled from the
// operator's own products and, independently, one from central
// differences of gradients. Eigenvalues come from gonum's EigenSym.
func TestHessianOperatorAgainstDense(t *testing.T) {
	for _, c := range hvpCases() {
		t.Run(c.name, func(t *testing.T) {
			model := c.model(t)
			op, err := NewHessianOperator(model, c.ds, HVPOptions{Loss: objective.CrossEntropy, Flatten: c.flatten})
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			n := op.Dim()
			if n != model.Params().Count() {
				t.Fatalf("Dim = %d, model has %d parameters", n, model.Params().Count())
			}
			hHVP := denseFromOperator(t, op)
			hFD := denseFromGradients(t, op, 1e-5)
			scale := maxAbs(hHVP)
			if scale == 0 {
				t.Fatal("Hessian is zero")
			}
			var diff, asym mat.Dense
			diff.Sub(hHVP, hFD)
			asym.Sub(hHVP, hHVP.T())
			if d := maxAbs(&diff) / scale; d > 1e-7 {
				t.Errorf("HVP Hessian vs finite differences of gradients: max rel diff %.3g", d)
			}
			if d := maxAbs(&asym) / scale; d > 1e-12 {
				t.Errorf("HVP Hessian not symmetric: %.3g", d)
			}
			sym := symmetrize(hHVP)
			want := eigenvalues(t, sym)
			wantFD := eigenvalues(t, symmetrize(hFD))
			top, err := TopEigen(op, 3, rand.New(rand.NewPCG(1, 2)), LanczosOptions{Steps: n})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				w := want[n-1-i]
				if e := relErr(top[i].Value, w); e > 1e-6 {
					t.Errorf("λ%d: Lanczos %.12g, dense %.12g (rel %.2g)", i+1, top[i].Value, w, e)
				}
				if e := relErr(wantFD[n-1-i], w); e > 1e-6 {
					t.Errorf("λ%d: finite-difference dense %.12g, HVP dense %.12g (rel %.2g)", i+1, wantFD[n-1-i], w, e)
				}
			}

			// Trace: the dense diagonal, the eigenvalue sum, and Hutchinson.
			var tr, trFD, tr2 float64
			for i := 0; i < n; i++ {
				tr += sym.At(i, i)
				trFD += hFD.At(i, i)
			}
			var sumEig float64
			for _, l := range want {
				sumEig += l
				tr2 += l * l
			}
			if e := math.Abs(tr-sumEig) / scale; e > 1e-9 {
				t.Errorf("trace %.12g vs eigenvalue sum %.12g", tr, sumEig)
			}
			if e := math.Abs(tr-trFD) / scale; e > 1e-6 {
				t.Errorf("trace %.12g vs finite-difference trace %.12g", tr, trFD)
			}
			for _, kind := range []ProbeKind{Rademacher, Gaussian} {
				res, err := Trace(op, rand.New(rand.NewPCG(3, uint64(kind))), TraceOptions{Probe: kind, Probes: 200})
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(res.Mean-tr) > 3*res.StdErr {
					t.Errorf("%v Hutchinson %.6g ± %.2g, exact %.6g", kind, res.Mean, res.StdErr, tr)
				}
			}

			// SLQ: the same seeded run on the HVP operator and on the dense
			// matrix gives the same moments, and the moments estimate
			// tr(Hᵏ)/n within three standard errors.
			dopts := DensityOptions{Probes: 20, Steps: min(n, 10)}
			dHVP, err := Density(op, rand.New(rand.NewPCG(4, 4)), dopts)
			if err != nil {
				t.Fatal(err)
			}
			dDense, err := Density(NewDense(sym), rand.New(rand.NewPCG(4, 4)), dopts)
			if err != nil {
				t.Fatal(err)
			}
			exact := []float64{1, tr / float64(n), tr2 / float64(n)}
			for k := 0; k <= 4; k++ {
				a, b := dHVP.Moment(k), dDense.Moment(k)
				if math.Abs(a-b) > 1e-8*math.Max(1, math.Abs(b)) {
					t.Errorf("SLQ moment %d: HVP operator %.12g, dense %.12g", k, a, b)
				}
				if k < len(exact) {
					pm := dHVP.ProbeMoments(k)
					se := stdErr(pm)
					if math.Abs(a-exact[k]) > 3*se+1e-12 {
						t.Errorf("SLQ moment %d = %.6g ± %.2g, exact %.6g", k, a, se, exact[k])
					}
				}
			}
		})
	}
}

func stdErr(x []float64) float64 {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	var s float64
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return math.Sqrt(s / float64(len(x)-1) / float64(len(x)))
}

// TestHessianOperatorGradient compares Gradient with central differences
// of Loss.
func TestHessianOperatorGradient(t *testing.T) {
	for _, c := range hvpCases() {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewHessianOperator(c.model(t), c.ds, HVPOptions{Loss: objective.CrossEntropy, Flatten: c.flatten})
			if err != nil {
				t.Fatal(err)
			}
			defer op.Close()
			n := op.Dim()
			g := make([]float64, n)
			loss, err := op.Gradient(g)
			if err != nil {
				t.Fatal(err)
			}
			l2, err := op.Loss()
			if err != nil {
				t.Fatal(err)
			}
			if loss != l2 {
				t.Errorf("Loss %v differs from Gradient's loss %v", l2, loss)
			}
			theta := op.ParamVector(nil)
			vals := op.Params().Values()
			x := slices.Clone(theta)
			const eps = 1e-6
			var worst float64
			for i := 0; i < n; i++ {
				x[i] = theta[i] + eps
				_ = vals.Unflatten(x)
				lp, _ := op.Loss()
				x[i] = theta[i] - eps
				_ = vals.Unflatten(x)
				lm, _ := op.Loss()
				x[i] = theta[i]
				worst = math.Max(worst, math.Abs((lp-lm)/(2*eps)-g[i]))
			}
			_ = vals.Unflatten(theta)
			if worst > 1e-7*math.Max(1, nrm2(g)) {
				t.Errorf("gradient vs finite differences of the loss: max diff %.3g (‖g‖ = %.3g)", worst, nrm2(g))
			}
		})
	}
}

// TestHessianOperatorChunks checks that splitting the examples into chunks
// (with a short last chunk) and selecting a subset by indices give the
// same mean loss, gradient and HVP as one program over the same examples.
func TestHessianOperatorChunks(t *testing.T) {
	ds := gaussianData(10, 3, 21, 4)
	model := newTinyMLP(t, gt.Float64, 9, 4, 5, 3)
	sub := []int{7, 2, 9, 4, 0, 5, 1}
	subDS, err := ds.Subset(sub)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		ds         *data.Dataset
		opts, want HVPOptions
	}{
		{"chunk3-of-10", ds, HVPOptions{Chunk: 3}, HVPOptions{}},
		{"chunk5-of-10", ds, HVPOptions{Chunk: 5}, HVPOptions{Chunk: 10}},
		{"indices-chunk2", ds, HVPOptions{Indices: sub, Chunk: 2}, HVPOptions{Indices: sub}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Flatten, c.want.Flatten = true, true
			a, err := NewHessianOperator(model, c.ds, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := NewHessianOperator(model, c.ds, c.want)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			compareOperators(t, a, b, 1e-12)
		})
	}
	t.Run("indices-vs-subset-dataset", func(t *testing.T) {
		a, err := NewHessianOperator(model, ds, HVPOptions{Indices: sub, Chunk: 3, Flatten: true})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := NewHessianOperator(model, subDS, HVPOptions{Flatten: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		compareOperators(t, a, b, 1e-12)
	})
}

func compareOperators(t *testing.T, a, b *HessianOperator, tol float64) {
	t.Helper()
	n := a.Dim()
	rng := rand.New(rand.NewPCG(5, 5))
	v := make([]float64, n)
	Gaussian.Fill(rng, v)
	ha, hb := make([]float64, n), make([]float64, n)
	for rep := 0; rep < 2; rep++ { // a second Apply reuses the programs
		if err := a.Apply(ha, v); err != nil {
			t.Fatal(err)
		}
		if err := b.Apply(hb, v); err != nil {
			t.Fatal(err)
		}
		if d := vecRelDiff(ha, hb); d > tol {
			t.Errorf("HVP differs: rel %.3g", d)
		}
	}
	la, err := a.Gradient(ha)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Gradient(hb)
	if err != nil {
		t.Fatal(err)
	}
	if relErr(la, lb) > tol {
		t.Errorf("loss %v vs %v", la, lb)
	}
	if d := vecRelDiff(ha, hb); d > tol {
		t.Errorf("gradient differs: rel %.3g", d)
	}
}

func vecRelDiff(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		s += b[i] * b[i]
	}
	return math.Sqrt(d / s)
}

// TestHessianOperatorFloat32 checks a float32 model against the same
// weights in float64.
func TestHessianOperatorFloat32(t *testing.T) {
	ds := gaussianData(16, 3, 31, 6)
	m32 := newTinyMLP(t, gt.Float32, 3, 6, 8, 3)
	m64 := newTinyMLP(t, gt.Float64, 3, 6, 8, 3)
	if err := m64.Params().Values().CopyFrom(m32.Params().Values()); err != nil {
		// CopyFrom requires equal dtypes; convert through a flat vector.
		if err := m64.Params().Values().Unflatten(m32.Params().Values().Flatten(nil)); err != nil {
			t.Fatal(err)
		}
	}
	a, err := NewHessianOperator(m32, ds, HVPOptions{Flatten: true, Chunk: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewHessianOperator(m64, ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := a.Dim()
	v := make([]float64, n)
	Gaussian.Fill(rand.New(rand.NewPCG(8, 8)), v)
	ha, hb := make([]float64, n), make([]float64, n)
	if err := a.Apply(ha, v); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(hb, v); err != nil {
		t.Fatal(err)
	}
	if d := vecRelDiff(ha, hb); d > 1e-4 {
		t.Errorf("float32 HVP vs float64: rel %.3g", d)
	}
}

func TestHessianOperatorErrors(t *testing.T) {
	ds := gaussianData(4, 3, 1, 4)
	model := newTinyMLP(t, gt.Float64, 1, 4, 3)
	for _, c := range []struct {
		name string
		opts HVPOptions
	}{
		{"negative-chunk", HVPOptions{Flatten: true, Chunk: -1}},
		{"index-out-of-range", HVPOptions{Flatten: true, Indices: []int{0, 4}}},
		{"empty-indices", HVPOptions{Flatten: true, Indices: []int{}}},
		{"bad-loss", HVPOptions{Flatten: true, Loss: "hinge"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if op, err := NewHessianOperator(model, ds, c.opts); err == nil {
				op.Close()
				t.Fatal("no error")
			}
		})
	}
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := op.Apply(make([]float64, 3), make([]float64, op.Dim())); err == nil {
		t.Error("Apply with a short dst: no error")
	}
}

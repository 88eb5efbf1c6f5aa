package curvature

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

const testDim = 60

// spectrumCase prescribes some eigenvalues and fills the rest of the
// spectrum uniformly from [lo, hi].
type spectrumCase struct {
	name   string
	top    []float64
	lo, hi float64
	// lanczosSteps is enough steps for Lanczos to resolve the top three
	// eigenvalues to 1e-6 (testDim when a gap is tiny or a value repeats).
	lanczosSteps int
}

var spectra = []spectrumCase{
	{name: "positive-gap", top: []float64{10, 7, 5}, lo: 0, hi: 3, lanczosSteps: 30},
	{name: "negative-dominant", top: []float64{-12, 6, 5, 4}, lo: -3, hi: 3, lanczosSteps: 30},
	{name: "repeated", top: []float64{8, 8, 3}, lo: -2, hi: 2, lanczosSteps: testDim},
	{name: "near-degenerate", top: []float64{5, 4.999, 2}, lo: -1, hi: 1.5, lanczosSteps: testDim},
}

// testMatrix is a dense symmetric matrix with its oracle eigensystem
// computed by gonum's EigenSym (not taken from the prescription).
type testMatrix struct {
	h      *mat.SymDense
	values []float64  // ascending
	vecs   *mat.Dense // columns match values
	n      int
}

func randomOrthogonal(n int, rng *rand.Rand) *mat.Dense {
	a := mat.NewDense(n, n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

// build returns H = Q diag(λ) Qᵀ with a random orthogonal Q.
func (c spectrumCase) build(t testing.TB, n int, seed uint64) testMatrix {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	lam := make([]float64, n)
	copy(lam, c.top)
	for i := len(c.top); i < n; i++ {
		lam[i] = c.lo + (c.hi-c.lo)*rng.Float64()
	}
	q := randomOrthogonal(n, rng)
	var qd mat.Dense
	qd.Mul(q, mat.NewDiagDense(n, lam))
	var full mat.Dense
	full.Mul(&qd, q.T())
	h := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			h.SetSym(i, j, 0.5*(full.At(i, j)+full.At(j, i)))
		}
	}
	tm := oracle(t, h)
	// Sanity: the oracle sees the prescribed spectrum.
	want := slices.Clone(lam)
	slices.Sort(want)
	for i := range want {
		if math.Abs(want[i]-tm.values[i]) > 1e-10*(1+math.Abs(want[i])) {
			t.Fatalf("%s: constructed spectrum %v differs from oracle %v at %d", c.name, want[i], tm.values[i], i)
		}
	}
	return tm
}

func oracle(t testing.TB, h *mat.SymDense) testMatrix {
	t.Helper()
	var es mat.EigenSym
	if !es.Factorize(h, true) {
		t.Fatal("oracle EigenSym failed")
	}
	var v mat.Dense
	es.VectorsTo(&v)
	n := h.SymmetricDim()
	return testMatrix{h: h, values: es.Values(nil), vecs: &v, n: n}
}

// byMagnitude returns the oracle eigenvalues sorted by decreasing |λ|.
func (m testMatrix) byMagnitude() []float64 {
	out := slices.Clone(m.values)
	slices.SortFunc(out, func(a, b float64) int {
		switch {
		case math.Abs(a) > math.Abs(b):
			return -1
		case math.Abs(a) < math.Abs(b):
			return 1
		}
		return 0
	})
	return out
}

// descending returns the oracle eigenvalues largest first.
func (m testMatrix) descending() []float64 {
	out := slices.Clone(m.values)
	slices.Reverse(out)
	return out
}

// residual returns ‖Hv − λv‖ computed densely.
func (m testMatrix) residual(v []float64, lambda float64) float64 {
	hv := mat.NewVecDense(m.n, nil)
	hv.MulVec(m.h, mat.NewVecDense(m.n, v))
	var s float64
	for i := 0; i < m.n; i++ {
		d := hv.AtVec(i) - lambda*v[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// column returns eigenvector i of the oracle.
func (m testMatrix) column(i int) []float64 {
	return mat.Col(nil, i, m.vecs)
}

// traceOf returns tr(H^p) from the oracle eigenvalues.
func (m testMatrix) tracePow(p int) float64 {
	var s float64
	for _, l := range m.values {
		s += math.Pow(l, float64(p))
	}
	return s
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Abs(want)
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

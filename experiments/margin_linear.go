package experiments

import (
	"math"

	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

// positiveShare is the share of ‖θ‖² = Σ_k (‖w_k‖² + a_k²) held by the
// neurons with a_k > 0 (NaN for a zero network).
func positiveShare(w [][]float64, a []float64) float64 {
	var pos, all float64
	for k, wk := range w {
		v := dot(wk, wk) + a[k]*a[k]
		all += v
		if a[k] > 0 {
			pos += v
		}
	}
	return pos / all
}

// leadingDirection is the unit top eigenvector of Σ_k w_k w_kᵀ, by power
// iteration started from the largest w_k; nil when every w_k is zero.
func leadingDirection(w [][]float64) []float64 {
	var u []float64
	best := 0.0
	for _, wk := range w {
		if n := norm(wk); n > best {
			best, u = n, append([]float64(nil), wk...)
		}
	}
	if u == nil {
		return nil
	}
	scale(u, 1/best)
	next := make([]float64, len(u))
	for it := 0; it < 1000; it++ {
		for j := range next {
			next[j] = 0
		}
		for _, wk := range w {
			c := dot(wk, u)
			for j := range next {
				next[j] += c * wk[j]
			}
		}
		n := norm(next)
		if n == 0 {
			break
		}
		scale(next, 1/n)
		diff := 0.0
		for j := range u {
			diff = math.Max(diff, math.Abs(next[j]-u[j]))
		}
		u, next = next, u
		if diff < 1e-14 {
			break
		}
	}
	return u
}

func scale(v []float64, c float64) {
	for j := range v {
		v[j] *= c
	}
}

// marginLinearity says how far a trained net is from a linear classifier
// x ↦ sign(uᵀx).
type marginLinearity struct {
	// Dir is u: the top eigenvector of Σ_k w_k w_kᵀ, oriented so that
	// sign(uᵀxᵢ) agrees with sign f(xᵢ) on most training points.
	Dir []float64
	// Aligned is Σ_k ‖w_k‖·|cos(w_k, u)| / Σ_k ‖w_k‖ (1: every neuron on ±u);
	// AlignedPos and AlignedNeg are the same over the neurons with a_k > 0
	// and with a_k ≤ 0.
	Aligned, AlignedPos, AlignedNeg float64
	// AgreeData and AgreeRandom are the fractions of the training points
	// and of random N(0, I) points on which sign f(x) = sign(uᵀx).
	AgreeData, AgreeRandom float64
	// PosShare is the share of ‖θ‖² in the neurons with a_k > 0.
	PosShare float64
	// CosSVM is cos(u, SVM direction).
	CosSVM float64
	// GrowthRatio compares how fast the two families of neurons (a_k > 0
	// and a_k < 0) still grow: the relative growth rate of ‖θ‖² of the
	// smaller family divided by that of the larger one, under gradient
	// flow at the current point. At a KKT point of the margin problem (the
	// limit of gradient flow) every family that is not zero grows at the
	// same relative rate, so a value above 1 says the smaller family is
	// still catching up: the net has not reached its limit direction.
	GrowthRatio float64
}

// measureLinearity computes the linearity measures of model on d, with
// probes random points drawn from the given seed.
func measureLinearity(model *nn.TwoLayer, d marginData, svmDir []float64, probes int, seed uint64) marginLinearity {
	w, a := model.Weights()
	alpha := model.Config.Alpha
	res := marginLinearity{PosShare: positiveShare(w, a), Aligned: math.NaN(), AlignedPos: math.NaN(), AlignedNeg: math.NaN(), AgreeData: math.NaN(),
		AgreeRandom: math.NaN(), CosSVM: math.NaN(), GrowthRatio: math.NaN()}
	u := leadingDirection(w)
	if u == nil {
		return res
	}
	agree := func(x []float64) bool { return (model.Eval(x) > 0) == (dot(u, x) > 0) }
	count := func() int {
		c := 0
		for _, x := range d.X {
			if agree(x) {
				c++
			}
		}
		return c
	}
	c := count()
	if 2*c < len(d.X) {
		scale(u, -1)
		c = count()
	}
	res.Dir = u
	res.Aligned = alignment(w, u)
	var wp, wn [][]float64
	for k, wk := range w {
		if a[k] > 0 {
			wp = append(wp, wk)
		} else {
			wn = append(wn, wk)
		}
	}
	res.AlignedPos, res.AlignedNeg = alignment(wp, u), alignment(wn, u)
	res.AgreeData = float64(c) / float64(len(d.X))
	res.CosSVM = cosine(u, svmDir)
	if probes > 0 {
		rng := tensor.NewRNG(seed, 92)
		x := make([]float64, d.dim())
		c = 0
		for p := 0; p < probes; p++ {
			for j := range x {
				x[j] = rng.NormFloat64()
			}
			if agree(x) {
				c++
			}
		}
		res.AgreeRandom = float64(c) / float64(probes)
	}
	res.GrowthRatio = familyGrowthRatio(w, a, alpha, d, model)
	return res
}

// familyGrowthRatio is the GrowthRatio of marginLinearity. Under gradient
// flow on the mean logistic loss, d‖θ_k‖²/dt = 4a_k·(1/n)Σᵢ σ(−qᵢ)yᵢφ(w_kᵀxᵢ)
// with qᵢ = yᵢf(xᵢ) (both layers of neuron k change by the same amount of
// ‖·‖²); the common positive factor of the weights σ(−qᵢ) cancels from the
// ratio, so they are taken relative to the smallest qᵢ, which keeps them
// representable when the loss itself underflows.
func familyGrowthRatio(w [][]float64, a []float64, alpha float64, d marginData, model *nn.TwoLayer) float64 {
	q := make([]float64, len(d.X))
	qmin := math.Inf(1)
	for i, x := range d.X {
		q[i] = d.Y[i] * model.Eval(x)
		qmin = math.Min(qmin, q[i])
	}
	lam := make([]float64, len(q))
	for i := range q {
		// σ(−qᵢ)/σ(−q_min) = e^{−(qᵢ−q_min)}·(1+e^{−q_min})/(1+e^{−qᵢ}), written to avoid overflow.
		lam[i] = math.Exp(-(q[i] - qmin)) * (1 + math.Exp(-math.Max(qmin, -700))) / (1 + math.Exp(-math.Max(q[i], -700)))
	}
	var rate, size [2]float64 // index 0: a_k > 0, 1: a_k ≤ 0
	for k, wk := range w {
		var g float64
		for i, x := range d.X {
			z := dot(wk, x)
			if z < 0 {
				z *= alpha
			}
			g += lam[i] * d.Y[i] * z
		}
		f := 0
		if a[k] <= 0 {
			f = 1
		}
		rate[f] += 4 * a[k] * g
		size[f] += dot(wk, wk) + a[k]*a[k]
	}
	if size[0] == 0 || size[1] == 0 {
		return math.NaN()
	}
	r0, r1 := rate[0]/size[0], rate[1]/size[1]
	if size[0] < size[1] {
		return r0 / r1
	}
	return r1 / r0
}

package experiments

import (
	"fmt"
	"math"

	"github.com/gradlab/gradlab/tensor"
)

// plainNet is a two-layer leaky-ReLU network f(x) = Σ_k a_k φ(w_kᵀx) held
// as plain float64 slices, used to search for and to verify witnesses
// independently of the gorgonia graph that trains the nets of the study.
type plainNet struct {
	W     [][]float64
	A     []float64
	Alpha float64
}

func (p plainNet) phi(z float64) float64 {
	if z < 0 {
		return p.Alpha * z
	}
	return z
}

// eval returns f(x).
func (p plainNet) eval(x []float64) float64 {
	var f float64
	for k, wk := range p.W {
		f += p.A[k] * p.phi(dot(wk, x))
	}
	return f
}

// normSq returns ‖θ‖² = Σ_k ‖w_k‖² + a_k².
func (p plainNet) normSq() float64 {
	var s float64
	for k, wk := range p.W {
		s += dot(wk, wk) + p.A[k]*p.A[k]
	}
	return s
}

// normalizedMargin returns minᵢ yᵢf(xᵢ)/‖θ‖², computed directly in float64
// from the weights.
func (p plainNet) normalizedMargin(d marginData) float64 {
	m := math.Inf(1)
	for i, x := range d.X {
		m = math.Min(m, d.Y[i]*p.eval(x))
	}
	return m / p.normSq()
}

// clone returns a deep copy of p.
func (p plainNet) clone() plainNet {
	c := plainNet{W: make([][]float64, len(p.W)), A: append([]float64(nil), p.A...), Alpha: p.Alpha}
	for k, wk := range p.W {
		c.W[k] = append([]float64(nil), wk...)
	}
	return c
}

// witnessSearch describes a direct maximization of the normalized margin
// over networks of a given width, from several random starting points.
type witnessSearch struct {
	Width  int
	Alpha  float64
	Starts int // random starting points
	Iters  int // ascent steps per start
	Seed   uint64
}

// witnessResult is the best network found by a witnessSearch.
type witnessResult struct {
	Net    plainNet
	Margin float64   // its normalized margin, recomputed exactly
	Starts []float64 // the normalized margin reached from each start
}

// findWitness maximizes the normalized margin minᵢ yᵢf(xᵢ)/‖θ‖² over nets of
// width s.Width. From each random start θ (N(0, I) entries, scaled to
// ‖θ‖ = 1) it runs gradient ascent on the sphere ‖θ‖ = 1 on the smoothed
// minimum −(1/β)·log Σᵢ exp(−β·yᵢf(xᵢ)), with β raised geometrically from 10
// to 10⁵ over the run and a step that decreases from 0.05 to 5·10⁻⁴ (the
// margin is a homogeneous function of degree 2, so on the sphere it is the
// normalized margin itself). The best point seen (by its exact margin) is
// kept; the result is the best over all starts.
func findWitness(d marginData, s witnessSearch) witnessResult {
	n, dim := len(d.X), d.dim()
	res := witnessResult{Margin: math.Inf(-1)}
	q := make([]float64, n)
	p := make([]float64, n)
	z := make([]float64, s.Width)
	for st := 0; st < s.Starts; st++ {
		rng := tensor.NewRNG(s.Seed, 300+uint64(st))
		net := plainNet{W: make([][]float64, s.Width), A: make([]float64, s.Width), Alpha: s.Alpha}
		for k := range net.W {
			net.W[k] = make([]float64, dim)
			for j := range net.W[k] {
				net.W[k][j] = rng.NormFloat64()
			}
			net.A[k] = rng.NormFloat64()
		}
		normalizeNet(net)
		gW := make([][]float64, s.Width)
		for k := range gW {
			gW[k] = make([]float64, dim)
		}
		gA := make([]float64, s.Width)
		best, bestNet := math.Inf(-1), net.clone()
		for it := 0; it <= s.Iters; it++ {
			frac := float64(it) / float64(max(s.Iters, 1))
			beta := 10 * math.Pow(1e4, frac)
			eta := 0.05 * math.Pow(1e-2, frac)
			qmin := math.Inf(1)
			for i, x := range d.X {
				q[i] = d.Y[i] * net.eval(x)
				qmin = math.Min(qmin, q[i])
			}
			if m := qmin / net.normSq(); m > best {
				best, bestNet = m, net.clone()
			}
			if it == s.Iters {
				break
			}
			var zs float64
			for i := range q {
				p[i] = math.Exp(-beta * (q[i] - qmin))
				zs += p[i]
			}
			for k := range gW {
				gA[k] = 0
				for j := range gW[k] {
					gW[k][j] = 0
				}
			}
			for i, x := range d.X {
				c := p[i] / zs * d.Y[i]
				if c == 0 {
					continue
				}
				for k, wk := range net.W {
					z[k] = dot(wk, x)
					slope := 1.0
					if z[k] < 0 {
						slope = s.Alpha
					}
					gA[k] += c * net.phi(z[k])
					ca := c * net.A[k] * slope
					for j := range x {
						gW[k][j] += ca * x[j]
					}
				}
			}
			// Project the gradient on the tangent space of the sphere.
			var gt float64
			for k := range net.W {
				gt += dot(gW[k], net.W[k]) + gA[k]*net.A[k]
			}
			for k := range net.W {
				for j := range net.W[k] {
					net.W[k][j] += eta * (gW[k][j] - gt*net.W[k][j])
				}
				net.A[k] += eta * (gA[k] - gt*net.A[k])
			}
			normalizeNet(net)
		}
		best = bestNet.normalizedMargin(d)
		res.Starts = append(res.Starts, best)
		if best > res.Margin {
			res.Margin, res.Net = best, bestNet
		}
	}
	return res
}

// normalizeNet scales θ to ‖θ‖ = 1 in place.
func normalizeNet(p plainNet) {
	c := 1 / math.Sqrt(p.normSq())
	for k := range p.W {
		scale(p.W[k], c)
		p.A[k] *= c
	}
}

// wedgeConfig describes the wedge control's data (see Margin).
type wedgeConfig struct {
	N, D   int     // cluster size, dimension
	Angle  float64 // angle in degrees of the two wide positives from the cluster axis
	Far    float64 // distance of the negatives from the origin along −u
	Spread float64 // norm scale of the jitter around the cluster centres
	Seed   uint64
}

// wedgeData builds the wedge control: N positives u + Spread·g/√D around a
// random unit axis u (g ~ N(0, I_D)), two positives cos θ·u ± sin θ·v at
// angle θ = Angle from u on either side (v a random unit vector orthogonal
// to u), and max(2, N/10) negatives −Far·u + Spread·g/√D. It returns the
// data and u.
func wedgeData(c wedgeConfig) (marginData, []float64, error) {
	if c.N < 1 || c.D < 2 {
		return marginData{}, nil, fmt.Errorf("wedge control: want data.n ≥ 1 and data.d ≥ 2 (got %d, %d)", c.N, c.D)
	}
	if !(c.Angle > 0 && c.Angle < 90) || !(c.Far > 0) || !(c.Spread >= 0) {
		return marginData{}, nil, fmt.Errorf("wedge control: want 0 < control.angle < 90, control.far > 0, control.spread ≥ 0")
	}
	rng := tensor.NewRNG(c.Seed, 94)
	gauss := func() []float64 {
		v := make([]float64, c.D)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	u := gauss()
	scale(u, 1/norm(u))
	v := gauss()
	uv := dot(v, u)
	for i := range v {
		v[i] -= uv * u[i]
	}
	scale(v, 1/norm(v))
	jitter := func(centre []float64) []float64 {
		g := gauss()
		x := make([]float64, c.D)
		for i := range x {
			x[i] = centre[i] + c.Spread*g[i]/math.Sqrt(float64(c.D))
		}
		return x
	}
	var out marginData
	for i := 0; i < c.N; i++ {
		out.X, out.Y = append(out.X, jitter(u)), append(out.Y, 1)
	}
	th := c.Angle * math.Pi / 180
	for _, s := range []float64{1, -1} {
		x := make([]float64, c.D)
		for i := range x {
			x[i] = math.Cos(th)*u[i] + s*math.Sin(th)*v[i]
		}
		out.X, out.Y = append(out.X, x), append(out.Y, 1)
	}
	far := append([]float64(nil), u...)
	scale(far, -c.Far)
	for i := 0; i < max(2, c.N/10); i++ {
		out.X, out.Y = append(out.X, jitter(far)), append(out.Y, -1)
	}
	return out, u, nil
}

// lossWeights returns the weights σ(−qᵢ) of the examples in the gradient of
// the logistic loss at net (qᵢ = yᵢf(xᵢ)), divided by their sum: late in
// training they approximate the KKT multipliers of the margin problem.
// They are formed relative to the smallest qᵢ, so they stay representable
// when the loss itself underflows.
func lossWeights(net plainNet, d marginData) []float64 {
	q := make([]float64, len(d.X))
	qmin := math.Inf(1)
	for i, x := range d.X {
		q[i] = d.Y[i] * net.eval(x)
		qmin = math.Min(qmin, q[i])
	}
	lam := make([]float64, len(q))
	var sum float64
	for i := range q {
		lam[i] = math.Exp(-(q[i] - qmin)) * (1 + math.Exp(-math.Max(qmin, -700))) / (1 + math.Exp(-math.Max(q[i], -700)))
		sum += lam[i]
	}
	for i := range lam {
		lam[i] /= sum
	}
	return lam
}

// neuronRate is R_s(w) = s·Σᵢ λᵢyᵢφ(wᵀxᵢ) for a unit w: under gradient
// flow a neuron of sign s = sign(a_k), balanced (|a_k| = ‖w_k‖) and pointing
// along w, has d‖θ_k‖²/dt = 2·R_s(w)·‖θ_k‖² times the common factor of the
// weights λ. Comparing R_s across directions and signs says which neurons
// would grow fastest.
func neuronRate(d marginData, lam []float64, s, alpha float64, w []float64) float64 {
	var r float64
	for i, x := range d.X {
		z := dot(w, x)
		if z < 0 {
			z *= alpha
		}
		r += lam[i] * d.Y[i] * z
	}
	return s * r
}

// bestNeuronRate maximizes R_s(w) over unit w by projected (sub)gradient
// ascent on the sphere from the given starting directions and from
// extra random ones; it returns the largest value found and its direction.
// R_s is piecewise linear, so the result is a lower bound on the maximum,
// made tight in practice by the many starts.
func bestNeuronRate(d marginData, lam []float64, s, alpha float64, starts [][]float64, extra int, seed uint64) (float64, []float64) {
	dim := d.dim()
	rng := tensor.NewRNG(seed, 95)
	all := append([][]float64(nil), starts...)
	for k := 0; k < extra; k++ {
		w := make([]float64, dim)
		for j := range w {
			w[j] = rng.NormFloat64()
		}
		all = append(all, w)
	}
	best, bestW := math.Inf(-1), []float64(nil)
	g := make([]float64, dim)
	for _, w0 := range all {
		if norm(w0) == 0 {
			continue
		}
		w := append([]float64(nil), w0...)
		scale(w, 1/norm(w))
		for it := 0; it < 300; it++ {
			if r := neuronRate(d, lam, s, alpha, w); r > best {
				best, bestW = r, append([]float64(nil), w...)
			}
			for j := range g {
				g[j] = 0
			}
			for i, x := range d.X {
				c := s * lam[i] * d.Y[i]
				if dot(w, x) < 0 {
					c *= alpha
				}
				for j := range g {
					g[j] += c * x[j]
				}
			}
			gw := dot(g, w)
			eta := 0.5 * math.Pow(0.01, float64(it)/300)
			for j := range w {
				w[j] += eta * (g[j] - gw*w[j]) / math.Max(norm(g), 1e-300)
			}
			scale(w, 1/norm(w))
		}
	}
	return best, bestW
}

// rateCertificate compares, at net, the growth rate of the larger family
// of neurons (a_k > 0 or a_k < 0, by share of ‖θ‖²) with the best rate any
// neuron could have: minor is max_w R_s(w) for the sign s of the smaller
// family, major the same for the larger family's sign, both divided by the
// larger family's actual rate per unit of ‖θ‖² (see neuronRate). minor ≤ 1
// says that no neuron of the smaller family, wherever it pointed, could
// catch up; major > 1 says that a neuron of the larger family's sign placed
// elsewhere would grow faster than the family, so that the state is not a
// global maximum of the normalized margin (at a global maximum both are at
// most 1: the loss weights then certify the margin through the dual of the
// margin problem over all widths).
func rateCertificate(net plainNet, d marginData, seed uint64) (minor, major float64) {
	lam := lossWeights(net, d)
	var rate, size [2]float64 // 0: a_k > 0, 1: a_k ≤ 0
	var dirs [2][][]float64
	for k, w := range net.W {
		f, s := 0, 1.0
		if net.A[k] <= 0 {
			f, s = 1, -1
		}
		if n := norm(w); n > 0 {
			rate[f] += 4 * net.A[k] * n * neuronRate(d, lam, s, net.Alpha, scaled(w, 1/n)) * s
		}
		size[f] += dot(w, w) + net.A[k]*net.A[k]
		dirs[f] = append(dirs[f], w)
	}
	big := 0
	if size[1] > size[0] {
		big = 1
	}
	unit := rate[big] / size[big] / 2
	// Starting directions: ± up to 16 neurons of each family and ± up to
	// 32 data points (evenly spaced), besides the random ones; the caps
	// keep the cost bounded on large data sets.
	var starts [][]float64
	for _, ds := range dirs {
		for _, w := range spaced(ds, 16) {
			starts = append(starts, w, scaled(w, -1))
		}
	}
	for _, x := range spaced(d.X, 32) {
		starts = append(starts, x, scaled(x, -1))
	}
	sign := [2]float64{1, -1}
	bMinor, _ := bestNeuronRate(d, lam, sign[1-big], net.Alpha, starts, 32, seed)
	bMajor, _ := bestNeuronRate(d, lam, sign[big], net.Alpha, starts, 32, seed+1)
	return bMinor / unit, bMajor / unit
}

// scaled returns c·v as a new slice.
func scaled(v []float64, c float64) []float64 {
	out := append([]float64(nil), v...)
	scale(out, c)
	return out
}

// spaced returns at most k of the vectors, evenly spaced in order.
func spaced(v [][]float64, k int) [][]float64 {
	if len(v) <= k {
		return v
	}
	out := make([][]float64, k)
	for i := range out {
		out[i] = v[i*len(v)/k]
	}
	return out
}

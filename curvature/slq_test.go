package curvature

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// quadForms returns vᵀH^pv/‖v‖² for p = 0..maxP computed densely.
func quadForms(m testMatrix, v []float64, maxP int) []float64 {
	out := make([]float64, maxP+1)
	x := mat.NewVecDense(m.n, nil)
	x.CopyVec(mat.NewVecDense(m.n, v))
	vv := mat.NewVecDense(m.n, v)
	nv2 := mat.Dot(vv, vv)
	y := mat.NewVecDense(m.n, nil)
	for p := 0; p <= maxP; p++ {
		out[p] = mat.Dot(vv, x) / nv2
		y.MulVec(m.h, x)
		x.CopyVec(y)
	}
	return out
}

func TestDensityMoments(t *testing.T) {
	const probes, steps, maxP = 20, 15, 6
	for _, c := range spectra {
		m := c.build(t, testDim, 31)
		norm := math.Abs(m.byMagnitude()[0])
		for _, kind := range []ProbeKind{Rademacher, Gaussian} {
			t.Run(fmt.Sprintf("%s/%v", c.name, kind), func(t *testing.T) {
				sd, err := Density(NewDense(m.h), newRNG(32), DensityOptions{Probes: probes, Steps: steps, Probe: kind})
				if err != nil {
					t.Fatal(err)
				}
				// Replay the probes: Density draws each probe in turn and
				// draws nothing else unless a Lanczos run restarts, which
				// cannot happen with steps < n on these spectra.
				rng := newRNG(32)
				v := make([]float64, testDim)
				exactQ := make([][]float64, probes)
				for p := range exactQ {
					kind.Fill(rng, v)
					exactQ[p] = quadForms(m, v, maxP)
				}
				var worstQuad, worstZ float64
				for p := 0; p <= maxP; p++ {
					pm := sd.ProbeMoments(p)
					scale := math.Pow(norm, float64(p))
					// Gauss quadrature with `steps` nodes is exact to degree 2·steps−1.
					for i := range pm {
						worstQuad = max(worstQuad, math.Abs(pm[i]-exactQ[i][p])/scale)
					}
					want := m.tracePow(p) / float64(m.n)
					got := sd.Moment(p)
					var ss float64
					for _, x := range pm {
						ss += (x - got) * (x - got)
					}
					se := math.Sqrt(ss / float64(probes-1) / float64(probes))
					if p == 0 {
						if math.Abs(got-1) > 1e-12 {
							t.Errorf("zeroth moment %v", got)
						}
						continue
					}
					// Statistical agreement with tr(H^p)/n: within 4 standard
					// errors of the probe mean (plus round-off).
					worstZ = max(worstZ, math.Abs(got-want)/se)
					if d := math.Abs(got - want); d > 4*se+1e-10*scale {
						t.Errorf("moment %d: %.6g, tr(H^p)/n %.6g, |diff| = %.2f SE", p, got, want, d/se)
					}
				}
				if worstQuad > 1e-10 {
					t.Errorf("per-probe quadrature differs from vᵀH^pv/‖v‖² by %.1e (relative to ‖H‖^p)", worstQuad)
				}
				t.Logf("quadrature vs quadratic form %.1e·‖H‖^p; moments 1..%d within %.2f SE of tr(H^p)/n", worstQuad, maxP, worstZ)
			})
		}
	}
}

// With Steps = n every eigenvalue is a node and its weight is the squared
// projection of the normalised probe on the eigenspace.
func TestDensityFullSteps(t *testing.T) {
	for _, c := range spectra {
		t.Run(c.name, func(t *testing.T) {
			m := c.build(t, testDim, 33)
			sd, err := Density(NewDense(m.h), newRNG(34), DensityOptions{Probes: 1, Steps: testDim, Probe: Gaussian})
			if err != nil {
				t.Fatal(err)
			}
			v := make([]float64, testDim)
			Gaussian.Fill(newRNG(34), v)
			scal(v, 1/nrm2(v))
			nodes, weights := sd.Nodes[0], sd.Weights[0]
			if len(nodes) != testDim {
				t.Fatalf("%d nodes", len(nodes))
			}
			// Group equal eigenvalues so a repeated one is compared as a whole.
			var worstNode, worstWeight float64
			for i := 0; i < testDim; {
				j := i + 1
				for j < testDim && m.values[j]-m.values[i] < 1e-8 {
					j++
				}
				var wo, wg float64
				for k := i; k < j; k++ {
					d := dot(m.column(k), v)
					wo += d * d
					wg += weights[k]
					worstNode = max(worstNode, math.Abs(nodes[k]-m.values[k]))
				}
				worstWeight = max(worstWeight, math.Abs(wg-wo))
				i = j
			}
			if worstNode > 1e-10 || worstWeight > 1e-10 {
				t.Errorf("node error %.1e, weight error %.1e", worstNode, worstWeight)
			}
			t.Logf("node error %.1e, weight error %.1e", worstNode, worstWeight)
		})
	}
}

func TestDensityEval(t *testing.T) {
	m := spectra[1].build(t, testDim, 35)
	sd, err := Density(NewDense(m.h), newRNG(36), DensityOptions{Probes: 4, Steps: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, sigma := range []float64{0.05, 0.5} {
		t.Run(fmt.Sprint(sigma), func(t *testing.T) {
			x, err := sd.Grid(4001, 10*sigma)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float64, len(x))
			if err := sd.Eval(y, x, sigma); err != nil {
				t.Fatal(err)
			}
			// Trapezoid integrals of 1, t and t² under the smoothed density:
			// smoothing keeps the mass and the mean and adds σ² to the second
			// moment.
			var m0, m1, m2 float64
			for i := 1; i < len(x); i++ {
				h := x[i] - x[i-1]
				f := func(k int) float64 { return y[k] }
				m0 += h * (f(i) + f(i-1)) / 2
				m1 += h * (x[i]*f(i) + x[i-1]*f(i-1)) / 2
				m2 += h * (x[i]*x[i]*f(i) + x[i-1]*x[i-1]*f(i-1)) / 2
			}
			checks := []struct {
				name      string
				got, want float64
			}{
				{"mass", m0, 1},
				{"mean", m1, sd.Moment(1)},
				{"second moment", m2, sd.Moment(2) + sigma*sigma},
			}
			for _, c := range checks {
				if math.Abs(c.got-c.want) > 1e-4*(1+math.Abs(c.want)) {
					t.Errorf("%s: %.8f, want %.8f", c.name, c.got, c.want)
				}
			}
		})
	}
	if err := sd.Eval(make([]float64, 2), make([]float64, 2), 0); err == nil {
		t.Error("sigma 0 accepted")
	}
	if _, err := sd.Grid(1, 0); err == nil {
		t.Error("1-point grid accepted")
	}
}

package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/tensor"
)

// siLoops computes the scale-invariant MLP's outputs with plain loops.
func siLoops(m *ScaleInvMLP, x []float64, batch int) []float64 {
	vals := m.Params().Values()
	var out []float64
	for n := 0; n < batch; n++ {
		h := append([]float64(nil), x[n*m.Widths[0]:(n+1)*m.Widths[0]]...)
		for l := 0; l+1 < len(m.Widths); l++ {
			in, o := m.Widths[l], m.Widths[l+1]
			w := vals[2*l].Data().([]float64)
			z := make([]float64, o)
			for j := range z {
				for i := 0; i < in; i++ {
					z[j] += h[i] * w[i*o+j]
				}
			}
			if l+2 == len(m.Widths) {
				out = append(out, z...)
				break
			}
			b := vals[2*l+1].Data().([]float64)
			var mean, vr float64
			for j := range z {
				z[j] += b[j]
				mean += z[j]
			}
			mean /= float64(o)
			for j := range z {
				vr += (z[j] - mean) * (z[j] - mean)
			}
			vr /= float64(o)
			for j := range z {
				z[j] = math.Max(0, (z[j]-mean)/math.Sqrt(vr+m.Eps))
			}
			h = z
		}
	}
	return out
}

func newTestScaleInv(t *testing.T, eps float64) *ScaleInvMLP {
	t.Helper()
	act, _ := ParseActivation("relu")
	m, err := NewScaleInvMLP(tensor.NewRNG(11, 2), gt.Float64, []int{5, 6, 4, 3}, act, eps)
	if err != nil {
		t.Fatal(err)
	}
	// Non-zero biases so that they take part.
	for _, p := range m.Params().Trainable() {
		d := p.Value.Data().([]float64)
		for i := range d {
			if len(p.Value.Shape()) == 1 {
				d[i] = 0.3 * math.Sin(float64(i+1))
			}
		}
	}
	return m
}

func TestScaleInvMLPForwardMatchesLoops(t *testing.T) {
	for _, eps := range []float64{0, 1e-5} {
		m := newTestScaleInv(t, eps)
		const batch = 4
		x := tlRandVec(8, batch*5, 1)
		got := tlRunForward(t, m, x, batch, 5)
		want := siLoops(m, x, batch)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
				t.Errorf("eps %g: output %d: graph %v, loops %v", eps, i, got[i], want[i])
			}
		}
		if tr := m.Params().Trainable(); len(tr) != 4 {
			t.Errorf("%d trainable parameters, want 4 (the last layer is fixed)", len(tr))
		}
	}
}

// scaleInvProblem compiles the cross-entropy loss of m on a fixed batch
// with fdcheck, over the trainable parameters.
func scaleInvProblem(t *testing.T, m *ScaleInvMLP) (*fdcheck.Problem, []fdcheck.Param) {
	t.Helper()
	const batch = 5
	nin, nout := m.Widths[0], m.Widths[len(m.Widths)-1]
	x := tlRandVec(21, batch*nin, 1)
	y := make([]float64, batch*nout)
	for n := 0; n < batch; n++ {
		y[n*nout+n%nout] = 1
	}
	var names []string
	var params []fdcheck.Param
	for _, p := range m.Params().Trainable() {
		names = append(names, p.Name)
		params = append(params, fdcheck.Param{Name: p.Name, Shape: []int(p.Value.Shape().Clone()), Data: append([]float64(nil), p.Value.Data().([]float64)...)})
	}
	build := func(g *gorgonia.ExprGraph, ps gorgonia.Nodes) (*gorgonia.Node, error) {
		b := tlBindNodes(g, m.Params(), ps, names)
		xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, nin), gorgonia.WithName("x"),
			gorgonia.WithValue(gt.New(gt.WithShape(batch, nin), gt.WithBacking(x))))
		yn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, nout), gorgonia.WithName("y"),
			gorgonia.WithValue(gt.New(gt.WithShape(batch, nout), gt.WithBacking(y))))
		out, err := m.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		return CrossEntropy(out, yn)
	}
	p, err := fdcheck.NewProblem(build, params)
	if err != nil {
		t.Fatal(err)
	}
	return p, params
}

func TestScaleInvMLPIsScaleInvariant(t *testing.T) {
	m := newTestScaleInv(t, 0)
	p, _ := scaleInvProblem(t, m)
	defer p.Close()
	theta := p.Point()
	l0, g0, err := p.Grad(theta)
	if err != nil {
		t.Fatal(err)
	}
	var dot, nt, ng float64
	for i := range theta {
		dot += theta[i] * g0[i]
		nt += theta[i] * theta[i]
		ng += g0[i] * g0[i]
	}
	if math.Abs(dot) > 1e-12*math.Sqrt(nt*ng) {
		t.Errorf("θ·∇L = %g, want 0 (‖θ‖‖∇L‖ = %g)", dot, math.Sqrt(nt*ng))
	}
	// H θ = −∇L follows from differentiating θ·∇L(θ) = 0.
	hth, err := p.HVP(theta, theta)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hth {
		hth[i] += g0[i]
	}
	if r := fdcheck.RelErr(hth, make([]float64, len(hth)), math.Sqrt(ng)); r > 1e-10 {
		t.Errorf("‖Hθ + ∇L‖/‖∇L‖ = %g", r)
	}
	v := fdcheck.Directions(4, 1, len(theta))[0]
	hv, err := p.HVP(theta, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []float64{0.25, 3, 40} {
		ct := make([]float64, len(theta))
		for i := range ct {
			ct[i] = c * theta[i]
		}
		lc, gc, err := p.Grad(ct)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(lc-l0) > 1e-12*math.Abs(l0) {
			t.Errorf("c = %g: L(cθ) = %.17g, L(θ) = %.17g", c, lc, l0)
		}
		for i := range gc {
			gc[i] *= c
		}
		if r := fdcheck.RelErr(gc, g0, 1e-12); r > 1e-10 {
			t.Errorf("c = %g: c∇L(cθ) vs ∇L(θ): rel. error %g", c, r)
		}
		hc, err := p.HVP(ct, v)
		if err != nil {
			t.Fatal(err)
		}
		for i := range hc {
			hc[i] *= c * c
		}
		if r := fdcheck.RelErr(hc, hv, 1e-12); r > 1e-9 {
			t.Errorf("c = %g: c²∇²L(cθ)v vs ∇²L(θ)v: rel. error %g", c, r)
		}
	}
}

func TestScaleInvMLPDerivativesMatchFiniteDifferences(t *testing.T) {
	for _, eps := range []float64{0, 1e-5} {
		m := newTestScaleInv(t, eps)
		p, _ := scaleInvProblem(t, m)
		rep := fdcheck.Report{}
		theta := p.Point()
		opt := fdcheck.Options{Seed: 6, Directions: 4, Step: 1e-5, Coordinates: true}
		if err := p.CheckGrad(&rep, theta, opt); err != nil {
			t.Fatal(err)
		}
		if err := p.CheckHVP(&rep, theta, opt); err != nil {
			t.Fatal(err)
		}
		p.Close()
		if !rep.Pass(1e-6) {
			t.Errorf("eps %g: max gradient rel. error %g, max HVP rel. error %g", eps, rep.MaxGradRelErr, rep.MaxHVPRelErr)
		}
	}
}

func TestScaleInvMLPRejectsBadConfig(t *testing.T) {
	act, _ := ParseActivation("relu")
	if _, err := NewScaleInvMLP(tensor.NewRNG(1, 1), gt.Float64, []int{3, 2}, act, 0); err == nil {
		t.Error("no hidden layer accepted")
	}
	if _, err := NewScaleInvMLP(tensor.NewRNG(1, 1), gt.Float64, []int{3, 2, 2}, act, -1); err == nil {
		t.Error("negative eps accepted")
	}
}

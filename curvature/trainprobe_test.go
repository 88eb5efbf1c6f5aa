package curvature

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"
)

// TestSharpnessProbe checks the probe's λ₁ against the dense Hessian's top
// eigenvalue and its derived values against their definitions computed
// from independently measured inputs.
func TestSharpnessProbe(t *testing.T) {
	ds := gaussianData(12, 3, 41, 4)
	model := newTinyMLP(t, gt.Float64, 4, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	n := op.Dim()
	sym := symmetrize(denseFromOperator(t, op))
	eig := eigenvalues(t, sym)
	lmax := eig[n-1]
	if math.Abs(eig[0]) > lmax {
		t.Fatalf("test needs λ_max to dominate |λ_min|: %g vs %g", lmax, eig[0])
	}
	g := make([]float64, n)
	loss, err := op.Gradient(g)
	if err != nil {
		t.Fatal(err)
	}
	theta := op.ParamVector(nil)
	const eta = 0.37
	cases := []struct {
		name string
		opts SharpnessOptions
		tol  float64
	}{
		{"lanczos", SharpnessOptions{Every: 3, Method: LanczosMethod, LanczosSteps: n}, 1e-9},
		{"power", SharpnessOptions{Every: 3, Method: PowerMethod, Power: PowerOptions{Tol: -1, MaxIter: 3000}}, 1e-6},
		{"lanczos-warm", SharpnessOptions{Every: 1, Method: LanczosMethod, LanczosSteps: n, WarmStart: true}, 1e-9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.LR = func() float64 { return eta }
			p, err := NewSharpnessProbe(op, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Every() != c.opts.Every {
				t.Errorf("Every = %d", p.Every())
			}
			for rep := 0; rep < 2; rep++ {
				m, err := p.Measure(10 + rep)
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(m["lambda_max"], lmax); e > c.tol {
					t.Errorf("lambda_max %.12g, dense %.12g (rel %.2g)", m["lambda_max"], lmax, e)
				}
				gn := nrm2(g)
				ns := dot(theta, theta)
				want := map[string]float64{
					"probe_loss":          loss,
					"grad_norm":           gn,
					"param_norm_sq":       ns,
					"eta":                 eta,
					"eta_lambda":          eta * lmax,
					"spherical_sharpness": ns * lmax,
					"ngd_sharpness":       eta * lmax / gn,
					"sqrt_sharpness":      eta * lmax / (2 * math.Sqrt(loss)),
				}
				for k, w := range want {
					got, ok := m[k]
					if !ok {
						t.Errorf("missing key %q", k)
						continue
					}
					if e := relErr(got, w); e > math.Max(c.tol, 1e-12) {
						t.Errorf("%s = %.12g, want %.12g", k, got, w)
					}
				}
				if s, ok := m["lambda_max_seconds"]; !ok || !(s >= 0) {
					t.Errorf("lambda_max_seconds = %v, %v", s, ok)
				}
				if m["lambda_max_iters"] < 1 {
					t.Errorf("lambda_max_iters = %v", m["lambda_max_iters"])
				}
			}
			// The top eigenvector estimate is an eigenvector of the dense matrix.
			v := p.Vector()
			var hv mat.VecDense
			hv.MulVec(sym, mat.NewVecDense(n, v))
			var r float64
			for i := range v {
				r = math.Max(r, math.Abs(hv.AtVec(i)-lmax*v[i]))
			}
			if r > 1e-3*lmax {
				t.Errorf("eigenvector residual %.3g", r)
			}
		})
	}
}

func TestTraceProbe(t *testing.T) {
	ds := gaussianData(12, 3, 42, 4)
	model := newTinyMLP(t, gt.Float64, 4, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	sym := symmetrize(denseFromOperator(t, op))
	var tr float64
	for i := 0; i < op.Dim(); i++ {
		tr += sym.At(i, i)
	}
	p, err := NewTraceProbe(op, TraceProbeOptions{Every: 5, Trace: TraceOptions{Probes: 100}, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Measure(5)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m["trace"]-tr) > 3*m["trace_se"] || !(m["trace_se"] > 0) {
		t.Errorf("trace %.6g ± %.3g, exact %.6g", m["trace"], m["trace_se"], tr)
	}
	if m["trace_probes"] != 100 {
		t.Errorf("trace_probes = %v", m["trace_probes"])
	}
}

func TestProbeOptionErrors(t *testing.T) {
	ds := gaussianData(4, 3, 1, 4)
	op, err := NewHessianOperator(newTinyMLP(t, gt.Float64, 1, 4, 3), ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	for _, o := range []SharpnessOptions{{Every: 0}, {Every: 1, Method: 7}, {Every: 1, Power: PowerOptions{Start: make([]float64, op.Dim())}}} {
		if _, err := NewSharpnessProbe(op, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := NewTraceProbe(op, TraceProbeOptions{Every: 1, Trace: TraceOptions{Probes: 2}}); err == nil {
		t.Error("trace probe with 2 probes: no error")
	}
	if _, err := ParseEigenMethod("qr"); err == nil {
		t.Error("ParseEigenMethod(qr): no error")
	}
}

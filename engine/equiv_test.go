package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// tolerance is the relative agreement required between the compiled
// program and the TapeMachine: max|native−tape| ≤ tol·max|tape| per output.
func tolerance(dt gt.Dtype) float64 {
	if dt == gt.Float32 {
		return 1e-5
	}
	return 1e-10
}

// outputData copies output i of p as float64s.
func outputData(t *testing.T, p *engine.Program, i int) []float64 {
	t.Helper()
	v := p.Output(i)
	if v == nil {
		t.Fatalf("output %d has no value", i)
	}
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for j, x := range d {
			out[j] = float64(x)
		}
		return out
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	t.Fatalf("output %d holds %T", i, v.Data())
	return nil
}

// compare runs both programs and checks that every output agrees.
func compare(t *testing.T, name string, native, tape *engine.Program, n int, tol float64) {
	t.Helper()
	if err := native.Run(); err != nil {
		t.Fatalf("%s: native: %v", name, err)
	}
	if err := tape.Run(); err != nil {
		t.Fatalf("%s: tape: %v", name, err)
	}
	for i := 0; i < n; i++ {
		a, b := outputData(t, native, i), outputData(t, tape, i)
		if len(a) != len(b) {
			t.Fatalf("%s: output %d: %d elements, tape %d", name, i, len(a), len(b))
		}
		var diff, scale float64
		for j := range a {
			diff = math.Max(diff, math.Abs(a[j]-b[j]))
			scale = math.Max(scale, math.Abs(b[j]))
		}
		if math.IsNaN(diff) || diff > tol*math.Max(scale, 1e-300) {
			t.Errorf("%s: output %d: max difference %.3g, tape's max magnitude %.3g (tolerance %.0e relative)", name, i, diff, scale, tol)
		}
		if scale == 0 && len(b) > 4 {
			t.Errorf("%s: output %d is all zeros on the tape: a vacuous comparison", name, i)
		}
	}
}

func compileBoth(t *testing.T, g *gorgonia.ExprGraph, outs gorgonia.Nodes) (*engine.Program, *engine.Program) {
	t.Helper()
	nat, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Workers: 2}, outs...)
	if err != nil {
		t.Fatalf("native compile: %v", err)
	}
	tp, err := engine.CompileWith(g, engine.Options{Backend: engine.Tape}, outs...)
	if err != nil {
		t.Fatalf("tape compile: %v", err)
	}
	t.Cleanup(func() { _ = nat.Close(); _ = tp.Close() })
	return nat, tp
}

// randomize fills a tensor with seeded normal values.
func randomize(d *gt.Dense, rng *rand.Rand, std float64) {
	switch x := d.Data().(type) {
	case []float64:
		for i := range x {
			x[i] = std * rng.NormFloat64()
		}
	case []float32:
		for i := range x {
			x[i] = float32(std * rng.NormFloat64())
		}
	}
}

// TestMLPMatchesTape compares loss, gradients and Hessian-vector products
// of MLP objectives on the compiled program and on the TapeMachine, over
// several batches written in place.
func TestMLPMatchesTape(t *testing.T) {
	ds, err := data.GaussianMixture(3, 2, 20, 2, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		for _, act := range []string{"relu", "leaky_relu:0.1", "tanh", "sigmoid"} {
			for _, kind := range []objective.Kind{objective.CrossEntropy, objective.MSE} {
				name := fmt.Sprintf("%v/%s/%s", dt, act, kind)
				t.Run(name, func(t *testing.T) {
					a, err := nn.ParseActivation(act)
					if err != nil {
						t.Fatal(err)
					}
					m, err := nn.NewMLP(tensor.NewRNG(3, 1), dt, []int{2, 7, 5, 3}, a, tensor.HeNormal(1))
					if err != nil {
						t.Fatal(err)
					}
					o, err := objective.Build(m, ds, 9, kind, true)
					if err != nil {
						t.Fatal(err)
					}
					probe, err := autodiff.NewProbe(o.G, o.ParamNodes)
					if err != nil {
						t.Fatal(err)
					}
					grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
					if err != nil {
						t.Fatal(err)
					}
					hv, err := autodiff.HVP(o.Loss, o.ParamNodes, probe)
					if err != nil {
						t.Fatal(err)
					}
					outs := append(gorgonia.Nodes{o.Loss, o.Output}, grads...)
					outs = append(outs, hv...)
					nat, tp := compileBoth(t, o.G, outs)
					if nat.Backend() == "tape" {
						t.Fatalf("compiled program fell back to the tape: %s", nat.Fallback())
					}
					rng := rand.New(rand.NewPCG(5, 6))
					for step := 0; step < 3; step++ {
						idx := make([]int, 9)
						for i := range idx {
							idx[i] = rng.IntN(ds.Len())
						}
						if err := o.Fill(ds, idx); err != nil {
							t.Fatal(err)
						}
						for _, p := range probe {
							randomize(p.Value().(*gt.Dense), rng, 1)
						}
						compare(t, fmt.Sprintf("%s step %d", name, step), nat, tp, len(outs), tolerance(dt))
					}
				})
			}
		}
	}
}

// TestConvBNMatchesTape compares a conv → batch-norm → ReLU → max-pool →
// linear → softmax-cross-entropy model built from package ops: loss,
// gradients and a Hessian-vector product.
func TestConvBNMatchesTape(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			const n, cin, h, w, cout, classes = 3, 2, 7, 6, 4, 5
			rng := rand.New(rand.NewPCG(9, 9))
			g := gorgonia.NewGraph()
			mk := func(name string, std float64, shape ...int) *gorgonia.Node {
				d := gt.New(gt.WithShape(shape...), gt.Of(dt))
				randomize(d, rng, std)
				return gorgonia.NodeFromAny(g, d, gorgonia.WithName(name))
			}
			x := mk("x", 1, n, cin, h, w)
			cw := mk("conv.w", 0.5, cout, cin, 3, 3)
			gamma := mk("bn.gamma", 0.2, cout)
			beta := mk("bn.beta", 0.2, cout)
			// 2 strided convolutions: 7×6 → (pad 1, stride 1) 7×6 → pool 2 → 3×3.
			fcw := mk("fc.w", 0.3, cout*3*3, classes)
			fcb := mk("fc.b", 0.1, classes)
			gd := gamma.Value().(*gt.Dense)
			switch v := gd.Data().(type) {
			case []float64:
				for i := range v {
					v[i] += 1
				}
			case []float32:
				for i := range v {
					v[i] += 1
				}
			}
			labels := []int{1, 4, 2}
			oh, err := ops.OneHot(labels, classes, dt)
			if err != nil {
				t.Fatal(err)
			}
			tn := gorgonia.NodeFromAny(g, oh, gorgonia.WithName("targets"))
			y, err := ops.Conv2d(x, cw, ops.ConvParams{Pad: [2]int{1, 1}})
			if err != nil {
				t.Fatal(err)
			}
			bn := ops.NewBatchNorm(cout)
			if y, _, err = bn.Train(y, gamma, beta); err != nil {
				t.Fatal(err)
			}
			if y, err = ops.ReLU(y); err != nil {
				t.Fatal(err)
			}
			if y, err = ops.MaxPool2d(y, ops.PoolParams{Kernel: [2]int{2, 2}}); err != nil {
				t.Fatal(err)
			}
			if y, err = ops.Reshape(y, gt.Shape{n, cout * 3 * 3}); err != nil {
				t.Fatal(err)
			}
			if y, err = gorgonia.Mul(y, fcw); err != nil {
				t.Fatal(err)
			}
			if y, err = ops.AddBias(y, fcb, 1); err != nil {
				t.Fatal(err)
			}
			loss, err := ops.SoftmaxCrossEntropy(y, tn)
			if err != nil {
				t.Fatal(err)
			}
			wrt := gorgonia.Nodes{cw, gamma, beta, fcw, fcb}
			probe, err := autodiff.NewProbe(g, wrt)
			if err != nil {
				t.Fatal(err)
			}
			grads, err := autodiff.Grad(loss, wrt...)
			if err != nil {
				t.Fatal(err)
			}
			hv, err := autodiff.HVP(loss, wrt, probe)
			if err != nil {
				t.Fatal(err)
			}
			outs := append(gorgonia.Nodes{loss}, grads...)
			outs = append(outs, hv...)
			nat, tp := compileBoth(t, g, outs)
			t.Logf("ops run through their Do method: %q", nat.HostOps())
			for _, s := range nat.HostOps() {
				if strings.HasPrefix(s, "Conv2d") {
					t.Errorf("convolution %q not compiled to kernels", s)
				}
			}
			for step := 0; step < 2; step++ {
				for _, p := range probe {
					randomize(p.Value().(*gt.Dense), rng, 1)
				}
				randomize(x.Value().(*gt.Dense), rng, 1)
				compare(t, fmt.Sprintf("conv/bn step %d", step), nat, tp, len(outs), tolerance(dt))
			}
		})
	}
}

// TestFallbackToTape checks that a graph with an op the compiler does not
// know runs on the TapeMachine under Auto and is rejected under Native.
func TestFallbackToTape(t *testing.T) {
	g := gorgonia.NewGraph()
	x := gorgonia.NodeFromAny(g, gt.New(gt.WithShape(2, 3), gt.WithBacking([]float64{1, 2, 3, 4, 5, 6})), gorgonia.WithName("x"))
	y := gorgonia.Must(gorgonia.Slice(x, gorgonia.S(0, 2)))
	s := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.Mul(y, gorgonia.NewConstant(2.0)))))
	var logged []string
	p, err := engine.CompileWith(g, engine.Options{Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}, s)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("fallback reason: %q", p.Fallback())
	if p.Backend() != "tape" || p.Fallback() == "" {
		t.Fatalf("backend %q, fallback %q: want the tape", p.Backend(), p.Fallback())
	}
	if len(logged) != 1 {
		t.Errorf("fallback logged %d times, want once", len(logged))
	}
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Scalar(0); err != nil || v != 42 {
		t.Errorf("sum = %v, %v; want 42", v, err)
	}
	if _, err := engine.CompileWith(g, engine.Options{Backend: engine.Native}, s); err == nil {
		t.Error("Native compiled a graph with an unsupported op")
	}
}

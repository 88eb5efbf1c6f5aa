package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/tensor"
)

// chainSteps returns the number of steps of a compiled program and how
// many of them run fused chains.
func chainSteps(t testing.TB, p *engine.Program) (steps, chains int) {
	t.Helper()
	st, err := p.Profile(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if strings.Contains(s.Step, "(Chain[") {
			chains++
		}
	}
	return len(st), chains
}

// sameOutputs requires outputs 0…n−1 of a and b to be equal bit for bit
// (any NaN matching any NaN).
func sameOutputs(t *testing.T, what string, a, b *engine.Program, n int) {
	t.Helper()
	for i := range n {
		x, y := outputData(t, a, i), outputData(t, b, i)
		if len(x) != len(y) {
			t.Fatalf("%s output %d: %d elements, unfused %d", what, i, len(x), len(y))
		}
		for j := range x {
			if math.Float64bits(x[j]) != math.Float64bits(y[j]) && !(math.IsNaN(x[j]) && math.IsNaN(y[j])) {
				t.Fatalf("%s output %d element %d: fused %v, unfused %v", what, i, j, x[j], y[j])
			}
		}
	}
}

// TestChainsMatchUnfused compiles the loss, gradient and Hessian-vector
// product of every model family with and without fused chains and
// requires the same outputs bit for bit over redrawn data and probes (in
// float64 also through the engine's device path), and fewer steps where
// chains were fused. The families with GELU, attention
// and dropout (GPT), tanh MLPs and the HVPs' products must fuse some.
func TestChainsMatchUnfused(t *testing.T) {
	mustFuse := map[string]bool{"mlp tanh": true, "mlp gelu": true, "gpt tied": true, "gpt untied with dropout": true,
		"deep diagonal net": true}
	total := 0
	for _, fc := range familyCases() {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("%s/%v", fc.name, dt), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(53, 54))
				f, probe, grads, hv := buildFamily(t, fc, dt, rng)
				outs := append(append(append(gorgonia.Nodes{f.loss}, grads...), hv...), f.extras...)
				quiet := func(string, ...any) {}
				fused, err := engine.CompileWith(f.g, engine.Options{Backend: engine.Native, Workers: 2, Logf: quiet}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer fused.Close()
				plain, err := engine.CompileWith(f.g, engine.Options{Backend: engine.Native, Workers: 2, Logf: quiet, NoChains: true}, outs...)
				if err != nil {
					t.Fatal(err)
				}
				defer plain.Close()
				// The device path (a set the engine cannot alias, as the CUDA
				// set) must fuse and compute the same.
				var dev *engine.Program
				if dt == gt.Float64 {
					set := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 2, BLAS: gorgonia.WhichBLAS()}) // as the engine makes its own
					defer set.Close()
					dev, err = engine.CompileWith(f.g, engine.Options{Backend: engine.Native, Set64: device{set}, Logf: quiet}, outs...)
					if err != nil {
						t.Fatal(err)
					}
					defer dev.Close()
				}
				steps, chains := chainSteps(t, fused)
				plainSteps, plainChains := chainSteps(t, plain)
				if plainChains != 0 {
					t.Errorf("NoChains program has %d chain steps", plainChains)
				}
				if chains > 0 && steps >= plainSteps {
					t.Errorf("%d chains but %d steps, unfused %d", chains, steps, plainSteps)
				}
				if dev != nil {
					if _, devChains := chainSteps(t, dev); devChains != chains {
						t.Errorf("device path: %d chains, host %d", devChains, chains)
					}
				}
				if mustFuse[fc.name] && chains == 0 {
					t.Errorf("no chain fused")
				}
				total += chains
				for step := range 2 {
					if step > 0 {
						for _, d := range f.data {
							randomize(d, rng, 1)
						}
					}
					for _, p := range probe {
						randomize(p.Value().(*gt.Dense), rng, 1)
					}
					if err := fused.Run(); err != nil {
						t.Fatal(err)
					}
					if err := plain.Run(); err != nil {
						t.Fatal(err)
					}
					sameOutputs(t, fmt.Sprintf("step %d", step), fused, plain, len(outs))
					if dev != nil {
						if err := dev.Run(); err != nil {
							t.Fatal(err)
						}
						sameOutputs(t, fmt.Sprintf("device path, step %d", step), dev, plain, len(outs))
					}
				}
				t.Logf("%d steps with %d chains (unfused %d steps)", steps, chains, plainSteps)
			})
		}
	}
	if total == 0 {
		t.Error("no family fused any chain")
	}
}

// TestChainShapes builds a graph whose elementwise part exercises what a
// chain may and may not absorb: a scalar and a bias read by broadcasting,
// a reshape between two elementwise nodes, an intermediate that is also a
// program output and one read twice. It checks the number of chains and
// steps and the values bit for bit against the unfused program, in both
// dtypes.
func TestChainShapes(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			g := gorgonia.NewGraph()
			rng := rand.New(rand.NewPCG(3, 4))
			mk := func(name string, shape ...int) *gorgonia.Node {
				d := gt.New(gt.WithShape(shape...), gt.Of(dt))
				randomize(d, rng, 1)
				return gorgonia.NewTensor(g, dt, len(shape), gorgonia.WithShape(shape...), gorgonia.WithValue(d), gorgonia.WithName(name))
			}
			x, y, bias := mk("x", 6, 5), mk("y", 6, 5), mk("b", 1, 5)
			two := gorgonia.NewConstant(tensorScalar(dt, 2))
			must := func(n *gorgonia.Node, err error) *gorgonia.Node {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			// Chain 1: u = tanh(x ⊙ y + b) · 2 (bias and scalar broadcast), with
			// a reshape to [30] and back in the middle.
			prod := must(gorgonia.HadamardProd(x, y))
			flat := must(gorgonia.Reshape(prod, gt.Shape{30}))
			back := must(gorgonia.Reshape(flat, gt.Shape{6, 5}))
			biased := must(gorgonia.BroadcastAdd(back, bias, nil, []byte{0}))
			th := must(gorgonia.Tanh(biased))
			u := must(gorgonia.Mul(th, two))
			// w = u ⊙ u: u has two readers, so it ends a chain; w is a chain
			// root of its own only with more ops: w = sigmoid(u ⊙ u) − x.
			uu := must(gorgonia.HadamardProd(u, u))
			sg := must(ops.Sigmoid(uu))
			w := must(gorgonia.Sub(sg, x))
			// th is also an output: it must be computed, so the first chain
			// stops at it.
			outs := gorgonia.Nodes{w, th}
			fused, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Workers: 2}, outs...)
			if err != nil {
				t.Fatal(err)
			}
			defer fused.Close()
			plain, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Workers: 2, NoChains: true}, outs...)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			steps, chains := chainSteps(t, fused)
			plainSteps, _ := chainSteps(t, plain)
			// Unfused: x⊙y, +b, tanh, ·2, u⊙u, sigmoid, −x (7 steps). Fused:
			// [x⊙y, +b, tanh] (th is an output), [·2] alone, [u⊙u, sigmoid, −x].
			if chains != 2 || steps != 3 || plainSteps != 7 {
				st, _ := fused.Profile(1)
				t.Errorf("%d steps with %d chains (unfused %d), want 3 with 2 (unfused 7): %v", steps, chains, plainSteps, st)
			}
			for range 2 {
				if err := fused.Run(); err != nil {
					t.Fatal(err)
				}
				if err := plain.Run(); err != nil {
					t.Fatal(err)
				}
				sameOutputs(t, "shapes", fused, plain, len(outs))
			}
			// Independent check of one element of w.
			xv, yv, bv := x.Value().Data(), y.Value().Data(), bias.Value().Data()
			at := func(v any, i int) float64 {
				switch s := v.(type) {
				case []float64:
					return s[i]
				case []float32:
					return float64(s[i])
				}
				return math.NaN()
			}
			i := 13 // row 2, column 3
			uv := 2 * math.Tanh(at(xv, i)*at(yv, i)+at(bv, i%5))
			want := 1/(1+math.Exp(-uv*uv)) - at(xv, i)
			got := outputData(t, fused, 0)[i]
			if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
				t.Errorf("w[%d] = %v, want %v", i, got, want)
			}
		})
	}
}

func tensorScalar(dt gt.Dtype, v float64) any {
	if dt == gt.Float32 {
		return float32(v)
	}
	return v
}

// BenchmarkChains times programs compiled with and without fused chains:
// the gradient and the Hessian-vector product of a GELU MLP
// (784-256-256-10, batch 512) and the gradient of a small GPT (2 layers,
// width 64, 4 heads, context 64, batch 8, dropout 0.1) and the
// Hessian-vector product of a deep diagonal net (4 layers of 2¹⁸ weights,
// one sample: products of long vectors, little else), in float32. Besides
// ns/op it reports the program's steps and chains, and "other-ns/op": the
// time of the steps that are not matrix products (from Profile), where
// fusion acts, and "cpu-ns/op": the process's CPU time per run (steadier
// than the wall clock on a shared machine).
func BenchmarkChains(b *testing.B) {
	act, err := nn.ParseActivation("gelu")
	if err != nil {
		b.Fatal(err)
	}
	mlp, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{784, 256, 256, 10}, act, tensor.HeNormal(1))
	if err != nil {
		b.Fatal(err)
	}
	gpt, err := nn.NewGPT(tensor.NewRNG(2, 1), gt.Float32, nn.GPTConfig{Vocab: 65, Context: 64, Layers: 2, Heads: 4, Width: 64, Dropout: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fm, err := classifier(mlp, 10, []int{512, 784}, false)(rng, gt.Float32)
	if err != nil {
		b.Fatal(err)
	}
	fg, err := classifier(nn.InMode(gpt, nn.Training), 65, []int{8, 64}, true)(rng, gt.Float32)
	if err != nil {
		b.Fatal(err)
	}
	probe, err := autodiff.NewProbe(fm.g, fm.wrt)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range probe {
		randomize(p.Value().(*gt.Dense), rng, 1)
	}
	mlpGrads, err := autodiff.Grad(fm.loss, fm.wrt...)
	if err != nil {
		b.Fatal(err)
	}
	mlpHVP, err := autodiff.HVP(fm.loss, fm.wrt, probe)
	if err != nil {
		b.Fatal(err)
	}
	gptGrads, err := autodiff.Grad(fg.loss, fg.wrt...)
	if err != nil {
		b.Fatal(err)
	}
	const depth, width = 4, 1 << 18
	ws := make([][]float64, depth)
	for k := range ws {
		ws[k] = make([]float64, width)
		for i := range ws[k] {
			ws[k][i] = 0.5 + rng.Float64()
		}
	}
	diag, err := nn.NewDeepDiagFrom(gt.Float32, ws)
	if err != nil {
		b.Fatal(err)
	}
	fd, err := regression(diag, 1, width)(rng, gt.Float32)
	if err != nil {
		b.Fatal(err)
	}
	dprobe, err := autodiff.NewProbe(fd.g, fd.wrt)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range dprobe {
		randomize(p.Value().(*gt.Dense), rng, 1)
	}
	diagHVP, err := autodiff.HVP(fd.loss, fd.wrt, dprobe)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		g    *gorgonia.ExprGraph
		outs gorgonia.Nodes
	}{
		{"mlp-gelu-grad", fm.g, append(gorgonia.Nodes{fm.loss}, mlpGrads...)},
		{"mlp-gelu-hvp", fm.g, mlpHVP},
		{"gpt-grad", fg.g, append(gorgonia.Nodes{fg.loss}, gptGrads...)},
		{"deepdiag-hvp", fd.g, diagHVP},
	} {
		for _, noChains := range []bool{false, true} {
			name := c.name + "/fused"
			if noChains {
				name = c.name + "/unfused"
			}
			b.Run(name, func(b *testing.B) {
				p, err := engine.CompileWith(c.g, engine.Options{Backend: engine.Native, NoChains: noChains}, c.outs...)
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				steps, chains := chainSteps(b, p)
				cpu0, runs := processCPU(), 0
				for b.Loop() {
					if err := p.Run(); err != nil {
						b.Fatal(err)
					}
					runs++
				}
				b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(runs), "cpu-ns/op")
				const profRuns = 5
				prof, err := p.Profile(profRuns)
				if err != nil {
					b.Fatal(err)
				}
				var other time.Duration
				for _, st := range prof {
					if !strings.Contains(st.Step, "×") {
						other += st.Total
					}
				}
				b.ReportMetric(float64(other.Nanoseconds())/profRuns, "other-ns/op")
				b.ReportMetric(float64(steps), "steps")
				b.ReportMetric(float64(chains), "chains")
			})
		}
	}
}

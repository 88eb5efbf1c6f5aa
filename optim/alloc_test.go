package optim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"gorgonia.org/tensor"
)

// TestStepAllocatesNothing checks that every optimizer's Step performs no heap
// allocation once its state exists, for float32 and float64 parameters.
func TestStepAllocatesNothing(t *testing.T) {
	cases := optimizerCases(t)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, mk := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
			o := cases[name]()
			params, grads := twoTensors(mk, cfA, cfB), twoTensors(mk, cgA, cgB)
			mustNoErr(t, o.Step(params, grads)) // creates the state
			var err error
			allocs := testing.AllocsPerRun(100, func() { err = o.Step(params, grads) })
			mustNoErr(t, err)
			if allocs != 0 {
				t.Errorf("%s %v: %v allocations per step", name, params[0].Dtype(), allocs)
			}
		}
	}
}

func TestHelpersAllocateNothing(t *testing.T) {
	grads := twoTensors(f64, cgA, cgB)
	g2 := twoTensors(f64, cfA, cfB)
	dst := twoTensors(f64, cfA, cfB)
	ln, err := NewLabelNoise(NoiseGaussian, 0.5, 1)
	mustNoErr(t, err)
	y := f32(cfA, 6)
	checks := map[string]func() error{
		"ClipGlobalNorm": func() error { _, err := ClipGlobalNorm(grads, 0.5); return err },
		"GlobalNorm":     func() error { _, err := GlobalNorm(grads); return err },
		"SVAGCombine":    func() error { return SVAGCombine(dst, grads, g2, 4) },
		"LabelNoise":     func() error { return ln.Apply(y, y) },
	}
	for name, f := range checks {
		var err error
		if a := testing.AllocsPerRun(100, func() { err = f() }); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
		mustNoErr(t, err)
	}
	// SAMUEL's step (with an oracle that does not allocate) and a schedule lookup.
	q := newNoisyQuadratic(8, 0.1, 1, 0.5, 1)
	s, err := NewSamuel(newSGDExperts(t, []float64{0.1, 0.3}), onesTheta(8), SamuelConfig{Interval: 2, MWRates: []float64{1, 10}, Seed: 1})
	mustNoErr(t, err)
	if a := testing.AllocsPerRun(100, func() { _, err = s.Step(q) }); a != 0 {
		t.Errorf("Samuel.Step: %v allocations per step", a)
	}
	mustNoErr(t, err)
	cos, err := Cosine(1, 0, 100)
	sch, err := Warmup(mustSchedule(t, cos, err), 10)
	mustNoErr(t, err)
	if a := testing.AllocsPerRun(100, func() { _ = sch(50) }); a != 0 {
		t.Errorf("schedule: %v allocations per call", a)
	}
}

func mustSchedule(t testing.TB, s Schedule, err error) Schedule {
	t.Helper()
	mustNoErr(t, err)
	return s
}

// benchParams returns parameter and gradient tensors shaped like a
// 784-512-512-10 MLP (≈ 670k values).
func benchParams[T float32 | float64](seed uint64) (params, grads []*tensor.Dense) {
	rng := rand.New(rand.NewPCG(seed, 1))
	shapes := [][]int{{784, 512}, {512}, {512, 512}, {512}, {512, 10}, {10}}
	for _, s := range shapes {
		n := 1
		for _, d := range s {
			n *= d
		}
		p, g := make([]T, n), make([]T, n)
		for i := range p {
			p[i] = T(rng.NormFloat64() * 0.05)
			g[i] = T(rng.NormFloat64() * 0.01)
		}
		params = append(params, tensor.New(tensor.WithShape(s...), tensor.WithBacking(p)))
		grads = append(grads, tensor.New(tensor.WithShape(s...), tensor.WithBacking(g)))
	}
	return params, grads
}

func BenchmarkStep(b *testing.B) {
	cases := optimizerCases(b)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, dtype := range []string{"float32", "float64"} {
		for _, name := range names {
			b.Run(fmt.Sprintf("%s/%s", name, dtype), func(b *testing.B) {
				var params, grads []*tensor.Dense
				size := 4
				if dtype == "float32" {
					params, grads = benchParams[float32](1)
				} else {
					params, grads = benchParams[float64](1)
					size = 8
				}
				n := 0
				for _, p := range params {
					n += p.Shape().TotalSize()
				}
				o := cases[name]()
				o.SetLR(1e-6) // keep values bounded over many iterations
				if err := o.Step(params, grads); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(2 * n * size)) // parameters + gradients, read once each
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := o.Step(params, grads); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

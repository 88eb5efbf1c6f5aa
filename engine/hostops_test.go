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
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/ops"
)

// indexCase is a loss over one input w built from ops that used to run
// through their Do method (GELU, max pooling, the embedding), with the op
// names its loss, gradient and HVP graph must run as kernels.
type indexCase struct {
	name  string
	shape []int
	// quantize rounds w's entries to multiples of 0.5 (ties in pooling
	// windows).
	quantize bool
	loss     func(g *gorgonia.ExprGraph, w *gorgonia.Node, dt gt.Dtype) (*gorgonia.Node, error)
	ops      []string
}

// squareSum is Σ y², the nonlinearity that makes HVPs through the linear
// index ops non-zero.
func squareSum(y *gorgonia.Node) (*gorgonia.Node, error) {
	sq, err := gorgonia.HadamardProd(y, y)
	if err != nil {
		return nil, err
	}
	return ops.SumAll(sq)
}

func indexCases() []indexCase {
	gelu := func(f func(*gorgonia.Node) (*gorgonia.Node, error)) func(*gorgonia.ExprGraph, *gorgonia.Node, gt.Dtype) (*gorgonia.Node, error) {
		return func(_ *gorgonia.ExprGraph, w *gorgonia.Node, _ gt.Dtype) (*gorgonia.Node, error) {
			y, err := f(w)
			if err != nil {
				return nil, err
			}
			return squareSum(y)
		}
	}
	pool := func(p ops.PoolParams) func(*gorgonia.ExprGraph, *gorgonia.Node, gt.Dtype) (*gorgonia.Node, error) {
		return func(_ *gorgonia.ExprGraph, w *gorgonia.Node, _ gt.Dtype) (*gorgonia.Node, error) {
			y, err := ops.MaxPool2d(w, p)
			if err != nil {
				return nil, err
			}
			// GELU after pooling keeps the gradient dependent on the
			// pooled values, so the HVP runs the gather as well.
			if y, err = ops.GELUTanh(y); err != nil {
				return nil, err
			}
			return squareSum(y)
		}
	}
	avg := func(p ops.PoolParams) func(*gorgonia.ExprGraph, *gorgonia.Node, gt.Dtype) (*gorgonia.Node, error) {
		return func(_ *gorgonia.ExprGraph, w *gorgonia.Node, _ gt.Dtype) (*gorgonia.Node, error) {
			y, err := ops.AvgPool2d(w, p)
			if err != nil {
				return nil, err
			}
			if y, err = ops.GELUTanh(y); err != nil {
				return nil, err
			}
			return squareSum(y)
		}
	}
	up := func(scale int) func(*gorgonia.ExprGraph, *gorgonia.Node, gt.Dtype) (*gorgonia.Node, error) {
		return func(_ *gorgonia.ExprGraph, w *gorgonia.Node, _ gt.Dtype) (*gorgonia.Node, error) {
			y, err := ops.UpsampleNearest(w, scale)
			if err != nil {
				return nil, err
			}
			if y, err = ops.GELU(y); err != nil {
				return nil, err
			}
			return squareSum(y)
		}
	}
	// upPool upsamples and then average-pools with windows that straddle
	// the upsampled blocks, so that both adjoints sum unequal terms.
	upPool := func(_ *gorgonia.ExprGraph, w *gorgonia.Node, _ gt.Dtype) (*gorgonia.Node, error) {
		y, err := ops.UpsampleNearest(w, 3)
		if err != nil {
			return nil, err
		}
		if y, err = ops.GELUTanh(y); err != nil {
			return nil, err
		}
		if y, err = ops.AvgPool2d(y, ops.PoolParams{Kernel: [2]int{4, 4}, Stride: [2]int{2, 3}, Pad: [2]int{1, 2}}); err != nil {
			return nil, err
		}
		return squareSum(y)
	}
	avgOps := []string{"AvgPool2d", "AvgPool2dAdjoint"}
	upOps := []string{"UpsampleNearest", "UpsampleNearestAdjoint"}
	embed := func(g *gorgonia.ExprGraph, w *gorgonia.Node, dt gt.Dtype) (*gorgonia.Node, error) {
		ids, err := ops.IDs([]int{3, 0, 3, 6, 1, 3, 6, 2, 0, 5}, gt.Shape{2, 5}, dt)
		if err != nil {
			return nil, err
		}
		in := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(2, 5), gorgonia.WithValue(ids), gorgonia.WithName("ids"))
		y, err := ops.Embedding(w, in)
		if err != nil {
			return nil, err
		}
		if y, err = ops.GELUTanh(y); err != nil {
			return nil, err
		}
		return squareSum(y)
	}
	return []indexCase{
		{"gelu tanh", []int{4, 7}, false, gelu(ops.GELUTanh), []string{"GELU"}},
		{"gelu erf", []int{3, 5}, false, gelu(ops.GELU), []string{"GELU"}},
		{"max-pool 2x2", []int{2, 3, 6, 6}, true, pool(ops.PoolParams{Kernel: [2]int{2, 2}}),
			[]string{"MaxPool2d", "MaxPool2dScatter", "MaxPool2dGather"}},
		{"max-pool 3x3 stride 2 pad 1", []int{2, 2, 7, 5}, true, pool(ops.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}),
			[]string{"MaxPool2d", "MaxPool2dScatter", "MaxPool2dGather"}},
		{"max-pool 3x2 stride 1x2", []int{1, 3, 5, 8}, true, pool(ops.PoolParams{Kernel: [2]int{3, 2}, Stride: [2]int{1, 2}, Pad: [2]int{1, 0}}),
			[]string{"MaxPool2d", "MaxPool2dScatter", "MaxPool2dGather"}},
		{"embedding", []int{7, 3}, false, embed, []string{"Gather", "ScatterAdd"}},
		{"avg-pool 2x2", []int{2, 3, 6, 6}, false, avg(ops.PoolParams{Kernel: [2]int{2, 2}}), avgOps},
		{"avg-pool 3x3 stride 2 pad 1", []int{2, 2, 7, 5}, false,
			avg(ops.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}), avgOps},
		{"avg-pool 3x3 stride 2 pad 1 count pad", []int{2, 2, 7, 5}, false,
			avg(ops.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CountIncludePad: true}), avgOps},
		{"avg-pool 3x2 stride 1x3 pad 1x1", []int{1, 3, 5, 8}, false,
			avg(ops.PoolParams{Kernel: [2]int{3, 2}, Stride: [2]int{1, 3}, Pad: [2]int{1, 1}}), avgOps},
		{"upsample 2", []int{2, 3, 4, 5}, false, up(2), upOps},
		{"upsample 3", []int{1, 2, 3, 3}, false, up(3), upOps},
		{"upsample 3 then avg-pool 4x4 stride 2x3 pad 1x2", []int{2, 2, 3, 4}, false, upPool, append(upOps, avgOps...)},
	}
}

// TestIndexOpsRunAsKernels compiles the loss, gradient and Hessian-vector
// product of graphs built from GELU, max and average pooling, nearest
// upsampling and the embedding and
// requires that (1) none of their ops runs through its Do method, (2) the
// program's steps include every op of the family and (3) every output
// equals the TapeMachine's (which runs the ops' Do methods) over redrawn
// inputs and probes, in float64 (1e-10) and float32 (1e-5), and (4) a run
// allocates nothing. Max-pooling inputs are rounded so that windows hold
// ties.
func TestIndexOpsRunAsKernels(t *testing.T) {
	for _, c := range indexCases() {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("%s/%v", c.name, dt), func(t *testing.T) {
				g := gorgonia.NewGraph()
				rng := rand.New(rand.NewPCG(11, 12))
				wd := gt.New(gt.WithShape(c.shape...), gt.Of(dt))
				draw := func() {
					randomize(wd, rng, 1.5)
					if !c.quantize {
						return
					}
					switch d := wd.Data().(type) {
					case []float64:
						for i := range d {
							d[i] = math.Round(2*d[i]) / 2
						}
					case []float32:
						for i := range d {
							d[i] = float32(math.Round(2*float64(d[i])) / 2)
						}
					}
				}
				draw()
				w := gorgonia.NewTensor(g, dt, len(c.shape), gorgonia.WithShape(c.shape...), gorgonia.WithValue(wd), gorgonia.WithName("w"))
				loss, err := c.loss(g, w, dt)
				if err != nil {
					t.Fatal(err)
				}
				probe, err := autodiff.NewProbe(g, gorgonia.Nodes{w})
				if err != nil {
					t.Fatal(err)
				}
				gr, err := autodiff.Grad(loss, w)
				if err != nil {
					t.Fatal(err)
				}
				hv, err := autodiff.HVP(loss, gorgonia.Nodes{w}, probe)
				if err != nil {
					t.Fatal(err)
				}
				outs := gorgonia.Nodes{loss, gr[0], hv[0]}
				nat, tp := compileBoth(t, g, outs)
				if h := nat.HostOps(); len(h) > 0 {
					t.Errorf("ops run through their Do method: %q", h)
				}
				steps, err := nat.Profile(1)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range c.ops {
					found := false
					for _, st := range steps {
						found = found || strings.Contains(st.Step, name+"{")
					}
					if !found {
						t.Errorf("no step runs %s", name)
					}
				}
				for step := 0; step < 3; step++ {
					if step > 0 {
						draw()
					}
					randomize(probe[0].Value().(*gt.Dense), rng, 1)
					compare(t, fmt.Sprintf("step %d", step), nat, tp, len(outs), tolerance(dt))
				}
				if a := testing.AllocsPerRun(5, func() {
					if err := nat.Run(); err != nil {
						t.Fatal(err)
					}
				}); a != 0 {
					t.Errorf("%v allocations per run, want 0", a)
				}
			})
		}
	}
}

// geluChain builds GELU (tanh or erf form) of a [3,4] input x and then
// differentiates n times: d₀ = GELU(x), dₖ = ∇ₓ Σ dₖ₋₁ = GELU⁽ᵏ⁾(x) (each
// reverse pass through the op adds one derivative order). It returns x
// and d₀ … dₙ.
func geluChain(t *testing.T, g *gorgonia.ExprGraph, dt gt.Dtype, tanh bool, n int, rng *rand.Rand) (*gorgonia.Node, gorgonia.Nodes) {
	t.Helper()
	xd := gt.New(gt.WithShape(3, 4), gt.Of(dt))
	randomize(xd, rng, 1.5)
	x := gorgonia.NewTensor(g, dt, 2, gorgonia.WithShape(3, 4), gorgonia.WithValue(xd), gorgonia.WithName("x"))
	f := ops.GELU
	if tanh {
		f = ops.GELUTanh
	}
	d, err := f(x)
	if err != nil {
		t.Fatal(err)
	}
	outs := gorgonia.Nodes{d}
	for k := 1; k <= n; k++ {
		s, err := ops.SumAll(d)
		if err != nil {
			t.Fatal(err)
		}
		gr, err := autodiff.Grad(s, x)
		if err != nil {
			t.Fatal(err)
		}
		d = gr[0]
		outs = append(outs, d)
	}
	return x, outs
}

// TestGELUHigherOrdersRunAsKernels differentiates GELU kernels.MaxGELUOrder
// times in both forms and requires that every derivative order runs as a
// kernel (no op through its Do method, a GELU step of each order), that
// all outputs equal the TapeMachine's (float64 1e-10, float32 1e-5
// relative) over redrawn inputs, and that a run allocates nothing.
func TestGELUHigherOrdersRunAsKernels(t *testing.T) {
	for _, tanh := range []bool{false, true} {
		for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
			t.Run(fmt.Sprintf("tanh=%v/%v", tanh, dt), func(t *testing.T) {
				g := gorgonia.NewGraph()
				rng := rand.New(rand.NewPCG(13, 14))
				x, outs := geluChain(t, g, dt, tanh, kernels.MaxGELUOrder, rng)
				nat, tp := compileBoth(t, g, outs)
				if h := nat.HostOps(); len(h) > 0 {
					t.Errorf("ops run through their Do method: %q", h)
				}
				steps, err := nat.Profile(1)
				if err != nil {
					t.Fatal(err)
				}
				for k := 0; k <= kernels.MaxGELUOrder; k++ {
					found := false
					for _, st := range steps {
						found = found || strings.Contains(st.Step, fmt.Sprintf("order=%d,", k))
					}
					if !found {
						t.Errorf("no step runs GELU of order %d", k)
					}
				}
				for step := 0; step < 3; step++ {
					if step > 0 {
						randomize(x.Value().(*gt.Dense), rng, 1.5)
					}
					compare(t, fmt.Sprintf("step %d", step), nat, tp, len(outs), tolerance(dt))
				}
				if a := testing.AllocsPerRun(5, func() {
					if err := nat.Run(); err != nil {
						t.Fatal(err)
					}
				}); a != 0 {
					t.Errorf("%v allocations per run, want 0", a)
				}
			})
		}
	}
}

// TestGELUBeyondKernelOrderOnHost differentiates GELU once more than the
// kernels compute: orders up to kernels.MaxGELUOrder run as kernels, the
// next one through the op's Do method on the CPU, and the program still
// matches the tape.
func TestGELUBeyondKernelOrderOnHost(t *testing.T) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(15, 16))
	_, outs := geluChain(t, g, gt.Float64, true, kernels.MaxGELUOrder+1, rng)
	nat, tp := compileBoth(t, g, outs)
	host := nat.HostOps()
	if len(host) == 0 {
		t.Fatalf("no op runs on the host: the graph has no GELU of order %d", kernels.MaxGELUOrder+1)
	}
	for _, h := range host {
		if !strings.Contains(h, fmt.Sprintf("order=%d,", kernels.MaxGELUOrder+1)) {
			t.Errorf("op %q runs through its Do method", h)
		}
	}
	compare(t, "beyond the kernel order", nat, tp, len(outs), tolerance(gt.Float64))
	if nat.Backend() == "tape" {
		t.Errorf("fell back to the tape: %s", nat.Fallback())
	}
}

// TestIndexOpsOnDeviceSet compiles the loss, gradient and HVP of every
// index case, and the GELU derivative chain, for a set the engine treats
// as a device (the CPU set behind an interface, as with the CUDA set):
// with ops that need the host the compile would fail (Backend Native
// forbids the tape fallback). Outputs must equal the tape's (float64,
// 1e-10).
func TestIndexOpsOnDeviceSet(t *testing.T) {
	set := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 2})
	defer set.Close()
	run := func(t *testing.T, g *gorgonia.ExprGraph, outs gorgonia.Nodes, redraw func()) {
		nat, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Set64: device{set}}, outs...)
		if err != nil {
			t.Fatalf("native compile on a device set: %v", err)
		}
		defer nat.Close()
		tp, err := engine.CompileWith(g, engine.Options{Backend: engine.Tape}, outs...)
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		for step := 0; step < 2; step++ {
			if step > 0 {
				redraw()
			}
			compare(t, fmt.Sprintf("step %d", step), nat, tp, len(outs), tolerance(gt.Float64))
		}
	}
	for _, c := range indexCases() {
		t.Run(c.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			rng := rand.New(rand.NewPCG(17, 18))
			wd := gt.New(gt.WithShape(c.shape...), gt.Of(gt.Float64))
			draw := func() {
				randomize(wd, rng, 1.5)
				if c.quantize {
					d := wd.Float64s()
					for i := range d {
						d[i] = math.Round(2*d[i]) / 2
					}
				}
			}
			draw()
			w := gorgonia.NewTensor(g, gt.Float64, len(c.shape), gorgonia.WithShape(c.shape...), gorgonia.WithValue(wd), gorgonia.WithName("w"))
			loss, err := c.loss(g, w, gt.Float64)
			if err != nil {
				t.Fatal(err)
			}
			probe, err := autodiff.NewProbe(g, gorgonia.Nodes{w})
			if err != nil {
				t.Fatal(err)
			}
			randomize(probe[0].Value().(*gt.Dense), rng, 1)
			gr, err := autodiff.Grad(loss, w)
			if err != nil {
				t.Fatal(err)
			}
			hv, err := autodiff.HVP(loss, gorgonia.Nodes{w}, probe)
			if err != nil {
				t.Fatal(err)
			}
			run(t, g, gorgonia.Nodes{loss, gr[0], hv[0]}, draw)
		})
	}
	t.Run("gelu chain", func(t *testing.T) {
		g := gorgonia.NewGraph()
		rng := rand.New(rand.NewPCG(19, 20))
		x, outs := geluChain(t, g, gt.Float64, true, kernels.MaxGELUOrder, rng)
		run(t, g, outs, func() { randomize(x.Value().(*gt.Dense), rng, 1.5) })
	})
}

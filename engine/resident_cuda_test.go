//go:build gradlabcuda

package engine_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/kernels/cuda"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// cudaTrainer is an MLP's loss and gradient program with its parameters
// resident on a CUDA set and an SGD optimizer updating them there.
type cudaTrainer[T kernels.Float] struct {
	obj           *objective.Graph
	prog          *engine.Program
	opt           *optim.DeviceOptimizer[T]
	params, grads []kernels.Buffer[T]
}

func newCUDATrainer[T kernels.Float](t testing.TB, set kernels.Set[T], o *objective.Graph, cfg optim.SGDConfig) *cudaTrainer[T] {
	t.Helper()
	grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
	if err != nil {
		t.Fatal(err)
	}
	eo := engine.Options{Backend: engine.Native, Resident: o.ParamNodes, DeviceOutputs: grads}
	switch s := any(set).(type) {
	case kernels.Set[float32]:
		eo.Set32 = s
	case kernels.Set[float64]:
		eo.Set64 = s
	}
	prog, err := engine.CompileWith(o.G, eo, append(gorgonia.Nodes{o.Loss}, grads...)...)
	if err != nil {
		t.Fatal(err)
	}
	c := &cudaTrainer[T]{obj: o, prog: prog}
	if c.params, err = engine.Buffers[T](prog, o.ParamNodes...); err != nil {
		t.Fatal(err)
	}
	if c.grads, err = engine.Buffers[T](prog, grads...); err != nil {
		t.Fatal(err)
	}
	shapes := make([][]int, len(o.ParamNodes))
	for i, n := range o.ParamNodes {
		shapes[i] = n.Shape().Clone()
	}
	if c.opt, err = optim.NewDeviceSGD(set, cfg, shapes); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cudaTrainer[T]) step(t testing.TB) float64 {
	if err := c.prog.Run(); err != nil {
		t.Fatal(err)
	}
	l, err := c.prog.Scalar(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.opt.Step(c.params, c.grads); err != nil {
		t.Fatal(err)
	}
	return l
}

func (c *cudaTrainer[T]) close() { c.opt.Close(); c.prog.Close() }

// TestCUDAResidentTraining trains an MLP for ten SGD-with-momentum steps
// with parameters, gradients and momentum on the GPU, and compares the
// losses and the final parameters with the same steps on the host.
func TestCUDAResidentTraining(t *testing.T) {
	s32, s64, closeSets, err := cuda.NewSets(0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSets()
	t.Run("float32", func(t *testing.T) { cudaResident(t, s32, gt.Float32, 2e-4) })
	t.Run("float64", func(t *testing.T) { cudaResident(t, s64, gt.Float64, 1e-9) })
}

func cudaResident[T kernels.Float](t *testing.T, set kernels.Set[T], dt gt.Dtype, tol float64) {
	ds, err := data.GaussianMixture(3, 2, 40, 2, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg := optim.SGDConfig{LR: 0.05, Momentum: 0.9}
	build := func() *objective.Graph {
		act, _ := nn.ParseActivation("tanh")
		m, err := nn.NewMLP(tensor.NewRNG(3, 1), dt, []int{2, 64, 32, 3}, act, tensor.HeNormal(1))
		if err != nil {
			t.Fatal(err)
		}
		o, err := objective.Build(m, ds, 32, objective.CrossEntropy, true)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	dev := newCUDATrainer(t, set, build(), cfg)
	defer dev.close()
	ho := build()
	hg, err := autodiff.Grad(ho.Loss, ho.ParamNodes...)
	if err != nil {
		t.Fatal(err)
	}
	host, err := engine.Compile(ho.G, append(gorgonia.Nodes{ho.Loss}, hg...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	hopt, err := optim.NewSGD(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	idx := make([]int, 32)
	gs := make([]*gt.Dense, len(hg))
	for step := 0; step < 10; step++ {
		for i := range idx {
			idx[i] = rng.IntN(ds.Len())
		}
		if err := dev.obj.Fill(ds, idx); err != nil {
			t.Fatal(err)
		}
		if err := ho.Fill(ds, idx); err != nil {
			t.Fatal(err)
		}
		dl := dev.step(t)
		if err := host.Run(); err != nil {
			t.Fatal(err)
		}
		hl, _ := host.Scalar(0)
		for i := range gs {
			gs[i], _ = host.Dense(i + 1)
		}
		if err := hopt.Step(ho.Params.Values(), gs); err != nil {
			t.Fatal(err)
		}
		if math.Abs(dl-hl) > tol*math.Max(1, math.Abs(hl)) {
			t.Errorf("step %d: loss %v on the GPU, %v on the host", step, dl, hl)
		}
	}
	if err := dev.prog.Download(dev.obj.ParamNodes...); err != nil {
		t.Fatal(err)
	}
	a, b := dev.obj.Params.Values().Flatten(nil), ho.Params.Values().Flatten(nil)
	var diff, scale float64
	for i := range a {
		diff, scale = math.Max(diff, math.Abs(a[i]-b[i])), math.Max(scale, math.Abs(b[i]))
	}
	if !(diff <= tol*scale) {
		t.Errorf("final parameters: max difference %.3g (max magnitude %.3g)", diff, scale)
	}
}

// BenchmarkCUDAResidentStep times one training step of an MLP
// 784-512-512-10 (float32, batch 128) on the GPU with the parameters,
// gradients and momentum resident, against the same program with every
// input uploaded and every output downloaded and the update on the host.
func BenchmarkCUDAResidentStep(b *testing.B) {
	set, err := cuda.New[float32](0)
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	ds := &data.Dataset{Name: "random", Shape: []int{784}, Classes: 10, X: make([]float32, 512*784), Y: make([]int, 512)}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range ds.X {
		ds.X[i] = float32(rng.NormFloat64())
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(10)
	}
	build := func() *objective.Graph {
		act, _ := nn.ParseActivation("relu")
		m, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{784, 512, 512, 10}, act, tensor.HeNormal(1))
		if err != nil {
			b.Fatal(err)
		}
		o, err := objective.Build(m, ds, 128, objective.CrossEntropy, true)
		if err != nil {
			b.Fatal(err)
		}
		idx := make([]int, 128)
		for i := range idx {
			idx[i] = i
		}
		if err := o.Fill(ds, idx); err != nil {
			b.Fatal(err)
		}
		return o
	}
	cfg := optim.SGDConfig{LR: 1e-3, Momentum: 0.9}
	b.Run("resident", func(b *testing.B) {
		c := newCUDATrainer(b, set, build(), cfg)
		defer c.close()
		c.step(b)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			c.step(b)
		}
	})
	b.Run("uploads", func(b *testing.B) {
		o := build()
		grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
		if err != nil {
			b.Fatal(err)
		}
		prog, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native, Set32: set}, append(gorgonia.Nodes{o.Loss}, grads...)...)
		if err != nil {
			b.Fatal(err)
		}
		defer prog.Close()
		opt, _ := optim.NewSGD(cfg)
		gs := make([]*gt.Dense, len(grads))
		params := o.Params.Values()
		step := func() {
			if err := prog.Run(); err != nil {
				b.Fatal(err)
			}
			for i := range gs {
				gs[i], _ = prog.Dense(i + 1)
			}
			if err := opt.Step(params, gs); err != nil {
				b.Fatal(err)
			}
		}
		step()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			step()
		}
	})
}

package optim_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/optim"
)

// hidden wraps a kernel set so that its concrete type is unknown: to the
// optimizer it is a device whose buffers are only reachable through the
// set's own calls.
type hidden[T kernels.Float] struct{ kernels.Set[T] }

var deviceShapes = [][]int{{3, 5}, {5}, {2, 2, 3}, {1}}

// deviceCase is one optimizer configuration, as a host optimizer and as a
// device optimizer.
type deviceCase struct {
	name string
	host func() (optim.Optimizer, error)
	dev  func(set any, shapes [][]int) (any, error)
}

func sgdCase(name string, c optim.SGDConfig) deviceCase {
	return deviceCase{name,
		func() (optim.Optimizer, error) { return optim.NewSGD(c) },
		func(set any, shapes [][]int) (any, error) {
			if s, ok := set.(kernels.Set[float32]); ok {
				return optim.NewDeviceSGD(s, c, shapes)
			}
			return optim.NewDeviceSGD(set.(kernels.Set[float64]), c, shapes)
		}}
}

func adamCase(name string, c optim.AdamConfig) deviceCase {
	return deviceCase{name,
		func() (optim.Optimizer, error) { return optim.NewAdam(c) },
		func(set any, shapes [][]int) (any, error) {
			if s, ok := set.(kernels.Set[float32]); ok {
				return optim.NewDeviceAdam(s, c, shapes)
			}
			return optim.NewDeviceAdam(set.(kernels.Set[float64]), c, shapes)
		}}
}

func rmspropCase(name string, c optim.RMSpropConfig) deviceCase {
	return deviceCase{name,
		func() (optim.Optimizer, error) { return optim.NewRMSprop(c) },
		func(set any, shapes [][]int) (any, error) {
			if s, ok := set.(kernels.Set[float32]); ok {
				return optim.NewDeviceRMSprop(s, c, shapes)
			}
			return optim.NewDeviceRMSprop(set.(kernels.Set[float64]), c, shapes)
		}}
}

func deviceCases() []deviceCase {
	adam := optim.DefaultAdam()
	adam.LR = 0.05
	ams := adam
	ams.AMSGrad, ams.WeightDecay = true, 0.01
	adamw := adam
	adamw.DecoupledWeightDecay = 0.1
	rms := optim.DefaultRMSprop()
	centered := rms
	centered.Centered, centered.Momentum, centered.WeightDecay = true, 0.9, 0.01
	return []deviceCase{
		sgdCase("sgd", optim.SGDConfig{LR: 0.1}),
		sgdCase("sgd-momentum", optim.SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01}),
		sgdCase("sgd-nesterov", optim.SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, DecoupledWeightDecay: 0.05}),
		adamCase("adam", adam),
		adamCase("adam-amsgrad", ams),
		adamCase("adamw", adamw),
		rmspropCase("rmsprop", rms),
		rmspropCase("rmsprop-centered-momentum", centered),
	}
}

// side is one trajectory: host tensors and, for a device optimizer, the
// parameter and gradient buffers on its set.
type side[T kernels.Float] struct {
	params, grads []*tensor.Dense
	host          optim.Optimizer
	dev           *optim.DeviceOptimizer[T]
	set           kernels.Set[T]
	pbufs, gbufs  []kernels.Buffer[T]
}

func newTensors[T kernels.Float](rng *rand.Rand, shapes [][]int) []*tensor.Dense {
	out := make([]*tensor.Dense, len(shapes))
	for i, s := range shapes {
		n := 1
		for _, k := range s {
			n *= k
		}
		d := make([]T, n)
		for j := range d {
			d[j] = T(rng.NormFloat64())
		}
		out[i] = tensor.New(tensor.WithShape(s...), tensor.WithBacking(d))
	}
	return out
}

func data[T kernels.Float](t *tensor.Dense) []T { return t.Data().([]T) }

func cloneTensors(ts []*tensor.Dense) []*tensor.Dense {
	out := make([]*tensor.Dense, len(ts))
	for i, t := range ts {
		out[i] = t.Clone().(*tensor.Dense)
	}
	return out
}

// onDevice makes a device side with the given parameter values.
func onDevice[T kernels.Float](t *testing.T, set kernels.Set[T], dev *optim.DeviceOptimizer[T], params []*tensor.Dense) *side[T] {
	t.Helper()
	s := &side[T]{params: cloneTensors(params), dev: dev, set: set}
	for _, p := range s.params {
		pb, err := set.Alloc(p.Shape().TotalSize())
		if err != nil {
			t.Fatal(err)
		}
		gb, err := set.Alloc(p.Shape().TotalSize())
		if err != nil {
			t.Fatal(err)
		}
		if err := set.Upload(pb, data[T](p)); err != nil {
			t.Fatal(err)
		}
		s.pbufs, s.gbufs = append(s.pbufs, pb), append(s.gbufs, gb)
	}
	return s
}

// step applies one update with gradients grads and, on a device side,
// downloads the parameters into the host tensors.
func (s *side[T]) step(t *testing.T, grads []*tensor.Dense, lr float64) {
	t.Helper()
	if s.host != nil {
		s.host.SetLR(lr)
		if err := s.host.Step(s.params, grads); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, g := range grads {
		if err := s.set.Upload(s.gbufs[i], data[T](g)); err != nil {
			t.Fatal(err)
		}
	}
	s.dev.SetLR(lr)
	if err := s.dev.Step(s.pbufs, s.gbufs); err != nil {
		t.Fatal(err)
	}
	for i, p := range s.params {
		if err := s.set.Download(data[T](p), s.pbufs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *side[T]) state(t *testing.T) optim.State {
	t.Helper()
	if s.host != nil {
		return s.host.State()
	}
	st, err := s.dev.State()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sameTensors reports the first difference between two tensor lists (bit
// for bit, shapes included), or "".
func sameTensors[T kernels.Float](a, b []*tensor.Dense) string {
	for i := range a {
		if !slices.Equal([]int(a[i].Shape()), []int(b[i].Shape())) {
			return fmt.Sprintf("tensor %d: shape %v vs %v", i, a[i].Shape(), b[i].Shape())
		}
		if x, y := data[T](a[i]), data[T](b[i]); !slices.Equal(x, y) {
			return fmt.Sprintf("tensor %d: %v vs %v", i, x, y)
		}
	}
	return ""
}

func sameState[T kernels.Float](a, b optim.State) string {
	if a.Kind != b.Kind || len(a.Scalars) != len(b.Scalars) || len(a.Buffers) != len(b.Buffers) {
		return fmt.Sprintf("kind %q/%q, %d/%d scalars, %d/%d buffers", a.Kind, b.Kind, len(a.Scalars), len(b.Scalars), len(a.Buffers), len(b.Buffers))
	}
	for k, v := range a.Scalars {
		if b.Scalars[k] != v {
			return fmt.Sprintf("scalar %s: %v vs %v", k, v, b.Scalars[k])
		}
	}
	for k, v := range a.Buffers {
		w, ok := b.Buffers[k]
		if !ok {
			return "missing buffer " + k
		}
		if d := sameTensors[T]([]*tensor.Dense{v}, []*tensor.Dense{w}); d != "" {
			return "buffer " + k + ": " + d
		}
	}
	return ""
}

func lrAt(step int) float64 {
	if step >= 5 {
		return 0.03
	}
	return 0.07
}

// TestDeviceOptimizerMatchesHost runs every configuration for ten steps on
// the host optimizer and on the device optimizer over a hidden CPU set
// (same update kernels), with the learning rate changed half-way, and
// requires the same parameters after every step and the same state at the
// end, bit for bit.
func TestDeviceOptimizerMatchesHost(t *testing.T) {
	for _, c := range deviceCases() {
		t.Run(c.name+"/float64", func(t *testing.T) { matchHost[float64](t, c) })
		t.Run(c.name+"/float32", func(t *testing.T) { matchHost[float32](t, c) })
	}
}

func newSet[T kernels.Float]() (kernels.Set[T], func()) {
	cpu := kernels.NewCPU[T](kernels.CPUOptions{Workers: 2, MinParallel: 4})
	return hidden[T]{cpu}, func() { cpu.Close() }
}

func newDeviceOpt[T kernels.Float](t *testing.T, c deviceCase, set kernels.Set[T]) *optim.DeviceOptimizer[T] {
	t.Helper()
	d, err := c.dev(set, deviceShapes)
	if err != nil {
		t.Fatal(err)
	}
	return d.(*optim.DeviceOptimizer[T])
}

func newHostOpt(t *testing.T, c deviceCase) optim.Optimizer {
	t.Helper()
	h, err := c.host()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func matchHost[T kernels.Float](t *testing.T, c deviceCase) {
	set, done := newSet[T]()
	defer done()
	rng := rand.New(rand.NewPCG(7, 1))
	params := newTensors[T](rng, deviceShapes)
	dev := newDeviceOpt(t, c, set)
	defer dev.Close()
	d := onDevice(t, set, dev, params)
	h := &side[T]{params: cloneTensors(params), host: newHostOpt(t, c)}
	if st, err := dev.State(); err != nil || sameState[T](st, h.host.State()) != "" {
		t.Fatalf("initial state differs: %v %s", err, sameState[T](st, h.host.State()))
	}
	for step := 0; step < 10; step++ {
		grads := newTensors[T](rng, deviceShapes)
		h.step(t, grads, lrAt(step))
		d.step(t, grads, lrAt(step))
		if diff := sameTensors[T](h.params, d.params); diff != "" {
			t.Fatalf("step %d: parameters differ: %s", step, diff)
		}
	}
	if diff := sameTensors[T](h.params, params); diff == "" {
		t.Fatal("the parameters did not move")
	}
	if diff := sameState[T](h.state(t), d.state(t)); diff != "" {
		t.Fatalf("states differ: %s", diff)
	}
	if dev.Steps() != 10 || dev.LR() != lrAt(9) || dev.Kind() != h.host.State().Kind {
		t.Errorf("steps %d, lr %v, kind %q", dev.Steps(), dev.LR(), dev.Kind())
	}
}

// TestDeviceOptimizerStateRoundTrip moves the state between host and device
// optimizers mid-trajectory in both directions (NewDeviceFrom, SetState with
// a host state, host SetState with a device state) and requires all of
// them to continue the uninterrupted host trajectory bit for bit.
func TestDeviceOptimizerStateRoundTrip(t *testing.T) {
	for _, c := range deviceCases() {
		t.Run(c.name, func(t *testing.T) {
			set, done := newSet[float64]()
			defer done()
			rng := rand.New(rand.NewPCG(3, 4))
			a := &side[float64]{params: newTensors[float64](rng, deviceShapes), host: newHostOpt(t, c)}
			for step := 0; step < 3; step++ {
				a.step(t, newTensors[float64](rng, deviceShapes), lrAt(step))
			}
			from, err := optim.NewDeviceFrom(set, a.host, deviceShapes)
			if err != nil {
				t.Fatal(err)
			}
			defer from.Close()
			d := onDevice(t, set, from, a.params)
			for step := 3; step < 6; step++ {
				g := newTensors[float64](rng, deviceShapes)
				a.step(t, g, lrAt(step))
				d.step(t, g, lrAt(step))
			}
			b := &side[float64]{params: cloneTensors(d.params), host: newHostOpt(t, c)}
			if err := b.host.SetState(d.state(t)); err != nil {
				t.Fatal(err)
			}
			fresh := newDeviceOpt(t, c, set)
			defer fresh.Close()
			if err := fresh.SetState(a.state(t)); err != nil {
				t.Fatal(err)
			}
			e := onDevice(t, set, fresh, a.params)
			for step := 6; step < 9; step++ {
				g := newTensors[float64](rng, deviceShapes)
				for _, s := range []*side[float64]{a, b, d, e} {
					s.step(t, g, lrAt(step))
				}
			}
			for name, s := range map[string]*side[float64]{"NewDeviceFrom": d, "host SetState(device state)": b, "device SetState(host state)": e} {
				if diff := sameTensors[float64](a.params, s.params); diff != "" {
					t.Errorf("%s: parameters differ from the uninterrupted run: %s", name, diff)
				}
				if diff := sameState[float64](a.state(t), s.state(t)); diff != "" {
					t.Errorf("%s: state differs from the uninterrupted run: %s", name, diff)
				}
			}
		})
	}
}

// TestDeviceOptimizerAllocatesNothing requires Step to allocate nothing on
// the device-like set once constructed.
func TestDeviceOptimizerAllocatesNothing(t *testing.T) {
	for _, c := range deviceCases() {
		set, done := newSet[float32]()
		dev := newDeviceOpt(t, c, set)
		rng := rand.New(rand.NewPCG(1, 1))
		s := onDevice(t, set, dev, newTensors[float32](rng, deviceShapes))
		var err error
		if a := testing.AllocsPerRun(50, func() { err = dev.Step(s.pbufs, s.gbufs) }); a != 0 {
			t.Errorf("%s: %v allocations per step", c.name, a)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		dev.Close()
		done()
	}
}

func TestDeviceOptimizerErrors(t *testing.T) {
	set, done := newSet[float64]()
	defer done()
	c := deviceCases()[4] // Adam with AMSGrad
	dev := newDeviceOpt(t, c, set)
	defer dev.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	s := onDevice(t, set, dev, newTensors[float64](rng, deviceShapes))
	host := &side[float64]{params: newTensors[float64](rng, deviceShapes), host: newHostOpt(t, c)}
	host.step(t, newTensors[float64](rng, deviceShapes), 0.1)
	good := host.state(t)

	wrongShape := good.Clone()
	wrongShape.Buffers["m/0"] = tensor.New(tensor.WithShape(5, 3), tensor.WithBacking(make([]float64, 15)))
	wrongType := good.Clone()
	wrongType.Buffers["v/1"] = tensor.New(tensor.WithShape(5), tensor.WithBacking(make([]float32, 5)))
	tooFew := good.Clone()
	for _, slot := range []string{"m", "v", "vmax"} {
		delete(tooFew.Buffers, optim.BufferKey(slot, 3))
	}
	wrongKind := good.Clone()
	wrongKind.Kind = "sgd"
	for name, st := range map[string]optim.State{"shape": wrongShape, "dtype": wrongType, "count": tooFew, "kind": wrongKind} {
		if err := dev.SetState(st); err == nil {
			t.Errorf("SetState with a wrong %s did not fail", name)
		}
	}
	if err := dev.SetState(good); err != nil {
		t.Fatalf("SetState of a valid state: %v", err)
	}
	if err := dev.Step(s.pbufs[:3], s.gbufs[:3]); err == nil {
		t.Error("Step with too few parameters did not fail")
	}
	if err := dev.Step(s.pbufs, []kernels.Buffer[float64]{s.gbufs[1], s.gbufs[0], s.gbufs[2], s.gbufs[3]}); err == nil {
		t.Error("Step with gradients of the wrong sizes did not fail")
	}
	norm, err := optim.NewNormalizedGD(0.1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := optim.NewDeviceFrom(set, norm, deviceShapes); err == nil || !strings.Contains(err.Error(), "no device") {
		t.Errorf("NewDeviceFrom(NormalizedGD): %v", err)
	}
	if _, err := optim.NewDeviceSGD(set, optim.SGDConfig{LR: -1}, deviceShapes); err == nil {
		t.Error("a negative learning rate was accepted")
	}
}

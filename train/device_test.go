package train

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/internal/openblas"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/checkpoint"
)

// hiddenSet wraps a kernel set so that its concrete type is unknown to the
// engine: it is treated as a device whose memory it cannot alias (uploads
// and downloads happen as with the CUDA set), and it counts them.
type hiddenSet[T kernels.Float] struct {
	kernels.Set[T]
	uploads, downloads int
}

func (h *hiddenSet[T]) Upload(dst kernels.Buffer[T], src []T) error {
	h.uploads++
	return h.Set.Upload(dst, src)
}

func (h *hiddenSet[T]) Download(dst []T, src kernels.Buffer[T]) error {
	h.downloads++
	return h.Set.Download(dst, src)
}

// testDevice returns device sets over CPU sets configured as the engine
// configures its own (gorgonia's BLAS, all cores), so that the device
// path runs the same kernels as the host path.
func testDevice(t *testing.T) (*Device, *hiddenSet[float32], *hiddenSet[float64]) {
	t.Helper()
	c32 := kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
	c64 := kernels.NewCPU[float64](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
	t.Cleanup(func() { c32.Close(); c64.Close() })
	h32, h64 := &hiddenSet[float32]{Set: c32}, &hiddenSet[float64]{Set: c64}
	return &Device{Set32: h32, Set64: h64}, h32, h64
}

func latestCheckpoint(t *testing.T, dir string) (weights, state string) {
	t.Helper()
	ck, ok, err := checkpoint.Latest(filepath.Join(dir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no checkpoint in %s: %v", dir, err)
	}
	return readFile(t, filepath.Join(ck, "weights.safetensors")), readFile(t, filepath.Join(ck, "state.json"))
}

// TestDeviceMatchesHost trains the same MLP with Adam on the host and on a
// device (the CPU set behind a hidden type) and requires identical metrics
// files (losses, evaluations), final parameters, optimizer states and last
// checkpoints, bit for bit, in float32 and float64.
func TestDeviceMatchesHost(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float32, gt.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			dh, dd := t.TempDir(), t.TempDir()
			trh, mh := newRun(t, dt, dh, false)
			trd, md := newRun(t, dt, dd, false)
			dev, h32, h64 := testDevice(t)
			trd.o.Device = dev
			rh, err := trh.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rd, err := trd.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if h32.uploads+h64.uploads == 0 {
				t.Fatal("the device sets were not used")
			}
			a, b := readFile(t, filepath.Join(dh, "metrics.jsonl")), readFile(t, filepath.Join(dd, "metrics.jsonl"))
			if a != b || len(a) == 0 {
				t.Errorf("metrics differ\nhost:   %s\ndevice: %s", a, b)
			}
			if !equal(mh.Params().Values().Flatten(nil), md.Params().Values().Flatten(nil)) {
				t.Error("final parameters differ")
			}
			sh, sd := trh.opt.State(), trd.opt.State()
			if sh.Scalars["step"] != sd.Scalars["step"] || len(sh.Buffers) != len(sd.Buffers) || len(sh.Buffers) == 0 {
				t.Errorf("optimizer states differ: %v %d buffers, %v %d buffers", sh.Scalars, len(sh.Buffers), sd.Scalars, len(sd.Buffers))
			}
			for k, v := range sh.Buffers {
				if !equal(tensor.List{v}.Flatten(nil), tensor.List{sd.Buffers[k]}.Flatten(nil)) {
					t.Errorf("optimizer buffer %s differs", k)
				}
			}
			wh, jh := latestCheckpoint(t, dh)
			wd, jd := latestCheckpoint(t, dd)
			if wh != wd || jh != jd {
				t.Error("last checkpoints differ")
			}
			if rh.Steps != rd.Steps || rh.Test != rd.Test || rh.TrainLoss != rd.TrainLoss {
				t.Errorf("results differ: host %+v, device %+v", rh, rd)
			}
		})
	}
}

// TestDeviceInterruptAndResume interrupts runs on the host or the device
// and resumes them on the other or the same, and requires the metrics and
// final parameters of an uninterrupted host run.
func TestDeviceInterruptAndResume(t *testing.T) {
	ref := t.TempDir()
	trRef, mRef := newRun(t, gt.Float64, ref, false)
	if _, err := trRef.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(ref, "metrics.jsonl"))
	wantParams := mRef.Params().Values().Flatten(nil)
	for _, c := range []struct {
		name           string
		at             int
		first, resumed bool // on the device
	}{
		{"device to device", 11, true, true},
		{"host to device", 7, false, true},
		{"device to host", 25, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev, _, _ := testDevice(t)
			dir := t.TempDir()
			tr, _ := newRun(t, gt.Float64, dir, false)
			if c.first {
				tr.o.Device = dev
			}
			ctx, cancel := context.WithCancel(context.Background())
			tr.o.Probes = []Probe{&interruptAfter{n: c.at, cancel: cancel}}
			_, err := tr.Run(ctx)
			cancel()
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("got %v, want ErrInterrupted", err)
			}
			tr2, m2 := newRun(t, gt.Float64, dir, true)
			if c.resumed {
				tr2.o.Device = dev
			}
			res, err := tr2.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !res.Resumed {
				t.Error("result does not say it resumed")
			}
			if got := readFile(t, filepath.Join(dir, "metrics.jsonl")); got != want {
				t.Errorf("resumed metrics differ from the uninterrupted host run\n got: %s\nwant: %s", got, want)
			}
			if !equal(m2.Params().Values().Flatten(nil), wantParams) {
				t.Error("final parameters differ")
			}
		})
	}
}

// TestDeviceStepTransfers runs DeviceStep directly and counts the host
// transfers of a step: the batch (input and target) up, the loss down;
// parameters, gradients and optimizer state stay on the set. A step after
// the first allocates nothing, writing the batch included.
func TestDeviceStepTransfers(t *testing.T) {
	ds := mixture(t, 1)
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(5, 0), gt.Float64, []int{2, 16, 3}, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewSGD(optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	_, _, h64 := testDevice(t)
	s, err := NewDeviceStep[float64](m, opt, ds, 16, objective.CrossEntropy, true, h64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	idx := make([]int, 16)
	for i := range idx {
		idx[i] = 2 * i
	}
	before := m.Params().Values().Flatten(nil)
	step := func() {
		loss, finite, err := s.Run(ds, idx)
		if err != nil || !finite || loss <= 0 {
			t.Fatalf("loss %v, finite %v, %v", loss, finite, err)
		}
		if err := s.Update(0.1); err != nil {
			t.Fatal(err)
		}
	}
	up, down := h64.uploads, h64.downloads
	const steps = 5
	for range steps {
		step()
	}
	if u, d := h64.uploads-up, h64.downloads-down; u != 2*steps || d != steps {
		t.Errorf("%d steps: %d uploads and %d downloads, want %d and %d", steps, u, d, 2*steps, steps)
	}
	if !equal(m.Params().Values().Flatten(nil), before) {
		t.Error("the model's tensors changed before SyncParams")
	}
	if err := s.SyncParams(); err != nil {
		t.Fatal(err)
	}
	if equal(m.Params().Values().Flatten(nil), before) {
		t.Error("SyncParams did not bring the trained parameters back")
	}
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Errorf("%v allocations per step (batch writing included), want 0", a)
	}
}

// TestDeviceRefusals checks the errors of the device path: a missing set
// for the model's dtype and an optimizer without a device form.
func TestDeviceRefusals(t *testing.T) {
	dev, _, _ := testDevice(t)
	tr, _ := newRun(t, gt.Float64, "", false)
	tr.o.Device = &Device{Set32: dev.Set32}
	if _, err := tr.Run(context.Background()); err == nil {
		t.Error("a float64 model ran without Device.Set64")
	}
	tr, _ = newRun(t, gt.Float64, "", false)
	tr.o.Device = dev
	tr.opt, _ = optim.NewNormalizedGD(0.1)
	if _, err := tr.Run(context.Background()); err == nil {
		t.Error("NormalizedGD ran on the device")
	}
}

// TestDeviceDivergenceStops is TestDivergenceStops on the device: the
// finiteness check of the gradients on the set must stop the run.
func TestDeviceDivergenceStops(t *testing.T) {
	dir := t.TempDir()
	trainSet := mixture(t, 1)
	act, _ := nn.ParseActivation("relu")
	m, _ := nn.NewMLP(tensor.NewRNG(5, 0), gt.Float32, []int{2, 16, 3}, act, tensor.KaimingUniform())
	opt, _ := optim.NewSGD(optim.SGDConfig{LR: 1e30})
	dev, _, _ := testDevice(t)
	tr, err := New(m, opt, trainSet, nil, Options{Epochs: 50, BatchSize: 16, Seed: 1, Flatten: true, LogEvery: 1, Dir: dir, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(context.Background())
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
	if res.Steps >= 50*(trainSet.Len()/16) {
		t.Error("run did not stop early")
	}
}

// BenchmarkStep times one training step (loss, gradient, Adam update) of
// an MLP 784-256-10 (float32, batch 128) on the host path (GradProgram and
// a host optimizer) and on the device path over the CPU set behind a
// hidden type, whose extra costs are the batch upload, the loss download
// and the gradient finiteness reductions (OpenBLAS GEMM where the build
// has it).
func BenchmarkStep(b *testing.B) {
	openblas.Enable()
	rng := tensor.NewRNG(1, 2)
	ds := &data.Dataset{Name: "random", Shape: []int{784}, Classes: 10, X: make([]float32, 256*784), Y: make([]int, 256)}
	for i := range ds.X {
		ds.X[i] = float32(rng.NormFloat64())
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(10)
	}
	idx := make([]int, 128)
	for i := range idx {
		idx[i] = 2 * i
	}
	setup := func() (nn.Model, optim.Optimizer) {
		act, _ := nn.ParseActivation("relu")
		m, err := nn.NewMLP(tensor.NewRNG(1, 1), gt.Float32, []int{784, 256, 10}, act, tensor.HeNormal(1))
		if err != nil {
			b.Fatal(err)
		}
		opt, err := optim.NewAdam(optim.DefaultAdam())
		if err != nil {
			b.Fatal(err)
		}
		return m, opt
	}
	b.Run("host", func(b *testing.B) {
		m, opt := setup()
		gp, err := NewGradProgram(m, ds, 128, objective.CrossEntropy, true)
		if err != nil {
			b.Fatal(err)
		}
		defer gp.Close()
		params := gp.Params().Values()
		step := func() {
			_, grads, err := gp.Run(ds, idx)
			if err != nil || !grads.AllFinite() {
				b.Fatal(err)
			}
			if err := opt.Step(params, grads); err != nil {
				b.Fatal(err)
			}
		}
		step() // creates the optimizer state
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			step()
		}
	})
	b.Run("device", func(b *testing.B) {
		m, opt := setup()
		c32 := kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
		defer c32.Close()
		s, err := NewDeviceStep[float32](m, opt, ds, 128, objective.CrossEntropy, true, &hiddenSet[float32]{Set: c32})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		step := func() {
			_, finite, err := s.Run(ds, idx)
			if err != nil || !finite {
				b.Fatal(err)
			}
			if err := s.Update(1e-3); err != nil {
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

// TestDeviceMatchesHostWithBatchNorm trains a small convolutional network
// with batch norm (running statistics updated from the device program's
// batch statistics) on the host and on the device and requires identical
// metrics and parameters, running statistics included.
func TestDeviceMatchesHostWithBatchNorm(t *testing.T) {
	run := func(dir string, dev *Device) nn.Model {
		m, err := nn.NewVGG(tensor.NewRNG(1, 0), gt.Float64, nn.VGGConfig{Input: [3]int{1, 6, 6}, Classes: 2, Layers: []int{4}, BN: true})
		if err != nil {
			t.Fatal(err)
		}
		opt, err := optim.NewSGD(optim.SGDConfig{LR: 0.05, Momentum: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := New(m, opt, bnImages(24, 1), bnImages(8, 2), Options{Epochs: 2, BatchSize: 6, Seed: 3, LogEvery: 2,
			EvalEvery: 4, Dir: dir, Device: dev})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return m
	}
	dh, dd := t.TempDir(), t.TempDir()
	dev, _, h64 := testDevice(t)
	mh, md := run(dh, nil), run(dd, dev)
	if h64.uploads == 0 {
		t.Fatal("the device set was not used")
	}
	if a, b := readFile(t, filepath.Join(dh, "metrics.jsonl")), readFile(t, filepath.Join(dd, "metrics.jsonl")); a != b {
		t.Errorf("metrics differ\nhost:   %s\ndevice: %s", a, b)
	}
	if rm, ok := md.Params().ByName("features.0.bn.running_mean"); !ok || equal(tensor.List{rm.Value}.Flatten(nil), make([]float64, 4)) {
		t.Error("the running mean did not move from zero")
	}
	for i, p := range mh.Params() {
		if !equal(tensor.List{p.Value}.Flatten(nil), tensor.List{md.Params()[i].Value}.Flatten(nil)) {
			t.Errorf("parameter %s differs", p.Name)
		}
	}
}

// bnImages is a two-class set of 6×6 images whose class sets the mean.
func bnImages(n int, seed uint64) *data.Dataset {
	rng := tensor.NewRNG(seed, 5)
	ds := &data.Dataset{Name: "bn-images", Shape: []int{1, 6, 6}, Classes: 2, X: make([]float32, n*36), Y: make([]int, n)}
	for i := range ds.Y {
		ds.Y[i] = i % 2
		for j := 0; j < 36; j++ {
			ds.X[i*36+j] = float32(rng.NormFloat64() + 2*float64(ds.Y[i]))
		}
	}
	return ds
}

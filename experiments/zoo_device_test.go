package experiments

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/train"
)

// countingSet is a kernel set behind the device interface (the engine
// uploads and downloads as with CUDA) that counts its kernel launches of a
// few kinds, so that a test can tell that the device really ran.
type countingSet[T kernels.Float] struct {
	kernels.Set[T]
	n *deviceCounts
}

// deviceCounts are the stand-in devices still open and the calls into
// them: uploads and GEMMs, and Orthogonalize (only the device eigensolvers
// call it).
type deviceCounts struct{ open, calls, orth int }

func (c countingSet[T]) Gemm(tA, tB bool, m, n, k int, alpha T, a, b kernels.Buffer[T], beta T, cc kernels.Buffer[T]) error {
	c.n.calls++
	return c.Set.Gemm(tA, tB, m, n, k, alpha, a, b, beta, cc)
}

func (c countingSet[T]) Upload(dst kernels.Buffer[T], src []T) error {
	c.n.calls++
	return c.Set.Upload(dst, src)
}

func (c countingSet[T]) Orthogonalize(v kernels.Buffer[T], basis []kernels.Buffer[T]) (float64, error) {
	c.n.orth++
	return c.Set.Orthogonalize(v, basis)
}

// standInDevice opens CPU kernel sets behind the device interface,
// configured as the host engine configures its own, so that a device run
// computes what the host run computes, bit for bit. It counts the devices
// still open and the calls into them in n.
func standInDevice(n *deviceCounts) func(string) (*train.Device, func() error, error) {
	return func(string) (*train.Device, func() error, error) {
		n.open++
		c32 := kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
		c64 := kernels.NewCPU[float64](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
		return &train.Device{Set32: countingSet[float32]{c32, n}, Set64: countingSet[float64]{c64, n}}, func() error {
			n.open--
			c32.Close()
			return c64.Close()
		}, nil
	}
}

// runOnDevices runs experiment e on the CPU and on a stand-in device with
// the same settings, into dir/cpu and dir/cuda, and returns both
// summaries, both metrics files and the device's call counts.
func runOnDevices(t *testing.T, e *Experiment, sets []string, metricsFile, dir string) (cpu, dev *Summary, cpuMetrics, devMetrics string, n *deviceCounts) {
	t.Helper()
	n = &deviceCounts{}
	run := func(device string) (*Summary, string) {
		out := filepath.Join(dir, device)
		var buf bytes.Buffer
		s, err := Run(context.Background(), e, RunOptions{Out: out, Sets: append([]string{"device=" + device}, sets...),
			Stdout: &buf, OpenDevice: standInDevice(n)})
		if err != nil {
			t.Fatalf("%s: %v\n%s", device, err, buf.String())
		}
		if s.Error != "" {
			t.Fatalf("%s: %s\n%s", device, s.Error, buf.String())
		}
		if s.Device != device {
			t.Fatalf("summary device %q, want %q", s.Device, device)
		}
		b, err := os.ReadFile(filepath.Join(out, metricsFile))
		if err != nil {
			t.Fatal(err)
		}
		return s, string(b)
	}
	cpu, cpuMetrics = run("cpu")
	if n.calls != 0 {
		t.Fatalf("the CPU run called the device %d times", n.calls)
	}
	dev, devMetrics = run("cuda")
	if n.calls == 0 {
		t.Fatal("the device run never called the device's kernel sets")
	}
	t.Logf("%d uploads and GEMMs on the device", n.calls)
	if n.open != 0 {
		t.Errorf("%d stand-in devices left open", n.open)
	}
	if len(cpuMetrics) == 0 {
		t.Fatal("empty metrics file")
	}
	return cpu, dev, cpuMetrics, devMetrics, n
}

// TestZooDeviceRunsMatchCPU trains the device-capable zoo experiments (the
// batch-norm ResNet through the trainer, the character GPT through its own
// device loop, with dropout) on a stand-in device and requires the CPU
// run's metrics byte for byte and the same measured values.
func TestZooDeviceRunsMatchCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("trains each zoo experiment twice")
	}
	for _, tc := range []struct {
		exp    *Experiment
		sets   []string
		values []string
	}{
		{ZooResNet(), []string{"data.train_size=96", "data.test_size=64", "model.widths=[4,6]", "model.blocks=[1,1]",
			"train.epochs=1", "train.batch_size=16", "train.log_every=2", "train.eval_every=3", "check.min_test_acc=0"},
			[]string{"test_accuracy", "test_loss", "train_loss"}},
		{ZooGPT(), []string{"train.steps=6", "train.eval_every=3", "train.eval_batches=2", "train.warmup=2", "model.layers=1",
			"model.width=16", "model.heads=2", "model.context=12", "model.dropout=0.2", "train.batch_size=3", "sample.chars=10"},
			[]string{"val_loss", "train_loss", "sample"}},
		{ZooGPT(), []string{"model.dtype=float64", "model.tie_weights=true", "train.steps=4", "train.eval_every=2",
			"train.eval_batches=1", "model.layers=2", "model.width=8", "model.heads=2", "model.context=8", "train.batch_size=2",
			"sample.chars=10"},
			[]string{"val_loss", "train_loss", "sample"}},
	} {
		t.Run(tc.exp.Name, func(t *testing.T) {
			if !tc.exp.Device {
				t.Fatalf("%s does not opt in to devices", tc.exp.Name)
			}
			cpu, dev, a, b, _ := runOnDevices(t, tc.exp, tc.sets, "metrics.jsonl", t.TempDir())
			if a != b {
				t.Errorf("metrics differ between the CPU and the device run:\n%s\n---\n%s", a, b)
			}
			for _, k := range tc.values {
				if cpu.Values[k] != dev.Values[k] {
					t.Errorf("%s: CPU %v, device %v", k, cpu.Values[k], dev.Values[k])
				}
			}
		})
	}
}

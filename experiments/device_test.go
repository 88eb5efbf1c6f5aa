package experiments

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/train"
)

// hidden wraps a CPU kernel set so that the engine treats it as a device
// (memory it cannot alias: uploads and downloads as with CUDA).
type hidden[T kernels.Float] struct{ kernels.Set[T] }

// TestDeviceRunMatchesCPU runs a tiny mnist-mlp through --device cuda with
// a stand-in device (CPU kernel sets behind the device interface) and
// requires the same metrics, byte for byte, as the CPU run; it also checks
// the refusals: an experiment without a device path, and a build without a
// device kernel set.
func TestDeviceRunMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("trains mnist-mlp twice")
	}
	reg := Builtin()
	e, err := reg.Get("mnist-mlp")
	if err != nil {
		t.Fatal(err)
	}
	sets := []string{"data.train_size=512", "model.hidden=[16]", "train.epochs=1", "check.min_test_acc=0",
		"model.dtype=float64"}
	opened, closed := 0, 0
	open := func(name string) (*train.Device, func() error, error) {
		opened++
		c32 := kernels.NewCPU[float32](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
		c64 := kernels.NewCPU[float64](kernels.CPUOptions{BLAS: gorgonia.WhichBLAS()})
		return &train.Device{Set32: hidden[float32]{c32}, Set64: hidden[float64]{c64}}, func() error {
			closed++
			c32.Close()
			return c64.Close()
		}, nil
	}
	dir := t.TempDir()
	run := func(name string, extra ...string) string {
		out := filepath.Join(dir, name)
		var buf bytes.Buffer
		s, err := Run(context.Background(), e, RunOptions{Out: out, Sets: append(append([]string{}, sets...), extra...),
			Stdout: &buf, OpenDevice: open})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, buf.String())
		}
		if s.Device != strings.TrimPrefix(extra[0], "device=") {
			t.Fatalf("%s: summary device %q", name, s.Device)
		}
		b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cpu := run("cpu", "device=cpu")
	dev := run("cuda", "device=cuda")
	if opened != 1 || closed != 1 {
		t.Fatalf("device opened %d and closed %d times, want 1 and 1", opened, closed)
	}
	if cpu != dev || len(cpu) == 0 {
		t.Fatalf("metrics differ between the CPU and the device run:\n%s\n---\n%s", cpu, dev)
	}

	m, err := reg.Get("margin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), m, RunOptions{Out: filepath.Join(dir, "m"), Sets: []string{"device=cuda"}, OpenDevice: open}); err == nil ||
		!strings.Contains(err.Error(), "CPU only") {
		t.Errorf("margin on a device: %v", err)
	}
	if _, err := Run(context.Background(), e, RunOptions{Out: filepath.Join(dir, "n"), Sets: []string{"device=cuda"}}); err == nil ||
		!strings.Contains(err.Error(), "build-cuda") {
		t.Errorf("device without a kernel set: %v", err)
	}
}

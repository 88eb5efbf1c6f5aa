package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

func mixture(t *testing.T, seed uint64) *data.Dataset {
	t.Helper()
	ds, err := data.GaussianMixture(3, 2, 40, 3, 0.7, seed)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func newRun(t *testing.T, dt gt.Dtype, dir string, resume bool) (*Trainer, nn.Model) {
	t.Helper()
	trainSet, testSet := mixture(t, 1), mixture(t, 2)
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(5, 0), dt, []int{2, 16, 3}, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(m, opt, trainSet, testSet, Options{
		Epochs: 6, BatchSize: 16, Seed: 9, Flatten: true, LogEvery: 4, EvalEvery: 10,
		CheckpointEvery: 7, Dir: dir, Resume: resume,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr, m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSameSeedSameMetrics checks bit-for-bit determinism of the whole
// metrics file and of the final parameters.
func TestSameSeedSameMetrics(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float32, gt.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			d1, d2 := t.TempDir(), t.TempDir()
			tr1, m1 := newRun(t, dt, d1, false)
			tr2, m2 := newRun(t, dt, d2, false)
			r1, err := tr1.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr2.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			a, b := readFile(t, filepath.Join(d1, "metrics.jsonl")), readFile(t, filepath.Join(d2, "metrics.jsonl"))
			if a != b || len(a) == 0 {
				t.Fatalf("metrics differ between two runs with the same seed")
			}
			if p1, p2 := m1.Params().Values().Flatten(nil), m2.Params().Values().Flatten(nil); !equal(p1, p2) {
				t.Fatal("final parameters differ")
			}
			if r1.Test.Accuracy < 0.9 {
				t.Errorf("test accuracy %v on an easy mixture: training does not work", r1.Test.Accuracy)
			}
		})
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// interruptAfter cancels the context once the trainer has taken n steps.
type interruptAfter struct {
	n      int
	cancel context.CancelFunc
}

func (p *interruptAfter) Every() int { return 1 }
func (p *interruptAfter) Measure(step int) (map[string]float64, error) {
	if step == p.n {
		p.cancel()
	}
	return nil, nil
}

// TestInterruptAndResumeMatchUninterrupted interrupts a run at several
// points (mid-epoch, between checkpoints), resumes it, and requires the same
// metrics file and final parameters as an uninterrupted run.
func TestInterruptAndResumeMatchUninterrupted(t *testing.T) {
	ref := t.TempDir()
	trRef, mRef := newRun(t, gt.Float32, ref, false)
	if _, err := trRef.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(ref, "metrics.jsonl"))
	wantParams := mRef.Params().Values().Flatten(nil)
	for _, at := range []int{3, 7, 11, 25} {
		dir := t.TempDir()
		tr, _ := newRun(t, gt.Float32, dir, false)
		ctx, cancel := context.WithCancel(context.Background())
		tr.o.Probes = []Probe{&interruptAfter{n: at, cancel: cancel}}
		_, err := tr.Run(ctx)
		cancel()
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("interrupt at %d: got %v, want ErrInterrupted", at, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "metrics.jsonl")); err != nil {
			t.Fatalf("interrupt at %d: metrics not kept: %v", at, err)
		}
		tr2, m2 := newRun(t, gt.Float32, dir, true)
		res, err := tr2.Run(context.Background())
		if err != nil {
			t.Fatalf("resume after %d: %v", at, err)
		}
		if !res.Resumed {
			t.Error("result does not say it resumed")
		}
		if got := readFile(t, filepath.Join(dir, "metrics.jsonl")); got != want {
			t.Errorf("interrupt at %d: resumed metrics differ from the uninterrupted run\n got: %s\nwant: %s", at, got, want)
		}
		if !equal(m2.Params().Values().Flatten(nil), wantParams) {
			t.Errorf("interrupt at %d: final parameters differ", at)
		}
	}
}

func TestResumeWithoutCheckpointFails(t *testing.T) {
	tr, _ := newRun(t, gt.Float32, t.TempDir(), true)
	if _, err := tr.Run(context.Background()); err == nil {
		t.Fatal("resume from an empty directory succeeded")
	}
}

// TestDivergenceStops uses a learning rate that overflows float32 and
// requires a clear stop that keeps the metrics written so far.
func TestDivergenceStops(t *testing.T) {
	dir := t.TempDir()
	trainSet := mixture(t, 1)
	act, _ := nn.ParseActivation("relu")
	m, _ := nn.NewMLP(tensor.NewRNG(5, 0), gt.Float32, []int{2, 16, 3}, act, tensor.KaimingUniform())
	opt, _ := optim.NewSGD(optim.SGDConfig{LR: 1e30})
	tr, err := New(m, opt, trainSet, nil, Options{Epochs: 50, BatchSize: 16, Seed: 1, Flatten: true, LogEvery: 1, Dir: dir})
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
	if s := readFile(t, filepath.Join(dir, "metrics.jsonl")); len(s) == 0 {
		t.Error("metrics lost on divergence")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	ds := mixture(t, 1)
	act, _ := nn.ParseActivation("relu")
	m, _ := nn.NewMLP(tensor.NewRNG(5, 0), gt.Float32, []int{2, 3}, act, tensor.KaimingUniform())
	opt, _ := optim.NewSGD(optim.SGDConfig{LR: 0.1})
	cases := []Options{{Epochs: 0, BatchSize: 4}, {Epochs: 1, BatchSize: 0}, {Epochs: 1, BatchSize: 4, Resume: true}}
	for i, o := range cases {
		if _, err := New(m, opt, ds, nil, o); err == nil {
			t.Errorf("case %d accepted: %+v", i, o)
		}
	}
}

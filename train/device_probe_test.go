package train

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// staleProbe wraps a device probe and records, at each measurement, whether
// the model's host tensors still hold the initial parameters: a device
// measurement must not need them downloaded.
type staleProbe struct {
	DeviceProbe
	model   nn.Model
	initial []float64
	stale   int
	calls   int
}

func (s *staleProbe) Measure(step int) (map[string]float64, error) {
	s.calls++
	if equal(s.model.Params().Values().Flatten(nil), s.initial) {
		s.stale++
	}
	return s.DeviceProbe.Measure(step)
}

// probeRun trains a small MLP with SGD (momentum) on minibatches,
// with a λ₁ probe (Lanczos, warm-started, or power iteration) and a
// Hutchinson trace probe over a fixed subset of the training set, on the
// host or on dev.
func probeRun(t *testing.T, dev *Device, dir string, method curvature.EigenMethod, dt gt.Dtype) (nn.Model, *staleProbe, *staleProbe) {
	t.Helper()
	trainSet := mixture(t, 1)
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(5, 0), dt, []int{2, 8, 3}, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewSGD(optim.SGDConfig{LR: 0.2, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 30)
	for i := range idx {
		idx[i] = 3 * i
	}
	hop, err := curvature.NewHessianOperator(m, trainSet, curvature.HVPOptions{Flatten: true, Indices: idx, Chunk: 12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hop.Close() })
	sp, err := curvature.NewSharpnessProbe(hop, curvature.SharpnessOptions{Every: 5, LR: opt.LR, Method: method,
		LanczosSteps: 8, WarmStart: true, Power: curvature.PowerOptions{MaxIter: 30}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := curvature.NewTraceProbe(hop, curvature.TraceProbeOptions{Every: 10, Trace: curvature.TraceOptions{Probes: 12}, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	init := m.Params().Values().Flatten(nil)
	s1 := &staleProbe{DeviceProbe: sp, model: m, initial: init}
	s2 := &staleProbe{DeviceProbe: tp, model: m, initial: init}
	tr, err := New(m, opt, trainSet, mixture(t, 2), Options{Epochs: 3, BatchSize: 16, Seed: 2, Flatten: true,
		LogEvery: 5, EvalEvery: 10, CheckpointEvery: 1000, Dir: dir, Device: dev, Probes: []Probe{s1, s2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, s1, s2
}

// TestDeviceProbesMatchHost trains with curvature probes on the host and
// on a device (the CPU set behind a hidden type). On the device the
// probes measure from the step's resident parameters: the model's host
// tensors still hold the initial parameters at every measurement (nothing
// was downloaded for them), yet every logged value — λ₁ and its derived
// values, the trace estimate, losses and evaluations — equals the host
// run's to rounding (float64: 1e-9 relative; float32, where the device
// keeps float32 vectors and the host float64 ones: 1e-4), and the final
// parameters are the same.
func TestDeviceProbesMatchHost(t *testing.T) {
	for _, c := range []struct {
		method curvature.EigenMethod
		dt     gt.Dtype
		rel    float64
	}{
		{curvature.LanczosMethod, gt.Float64, 1e-9},
		{curvature.PowerMethod, gt.Float64, 1e-9},
		{curvature.LanczosMethod, gt.Float32, 1e-4},
	} {
		method := c.method
		t.Run(method.String()+"/"+c.dt.String(), func(t *testing.T) {
			dh, dd := t.TempDir(), t.TempDir()
			dev, h32, h64 := testDevice(t)
			mh, _, _ := probeRun(t, nil, dh, method, c.dt)
			md, s1, s2 := probeRun(t, dev, dd, method, c.dt)
			if h32.uploads+h64.uploads == 0 {
				t.Fatal("the device set was not used")
			}
			if s1.calls == 0 || s2.calls == 0 || s1.stale != s1.calls || s2.stale != s2.calls {
				t.Errorf("device measurements saw downloaded parameters: λ₁ %d of %d, trace %d of %d on stale host tensors",
					s1.stale, s1.calls, s2.stale, s2.calls)
			}
			if !equal(mh.Params().Values().Flatten(nil), md.Params().Values().Flatten(nil)) {
				t.Error("final parameters differ")
			}
			host, devRecs := readRecords(t, dh), readRecords(t, dd)
			if len(host) != len(devRecs) || len(host) == 0 {
				t.Fatalf("%d host records, %d device records", len(host), len(devRecs))
			}
			var measured int
			var worst float64
			for i, h := range host {
				d := devRecs[i]
				for k, w := range h {
					if strings.HasSuffix(k, "_seconds") {
						continue
					}
					g, ok := d[k]
					if !ok {
						t.Errorf("record %d: device lacks %q", i, k)
						continue
					}
					if k == "lambda_max" {
						measured++
					}
					tol := c.rel * math.Abs(w)
					if k == "lambda_max_residual" {
						tol = c.rel * math.Abs(h["lambda_max"])
					}
					if math.Abs(g-w) > tol {
						t.Errorf("record %d: %s device %.15g, host %.15g", i, k, g, w)
					}
					if k != "lambda_max_residual" && w != 0 {
						worst = math.Max(worst, math.Abs(g-w)/math.Abs(w))
					}
				}
			}
			t.Logf("largest relative difference of a logged value: %.2g", worst)
			if measured != s1.calls {
				t.Errorf("%d records hold λ₁, the probe measured %d times", measured, s1.calls)
			}
		})
	}
}

// readRecords reads metrics.jsonl as flat maps.
func readRecords(t *testing.T, dir string) []map[string]float64 {
	t.Helper()
	var out []map[string]float64
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(dir, "metrics.jsonl"))), "\n") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatal(err)
		}
		rec := map[string]float64{}
		for k, v := range raw {
			if x, ok := v.(float64); ok {
				rec[k] = x
			}
		}
		out = append(out, rec)
	}
	return out
}

// TestDeviceEvalAndFrozenTransfers counts the uploads of the device path
// for a model with a frozen layer (nn.TwoLayer with a fixed second
// layer): a training step uploads only its batch (the frozen layer is
// resident), and an evaluation over several batches uploads only its
// batches (the trainable parameters are read from the step's buffers, the
// frozen one is uploaded once per evaluation), with results equal bit for
// bit to a host evaluation at the trained parameters.
func TestDeviceEvalAndFrozenTransfers(t *testing.T) {
	ds, err := data.LinearRegression(40, []float32{0.5, -1, 2}, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewTwoLayer(tensor.NewRNG(2, 1), nn.TwoLayerConfig{In: 3, Width: 6, Alpha: 0.1, InitScale: 0.5, FixedSecond: true})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewSGD(optim.SGDConfig{LR: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	_, _, h64 := testDevice(t)
	s, err := NewDeviceStep[float64](m, opt, ds, 8, objective.MSE, true, h64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.frozen) != 1 {
		t.Fatalf("%d resident frozen parameters, want 1", len(s.frozen))
	}
	idx := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for step := 0; step < 3; step++ {
		up := h64.uploads
		if _, _, err := s.Run(ds, idx); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(0.05); err != nil {
			t.Fatal(err)
		}
		if u := h64.uploads - up; u != 2 {
			t.Errorf("step %d: %d uploads, want 2 (input and target)", step, u)
		}
	}
	ep, shared, err := newDeviceEvalProgram(s, m, ds, 16, objective.MSE, true, engine.Options{Set64: h64})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if !shared {
		t.Fatal("the evaluation program does not share the step's parameters")
	}
	up := h64.uploads
	got, err := ep.Run(ds, 40) // batches of 16, 16, 8
	if err != nil {
		t.Fatal(err)
	}
	if u := h64.uploads - up; u != 3+1 {
		t.Errorf("evaluation: %d uploads, want 4 (three batches, the frozen layer once)", u)
	}
	if err := s.SyncParams(); err != nil {
		t.Fatal(err)
	}
	hp, err := NewEvalProgram(m, ds, 16, objective.MSE, true)
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	want, err := hp.Run(ds, 40)
	if err != nil {
		t.Fatal(err)
	}
	if got.Loss != want.Loss || got.N != want.N {
		t.Errorf("device evaluation %+v, host %+v", got, want)
	}
}

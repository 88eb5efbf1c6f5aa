package experiments

import (
	"context"
	"math"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
)

// lmLog is one logged point of an LM run: step, mean training loss since
// the last point, validation loss.
type lmLog struct {
	step   int
	tl, vl float64
}

// gptHostVsDevice trains the character GPT of zoo-gpt-text (two blocks,
// dropout, Adam with warm-up and cosine decay) for a dozen steps on a
// synthetic token stream, with nn.TrainLM on the host and with
// a deviceLMStepper on dev (same windows, dropout masks and learning rates),
// in both dtypes, and requires every logged training and validation loss
// to agree to tol(dtype) relative.
func gptHostVsDevice(t *testing.T, dev *train.Device, tol func(gt.Dtype) float64) {
	t.Helper()
	const vocab = 11
	rng := tensor.NewRNG(7, 1)
	toks := make([]int, 3000)
	for i := 1; i < len(toks); i++ {
		toks[i] = (3*toks[i-1] + rng.IntN(3)) % vocab
	}
	trainTok, valTok := toks[:2700], toks[2700:]
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			run := func(dev *train.Device) ([]lmLog, optim.State) {
				gc := nn.GPTConfig{Vocab: vocab, Context: 16, Layers: 2, Heads: 2, Width: 16, Dropout: 0.1}
				m, err := nn.NewGPT(tensor.NewRNG(3, 0), dt, gc)
				if err != nil {
					t.Fatal(err)
				}
				opt, err := optim.NewAdam(optim.AdamConfig{LR: 3e-3, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8})
				if err != nil {
					t.Fatal(err)
				}
				cos, err := optim.Cosine(3e-3, 3e-4, 12)
				if err != nil {
					t.Fatal(err)
				}
				sched, err := optim.Warmup(cos, 3)
				if err != nil {
					t.Fatal(err)
				}
				var logs []lmLog
				_, err = trainLM(context.Background(), dev, m, opt, trainTok, valTok, nn.LMConfig{
					Steps: 12, Batch: 4, Context: 16, Seed: 5, EvalEvery: 4, EvalBatches: 2, LR: sched,
					Log: func(step int, tl, vl float64) { logs = append(logs, lmLog{step, tl, vl}) },
				})
				if err != nil {
					t.Fatal(err)
				}
				return logs, opt.State()
			}
			host, hostOpt := run(nil)
			gpu, gpuOpt := run(dev)
			// The optimizer's state after the run (moments, step count)
			// comes back from the device too.
			if hostOpt.Kind != gpuOpt.Kind || len(hostOpt.Buffers) != len(gpuOpt.Buffers) || len(hostOpt.Buffers) == 0 {
				t.Fatalf("optimizer state: host %s with %d buffers, device %s with %d", hostOpt.Kind, len(hostOpt.Buffers),
					gpuOpt.Kind, len(gpuOpt.Buffers))
			}
			for k, v := range hostOpt.Scalars {
				if gpuOpt.Scalars[k] != v {
					t.Errorf("optimizer scalar %s: host %v, device %v", k, v, gpuOpt.Scalars[k])
				}
			}
			for name, hb := range hostOpt.Buffers {
				db, ok := gpuOpt.Buffers[name]
				if !ok {
					t.Fatalf("optimizer buffer %s missing after the device run", name)
				}
				hv, dv := tensor.List{hb}.Flatten(nil), tensor.List{db}.Flatten(nil)
				var num, den float64
				for i := range hv {
					num = math.Max(num, math.Abs(hv[i]-dv[i]))
					den = math.Max(den, math.Abs(hv[i]))
				}
				if !(num <= tol(dt)*den) || den == 0 {
					t.Errorf("optimizer buffer %s: max difference %.3g of max magnitude %.3g", name, num, den)
				}
			}
			if len(host) != len(gpu) || len(host) == 0 {
				t.Fatalf("%d host points, %d device points", len(host), len(gpu))
			}
			var worst float64
			for i, h := range host {
				g := gpu[i]
				if g.step != h.step {
					t.Fatalf("point %d: step %d on the device, %d on the host", i, g.step, h.step)
				}
				for _, p := range [][2]float64{{h.tl, g.tl}, {h.vl, g.vl}} {
					d := math.Abs(p[1]-p[0]) / math.Abs(p[0])
					worst = math.Max(worst, d)
					if !(d <= tol(dt)) {
						t.Errorf("step %d: host %.12g, device %.12g (relative difference %.3g)", h.step, p[0], p[1], d)
					}
				}
			}
			t.Logf("%v: %d points, largest relative difference %.3g; last: host train %.6f val %.6f, device train %.6f val %.6f",
				dt, len(host), worst, host[len(host)-1].tl, host[len(host)-1].vl, gpu[len(gpu)-1].tl, gpu[len(gpu)-1].vl)
		})
	}
}

// TestDeviceGPTMatchesHost is gptHostVsDevice on a stand-in device (CPU
// sets behind the device interface): equal bit for bit.
func TestDeviceGPTMatchesHost(t *testing.T) {
	var n deviceCounts
	dev, closeDev, err := standInDevice(&n)("cuda")
	if err != nil {
		t.Fatal(err)
	}
	defer closeDev()
	gptHostVsDevice(t, dev, func(gt.Dtype) float64 { return 0 })
	if n.calls == 0 {
		t.Error("the device was not used")
	}
}

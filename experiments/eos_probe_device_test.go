package experiments

import (
	"context"
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
)

// eosProbeRun is the GD phase of eos on a synthetic data set (no MNIST:
// the GPU machine has none): a GELU MLP trained full-batch on the MSE
// with the eosLambdaProbe measuring λ₁ every 4 steps (adaptive Lanczos,
// every second measurement verified cold), after an initial host
// measurement, on the host (dev nil) or on dev. It returns the λ₁ records
// (initial measurement first) and the probe.
func eosProbeRun(t *testing.T, dev *train.Device, dt gt.Dtype) ([]map[string]float64, *eosLambdaProbe) {
	t.Helper()
	ds, err := data.GaussianMixture(4, 2, 12, 2, 0.6, 3)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("identity")
	mlp, err := nn.NewMLP(tensor.NewRNG(9, 0), dt, []int{2, 12, 12, 4}, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	model := eosGELUMLP{mlp}
	hop, err := curvature.NewHessianOperator(model, ds, curvature.HVPOptions{Loss: objective.MSE, Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer hop.Close()
	gd, err := optim.NewSGD(optim.SGDConfig{LR: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	p, err := newEOSLambdaProbe(hop, eosLambdaOptions{every: 4, lr: gd.LR, maxSteps: 12, minSteps: 3, tol: 1e-4, verifyEvery: 2, seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.Measure(0)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]float64
	rec := &recordProbe{p: p, out: &recs}
	recs = append(recs, first)
	tr, err := train.New(model, gd, ds, nil, train.Options{Epochs: 24, BatchSize: ds.Len(), Seed: 1, Loss: objective.MSE, Flatten: true,
		LogEvery: 1 << 30, Probes: []train.Probe{rec}, Device: dev})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.dev != nil {
		t.Error("the probe is still attached after the run")
	}
	return recs, p
}

// recordProbe passes an eosLambdaProbe through (as a train.DeviceProbe)
// and keeps every measurement.
type recordProbe struct {
	p   *eosLambdaProbe
	out *[]map[string]float64
}

func (r *recordProbe) Every() int { return r.p.Every() }

func (r *recordProbe) Measure(step int) (map[string]float64, error) {
	m, err := r.p.Measure(step)
	if err == nil {
		*r.out = append(*r.out, m)
	}
	return m, err
}

func (r *recordProbe) AttachDevice(prog *engine.Program, params gorgonia.Nodes) (func() error, error) {
	return r.p.AttachDevice(prog, params)
}

// eosProbeHostVsDevice compares eosProbeRun on the host and on dev: the
// same number of measurements, and every λ₁, derived value and cold
// reference equal to tol relative where both runs took the same number of
// Lanczos steps. Where rounding moved the adaptive rule's decision by a
// step, λ₁ may differ by about the rule's tolerance (1e-4): such records
// must agree to 1e-3 and are counted. It returns how many were.
func eosProbeHostVsDevice(t *testing.T, dev *train.Device, dt gt.Dtype, tol float64) (stepFlips int) {
	t.Helper()
	host, hp := eosProbeRun(t, nil, dt)
	devRecs, dp := eosProbeRun(t, dev, dt)
	if len(host) != len(devRecs) || len(host) < 5 {
		t.Fatalf("%d host measurements, %d device measurements", len(host), len(devRecs))
	}
	if hp.verified != dp.verified || hp.verified == 0 {
		t.Errorf("cold verifications: host %d, device %d", hp.verified, dp.verified)
	}
	var worst float64
	for i, h := range host {
		d := devRecs[i]
		limit := tol
		if h["lambda_max_iters"] != d["lambda_max_iters"] {
			stepFlips++
			limit = 1e-3
		}
		for _, k := range []string{"lambda_max", "lambda_max_cold", "probe_loss", "grad_norm", "param_norm_sq", "eta_lambda", "ngd_sharpness",
			"spherical_sharpness", "sqrt_sharpness"} {
			x, ok := h[k]
			if !ok {
				continue
			}
			y, ok := d[k]
			if !ok {
				t.Errorf("measurement %d: %s missing on the device", i, k)
				continue
			}
			rel := math.Abs(x-y) / math.Max(math.Abs(x), 1e-300)
			worst = math.Max(worst, rel)
			if !(rel <= limit) {
				t.Errorf("measurement %d: %s host %.15g, device %.15g (relative difference %.3g)", i, k, x, y, rel)
			}
		}
	}
	t.Logf("%v: %d measurements, λ₁ %.6g → %.6g; largest relative difference %.3g; %d with another Lanczos step count",
		dt, len(host), host[0]["lambda_max"], host[len(host)-1]["lambda_max"], worst, stepFlips)
	return stepFlips
}

// TestEOSProbeOnStandInDevice is eosProbeHostVsDevice on a stand-in device
// (CPU sets behind the device interface): the λ₁ measurements after the
// first run on the device (device Lanczos); they agree with the host's to
// rounding, with the same step counts.
func TestEOSProbeOnStandInDevice(t *testing.T) {
	for _, dt := range []gt.Dtype{gt.Float64, gt.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			var n deviceCounts
			dev, closeDev, err := standInDevice(&n)("cuda")
			if err != nil {
				t.Fatal(err)
			}
			defer closeDev()
			tol := 1e-9
			if dt == gt.Float32 {
				tol = 1e-4
			}
			if flips := eosProbeHostVsDevice(t, dev, dt, tol); flips != 0 {
				t.Errorf("%d measurements took another Lanczos step count on the stand-in device", flips)
			}
			if n.orth == 0 {
				t.Error("no Lanczos step ran on the device")
			}
		})
	}
}

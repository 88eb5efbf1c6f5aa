package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"gorgonia.org/tensor"
)

// referenceFile mirrors testdata/reference.json (written by gen_reference.py).
type referenceFile struct {
	TorchVersion string          `json:"torch_version"`
	Shapes       [][]int         `json:"shapes"`
	Theta0       [][]float64     `json:"theta0"`
	H            [][]float64     `json:"h"`
	C            [][]float64     `json:"c"`
	S            float64         `json:"s"`
	Steps        int             `json:"steps"`
	Cases        []referenceCase `json:"cases"`
}

type referenceCase struct {
	Name       string         `json:"name"`
	Optimizer  string         `json:"optimizer"`
	Config     map[string]any `json:"config"`
	Trajectory [][][]float64  `json:"trajectory"`
}

func loadReference(t *testing.T) referenceFile {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	mustNoErr(t, err)
	var ref referenceFile
	mustNoErr(t, json.Unmarshal(b, &ref))
	if len(ref.Cases) == 0 {
		t.Fatal("reference.json has no cases")
	}
	return ref
}

// torchOptimizer builds our optimizer from a PyTorch-style configuration,
// filling in PyTorch's defaults.
func torchOptimizer(kind string, cfg map[string]any) (Optimizer, error) {
	num := func(k string, def float64) float64 {
		if v, ok := cfg[k]; ok {
			return v.(float64)
		}
		return def
	}
	flag := func(k string) bool { v, ok := cfg[k]; return ok && v.(bool) }
	betas := func() (float64, float64) {
		if v, ok := cfg["betas"]; ok {
			b := v.([]any)
			return b[0].(float64), b[1].(float64)
		}
		return 0.9, 0.999
	}
	switch kind {
	case "sgd":
		return NewSGD(SGDConfig{LR: num("lr", 0), Momentum: num("momentum", 0), Dampening: num("dampening", 0),
			Nesterov: flag("nesterov"), WeightDecay: num("weight_decay", 0)})
	case "adam":
		b1, b2 := betas()
		return NewAdam(AdamConfig{LR: num("lr", 1e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8),
			WeightDecay: num("weight_decay", 0), AMSGrad: flag("amsgrad")})
	case "adamw":
		b1, b2 := betas()
		return NewAdamW(AdamConfig{LR: num("lr", 1e-3), Beta1: b1, Beta2: b2, Eps: num("eps", 1e-8),
			AMSGrad: flag("amsgrad")}, num("weight_decay", 1e-2))
	case "rmsprop":
		return NewRMSprop(RMSpropConfig{LR: num("lr", 1e-2), Alpha: num("alpha", 0.99), Eps: num("eps", 1e-8),
			WeightDecay: num("weight_decay", 0), Momentum: num("momentum", 0), Centered: flag("centered")})
	}
	return nil, fmt.Errorf("unknown optimizer %q", kind)
}

// refGrads writes the closed-form gradient h(θ−c) + s·sin θ into grads.
func refGrads(ref referenceFile, params, grads []*tensor.Dense) {
	for k, p := range params {
		pv := values(p)
		for i, x := range pv {
			g := ref.H[k][i]*(x-ref.C[k][i]) + ref.S*math.Sin(x)
			if grads[k].Dtype() == tensor.Float32 {
				grads[k].Float32s()[i] = float32(g)
			} else {
				grads[k].Float64s()[i] = g
			}
		}
	}
}

func TestAgainstPyTorch(t *testing.T) {
	ref := loadReference(t)
	for _, dtype := range []string{"float64", "float32"} {
		for _, tc := range ref.Cases {
			t.Run(dtype+"/"+tc.Name, func(t *testing.T) {
				opt, err := torchOptimizer(tc.Optimizer, tc.Config)
				mustNoErr(t, err)
				mk, rel, abs := f64, 1e-6, 1e-12
				if dtype == "float32" {
					// float32 arithmetic drifts from the float64 reference by a few ulps per step.
					mk, rel, abs = f32, 2e-4, 2e-5
				}
				var params, grads []*tensor.Dense
				for k, s := range ref.Shapes {
					params = append(params, mk(ref.Theta0[k], s...))
					grads = append(grads, mk(make([]float64, len(ref.Theta0[k])), s...))
				}
				if len(tc.Trajectory) != ref.Steps {
					t.Fatalf("trajectory has %d steps, want %d", len(tc.Trajectory), ref.Steps)
				}
				for step, want := range tc.Trajectory {
					refGrads(ref, params, grads)
					mustNoErr(t, opt.Step(params, grads))
					for k, p := range params {
						got := values(p)
						for i := range got {
							if !closeRel(got[i], want[k][i], rel, abs) {
								t.Fatalf("step %d, tensor %d, element %d: got %.17g, PyTorch %.17g", step+1, k, i, got[i], want[k][i])
							}
						}
					}
				}
			})
		}
	}
}

// TestReferenceExercisesAMSGrad guards the reference problem itself: with
// AMSGrad switched off, the AMSGrad cases must leave the PyTorch trajectory,
// so that the comparison above really covers the running maximum.
func TestReferenceExercisesAMSGrad(t *testing.T) {
	ref := loadReference(t)
	n := 0
	for _, tc := range ref.Cases {
		if v, ok := tc.Config["amsgrad"]; !ok || !v.(bool) {
			continue
		}
		n++
		cfg := map[string]any{}
		for k, v := range tc.Config {
			cfg[k] = v
		}
		cfg["amsgrad"] = false
		opt, err := torchOptimizer(tc.Optimizer, cfg)
		mustNoErr(t, err)
		var params, grads []*tensor.Dense
		for k, s := range ref.Shapes {
			params = append(params, f64(ref.Theta0[k], s...))
			grads = append(grads, f64(make([]float64, len(ref.Theta0[k])), s...))
		}
		maxDev := 0.0
		for _, want := range tc.Trajectory {
			refGrads(ref, params, grads)
			mustNoErr(t, opt.Step(params, grads))
			for k, p := range params {
				for i, x := range values(p) {
					maxDev = math.Max(maxDev, math.Abs(x-want[k][i]))
				}
			}
		}
		if maxDev < 1e-3 {
			t.Errorf("%s: without AMSGrad the trajectory stays within %g of the reference", tc.Name, maxDev)
		}
	}
	if n == 0 {
		t.Fatal("no AMSGrad case in reference.json")
	}
}

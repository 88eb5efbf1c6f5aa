package optim

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// optimizerCases builds one instance of every optimizer configuration whose
// State / SetState / allocation behaviour is tested.
func optimizerCases(t testing.TB) map[string]func() Optimizer {
	must := func(o Optimizer, err error) Optimizer {
		t.Helper()
		mustNoErr(t, err)
		return o
	}
	return map[string]func() Optimizer{
		"sgd": func() Optimizer { return must(NewSGD(SGDConfig{LR: 0.1})) },
		"sgd_momentum_wd": func() Optimizer {
			return must(NewSGD(SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01, DecoupledWeightDecay: 0.02}))
		},
		"sgd_nesterov": func() Optimizer { return must(NewSGD(SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true})) },
		"adam":         func() Optimizer { return must(NewAdam(DefaultAdam())) },
		"adam_amsgrad": func() Optimizer { c := DefaultAdam(); c.AMSGrad = true; c.WeightDecay = 0.1; return must(NewAdam(c)) },
		"adamw":        func() Optimizer { return must(NewAdamW(DefaultAdam(), 0.01)) },
		"rmsprop":      func() Optimizer { return must(NewRMSprop(DefaultRMSprop())) },
		"rmsprop_centered_mo": func() Optimizer {
			c := DefaultRMSprop()
			c.Centered = true
			c.Momentum = 0.9
			return must(NewRMSprop(c))
		},
		"normalized_gd":     func() Optimizer { return must(NewNormalizedGD(0.1)) },
		"sqrt_loss_gd":      func() Optimizer { return &lossFed{must(NewSqrtLossGD(0.1)).(*SqrtLossGD)} },
		"mirror_hyperbolic": func() Optimizer { return must(NewMirrorDescent(HyperbolicEntropy{Alpha: 0.5}, 0.1)) },
	}
}

// lossFed feeds SqrtLossGD a fixed positive loss before each step so it can
// run in the generic tests.
type lossFed struct{ *SqrtLossGD }

func (l *lossFed) Step(params, grads []*tensor.Dense) error {
	l.SetLoss(2.5)
	return l.SqrtLossGD.Step(params, grads)
}

func cloneAll(ts []*tensor.Dense) []*tensor.Dense {
	out := make([]*tensor.Dense, len(ts))
	for i, t := range ts {
		out[i] = cloneDense(t)
	}
	return out
}

// TestStateResume: k steps, State, a fresh optimizer with SetState and the
// original must then produce bit-identical trajectories.
func TestStateResume(t *testing.T) {
	for name, mk := range optimizerCases(t) {
		for _, dt := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
			a := mk()
			params, grads := twoTensors(dt, cfA, cfB), twoTensors(dt, cgA, cgB)
			for range 3 {
				mustNoErr(t, a.Step(params, grads))
			}
			st := a.State()
			snapshot := st.Clone()
			b := mk()
			mustNoErr(t, b.SetState(st))
			pb := cloneAll(params)
			for step := range 4 {
				mustNoErr(t, a.Step(params, grads))
				mustNoErr(t, b.Step(pb, grads))
				if !slices.Equal(flat(params), flat(pb)) {
					t.Fatalf("%s %v: resumed trajectory differs at step %d", name, params[0].Dtype(), step+1)
				}
			}
			// State must be a copy: stepping afterwards does not change it.
			for k, v := range snapshot.Buffers {
				if !slices.Equal(values(v), values(st.Buffers[k])) {
					t.Fatalf("%s: state buffer %s changed after further steps", name, k)
				}
			}
			if st.Scalars["step"] != 3 {
				t.Errorf("%s: state step %v, want 3", name, st.Scalars["step"])
			}
		}
	}
}

func TestStateKeys(t *testing.T) {
	mk := optimizerCases(t)
	want := map[string][]string{
		"sgd":                 nil,
		"sgd_momentum_wd":     {"momentum/0", "momentum/1"},
		"adam":                {"m/0", "m/1", "v/0", "v/1"},
		"adam_amsgrad":        {"m/0", "m/1", "v/0", "v/1", "vmax/0", "vmax/1"},
		"rmsprop":             {"square_avg/0", "square_avg/1"},
		"rmsprop_centered_mo": {"grad_avg/0", "grad_avg/1", "momentum/0", "momentum/1", "square_avg/0", "square_avg/1"},
	}
	for name, keys := range want {
		o := mk[name]()
		mustNoErr(t, o.Step(twoTensors(f64, cfA, cfB), twoTensors(f64, cgA, cgB)))
		var got []string
		for k, b := range o.State().Buffers {
			got = append(got, k)
			if !slices.Equal([]int(b.Shape()), []int{2, 3}) && !slices.Equal([]int(b.Shape()), []int{4}) {
				t.Errorf("%s: buffer %s has shape %v", name, k, b.Shape())
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, keys) {
			t.Errorf("%s: buffer keys %v, want %v", name, got, keys)
		}
	}
}

func TestAdamStateValues(t *testing.T) {
	// After one step from zero moments: m = (1−β₁)g, v = (1−β₂)g².
	c := AdamConfig{LR: 0.1, Beta1: 0.8, Beta2: 0.9, Eps: 1e-8}
	a, err := NewAdam(c)
	mustNoErr(t, err)
	mustNoErr(t, a.Step(twoTensors(f64, cfA, cfB), twoTensors(f64, cgA, cgB)))
	st := a.State()
	for i, g := range cgA {
		if m := st.Buffers["m/0"].Float64s()[i]; !closeRel(m, 0.2*g, 1e-15, 0) {
			t.Errorf("m/0[%d] = %g, want %g", i, m, 0.2*g)
		}
		if v := st.Buffers["v/0"].Float64s()[i]; !closeRel(v, 0.1*g*g, 1e-15, 0) {
			t.Errorf("v/0[%d] = %g, want %g", i, v, 0.1*g*g)
		}
	}
}

func TestErrorsNameParameterAndShapes(t *testing.T) {
	adam, _ := NewAdam(DefaultAdam())
	params := twoTensors(f64, cfA, cfB)
	// Gradient shape mismatch.
	bad := []*tensor.Dense{f64(cgA, 2, 3), f64(cgB[:3], 3)}
	err := adam.Step(params, bad)
	if err == nil || !strings.Contains(err.Error(), "gradient 1") || !strings.Contains(err.Error(), "(3)") || !strings.Contains(err.Error(), "(4)") {
		t.Errorf("shape mismatch: %v", err)
	}
	// Dtype mismatch.
	err = adam.Step(params, []*tensor.Dense{f32(cgA, 2, 3), f64(cgB, 4)})
	if err == nil || !strings.Contains(err.Error(), "gradient 0") || !strings.Contains(err.Error(), "float32") {
		t.Errorf("dtype mismatch: %v", err)
	}
	// Count mismatch.
	if err := adam.Step(params, params[:1]); err == nil {
		t.Error("2 parameters with 1 gradient accepted")
	}
	// Buffers created for one parameter list, then a different list.
	mustNoErr(t, adam.Step(params, twoTensors(f64, cgA, cgB)))
	other := []*tensor.Dense{f64(cfA, 3, 2), f64(cfB, 4)}
	err = adam.Step(other, []*tensor.Dense{f64(cgA, 3, 2), f64(cgB, 4)})
	if err == nil || !strings.Contains(err.Error(), "parameter 0") || !strings.Contains(err.Error(), "(2, 3)") || !strings.Contains(err.Error(), "(3, 2)") {
		t.Errorf("changed parameter shape: %v", err)
	}
	if err := adam.Step(params[:1], []*tensor.Dense{f64(cgA, 2, 3)}); err == nil {
		t.Error("changed parameter count accepted")
	}
	// Non-contiguous parameter.
	tr := f64(cfA, 2, 3)
	mustNoErr(t, tr.T())
	fresh, _ := NewAdam(DefaultAdam())
	if err := fresh.Step([]*tensor.Dense{tr}, []*tensor.Dense{f64(cgA, 3, 2)}); err == nil || !strings.Contains(err.Error(), "contiguous") {
		t.Errorf("transposed parameter: %v", err)
	}
	// Unsupported dtype.
	ints := tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2}))
	if err := fresh.Step([]*tensor.Dense{ints}, []*tensor.Dense{ints}); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("int parameter: %v", err)
	}
}

func TestSetStateErrors(t *testing.T) {
	a, _ := NewAdam(DefaultAdam())
	mustNoErr(t, a.Step(twoTensors(f64, cfA, cfB), twoTensors(f64, cgA, cgB)))
	good := a.State()
	mod := func(f func(*State)) State { s := good.Clone(); f(&s); return s }
	cases := map[string]struct {
		st   State
		want string
	}{
		"kind":           {mod(func(s *State) { s.Kind = "sgd" }), "kind"},
		"missing v":      {mod(func(s *State) { delete(s.Buffers, "v/1") }), "v/1"},
		"shape mismatch": {mod(func(s *State) { s.Buffers["v/0"] = f64(cfA, 3, 2) }), "v/0"},
		"unknown key":    {mod(func(s *State) { s.Buffers["vmax/0"] = f64(cfA, 2, 3) }), "vmax/0"},
		"bad step":       {mod(func(s *State) { s.Scalars["step"] = 1.5 }), "step"},
		"unknown scalar": {mod(func(s *State) { s.Scalars["lr"] = 1 }), "lr"},
	}
	for name, c := range cases {
		b, _ := NewAdam(DefaultAdam())
		err := b.SetState(c.st)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, c.want)
		}
	}
	// A state whose buffers do not fit the parameters is caught on Step.
	b, _ := NewAdam(DefaultAdam())
	mustNoErr(t, b.SetState(good))
	err := b.Step([]*tensor.Dense{f64(cfA, 6), f64(cfB, 4)}, []*tensor.Dense{f64(cgA, 6), f64(cgB, 4)})
	if err == nil || !strings.Contains(err.Error(), "m/0") || !strings.Contains(err.Error(), "parameter 0") {
		t.Errorf("state/parameter mismatch on step: %v", err)
	}
	// SetState with an empty state resets to a fresh optimizer.
	mustNoErr(t, b.SetState(State{Kind: "adam"}))
	fresh, _ := NewAdam(DefaultAdam())
	p1, p2 := twoTensors(f64, cfA, cfB), twoTensors(f64, cfA, cfB)
	mustNoErr(t, b.Step(p1, twoTensors(f64, cgA, cgB)))
	mustNoErr(t, fresh.Step(p2, twoTensors(f64, cgA, cgB)))
	if !slices.Equal(flat(p1), flat(p2)) {
		t.Error("reset state does not behave like a fresh optimizer")
	}
}

func TestConfigErrors(t *testing.T) {
	bad := map[string]error{}
	_, bad["sgd lr"] = NewSGD(SGDConfig{LR: -1})
	_, bad["sgd nesterov"] = NewSGD(SGDConfig{LR: 1, Nesterov: true})
	_, bad["adam beta"] = NewAdam(AdamConfig{LR: 1, Beta1: 1, Beta2: 0.9})
	_, bad["rmsprop alpha"] = NewRMSprop(RMSpropConfig{LR: 1, Alpha: 1.2})
	_, bad["normalized lr"] = NewNormalizedGD(-1)
	_, bad["mirror nil"] = NewMirrorDescent(nil, 1)
	_, bad["label sigma"] = NewLabelNoise(NoiseSign, -1, 1)
	for name, err := range bad {
		if err == nil {
			t.Errorf("%s: invalid configuration accepted", name)
		}
	}
}

func TestSetLR(t *testing.T) {
	for name, mk := range optimizerCases(t) {
		o := mk()
		o.SetLR(0.123)
		if o.LR() != 0.123 {
			t.Errorf("%s: LR() = %v after SetLR(0.123)", name, o.LR())
		}
		// lr 0 must leave the parameters unchanged (up to mirror descent's
		// ∇R⁻¹(∇R(x)) round trip).
		o.SetLR(0)
		p := twoTensors(f64, cfA, cfB)
		mustNoErr(t, o.Step(p, twoTensors(f64, cgA, cgB)))
		for i, v := range flat(p) {
			if x0 := append(append([]float64{}, cfA...), cfB...)[i]; !closeRel(v, x0, 1e-14, 0) {
				t.Errorf("%s: lr 0 moved element %d", name, i)
				break
			}
		}
	}
}

// TestStateJSONResume: the state survives a JSON round trip exactly, and a
// run resumed from the decoded state continues bit for bit.
func TestStateJSONResume(t *testing.T) {
	for name, mk := range optimizerCases(t) {
		for _, dt := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
			a := mk()
			params, grads := twoTensors(dt, cfA, cfB), twoTensors(dt, cgA, cgB)
			for range 2 {
				mustNoErr(t, a.Step(params, grads))
			}
			raw, err := json.Marshal(a.State())
			mustNoErr(t, err)
			var st State
			mustNoErr(t, json.Unmarshal(raw, &st))
			b := mk()
			mustNoErr(t, b.SetState(st))
			pb := cloneAll(params)
			for range 3 {
				mustNoErr(t, a.Step(params, grads))
				mustNoErr(t, b.Step(pb, grads))
			}
			if !slices.Equal(flat(params), flat(pb)) {
				t.Errorf("%s %v: run resumed from JSON differs", name, params[0].Dtype())
			}
		}
	}
	var st State
	if err := json.Unmarshal([]byte(`{"kind":"adam","buffers":{"m/0":{"dtype":"float64","shape":[2,2],"data":[1,2,3]}}}`), &st); err == nil {
		t.Error("buffer with 3 values for shape [2 2] accepted")
	}
}

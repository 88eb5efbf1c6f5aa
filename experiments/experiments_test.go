package experiments

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	cases := []struct {
		c    Check
		pass bool
	}{
		{AtLeast("a", 0.99, 0.98), true},
		{AtLeast("a", 0.97, 0.98), false},
		{AtLeast("a", math.NaN(), 0.98), false},
		{AtMost("b", 0.1, 0.1), true},
		{AtMost("b", math.Inf(1), 0.1), false},
		{Within("c", 2.0, 1.8, 2.2), true},
		{Within("c", 2.3, 1.8, 2.2), false},
	}
	for _, c := range cases {
		if c.c.Pass != c.pass {
			t.Errorf("%+v: pass %v, want %v", c.c, c.c.Pass, c.pass)
		}
	}
	if AllPass(nil) {
		t.Error("no checks counted as a pass")
	}
	if !AllPass([]Check{cases[0].c, cases[3].c}) || AllPass([]Check{cases[0].c, cases[1].c}) {
		t.Error("AllPass is not the conjunction")
	}
	b, err := json.Marshal(AtLeast("nan", math.NaN(), 1))
	if err != nil || !strings.Contains(string(b), `"value":null`) {
		t.Errorf("NaN check marshals as %s (%v)", b, err)
	}
}

func TestRegistry(t *testing.T) {
	r := Builtin()
	for _, e := range r.List() {
		if e.Description == "" {
			t.Errorf("%s has no description", e.Name)
		}
		if _, ok := e.Presets["full"]; !ok {
			t.Errorf("%s has no full preset", e.Name)
		}
		if _, err := e.Schema(); err != nil {
			t.Errorf("%s: schema: %v", e.Name, err)
		}
		for _, p := range e.PresetNames() {
			if _, _, err := Resolve(e, RunOptions{Preset: p}); err != nil {
				t.Errorf("%s preset %s does not resolve: %v", e.Name, p, err)
			}
		}
	}
	if _, err := r.Get("missing"); err == nil || !strings.Contains(err.Error(), "mnist-mlp") {
		t.Errorf("unknown name error does not list the experiments: %v", err)
	}
	run := func(context.Context, *Env) (*Outcome, error) { return nil, nil }
	small := map[string]map[string]any{"small": {}}
	if _, err := NewRegistry(&Experiment{Name: "x", Run: run, Presets: small}, &Experiment{Name: "x", Run: run, Presets: small}); err == nil {
		t.Error("duplicate names accepted")
	}
	if _, err := NewRegistry(&Experiment{Name: "y", Run: run}); err == nil {
		t.Error("experiment without a small preset accepted")
	}
}

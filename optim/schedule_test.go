package optim

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gorgonia.org/tensor"
)

func TestSchedules(t *testing.T) {
	step, err := StepDecay(0.1, 0.5, 10)
	mustNoErr(t, err)
	multi, err := MultiStep(1, 0.1, []int{3, 7})
	mustNoErr(t, err)
	cos, err := Cosine(1, 0.1, 100)
	mustNoErr(t, err)
	warmCos, err := Warmup(cos, 4)
	mustNoErr(t, err)
	warmConst, err := Warmup(Constant(0.2), 5)
	mustNoErr(t, err)
	noWarm, err := Warmup(Constant(0.2), 0)
	mustNoErr(t, err)
	cases := []struct {
		name string
		s    Schedule
		step int
		want float64
	}{
		{"constant", Constant(0.3), 12345, 0.3},
		{"step 0", step, 0, 0.1},
		{"step 9", step, 9, 0.1},
		{"step 10", step, 10, 0.05},
		{"step 25", step, 25, 0.025},
		{"multi 2", multi, 2, 1},
		{"multi 3", multi, 3, 0.1},
		{"multi 6", multi, 6, 0.1},
		{"multi 7", multi, 7, 0.01},
		{"multi 1000", multi, 1000, 0.01},
		{"cosine 0", cos, 0, 1},
		{"cosine 50", cos, 50, 0.55},
		{"cosine 25", cos, 25, 0.1 + 0.9*(1+math.Sqrt2/2)/2},
		{"cosine 100", cos, 100, 0.1},
		{"cosine 150", cos, 150, 0.1},
		{"warmup cosine 0", warmCos, 0, 0.25 * 1},
		{"warmup cosine 2", warmCos, 2, 0.75 * (0.1 + 0.9*(1+math.Cos(math.Pi*0.02))/2)},
		{"warmup cosine 4", warmCos, 4, 0.1 + 0.9*(1+math.Cos(math.Pi*0.04))/2},
		{"warmup const 4", warmConst, 4, 0.2},
		{"warmup const 5", warmConst, 5, 0.2},
		{"warmup const 1", warmConst, 1, 0.08},
		{"no warmup", noWarm, 0, 0.2},
	}
	for _, c := range cases {
		if got := c.s(c.step); !closeRel(got, c.want, 1e-14, 1e-16) {
			t.Errorf("%s: lr(%d) = %.17g, want %.17g", c.name, c.step, got, c.want)
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	_, e1 := StepDecay(1, 0.5, 0)
	_, e2 := MultiStep(1, 0.5, []int{5, 5})
	_, e3 := Cosine(1, 0, 0)
	_, e4 := Warmup(nil, 3)
	_, e5 := Warmup(Constant(1), -1)
	for i, err := range []error{e1, e2, e3, e4, e5} {
		if err == nil {
			t.Errorf("case %d: invalid schedule accepted", i+1)
		}
	}
	if !strings.Contains(e2.Error(), "increasing") {
		t.Errorf("multi-step error does not say why: %v", e2)
	}
}

func TestClipGlobalNorm(t *testing.T) {
	for _, mk := range []func([]float64, ...int) *tensor.Dense{f64, f32} {
		g := twoTensors(mk, cgA, cgB)
		want := floats.Norm(flat(g), 2)
		norm, err := ClipGlobalNorm(g, 1)
		mustNoErr(t, err)
		if !closeRel(norm, want, 1e-7, 0) {
			t.Errorf("norm %g, want %g", norm, want)
		}
		if after := floats.Norm(flat(g), 2); !closeRel(after, 1, 1e-6, 0) {
			t.Errorf("%v: norm after clipping %g, want 1", g[0].Dtype(), after)
		}
		// Direction preserved.
		for i, v := range flat(g) {
			if w := append(append([]float64{}, cgA...), cgB...)[i] / want; !closeRel(v, w, 1e-6, 1e-7) {
				t.Errorf("element %d: %g, want %g", i, v, w)
			}
		}
		// Below the threshold nothing changes.
		before := flat(g)
		_, err = ClipGlobalNorm(g, 10)
		mustNoErr(t, err)
		if !floats.Equal(before, flat(g)) {
			t.Error("gradient under the threshold was changed")
		}
	}
	if _, err := ClipGlobalNorm(twoTensors(f64, cgA, cgB), 0); err == nil {
		t.Error("max norm 0 accepted")
	}
}

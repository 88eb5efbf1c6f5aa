package harness

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gradlab/gradlab/engine"
)

func TestMeasureRoundRobin(t *testing.T) {
	var order []string
	mk := func(name string, d time.Duration) *Workload {
		return &Workload{Name: name, Run: func() error {
			order = append(order, name)
			time.Sleep(d)
			return nil
		}}
	}
	ws := []*Workload{mk("a", time.Millisecond), mk("b", 3*time.Millisecond)}
	st, err := Measure(ws, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	// warm-up a, b; then a, b four times; then allocation runs.
	want := []string{"a", "b", "a", "b", "a", "b", "a", "b", "a", "b"}
	for i, w := range want {
		if order[i] != w {
			t.Fatalf("run %d was %s, want %s (order %v)", i, order[i], w, order)
		}
	}
	if st[0].Reps != 4 || st[0].Wall < time.Millisecond || st[1].Wall < 3*time.Millisecond || st[1].Wall <= st[0].Wall {
		t.Fatalf("stats %+v", st)
	}
	boom := &Workload{Name: "boom", Run: func() error { return errors.New("boom") }}
	if _, err := Measure([]*Workload{boom}, 0, 1); err == nil {
		t.Fatal("a failing workload was not reported")
	}
	if _, err := Measure(ws, 0, 0); err == nil {
		t.Fatal("reps 0 accepted")
	}
}

// TestMeasureGroups checks that workloads of different groups are timed
// in alternating blocks (round-robin inside a group, never interleaved with
// another group), that every workload gets all its repetitions, and that
// Before runs before every run.
func TestMeasureGroups(t *testing.T) {
	var order []string
	befores := map[string]int{}
	mk := func(name, group string) *Workload {
		return &Workload{Name: name, Group: group,
			Before: func() { befores[name]++ },
			Run:    func() error { order = append(order, name); return nil }}
	}
	ws := []*Workload{mk("a", "x"), mk("b", "y"), mk("c", "x")}
	const warmup, reps = 1, 20
	st, err := MeasureSettled(ws, warmup, reps, 0)
	if err != nil {
		t.Fatal(err)
	}
	timed := order[warmup*len(ws) : len(order)-12*len(ws)]
	counts := map[string]int{}
	for _, n := range timed {
		counts[n]++
	}
	for _, w := range ws {
		if counts[w.Name] != reps {
			t.Errorf("%s ran %d timed times, want %d", w.Name, counts[w.Name], reps)
		}
		// Before every warm-up and timed run, and once before the
		// allocation-counting runs.
		if want := warmup + reps + 1; befores[w.Name] != want {
			t.Errorf("%s: Before ran %d times, want %d", w.Name, befores[w.Name], want)
		}
	}
	// Inside group x, a and c alternate; b runs in blocks of its own.
	var switches int
	for i := 1; i < len(timed); i++ {
		if (timed[i] == "b") != (timed[i-1] == "b") {
			switches++
		}
		if timed[i] == "a" && timed[i-1] == "a" || timed[i] == "c" && timed[i-1] == "c" {
			t.Fatalf("group x not round-robin: %v", timed)
		}
	}
	if switches != 2*10-1 {
		t.Errorf("%d switches between the groups over %v, want 19 (ten rounds)", switches, timed)
	}
	if len(st) != 3 || st[1].Reps != reps {
		t.Errorf("stats %+v", st)
	}
}

// TestMLPStepVariantsAgree runs a few training steps of each variant from
// the same initial parameters and batches: the three must follow the same
// loss trajectory (the tape and the engine compute the same graph, and
// gorgonia's AdamSolver and optim.Adam the same bias-corrected rule), so
// the benchmark compares equal work.
func TestMLPStepVariantsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three MLP programs")
	}
	var ref []float64
	for _, c := range []struct {
		name    string
		backend engine.Backend
		step    Step
	}{{"gorgonia", engine.Tape, GorgoniaAdam}, {"tape", engine.Tape, GradlabAdam}, {"native", engine.Native, GradlabAdam}} {
		w, err := NewMLPStep(c.name, c.backend, c.step)
		if err != nil {
			t.Fatal(err)
		}
		var losses []float64
		for range 4 {
			if err := w.Run(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			losses = append(losses, w.Loss())
		}
		if ref == nil {
			ref = losses
		}
		for i, l := range losses {
			if math.Abs(l-ref[i]) > 1e-4*math.Abs(ref[i]) {
				t.Errorf("%s: loss at step %d is %v, gorgonia's step gives %v", c.name, i, l, ref[i])
			}
		}

		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestBenchWritesTableAndJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds eleven MLP programs")
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	stdout, _, err := run(t, "bench", "--reps", "2", "--warmup", "5", "--peer", "off", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"step", "gorgonia", "engine", "hvp", ") ÷ engine = ", "hvp ÷ grad (engine)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Rows []benchRow `json:"rows"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	want := 11 // step ×6, grad ×4, hvp: see benchGradlab
	if runtime.GOMAXPROCS(0) == 1 {
		want = 6
	}
	if len(res.Rows) != want {
		t.Fatalf("%d rows, want %d: %+v", len(res.Rows), want, res.Rows)
	}
	for _, r := range res.Rows {
		if !(r.WallMs > 0) {
			t.Errorf("row %+v has no time", r)
		}
		// The engine's step and gradient allocate nothing in steady state
		// (engine and optim test that exactly); here a stray runtime
		// allocation over the ten counted runs is tolerated. (The first
		// runs after start-up are warm-up: the runtime fills its caches of
		// channel-wait records as the kernel set's workers first sleep.)
		if strings.HasPrefix(r.Impl, "engine") && r.Workload != "hvp" && r.Allocs >= 1 {
			t.Errorf("engine %s allocates %v times per run", r.Workload, r.Allocs)
		}
		if strings.HasPrefix(r.Impl, "gorgonia") && r.Allocs < 100 {
			t.Errorf("gorgonia's step allocates only %v times per run: is it the TapeMachine?", r.Allocs)
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"bench", "--reps", "0"}, {"bench", "--peer", "maybe"}, {"bench", "--warmup", "-1"}} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestBenchRatioUsesTheFasterBaseline(t *testing.T) {
	rows := []benchRow{
		{Workload: "step", Impl: "tape", WallMs: 6}, {Workload: "step", Impl: "tape-1", WallMs: 8},
		{Workload: "step", Impl: "engine", WallMs: 3}, {Workload: "grad", Impl: "tape", WallMs: 1},
		{Workload: "grad", Impl: "tape-1", WallMs: 4}, {Workload: "grad", Impl: "engine", WallMs: 2},
	}
	for _, c := range []struct {
		wl, base string
		want     float64
	}{{"step", "tape", 2}, {"grad", "tape", 0.5}} {
		r, base, ok := benchRatio(rows, c.wl, "tape", "engine")
		if !ok || r != c.want || base != c.base {
			t.Errorf("%s: ratio %v (base %s, ok %v), want %v over %s", c.wl, r, base, ok, c.want, c.base)
		}
	}
	rows[1].WallMs = 5 // the single-threaded baseline is now the faster one
	if r, base, _ := benchRatio(rows, "step", "tape", "engine"); base != "tape-1" || r != 5.0/3 {
		t.Errorf("ratio %v over %s, want %v over tape-1", r, base, 5.0/3)
	}
	if _, _, ok := benchRatio(rows, "hvp", "tape", "engine"); ok {
		t.Error("a ratio for a workload with no rows")
	}
}

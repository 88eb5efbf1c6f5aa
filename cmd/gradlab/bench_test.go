package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchWritesTableAndJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds six MLP programs")
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	stdout, _, err := run(t, "bench", "--reps", "1", "--warmup", "0", "--peer", "off", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"step", "gorgonia", "engine", "hvp", "gorgonia ÷ engine", "hvp ÷ grad (engine)"} {
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
	if len(res.Rows) != 6 {
		t.Fatalf("%d rows, want 6: %+v", len(res.Rows), res.Rows)
	}
	for _, r := range res.Rows {
		if !(r.WallMs > 0) {
			t.Errorf("row %+v has no time", r)
		}
		// The engine's step and gradient allocate nothing in steady state
		// (engine and optim test that exactly); here a stray runtime
		// allocation over the five counted runs is tolerated.
		if r.Impl == "engine" && r.Workload != "hvp" && r.Allocs >= 1 {
			t.Errorf("engine %s allocates %v times per run", r.Workload, r.Allocs)
		}
		if r.Impl == "gorgonia" && r.Allocs < 100 {
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

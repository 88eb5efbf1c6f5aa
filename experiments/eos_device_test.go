package experiments

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readJSONL parses a metrics file into one map per record.
func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestEOSDeviceMatchesCPU runs the eos experiment on a tiny float64
// configuration on the CPU and on a stand-in device (CPU kernel sets behind
// the device interface). The GD phase trains on the device with its λ₁
// probe there (device Lanczos with the probe's stopping rule, cold
// verification runs included); the toy and the normalized-GD phase run on
// the host. The training losses must be equal bit for bit (the same
// kernels), the Lanczos step counts equal, and every λ₁ value and derived
// quantity of both phases equal to rounding (1e-9 relative: the device
// Lanczos orthogonalises and reduces in another order than the host's).
func TestEOSDeviceMatchesCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST and runs eos twice")
	}
	sets := []string{"model.dtype=float64", "toy.etas=0.2", "toy.time=1", "data.train_size=64", "model.hidden=8",
		"gd.steps=30", "ngd.steps=10", "probe.every=5", "ngd.probe_every=5", "probe.lanczos_steps=8",
		"probe.min_lanczos_steps=3", "probe.verify_every=2"}
	e := EOS()
	if !e.Device {
		t.Fatal("eos does not opt in to devices")
	}
	dir := t.TempDir()
	cpu, dev, _, _, n := runOnDevices(t, e, sets, "metrics.jsonl", dir)
	if n.orth == 0 {
		t.Error("no Lanczos step ran on the device")
	}
	for _, k := range []string{"gd_probe_cold_checks", "gd_probe_mean_lanczos_steps", "ngd_probe_cold_checks"} {
		if cpu.Values[k] != dev.Values[k] || cpu.Values[k] == nil {
			t.Errorf("%s: CPU %v, device %v", k, cpu.Values[k], dev.Values[k])
		}
	}
	cpuDir, devDir := filepath.Join(dir, "cpu"), filepath.Join(dir, "cuda")
	const tol = 1e-9
	exact := []string{"step", "epoch", "loss", "lambda_max_iters"}
	for _, file := range []string{"metrics.jsonl", "ngd/metrics.jsonl"} {
		a, b := readJSONL(t, filepath.Join(cpuDir, file)), readJSONL(t, filepath.Join(devDir, file))
		if len(a) != len(b) {
			t.Fatalf("%s: %d CPU records, %d device records", file, len(a), len(b))
		}
		probes, worst := 0, 0.0
		for i, ra := range a {
			rb := b[i]
			if len(ra) != len(rb) {
				t.Errorf("%s record %d: keys differ: %v vs %v", file, i, ra, rb)
				continue
			}
			lambda, _ := ra["lambda_max"].(float64)
			if _, ok := ra["lambda_max"]; ok {
				probes++
			}
			for k, va := range ra {
				x, ok := va.(float64)
				if !ok || strings.HasSuffix(k, "_seconds") {
					continue
				}
				y, ok := rb[k].(float64)
				if !ok {
					t.Errorf("%s record %d: %s missing on the device", file, i, k)
					continue
				}
				if slices.Contains(exact, k) {
					if x != y {
						t.Errorf("%s record %d: %s CPU %v, device %v (want equal)", file, i, k, x, y)
					}
					continue
				}
				// Scales: λ₁ for its residual bound; 1 for the relative
				// difference to the cold reference (itself a ratio).
				scale := math.Max(math.Abs(x), math.Abs(y))
				switch k {
				case "lambda_max_residual":
					scale = math.Abs(lambda)
				case "lambda_max_cold_rel_diff":
					scale = 1
				}
				d := math.Abs(x - y)
				if scale > 0 {
					worst = math.Max(worst, d/scale)
				}
				if !(d <= tol*scale) {
					t.Errorf("%s record %d (step %v): %s CPU %.15g, device %.15g", file, i, ra["step"], k, x, y)
				}
			}
		}
		if probes == 0 {
			t.Errorf("%s: no λ₁ records", file)
		}
		t.Logf("%s: %d records, %d with λ₁; largest scaled difference %.3g", file, len(a), probes, worst)
	}
}

package checkpoint

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func smallTensors() map[string]*tensor.Dense {
	return map[string]*tensor.Dense{
		"w": tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{1, 2, 3, 4})),
		"v": tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{0.5, -0.5, 1e-300})),
	}
}

func mustSave(t *testing.T, root string, step int) {
	t.Helper()
	if err := Save(root, step, smallTensors(), State{Step: step}); err != nil {
		t.Fatal(err)
	}
}

func listSteps(t *testing.T, root string) []int {
	t.Helper()
	cks, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, c := range cks {
		steps = append(steps, c.Step)
	}
	return steps
}

func tempEntries(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A saved checkpoint loads back bit for bit, with the trainer state, and
// a generator restored from the state continues the same sequence.
func TestSaveLoadRoundTrip(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run", "ckpt") // parents are created
	ts := randomTensors(7)
	pcg := rand.NewPCG(11, 12)
	rng := rand.New(pcg)
	for range 5 {
		rng.Uint64()
	}
	rngState, err := pcg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	st := State{
		Step: 1200, Epoch: 3,
		Batcher:    json.RawMessage(`{"perm_seed":9,"pos":17}`),
		RNG:        rngState,
		Optimizer:  map[string]float64{"lr": 0.05, "beta1_pow": 0.9 * 0.9},
		ConfigHash: "abc123",
		Extra:      json.RawMessage(`{"note":"anything"}`),
	}
	if err := Save(root, 1200, ts, st); err != nil {
		t.Fatal(err)
	}
	dir, ok, err := Latest(root)
	if err != nil || !ok || dir != Dir(root, 1200) {
		t.Fatalf("Latest = %q, %v, %v; want %q", dir, ok, err, Dir(root, 1200))
	}
	got, raw, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, got, ts)

	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Step != st.Step || back.Epoch != st.Epoch || back.ConfigHash != st.ConfigHash ||
		back.Optimizer["lr"] != st.Optimizer["lr"] || back.Optimizer["beta1_pow"] != st.Optimizer["beta1_pow"] {
		t.Errorf("state %+v, want %+v", back, st)
	}
	for _, pair := range [][2]json.RawMessage{{back.Batcher, st.Batcher}, {back.Extra, st.Extra}} {
		var a, b any
		if err := json.Unmarshal(pair[0], &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(pair[1], &b); err != nil {
			t.Fatal(err)
		}
		if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
			t.Errorf("raw state field %s, want %s", pair[0], pair[1])
		}
	}
	restored := &rand.PCG{}
	if err := restored.UnmarshalBinary(back.RNG); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if a, b := rng.Uint64(), rand.New(restored).Uint64(); a != b {
			t.Fatalf("draw %d after restore: %d, want %d", i, b, a)
		}
	}
	if tmp := tempEntries(t, root); len(tmp) != 0 {
		t.Errorf("temporary entries left: %v", tmp)
	}
}

func TestSaveReplacesSameStep(t *testing.T) {
	root := t.TempDir()
	mustSave(t, root, 5)
	other := map[string]*tensor.Dense{"x": tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{42}))}
	if err := Save(root, 5, other, map[string]int{"step": 5, "version": 2}); err != nil {
		t.Fatal(err)
	}
	got, raw, err := Load(Dir(root, 5))
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, got, other)
	if !strings.Contains(string(raw), `"version": 2`) {
		t.Errorf("state %s is not the replacement", raw)
	}
	if tmp := tempEntries(t, root); len(tmp) != 0 {
		t.Errorf("temporary entries left: %v", tmp)
	}
}

// A failing Save leaves neither a checkpoint nor a temporary directory.
func TestSaveFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		run  func(root string) error
	}{
		{"bad tensor", func(root string) error {
			return Save(root, 3, map[string]*tensor.Dense{"i": tensor.New(tensor.WithShape(1), tensor.WithBacking([]int{1}))}, State{})
		}},
		{"bad state", func(root string) error { return Save(root, 3, smallTensors(), make(chan int)) }},
		{"failure before rename", func(root string) error {
			return save(root, 3, smallTensors(), State{}, func(string) error { return errors.New("injected") })
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mustSave(t, root, 1)
			if err := tc.run(root); err == nil {
				t.Fatal("no error")
			}
			if steps := listSteps(t, root); !slices.Equal(steps, []int{1}) {
				t.Errorf("checkpoints %v, want [1]", steps)
			}
			if tmp := tempEntries(t, root); len(tmp) != 0 {
				t.Errorf("temporary entries left: %v", tmp)
			}
		})
	}
}

// TestCrashHelper is the child process of TestCrashDuringSave: it dies
// after writing a checkpoint's files and before the rename.
func TestCrashHelper(t *testing.T) {
	root := os.Getenv("GRADLAB_CKPT_CRASH_ROOT")
	if root == "" {
		t.Skip("helper process only")
	}
	save(root, 9, smallTensors(), State{Step: 9}, func(string) error {
		os.Exit(3)
		return nil
	})
	t.Fatal("survived the crash point")
}

// A process killed in the middle of Save leaves the previous checkpoint as
// the latest; the half-written one stays invisible until RemoveTemp.
func TestCrashDuringSave(t *testing.T) {
	root := t.TempDir()
	mustSave(t, root, 4)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
	cmd.Env = append(os.Environ(), "GRADLAB_CKPT_CRASH_ROOT="+root)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("helper: %v, want exit status 3", err)
	}
	if len(tempEntries(t, root)) != 1 {
		t.Fatalf("want the crashed save's temporary directory, got %v", tempEntries(t, root))
	}
	dir, ok, err := Latest(root)
	if err != nil || !ok || dir != Dir(root, 4) {
		t.Fatalf("Latest = %q, %v, %v; want %q", dir, ok, err, Dir(root, 4))
	}
	if err := RemoveTemp(root); err != nil {
		t.Fatal(err)
	}
	if tmp := tempEntries(t, root); len(tmp) != 0 {
		t.Errorf("RemoveTemp left %v", tmp)
	}
	if steps := listSteps(t, root); !slices.Equal(steps, []int{4}) {
		t.Errorf("checkpoints %v, want [4]", steps)
	}
}

func TestListIgnoresNonCheckpoints(t *testing.T) {
	root := t.TempDir()
	mustSave(t, root, 2)
	mustSave(t, root, 10)
	// A temporary directory with complete files, as a crash leaves it.
	if err := os.Rename(Dir(root, 10), filepath.Join(root, ".tmp-step-99-123")); err != nil {
		t.Fatal(err)
	}
	mustSave(t, root, 10)
	for _, name := range []string{"step-007", "step-x", "step-", "step--1", "stepper-3", "step-99999999999999999999999"} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{WeightsFile, StateFile} {
			if err := os.WriteFile(filepath.Join(root, name, f), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Incomplete: a step directory missing its state.
	if err := os.MkdirAll(filepath.Join(root, "step-50"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "step-50", WeightsFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A plain file with a checkpoint's name.
	if err := os.WriteFile(filepath.Join(root, "step-60"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if steps := listSteps(t, root); !slices.Equal(steps, []int{2, 10}) {
		t.Errorf("checkpoints %v, want [2 10]", steps)
	}
	dir, ok, err := Latest(root)
	if err != nil || !ok || dir != Dir(root, 10) {
		t.Errorf("Latest = %q, %v, %v; want %q", dir, ok, err, Dir(root, 10))
	}
}

func TestLatestMissingRoot(t *testing.T) {
	dir, ok, err := Latest(filepath.Join(t.TempDir(), "absent"))
	if dir != "" || ok || err != nil {
		t.Errorf("Latest = %q, %v, %v; want none", dir, ok, err)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		steps []int
		keep  int
		want  []int
	}{
		// Name order would keep step-9 and step-20; numeric order keeps 20 and 100.
		{[]int{9, 10, 100, 20}, 2, []int{20, 100}},
		{[]int{3, 1, 2}, 1, []int{3}},
		{[]int{5, 6}, 3, []int{5, 6}},
		{nil, 2, nil},
	}
	for _, tc := range tests {
		root := t.TempDir()
		for _, s := range tc.steps {
			mustSave(t, root, s)
		}
		if err := Prune(root, tc.keep); err != nil {
			t.Fatal(err)
		}
		if got := listSteps(t, root); !slices.Equal(got, tc.want) {
			t.Errorf("Prune(%v, %d) left %v, want %v", tc.steps, tc.keep, got, tc.want)
		}
		if tmp := tempEntries(t, root); len(tmp) != 0 {
			t.Errorf("temporary entries left: %v", tmp)
		}
	}
	if err := Prune(t.TempDir(), 0); err == nil {
		t.Error("Prune with keep=0 did not fail")
	}
}

func TestLoadErrors(t *testing.T) {
	root := t.TempDir()
	mustSave(t, root, 1)
	dir := Dir(root, 1)
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Errorf("corrupt state: error %v", err)
	}
	if _, _, err := Load(filepath.Join(root, "step-2")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing checkpoint: error %v", err)
	}
}

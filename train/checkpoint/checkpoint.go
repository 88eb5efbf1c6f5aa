package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gorgonia.org/tensor"
)

const (
	// WeightsFile is the name of the tensor file inside a checkpoint.
	WeightsFile = "weights.safetensors"
	// StateFile is the name of the trainer-state file inside a checkpoint.
	StateFile = "state.json"

	stepPrefix = "step-"
	tempPrefix = ".tmp-"
)

// State is the usual content of state.json. Save accepts any
// JSON-encodable value; this type only fixes names for the common fields.
type State struct {
	Step  int `json:"step"`
	Epoch int `json:"epoch"`
	// Batcher is the data loader's position (its own JSON).
	Batcher json.RawMessage `json:"batcher,omitempty"`
	// RNG is the binary state of the trainer's generator, e.g. from
	// (*rand.PCG).MarshalBinary; encoding/json stores it as base64.
	RNG []byte `json:"rng,omitempty"`
	// Optimizer holds scalar optimizer state (step counts, bias
	// corrections, the current learning rate). Values must be finite.
	Optimizer map[string]float64 `json:"optimizer,omitempty"`
	// ConfigHash identifies the resolved configuration the run used.
	ConfigHash string `json:"config_hash,omitempty"`
	// Extra is free-form JSON owned by the caller.
	Extra json.RawMessage `json:"extra,omitempty"`
}

// Checkpoint names one complete checkpoint directory.
type Checkpoint struct {
	Step int
	Dir  string
}

// Dir returns the directory of the checkpoint for step under root.
func Dir(root string, step int) string {
	return filepath.Join(root, stepPrefix+strconv.Itoa(step))
}

// Save writes the checkpoint root/step-<step>/ with tensors in
// weights.safetensors and state encoded as JSON in state.json. The
// directory appears atomically: files are written and fsynced in a
// temporary directory inside root, which is then renamed into place, and
// root is fsynced. An existing checkpoint for the same step is replaced.
// root is created if needed.
func Save(root string, step int, tensors map[string]*tensor.Dense, state any) error {
	return save(root, step, tensors, state, nil)
}

// save is Save with a hook run after both files are complete in the
// temporary directory and before it is renamed (used by tests to simulate
// failures and crashes at that point).
func save(root string, step int, tensors map[string]*tensor.Dense, state any, beforeRename func(tmp string) error) (err error) {
	if step < 0 {
		return fmt.Errorf("checkpoint: save: negative step %d", step)
	}
	stateJSON, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: save step %d: encode state: %w", step, err)
	}
	stateJSON = append(stateJSON, '\n')
	if err := mkdirAllSync(root); err != nil {
		return fmt.Errorf("checkpoint: save step %d: %w", step, err)
	}
	tmp, err := os.MkdirTemp(root, tempPrefix+stepPrefix+strconv.Itoa(step)+"-")
	if err != nil {
		return fmt.Errorf("checkpoint: save step %d: %w", step, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()

	wrap := func(e error) error { return fmt.Errorf("checkpoint: save step %d: %w", step, e) }
	if err := writeFileSync(filepath.Join(tmp, WeightsFile), func(f *os.File) error {
		return WriteSafetensors(f, tensors)
	}); err != nil {
		return wrap(err)
	}
	if err := writeFileSync(filepath.Join(tmp, StateFile), func(f *os.File) error {
		_, err := f.Write(stateJSON)
		return err
	}); err != nil {
		return wrap(err)
	}
	if err := syncDir(tmp); err != nil {
		return wrap(err)
	}
	if beforeRename != nil {
		if err := beforeRename(tmp); err != nil {
			return wrap(err)
		}
	}

	final := Dir(root, step)
	var old string
	if _, err := os.Lstat(final); err == nil {
		// rename(2) cannot replace a non-empty directory: move the old one
		// aside under a temporary name first.
		old, err = reserveTempName(root, "old-"+strconv.Itoa(step))
		if err != nil {
			return wrap(err)
		}
		if err := os.Rename(final, old); err != nil {
			return wrap(err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return wrap(err)
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final) // put the replaced checkpoint back
		}
		return wrap(err)
	}
	if err := syncDir(root); err != nil {
		return wrap(err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return wrap(fmt.Errorf("remove replaced checkpoint: %w", err))
		}
	}
	return nil
}

// Load reads the checkpoint in dir (a step-<N> directory): its tensors and
// the raw JSON of its state.
func Load(dir string) (map[string]*tensor.Dense, json.RawMessage, error) {
	ts, err := ReadSafetensorsFile(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: load: %w", err)
	}
	statePath := filepath.Join(dir, StateFile)
	raw, err := os.ReadFile(statePath)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: load: %w", err)
	}
	if !json.Valid(raw) {
		return nil, nil, fmt.Errorf("checkpoint: load: %s is not valid JSON", statePath)
	}
	return ts, json.RawMessage(raw), nil
}

// parseStepName returns N for a directory named exactly "step-N" (N a
// non-negative decimal integer without leading zeros).
func parseStepName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, stepPrefix)
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// List returns the complete checkpoints under root in increasing step
// order. A complete checkpoint is a directory named step-<N> holding both
// WeightsFile and StateFile as regular files; temporary directories and
// anything else are ignored. A missing root yields no checkpoints and no
// error.
func List(root string) ([]Checkpoint, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list: %w", err)
	}
	var out []Checkpoint
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		step, ok := parseStepName(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if !isRegular(filepath.Join(dir, WeightsFile)) || !isRegular(filepath.Join(dir, StateFile)) {
			continue
		}
		out = append(out, Checkpoint{Step: step, Dir: dir})
	}
	slices.SortFunc(out, func(a, b Checkpoint) int { return a.Step - b.Step })
	return out, nil
}

func isRegular(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode().IsRegular()
}

// Latest returns the directory of the complete checkpoint with the largest
// step under root; ok is false when there is none.
func Latest(root string) (dir string, ok bool, err error) {
	cks, err := List(root)
	if err != nil || len(cks) == 0 {
		return "", false, err
	}
	return cks[len(cks)-1].Dir, true, nil
}

// Prune deletes all but the keep checkpoints with the largest step numbers
// (numeric order, so step-100 is newer than step-20). Each deleted
// checkpoint is first renamed to a temporary name so that it disappears
// from List at once. keep must be at least 1.
func Prune(root string, keep int) error {
	if keep < 1 {
		return fmt.Errorf("checkpoint: prune: keep must be at least 1, got %d", keep)
	}
	cks, err := List(root)
	if err != nil {
		return fmt.Errorf("checkpoint: prune: %w", err)
	}
	if len(cks) <= keep {
		return nil
	}
	var doomed []string
	for _, c := range cks[:len(cks)-keep] {
		tmp, err := reserveTempName(root, "prune-"+strconv.Itoa(c.Step))
		if err != nil {
			return fmt.Errorf("checkpoint: prune: %w", err)
		}
		if err := os.Rename(c.Dir, tmp); err != nil {
			return fmt.Errorf("checkpoint: prune: %w", err)
		}
		doomed = append(doomed, tmp)
	}
	if err := syncDir(root); err != nil {
		return fmt.Errorf("checkpoint: prune: %w", err)
	}
	for _, d := range doomed {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("checkpoint: prune: %w", err)
		}
	}
	return nil
}

// RemoveTemp deletes temporary directories left under root by interrupted
// Save or Prune calls. Call it only while no Save or Prune on root is in
// progress (for example when a run starts).
func RemoveTemp(root string) error {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: remove temp: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				return fmt.Errorf("checkpoint: remove temp: %w", err)
			}
		}
	}
	return nil
}

// reserveTempName returns an unused temporary path inside root. The
// directory is created by MkdirTemp to claim the name and removed again,
// so that a rename onto the path succeeds.
func reserveTempName(root, tag string) (string, error) {
	p, err := os.MkdirTemp(root, tempPrefix+tag+"-")
	if err != nil {
		return "", err
	}
	if err := os.Remove(p); err != nil {
		return "", err
	}
	return p, nil
}

// writeFileSync creates path, lets write fill it, then fsyncs and closes it.
func writeFileSync(path string, write func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that renames and creations in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return d.Close()
}

// mkdirAllSync creates dir (and parents) if missing and fsyncs the parent
// of each directory it creates.
func mkdirAllSync(dir string) error {
	dir = filepath.Clean(dir)
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

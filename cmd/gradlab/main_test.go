package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gradlab/gradlab/train"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := newRootCmd(&out, &errb, nil)
	c.SetArgs(args)
	err := c.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestListShowsExperiments(t *testing.T) {
	out, _, err := run(t, "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "mnist-mlp") {
		t.Errorf("list output lacks mnist-mlp:\n%s", out)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want []string // substrings of the error
	}{
		{"unknown experiment", []string{"run", "nope"}, []string{"nope", "mnist-mlp"}},
		{"unknown key", []string{"run", "mnist-mlp", "--set", "train.epoch=3"}, []string{"train.epoch", "train.epochs"}},
		{"wrong type", []string{"run", "mnist-mlp", "--set", "train.epochs=three"}, []string{"train.epochs", "three"}},
		{"unknown preset", []string{"run", "mnist-mlp", "--preset", "huge"}, []string{"huge", "small"}},
		{"bad device", []string{"run", "mnist-mlp", "--device", "tpu"}, []string{"tpu"}},
		{"missing config file", []string{"run", "mnist-mlp", "--config", "/nonexistent/x.yaml"}, []string{"/nonexistent/x.yaml"}},
		{"resume without out", []string{"run", "mnist-mlp", "--resume"}, []string{"--out"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRunWritesRunDirectory runs a tiny mnist-mlp end to end and checks the
// run-directory contract.
func TestRunWritesRunDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dir := filepath.Join(t.TempDir(), "run")
	out, _, err := run(t, "run", "mnist-mlp", "--out", dir,
		"--set", "data.train_size=1024", "--set", "model.hidden=[32]", "--set", "train.epochs=2",
		"--set", "train.batch_size=64", "--set", "check.min_test_acc=0.5")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "verdict") {
		t.Errorf("no verdict table printed:\n%s", out)
	}
	for _, f := range []string{"config.yaml", "metrics.jsonl", "summary.json", "summary.csv"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	var s struct {
		Experiment  string   `json:"experiment"`
		Preset      string   `json:"preset"`
		Seed        int      `json:"seed"`
		Device      string   `json:"device"`
		WallSeconds *float64 `json:"wall_seconds"`
		Checks      []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
			Want  string  `json:"want"`
			Pass  bool    `json:"pass"`
		} `json:"checks"`
		Pass bool `json:"pass"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Experiment != "mnist-mlp" || s.Preset != "small" || s.Seed != 1 || s.Device != "cpu" || s.WallSeconds == nil || len(s.Checks) != 1 {
		t.Fatalf("summary.json does not follow the contract: %s", b)
	}
	c := s.Checks[0]
	if c.Value < 0.5 || !c.Pass || !s.Pass {
		t.Errorf("a 1,024-image MLP should pass a 50%% accuracy bar: %s", b)
	}
	plots, _ := filepath.Glob(filepath.Join(dir, "plots", "*.png"))
	if len(plots) == 0 {
		t.Error("no plots written")
	}
	// A second run into the same finished directory is refused.
	if _, _, err := run(t, "run", "mnist-mlp", "--out", dir); err == nil {
		t.Error("reusing a finished run directory was accepted")
	}
}

// TestInterruptThenResumeMatchesUninterrupted interrupts a CLI run (as
// Ctrl-C does, through the command's context), resumes it with --resume, and
// requires the metrics of an uninterrupted run with the same seed.
func TestInterruptThenResumeMatchesUninterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	base := t.TempDir()
	args := func(dir string) []string {
		return []string{"run", "mnist-mlp", "--out", dir, "--set", "data.train_size=1024", "--set", "model.hidden=[64]",
			"--set", "train.epochs=10", "--set", "train.batch_size=64", "--set", "train.log_every=1",
			"--set", "train.checkpoint_every=5", "--set", "check.min_test_acc=0.5"}
	}
	ref := filepath.Join(base, "ref")
	if _, _, err := run(t, args(ref)...); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(ref, "metrics.jsonl"))

	dir := filepath.Join(base, "interrupted")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); err == nil && bytes.Count(b, []byte("\n")) >= 40 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var out, errb bytes.Buffer
	c := newRootCmd(&out, &errb, nil)
	c.SetArgs(args(dir))
	err := c.ExecuteContext(ctx)
	if !errors.Is(err, train.ErrInterrupted) {
		t.Fatalf("got %v, want an interruption (the run may have finished before the cancel)", err)
	}
	var s struct{ Error string }
	b, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if json.Unmarshal(b, &s) != nil || !strings.Contains(s.Error, "interrupted") {
		t.Errorf("summary.json of the interrupted run does not record the interruption: %s", b)
	}
	if _, _, err := run(t, append(args(dir), "--resume")...); err != nil {
		t.Fatalf("resume: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if !bytes.Equal(got, want) || len(want) == 0 {
		t.Errorf("resumed metrics differ from the uninterrupted run")
	}
}

func TestCheckCommand(t *testing.T) {
	out, _, err := run(t, "check", "softmax", "mlp")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "softmax-cross-entropy") || !strings.Contains(out, "0 failed") {
		t.Errorf("unexpected table:\n%s", out)
	}
	if _, _, err := run(t, "check", "no-such-op"); err == nil {
		t.Error("a filter matching nothing succeeded")
	}
}

// Package peer runs the PyTorch side of gradlab's side-by-side
// benchmarks: the Python scripts of this folder, embedded in the binary so
// that `gradlab bench` works from any directory, run with a Python that can
// import torch (Debian's python3-torch).
package peer

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed *.py
var scripts embed.FS

// ErrNoTorch is returned when no Python interpreter that imports torch is
// found.
var ErrNoTorch = errors.New("peer: no python3 with torch (install Debian's python3-torch)")

// Python returns the first interpreter among candidates (default:
// /usr/bin/python3, then python3 on PATH) that can import torch.
func Python(ctx context.Context, candidates ...string) (string, error) {
	if len(candidates) == 0 {
		candidates = []string{"/usr/bin/python3", "python3"}
	}
	for _, c := range candidates {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if exec.CommandContext(ctx, p, "-c", "import torch").Run() == nil {
			return p, nil
		}
	}
	return "", ErrNoTorch
}

// Run runs the embedded script name with python and args and decodes the
// JSON object it prints last.
func Run(ctx context.Context, python, name string, args ...string) (map[string]any, error) {
	src, err := scripts.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("peer: script %q: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "gradlab-peer-")
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, src, 0o600); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, append([]string{path}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("peer: %s %s: %w: %s", python, name, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var out map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		return nil, fmt.Errorf("peer: %s printed %q: %w", name, lines[len(lines)-1], err)
	}
	return out, nil
}

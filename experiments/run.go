package experiments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/train"
	"github.com/gradlab/gradlab/train/plot"
)

// RunOptions are the command-line choices of one run.
type RunOptions struct {
	Preset     string   // "" means "small"
	ConfigFile string   // optional YAML
	Sets       []string // --set key=value
	Env        []string // os.Environ()
	Out        string   // run directory; "" picks runs/<name>-<preset>-<time>
	Resume     bool
	Stdout     io.Writer // progress lines and the verdict table
	Progress   io.Writer // progress bars (stderr)
	Bar        bool
	// Now gives the time used to name a default run directory.
	Now func() time.Time
	// OpenDevice opens a device kernel set by name for --device; nil in
	// builds without one (the CLI built with -tags gradlabcuda sets it for
	// "cuda"). The returned function releases the device.
	OpenDevice func(name string) (*train.Device, func() error, error)
}

// Summary is summary.json.
type Summary struct {
	Experiment  string         `json:"experiment"`
	Preset      string         `json:"preset"`
	Seed        uint64         `json:"seed"`
	Device      string         `json:"device"`
	WallSeconds float64        `json:"wall_seconds"`
	Checks      []Check        `json:"checks"`
	Pass        bool           `json:"pass"`
	Values      map[string]any `json:"values,omitempty"`
	Error       string         `json:"error,omitempty"`
	Dir         string         `json:"-"`
}

// Resolve resolves an experiment's configuration from the run options.
func Resolve(e *Experiment, o RunOptions) (*config.Config, string, error) {
	preset := o.Preset
	if preset == "" {
		preset = "small"
	}
	p, ok := e.Presets[preset]
	if !ok {
		return nil, "", fmt.Errorf("experiment %s has no preset %q (presets: %s)", e.Name, preset, strings.Join(e.PresetNames(), ", "))
	}
	schema, err := e.Schema()
	if err != nil {
		return nil, "", err
	}
	cfg, err := schema.Resolve(config.Sources{Preset: p, File: o.ConfigFile, Env: o.Env, Sets: o.Sets})
	if err != nil {
		return nil, "", err
	}
	return cfg, preset, nil
}

// Run resolves the configuration, prepares the run directory, runs the
// experiment and writes summary.json and plots. It returns an error only
// when the run could not be carried out (bad configuration, I/O, an
// interrupt or a divergence); a failed verdict is not an error.
func Run(ctx context.Context, e *Experiment, o RunOptions) (*Summary, error) {
	cfg, preset, err := Resolve(e, o)
	if err != nil {
		return nil, err
	}
	device := cfg.String("device")
	dev, closeDev, err := openDevice(e, device, o.OpenDevice)
	if err != nil {
		return nil, err
	}
	if closeDev != nil {
		defer closeDev()
	}
	seed := cfg.Int("seed")
	if seed < 0 {
		return nil, fmt.Errorf("seed must be non-negative, got %d", seed)
	}
	dir := o.Out
	if dir == "" {
		if o.Resume {
			return nil, fmt.Errorf("--resume needs --out DIR naming the run to continue")
		}
		now := time.Now
		if o.Now != nil {
			now = o.Now
		}
		dir = filepath.Join("runs", fmt.Sprintf("%s-%s-%s", e.Name, preset, now().Format("20060102-150405")))
	}
	yml, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	if o.Resume {
		old, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
		if err != nil {
			return nil, fmt.Errorf("--resume: %w", err)
		}
		if string(old) != string(yml) {
			return nil, fmt.Errorf("--resume: the configuration differs from the one in %s/config.yaml; resume with the same preset, file and --set values", dir)
		}
	} else if err := prepareDir(dir); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.yaml"), yml); err != nil {
		return nil, err
	}
	env := &Env{Config: cfg, Preset: preset, Seed: uint64(seed), Device: device, TrainDevice: dev, Dir: dir, Resume: o.Resume,
		Out: o.Stdout, Progress: o.Progress, Bar: o.Bar}
	env.Logf("gradlab run %s (preset %s, seed %d, device %s) → %s", e.Name, preset, seed, device, dir)

	start := time.Now()
	out, runErr := e.Run(ctx, env)
	s := &Summary{Experiment: e.Name, Preset: preset, Seed: uint64(seed), Device: device,
		WallSeconds: math.Round(time.Since(start).Seconds()*1000) / 1000, Dir: dir}
	if out != nil {
		s.Checks, s.Values = out.Checks, out.Values
	}
	if s.Checks == nil {
		s.Checks = []Check{}
	}
	s.Pass = runErr == nil && AllPass(s.Checks)
	if runErr != nil {
		s.Error = runErr.Error()
	}
	if err := makePlots(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		env.Logf("warning: plots: %v", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return s, errors.Join(runErr, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "summary.json"), buf.Bytes()); err != nil {
		return s, errors.Join(runErr, err)
	}
	if runErr != nil {
		return s, runErr
	}
	if o.Stdout != nil {
		PrintVerdict(o.Stdout, s)
	}
	return s, nil
}

// openDevice validates --device for experiment e and opens the device
// kernel set when it is not the CPU.
func openDevice(e *Experiment, d string, open func(string) (*train.Device, func() error, error)) (*train.Device, func() error, error) {
	switch d {
	case "cpu":
		return nil, nil, nil
	case "cuda":
	default:
		return nil, nil, fmt.Errorf("device %q: want cpu or cuda", d)
	}
	if !e.Device {
		return nil, nil, fmt.Errorf("device %s: experiment %s runs on the CPU only (experiments with a device path: those whose trainer takes train.Options.Device, e.g. mnist-mlp, zoo-resnet-fmnist)", d, e.Name)
	}
	if open == nil {
		return nil, nil, fmt.Errorf("device %s: this gradlab binary has no CUDA kernel set; build it with `make build-cuda` (go build -tags gradlabcuda)", d)
	}
	dev, closeDev, err := open(d)
	if err != nil {
		return nil, nil, fmt.Errorf("device %s: %w", d, err)
	}
	return dev, closeDev, nil
}

func prepareDir(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
			return fmt.Errorf("run directory %s already holds a finished run; choose another --out", dir)
		}
		if _, err := os.Stat(filepath.Join(dir, "ckpt")); err == nil {
			return fmt.Errorf("run directory %s holds an unfinished run; continue it with --resume or choose another --out", dir)
		}
	}
	return os.MkdirAll(dir, 0o755)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// PrintVerdict writes the verdict table.
func PrintVerdict(w io.Writer, s *Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\n%s (%s, seed %d) in %.1fs — %s\n", s.Experiment, s.Preset, s.Seed, s.WallSeconds, s.Dir)
	fmt.Fprintln(tw, "check\tvalue\twant\tresult")
	for _, c := range s.Checks {
		r := "FAIL"
		if c.Pass {
			r = "pass"
		}
		fmt.Fprintf(tw, "%s\t%.6g\t%s\t%s\n", c.Name, c.Value, c.Want, r)
	}
	verdict := "FAIL"
	if s.Pass {
		verdict = "PASS"
	}
	fmt.Fprintf(tw, "verdict\t\t\t%s\n", verdict)
	tw.Flush()
}

// makePlots draws one PNG per logged metric into dir/plots, losses on a
// log scale.
func makePlots(dir string) error {
	_, err := plot.MetricPlots(filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "plots"), func(key string) plot.Options {
		// Losses span orders of magnitude.
		return plot.Options{LogY: strings.Contains(key, "loss")}
	})
	return err
}

package experiments

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/train"
)

// Experiment is one registered study.
type Experiment struct {
	Name        string
	Description string
	// Params are the experiment's own configuration keys; the runner adds
	// the common ones (seed, device).
	Params []config.Param
	// Presets override defaults by name; "small" is the default preset.
	Presets map[string]map[string]any
	// FullRuntime documents the expected run time of the full preset.
	FullRuntime string
	// Run performs the experiment and returns its measured checks.
	Run func(ctx context.Context, env *Env) (*Outcome, error)
	// Device says that Run trains on Env.TrainDevice when one is given
	// (--device cuda); other experiments refuse a device.
	Device bool
	// Curvature, when set, rebuilds the experiment's model and datasets
	// from a resolved configuration (weights freshly initialized), so that
	// `gradlab hessian` can load a checkpoint into it and measure the
	// Hessian of its loss.
	Curvature func(cfg *config.Config) (*CurvatureSetup, error)
}

// CurvatureSetup is what a Hessian measurement needs to know about an
// experiment's model: the model (its parameters are named as in the
// checkpoints), the datasets prepared as training saw them, the loss and
// whether examples are fed as flat vectors.
type CurvatureSetup struct {
	Model   nn.Model
	Train   *data.Dataset
	Test    *data.Dataset // may be nil
	Loss    objective.Kind
	Flatten bool
}

// Env is what an experiment's Run receives.
type Env struct {
	Config *config.Config
	Preset string
	Seed   uint64
	Device string
	// TrainDevice is the device kernel set for --device other than cpu,
	// for experiments with Device set (pass it as train.Options.Device);
	// nil on the CPU.
	TrainDevice *train.Device
	// Dir is the run directory; it exists when Run is called.
	Dir string
	// Resume asks the experiment to continue from its checkpoint.
	Resume bool
	// Out receives human-readable progress lines; Progress receives
	// progress bars when Bar is true.
	Out      io.Writer
	Progress io.Writer
	Bar      bool
}

// Logf writes a progress line.
func (e *Env) Logf(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	}
}

// Outcome is what an experiment measured.
type Outcome struct {
	Checks []Check
	// Values are extra measured numbers recorded in summary.json.
	Values map[string]any
}

// Registry maps names to experiments.
type Registry struct {
	byName map[string]*Experiment
}

// NewRegistry builds a registry; names must be unique and non-empty.
func NewRegistry(exps ...*Experiment) (*Registry, error) {
	r := &Registry{byName: map[string]*Experiment{}}
	for _, e := range exps {
		if e.Name == "" || e.Run == nil {
			return nil, fmt.Errorf("experiments: experiment %q lacks a name or a Run function", e.Name)
		}
		if _, dup := r.byName[e.Name]; dup {
			return nil, fmt.Errorf("experiments: duplicate experiment %q", e.Name)
		}
		if _, ok := e.Presets["small"]; !ok {
			return nil, fmt.Errorf("experiments: %q has no small preset", e.Name)
		}
		r.byName[e.Name] = e
	}
	return r, nil
}

// Builtin returns a registry of all of gradlab's experiments.
func Builtin() *Registry {
	r, err := NewRegistry(
		MNISTMLP(),
		EOS(),
		NormSharp(),
		Mirror(),
		LabelNoise(),
		ZooResNet(),
		ZooGPT(),
		ZooGAN(),
		ZooSimCLR(),
		Margin(),
		Samuel(),
		SamuelNet(),
	)
	if err != nil {
		panic(err) // the built-in list is fixed at compile time
	}
	return r
}

// Names lists the registered names in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// List returns the experiments sorted by name.
func (r *Registry) List() []*Experiment {
	var out []*Experiment
	for _, n := range r.Names() {
		out = append(out, r.byName[n])
	}
	return out
}

// Get returns the named experiment or an error listing the known names.
func (r *Registry) Get(name string) (*Experiment, error) {
	if e, ok := r.byName[name]; ok {
		return e, nil
	}
	return nil, fmt.Errorf("unknown experiment %q; known experiments: %s", name, strings.Join(r.Names(), ", "))
}

// commonParams are the keys every experiment has.
func commonParams() []config.Param {
	return []config.Param{
		{Key: "seed", Default: 1, Help: "seed of every random choice of the run"},
		{Key: "device", Default: "cpu", Help: "cpu or cuda"},
	}
}

// Schema returns the experiment's full configuration schema.
func (e *Experiment) Schema() (*config.Schema, error) {
	ps := append(commonParams(), e.Params...)
	return config.NewSchema(ps...)
}

// PresetNames lists the experiment's presets.
func (e *Experiment) PresetNames() []string {
	var names []string
	for n := range e.Presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/experiments"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/checkpoint"
)

// hessianOptions are the flags of `gradlab hessian`.
type hessianOptions struct {
	dir          string
	experiment   string
	split        string
	n            int
	chunk        int
	top          int
	lanczosSteps int
	trace        bool
	traceProbes  int
	density      bool
	densityProbe int
	densitySteps int
	seed         uint64
}

// HessianReport is the content of hessian.json.
type HessianReport struct {
	Experiment  string             `json:"experiment"`
	Checkpoint  string             `json:"checkpoint"`
	Step        int                `json:"step"`
	Data        string             `json:"data"`
	Examples    int                `json:"examples"`
	Parameters  int                `json:"parameters"`
	Loss        float64            `json:"loss"`
	GradNorm    float64            `json:"grad_norm"`
	Eigenvalues []float64          `json:"eigenvalues"`
	Residuals   []float64          `json:"residuals"`
	Trace       *HessianTrace      `json:"trace,omitempty"`
	Density     *HessianDensity    `json:"density,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
	HVPs        int                `json:"hvps"`
}

// HessianTrace is a Hutchinson estimate.
type HessianTrace struct {
	Mean   float64 `json:"mean"`
	StdErr float64 `json:"stderr"`
	Probes int     `json:"probes"`
}

// HessianDensity summarizes a stochastic Lanczos quadrature run: Moments[k]
// estimates tr(Hᵏ)/n for k = 0..len−1.
type HessianDensity struct {
	Probes  int       `json:"probes"`
	Steps   int       `json:"steps"`
	Moments []float64 `json:"moments"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Plot    string    `json:"plot"`
}

func newHessianCmd(reg *experiments.Registry) *cobra.Command {
	var o hessianOptions
	c := &cobra.Command{
		Use:   "hessian --checkpoint DIR",
		Short: "Measure the loss Hessian of a run's newest checkpoint (top eigenvalues, trace, density)",
		Long: `Rebuild the model and data of the run directory DIR (config.yaml), load the
newest checkpoint in DIR/ckpt and measure the Hessian of the mean loss over the
first --n examples of the chosen split: the top-k eigenvalues by Lanczos with
full re-orthogonalisation, optionally the trace by Hutchinson's estimator and the
spectral density by stochastic Lanczos quadrature. Prints a table and writes
DIR/hessian.json (and DIR/density.png with --density). The experiment must
provide a curvature setup (mnist-mlp does).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHessian(cmd.OutOrStdout(), reg, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.dir, "checkpoint", "", "run directory (holding config.yaml and ckpt/)")
	f.StringVar(&o.experiment, "experiment", "", "experiment name (default: from DIR/summary.json)")
	f.StringVar(&o.split, "data", "train", "train or test")
	f.IntVar(&o.n, "n", 1000, "use the first N examples (0 = all)")
	f.IntVar(&o.chunk, "chunk", 0, "examples per HVP program (0 = 1000)")
	f.IntVar(&o.top, "top", 1, "number of top eigenvalues")
	f.IntVar(&o.lanczosSteps, "lanczos-steps", 0, "Lanczos steps for the eigenvalues (0 = max(30, 3·top))")
	f.BoolVar(&o.trace, "trace", false, "estimate the trace (Hutchinson)")
	f.IntVar(&o.traceProbes, "trace-probes", curvature.DefaultTraceProbes, "Rademacher probes for the trace")
	f.BoolVar(&o.density, "density", false, "estimate the spectral density (SLQ) and plot it")
	f.IntVar(&o.densityProbe, "density-probes", 3, "SLQ probes")
	f.IntVar(&o.densitySteps, "density-steps", 50, "Lanczos steps per SLQ probe")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the random start and probe vectors")
	_ = c.MarkFlagRequired("checkpoint")
	return c
}

// loadRunExperiment finds the run's experiment and resolves its configuration
// from DIR/config.yaml.
func loadRunExperiment(reg *experiments.Registry, o hessianOptions) (*experiments.Experiment, *experiments.CurvatureSetup, error) {
	name := o.experiment
	if name == "" {
		b, err := os.ReadFile(filepath.Join(o.dir, "summary.json"))
		if err != nil {
			return nil, nil, fmt.Errorf("hessian: cannot tell the experiment (pass --experiment): %w", err)
		}
		var s struct {
			Experiment string `json:"experiment"`
		}
		if err := json.Unmarshal(b, &s); err != nil || s.Experiment == "" {
			return nil, nil, fmt.Errorf("hessian: %s/summary.json names no experiment (pass --experiment)", o.dir)
		}
		name = s.Experiment
	}
	e, err := reg.Get(name)
	if err != nil {
		return nil, nil, err
	}
	if e.Curvature == nil {
		return nil, nil, fmt.Errorf("hessian: experiment %s has no curvature setup", name)
	}
	cfg, _, err := experiments.Resolve(e, experiments.RunOptions{ConfigFile: filepath.Join(o.dir, "config.yaml")})
	if err != nil {
		return nil, nil, fmt.Errorf("hessian: %w", err)
	}
	setup, err := e.Curvature(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("hessian: rebuilding %s: %w", name, err)
	}
	return e, setup, nil
}

// loadWeights copies the checkpoint's param/<name> tensors into the model.
func loadWeights(setup *experiments.CurvatureSetup, ckptDir string) error {
	tensors, _, err := checkpoint.Load(ckptDir)
	if err != nil {
		return err
	}
	for _, p := range setup.Model.Params() {
		t, ok := tensors["param/"+p.Name]
		if !ok {
			return fmt.Errorf("hessian: checkpoint %s has no tensor param/%s", ckptDir, p.Name)
		}
		if !t.Shape().Eq(p.Value.Shape()) {
			return fmt.Errorf("hessian: param/%s has shape %v in the checkpoint, %v in the model", p.Name, t.Shape(), p.Value.Shape())
		}
		if err := (tensor.List{p.Value}).Unflatten(tensor.List{t}.Flatten(nil)); err != nil {
			return fmt.Errorf("hessian: param/%s: %w", p.Name, err)
		}
	}
	return nil
}

func runHessian(w io.Writer, reg *experiments.Registry, o hessianOptions) error {
	if o.top < 1 || o.n < 0 || o.traceProbes < curvature.MinTraceProbes || o.densityProbe < 1 || o.densitySteps < 2 {
		return fmt.Errorf("hessian: need --top ≥ 1, --n ≥ 0, --trace-probes ≥ %d, --density-probes ≥ 1, --density-steps ≥ 2", curvature.MinTraceProbes)
	}
	e, setup, err := loadRunExperiment(reg, o)
	if err != nil {
		return err
	}
	ck, ok, err := checkpoint.Latest(filepath.Join(o.dir, "ckpt"))
	if err != nil {
		return fmt.Errorf("hessian: %w", err)
	}
	if !ok {
		return fmt.Errorf("hessian: no checkpoint in %s", filepath.Join(o.dir, "ckpt"))
	}
	if err := loadWeights(setup, ck); err != nil {
		return err
	}
	ds := setup.Train
	switch o.split {
	case "train":
	case "test":
		if setup.Test == nil {
			return fmt.Errorf("hessian: experiment %s has no test set", e.Name)
		}
		ds = setup.Test
	default:
		return fmt.Errorf("hessian: --data %q: want train or test", o.split)
	}
	if o.n > 0 && o.n < ds.Len() {
		ds = ds.Head(o.n)
	}
	t0 := time.Now()
	op, err := curvature.NewHessianOperator(setup.Model, ds, curvature.HVPOptions{Loss: setup.Loss, Flatten: setup.Flatten, Chunk: o.chunk})
	if err != nil {
		return err
	}
	defer op.Close()
	rep := HessianReport{Experiment: e.Name, Checkpoint: ck, Step: stepOf(ck), Data: o.split, Examples: ds.Len(),
		Parameters: op.Dim(), Seconds: map[string]float64{"compile": time.Since(t0).Seconds()}}
	grad := make([]float64, op.Dim())
	if rep.Loss, err = op.Gradient(grad); err != nil {
		return err
	}
	var gn float64
	for _, g := range grad {
		gn += g * g
	}
	rep.GradNorm = math.Sqrt(gn)

	rng := rand.New(rand.NewPCG(o.seed, 0x4e55))
	steps := o.lanczosSteps
	if steps == 0 {
		steps = max(30, 3*o.top)
	}
	t1 := time.Now()
	top, err := curvature.TopEigen(op, o.top, rng, curvature.LanczosOptions{Steps: steps})
	if err != nil {
		return fmt.Errorf("hessian: eigenvalues: %w", err)
	}
	rep.Seconds["eigenvalues"] = time.Since(t1).Seconds()
	for _, p := range top {
		rep.Eigenvalues = append(rep.Eigenvalues, p.Value)
		rep.Residuals = append(rep.Residuals, p.Residual)
	}
	if o.trace {
		t2 := time.Now()
		tr, err := curvature.Trace(op, rng, curvature.TraceOptions{Probes: o.traceProbes})
		if err != nil {
			return fmt.Errorf("hessian: trace: %w", err)
		}
		rep.Trace = &HessianTrace{Mean: tr.Mean, StdErr: tr.StdErr, Probes: tr.Probes}
		rep.Seconds["trace"] = time.Since(t2).Seconds()
	}
	if o.density {
		t3 := time.Now()
		d, err := curvature.Density(op, rng, curvature.DensityOptions{Probes: o.densityProbe, Steps: o.densitySteps})
		if err != nil {
			return fmt.Errorf("hessian: density: %w", err)
		}
		hd := &HessianDensity{Probes: o.densityProbe, Steps: min(o.densitySteps, op.Dim()), Plot: filepath.Join(o.dir, "density.png")}
		for k := 0; k <= 4; k++ {
			hd.Moments = append(hd.Moments, d.Moment(k))
		}
		hd.Min, hd.Max = d.Range()
		x, err := d.Grid(2000, 0.05*(hd.Max-hd.Min)+1e-12)
		if err != nil {
			return fmt.Errorf("hessian: density: %w", err)
		}
		y := make([]float64, len(x))
		sigma := max(d.PyHessianSigma(), (hd.Max-hd.Min)/400)
		if err := d.Eval(y, x, sigma); err != nil {
			return fmt.Errorf("hessian: density: %w", err)
		}
		title := fmt.Sprintf("%s step %d: Hessian spectral density (%d examples)", e.Name, rep.Step, ds.Len())
		if err := curvature.SaveDensityPNG(hd.Plot, x, y, curvature.PlotOptions{Title: title, LogY: true}); err != nil {
			return fmt.Errorf("hessian: density plot: %w", err)
		}
		rep.Density = hd
		rep.Seconds["density"] = time.Since(t3).Seconds()
	}
	rep.HVPs = op.Applies()
	rep.Seconds["total"] = time.Since(t0).Seconds()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.dir, "hessian.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("hessian: %w", err)
	}
	return printHessian(w, rep, filepath.Join(o.dir, "hessian.json"))
}

func printHessian(w io.Writer, r HessianReport, path string) error {
	fmt.Fprintf(w, "%s, checkpoint step %d: %d parameters, %d %s examples, loss %.6g, ‖∇L‖ %.4g\n",
		r.Experiment, r.Step, r.Parameters, r.Examples, r.Data, r.Loss, r.GradNorm)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "quantity\tvalue\t±")
	for i, v := range r.Eigenvalues {
		fmt.Fprintf(tw, "λ%d\t%.6g\t%.2g (residual)\n", i+1, v, r.Residuals[i])
	}
	if r.Trace != nil {
		fmt.Fprintf(tw, "trace\t%.6g\t%.2g (std. error, %d probes)\n", r.Trace.Mean, r.Trace.StdErr, r.Trace.Probes)
	}
	if r.Density != nil {
		for k, m := range r.Density.Moments {
			if k == 0 {
				continue
			}
			fmt.Fprintf(tw, "density moment %d (tr Hᵏ / n)\t%.6g\t\n", k, m)
		}
		fmt.Fprintf(tw, "density support\t[%.4g, %.4g]\t\n", r.Density.Min, r.Density.Max)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, k := range []string{"compile", "eigenvalues", "trace", "density", "total"} {
		if s, ok := r.Seconds[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2fs", k, s))
		}
	}
	fmt.Fprintf(w, "%d Hessian-vector products; %s\nwrote %s\n", r.HVPs, strings.Join(parts, ", "), path)
	if r.Density != nil {
		fmt.Fprintf(w, "wrote %s\n", r.Density.Plot)
	}
	return nil
}

func stepOf(dir string) int {
	var s int
	if _, err := fmt.Sscanf(filepath.Base(dir), "step-%d", &s); err != nil {
		return -1
	}
	return s
}

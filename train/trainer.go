package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/checkpoint"
	"github.com/gradlab/gradlab/train/metrics"
)

// ErrInterrupted is returned by Run when its context is cancelled; the
// trainer has saved a checkpoint and its metrics before returning it.
var ErrInterrupted = errors.New("train: interrupted")

// ErrDiverged is returned by Run when the loss, a gradient or a parameter is
// not finite; the metrics up to that step are kept.
var ErrDiverged = errors.New("train: diverged")

// Options configure a training run.
type Options struct {
	Epochs    int
	BatchSize int    // ≥ dataset size means full batch
	Seed      uint64 // shuffling seed
	Loss      objective.Kind
	Flatten   bool // feed examples as flat vectors (MLPs)

	LogEvery        int // steps between metric records (default 50)
	EvalEvery       int // steps between evaluations (0 = end of each epoch)
	EvalBatch       int // default 1000
	CheckpointEvery int // steps between checkpoints (0 = end of each epoch)
	KeepCheckpoints int // default 2

	// Dir is the run directory (metrics.jsonl, summary.csv, ckpt/); empty
	// means nothing is written.
	Dir string
	// Resume continues from the newest checkpoint in Dir/ckpt.
	Resume bool
	// LR, when set, gives the learning rate at each step (0-based).
	LR func(step int) float64
	// Progress receives progress output; nil is silent.
	Progress io.Writer
	// Bar draws a progress bar on Progress (use only for terminals);
	// otherwise one line per epoch is printed.
	Bar bool
	// Probes run on their own schedules and log named values. With a
	// Device, probes that implement DeviceProbe measure on the device from
	// the step's parameters; the parameters are downloaded for the others.
	Probes []Probe
	// Device, when set, runs the training step on its kernel sets, with
	// the parameters and optimizer state kept there between steps (see
	// Device); nil trains on the host.
	Device *Device
}

// Probe measures something about the model during training.
type Probe interface {
	// Every is the probe's period in steps.
	Every() int
	// Measure returns named values; it must not change the parameters.
	Measure(step int) (map[string]float64, error)
}

// Result summarises a run.
type Result struct {
	Steps     int
	Epochs    int
	TrainLoss float64 // mean training loss over the last epoch run
	Test      Eval
	Resumed   bool
	Wall      time.Duration
}

// Trainer trains a model on a dataset.
type Trainer struct {
	model nn.Model
	opt   optim.Optimizer
	train *data.Dataset
	test  *data.Dataset
	o     Options
}

// New returns a trainer; test may be nil.
func New(model nn.Model, opt optim.Optimizer, trainSet, testSet *data.Dataset, o Options) (*Trainer, error) {
	if trainSet == nil || trainSet.Len() == 0 {
		return nil, fmt.Errorf("train: empty training set")
	}
	if o.Epochs <= 0 {
		return nil, fmt.Errorf("train: epochs must be positive, got %d", o.Epochs)
	}
	if o.BatchSize <= 0 {
		return nil, fmt.Errorf("train: batch size must be positive, got %d", o.BatchSize)
	}
	if o.BatchSize > trainSet.Len() {
		o.BatchSize = trainSet.Len()
	}
	if o.Loss == "" {
		o.Loss = objective.CrossEntropy
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 50
	}
	if o.EvalBatch <= 0 {
		o.EvalBatch = 1000
	}
	if o.KeepCheckpoints <= 0 {
		o.KeepCheckpoints = 2
	}
	if o.Resume && o.Dir == "" {
		return nil, fmt.Errorf("train: resume needs a run directory")
	}
	return &Trainer{model: model, opt: opt, train: trainSet, test: testSet, o: o}, nil
}

// state is what state.json holds besides tensors.
type state struct {
	Step       int                `json:"step"`
	Epoch      int                `json:"epoch"`
	Pos        int                `json:"pos"` // batches done in Epoch
	OptKind    string             `json:"optimizer"`
	OptScalars map[string]float64 `json:"optimizer_scalars"`
	Seed       uint64             `json:"seed"`
	BatchSize  int                `json:"batch_size"`
	EpochLoss  float64            `json:"epoch_loss_sum"`
	EpochSteps int                `json:"epoch_steps"`
	LogSum     float64            `json:"log_loss_sum"` // losses since the last record
	LogCount   int                `json:"log_count"`
}

const paramPrefix, optPrefix = "param/", "optim/"

func (t *Trainer) ckptRoot() string { return filepath.Join(t.o.Dir, "ckpt") }

func (t *Trainer) save(st state) error {
	if t.o.Dir == "" {
		return nil
	}
	tensors := make(map[string]*gt.Dense)
	for _, p := range t.model.Params() {
		tensors[paramPrefix+p.Name] = p.Value
	}
	ost := t.opt.State()
	for k, v := range ost.Buffers {
		tensors[optPrefix+k] = v
	}
	st.OptKind, st.OptScalars = ost.Kind, ost.Scalars
	if err := checkpoint.Save(t.ckptRoot(), st.Step, tensors, st); err != nil {
		return fmt.Errorf("train: checkpoint at step %d: %w", st.Step, err)
	}
	return checkpoint.Prune(t.ckptRoot(), t.o.KeepCheckpoints)
}

func (t *Trainer) restore() (state, bool, error) {
	dir, ok, err := checkpoint.Latest(t.ckptRoot())
	if err != nil || !ok {
		return state{}, false, err
	}
	tensors, raw, err := checkpoint.Load(dir)
	if err != nil {
		return state{}, false, err
	}
	var st state
	if err := json.Unmarshal(raw, &st); err != nil {
		return state{}, false, fmt.Errorf("train: %s: state.json: %w", dir, err)
	}
	if st.Seed != t.o.Seed || st.BatchSize != t.o.BatchSize {
		return state{}, false, fmt.Errorf("train: checkpoint %s was made with seed %d batch %d; this run has seed %d batch %d",
			dir, st.Seed, st.BatchSize, t.o.Seed, t.o.BatchSize)
	}
	for _, p := range t.model.Params() {
		v, ok := tensors[paramPrefix+p.Name]
		if !ok {
			return state{}, false, fmt.Errorf("train: checkpoint %s lacks parameter %q", dir, p.Name)
		}
		if v.Dtype() != p.Value.Dtype() || !v.Shape().Eq(p.Value.Shape()) {
			return state{}, false, fmt.Errorf("train: checkpoint %s: parameter %q is %v %v, model has %v %v",
				dir, p.Name, v.Dtype(), v.Shape(), p.Value.Dtype(), p.Value.Shape())
		}
		copyDense(p.Value, v)
	}
	ost := optim.State{Kind: st.OptKind, Scalars: st.OptScalars, Buffers: map[string]*gt.Dense{}}
	for k, v := range tensors {
		if name, ok := strings.CutPrefix(k, optPrefix); ok {
			ost.Buffers[name] = v
		}
	}
	if err := t.opt.SetState(ost); err != nil {
		return state{}, false, fmt.Errorf("train: checkpoint %s: optimizer: %w", dir, err)
	}
	return st, true, nil
}

func copyDense(dst, src *gt.Dense) {
	switch d := dst.Data().(type) {
	case []float32:
		copy(d, src.Data().([]float32))
	case []float64:
		copy(d, src.Data().([]float64))
	}
}

// Run trains until the configured number of epochs, ctx is cancelled
// (ErrInterrupted, after a checkpoint) or the run diverges (ErrDiverged).
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	if t.o.Device != nil {
		return t.loop(ctx, t.deviceStep)
	}
	return t.loop(ctx, t.hostStepper)
}

// stepper is where the training step runs: on the model's own tensors
// (hostStepper) or on a device kernel set (deviceStepper).
type stepper interface {
	// grad computes the loss and the gradients on examples idx of the
	// training set and reports whether every gradient is finite.
	grad(idx []int) (loss float64, finite bool, err error)
	// update applies the optimizer with the last gradients and folds the
	// batch statistics into the model's running statistics.
	update(loss float64) error
	// toHost makes the model's tensors (and with opt, the host optimizer's
	// state) current.
	toHost(opt bool) error
	// newEval compiles the evaluation program where the step runs.
	newEval(batch int) (*EvalProgram, error)
	// beforeEval makes the parameters available to that program.
	beforeEval() error
	// attach lets probe p measure where the step runs (DeviceProbe),
	// reporting false when it measures on the host instead.
	attach(p Probe) (detach func() error, ok bool, err error)
	close() error
}

// hostStepper runs the step on the model's tensors.
type hostStepper struct {
	t      *Trainer
	gp     *GradProgram
	params tensor.List
	grads  tensor.List
}

func (t *Trainer) hostStepper() (stepper, error) {
	gp, err := NewGradProgram(t.model, t.train, t.o.BatchSize, t.o.Loss, t.o.Flatten)
	if err != nil {
		return nil, err
	}
	return &hostStepper{t: t, gp: gp, params: gp.Params().Values()}, nil
}

func (h *hostStepper) grad(idx []int) (float64, bool, error) {
	loss, grads, err := h.gp.Run(h.t.train, idx)
	if err != nil {
		return loss, false, err
	}
	h.grads = grads
	return loss, grads.AllFinite(), nil
}

func (h *hostStepper) update(loss float64) error {
	if ls, ok := h.t.opt.(optim.LossSetter); ok {
		ls.SetLoss(loss)
	}
	if err := h.t.opt.Step(h.params, h.grads); err != nil {
		return err
	}
	return h.gp.UpdateRunningStats()
}

func (h *hostStepper) toHost(bool) error { return nil }

func (h *hostStepper) beforeEval() error { return nil }

func (h *hostStepper) attach(Probe) (func() error, bool, error) { return nil, false, nil }

func (h *hostStepper) newEval(batch int) (*EvalProgram, error) {
	return NewEvalProgram(h.t.model, h.t.test, batch, h.t.o.Loss, h.t.o.Flatten)
}

func (h *hostStepper) close() error { return h.gp.Close() }

// loop is the training loop: the schedule of steps, logs, evaluations,
// probes and checkpoints, with the step itself done by the stepper that
// newStep makes (after a checkpoint, if any, was restored into the model
// and the optimizer).
func (t *Trainer) loop(ctx context.Context, newStep func() (stepper, error)) (res *Result, err error) {
	start := time.Now()
	o := t.o
	n := t.train.Len()
	stepsPerEpoch := n / o.BatchSize

	st := state{Seed: o.Seed, BatchSize: o.BatchSize}
	res = &Result{}
	if o.Resume {
		var ok bool
		if st, ok, err = t.restore(); err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("train: --resume: no checkpoint in %s", t.ckptRoot())
		}
		res.Resumed = true
	}
	s, err := newStep()
	if err != nil {
		return nil, err
	}
	defer func() {
		// Whatever the outcome, the model and the host optimizer end with
		// the values of the step's memory.
		err = errors.Join(err, s.toHost(true), s.close())
	}()
	// Probes that measure where the step runs are attached once; they
	// are detached before the step closes (deferred after it).
	onStep := make([]bool, len(o.Probes))
	for i, p := range o.Probes {
		detach, ok, aerr := s.attach(p)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			onStep[i] = true
			defer func() { err = errors.Join(err, detach()) }()
		}
	}
	var ep *EvalProgram
	if t.test != nil {
		if ep, err = s.newEval(min(o.EvalBatch, t.test.Len())); err != nil {
			return nil, err
		}
		defer ep.Close()
	}

	var mw *metrics.Writer
	if o.Dir != "" {
		if o.Resume {
			mw, err = metrics.Resume(o.Dir, st.Step)
		} else {
			mw, err = metrics.Create(o.Dir)
		}
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := mw.WriteSummary(); err != nil && o.Progress != nil {
				fmt.Fprintf(o.Progress, "warning: summary.csv: %v\n", err)
			}
			mw.Close()
		}()
	}
	rep := newReporter(o.Progress, o.Bar, o.Epochs*stepsPerEpoch, st.Step)
	defer rep.finish()

	record := func(rec metrics.Record) error {
		if mw == nil {
			return nil
		}
		return mw.Write(rec)
	}
	evaluate := func(rec map[string]float64) error {
		if ep == nil {
			return nil
		}
		if err := s.beforeEval(); err != nil {
			return err
		}
		e, err := ep.Run(t.test, 0)
		if err != nil {
			return err
		}
		res.Test = e
		rec["test_loss"] = e.Loss
		if !math.IsNaN(e.Accuracy) {
			rec["test_acc"] = e.Accuracy
		}
		return nil
	}

	idx := make([]int, o.BatchSize)
	for ; st.Epoch < o.Epochs; st.Epoch, st.Pos, st.EpochLoss, st.EpochSteps = st.Epoch+1, 0, 0, 0 {
		perm := data.Permutation(n, o.Seed, uint64(st.Epoch))
		for ; st.Pos < stepsPerEpoch; st.Pos++ {
			if ctx.Err() != nil {
				if err := s.toHost(true); err != nil {
					return res, errors.Join(ErrInterrupted, err)
				}
				if err := t.save(st); err != nil {
					return res, errors.Join(ErrInterrupted, err)
				}
				res.Steps, res.Epochs, res.Wall = st.Step, st.Epoch, time.Since(start)
				return res, fmt.Errorf("%w at step %d (epoch %d); checkpoint saved in %s", ErrInterrupted, st.Step, st.Epoch, t.ckptRoot())
			}
			copy(idx, perm[st.Pos*o.BatchSize:(st.Pos+1)*o.BatchSize])
			if o.LR != nil {
				t.opt.SetLR(o.LR(st.Step))
			}
			loss, finite, err := s.grad(idx)
			if err != nil {
				return res, fmt.Errorf("train: step %d: %w", st.Step, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) || !finite {
				_ = record(metrics.Record{Step: st.Step, Epoch: st.Epoch, Loss: loss})
				res.Steps, res.Epochs, res.Wall = st.Step, st.Epoch, time.Since(start)
				return res, fmt.Errorf("%w: loss %v at step %d (epoch %d, lr %g); metrics up to here are kept", ErrDiverged, loss, st.Step, st.Epoch, t.opt.LR())
			}
			if err := s.update(loss); err != nil {
				return res, fmt.Errorf("train: step %d: %w", st.Step, err)
			}
			st.Step++
			st.EpochLoss += loss
			st.EpochSteps++
			st.LogSum += loss
			st.LogCount++
			rep.step(st.Step, loss)

			endOfEpoch := st.Pos+1 == stepsPerEpoch
			doEval := (o.EvalEvery > 0 && st.Step%o.EvalEvery == 0) || (o.EvalEvery == 0 && endOfEpoch)
			doLog := st.Step%o.LogEvery == 0 || doEval || endOfEpoch
			var probeVals map[string]float64
			for i, p := range o.Probes {
				if p.Every() > 0 && st.Step%p.Every() == 0 {
					if !onStep[i] {
						if err := s.toHost(false); err != nil {
							return res, fmt.Errorf("train: probe at step %d: %w", st.Step, err)
						}
					}
					v, err := p.Measure(st.Step)
					if err != nil {
						return res, fmt.Errorf("train: probe at step %d: %w", st.Step, err)
					}
					if len(v) == 0 {
						continue
					}
					if probeVals == nil {
						probeVals = map[string]float64{}
					}
					for k, x := range v {
						probeVals[k] = x
					}
					doLog = true
				}
			}
			if doLog {
				rec := map[string]float64{"lr": t.opt.LR(), "epoch_progress": float64(st.Epoch) + float64(st.Pos+1)/float64(stepsPerEpoch)}
				loss := st.LogSum / float64(st.LogCount)
				st.LogSum, st.LogCount = 0, 0
				for k, v := range probeVals {
					rec[k] = v
				}
				if doEval {
					if err := evaluate(rec); err != nil {
						return res, fmt.Errorf("train: evaluation at step %d: %w", st.Step, err)
					}
				}
				if err := record(metrics.Record{Step: st.Step, Epoch: st.Epoch, Loss: loss, Values: rec}); err != nil {
					return res, err
				}
				if doEval && !o.Bar && o.Progress != nil {
					fmt.Fprintf(o.Progress, "step %d epoch %.2f loss %.4f test_loss %.4f test_acc %.4f\n", st.Step, rec["epoch_progress"], loss, rec["test_loss"], rec["test_acc"])
				}
			}
			doCkpt := (o.CheckpointEvery > 0 && st.Step%o.CheckpointEvery == 0) || (o.CheckpointEvery == 0 && endOfEpoch)
			if doCkpt && o.Dir != "" {
				next := st
				next.Pos++
				if endOfEpoch {
					next.Epoch, next.Pos, next.EpochLoss, next.EpochSteps = st.Epoch+1, 0, 0, 0
				}
				if err := s.toHost(true); err != nil {
					return res, err
				}
				if err := t.save(next); err != nil {
					return res, err
				}
			}
		}
		if st.EpochSteps > 0 {
			res.TrainLoss = st.EpochLoss / float64(st.EpochSteps)
		}
	}
	res.Steps, res.Epochs, res.Wall = st.Step, st.Epoch, time.Since(start)
	return res, nil
}

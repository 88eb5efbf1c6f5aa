package train

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// Device names the kernel sets a Trainer runs its training step on instead
// of the host (Options.Device): Set32 for float32 models, Set64 for float64
// ones (the one the model's dtype needs must be set). The trainer does not
// close them.
//
// On a device the parameters, the gradients and the optimizer state stay
// in the set's memory between steps: the gradient program keeps the
// parameters resident (frozen ones too, uploaded once) and its gradients on
// the set, and the optimizer (SGD, Adam or RMSprop; other rules are
// refused) updates them there. Each step uploads the batch and downloads
// the loss and one finiteness flag per parameter tensor. The evaluation
// program runs on the set too and reads the step's parameter buffers in
// place (engine.Bind); it uploads the frozen parameters it reads (e.g.
// batch-norm running statistics, updated on the host) once per evaluation
// and then only its batches. Probes that implement DeviceProbe measure on
// the set from the same buffers; for other probes, for checkpoints and at
// the end of Run the parameters come back to the model's tensors (and at
// the end the host optimizer receives the device optimizer's state).
// Metrics, checkpoints and resumption are those of the host path.
type Device struct {
	Set32 kernels.Set[float32]
	Set64 kernels.Set[float64]
}

// DeviceStep is one training step of a model on a kernel set: the loss and
// gradient program with the trainable parameters resident on the set and
// the gradients left there, and a DeviceOptimizer updating both in place.
type DeviceStep[T kernels.Float] struct {
	gp       *GradProgram // gp.prog runs on set; gp.grads is unused
	up       *DeviceUpdate[T]
	nodes    gorgonia.Nodes // parameter nodes, resident
	frozen   gorgonia.Nodes // frozen parameter nodes the program reads, resident
	hostSeen bool           // the model's tensors hold the parameters on the set
}

// DeviceUpdate is the update half of a training step on a kernel set: the
// buffers of a compiled program's resident parameters and of the gradients
// it leaves on its set, a DeviceOptimizer that updates the parameters
// there in place, and a test of the gradients for non-finite elements on
// the set. DeviceStep is built on it.
type DeviceUpdate[T kernels.Float] struct {
	set     kernels.Set[T]
	opt     *optim.DeviceOptimizer[T]
	params  []kernels.Buffer[T]
	grads   []kernels.Buffer[T]
	zeros   []kernels.Buffer[T] // views of one zero buffer, one per gradient
	zeroBuf kernels.Buffer[T]
}

// NewDeviceUpdate takes the buffers of params (inputs of prog listed in
// engine.Options.Resident) and of grads (outputs of prog listed in
// engine.Options.DeviceOutputs, grads[i] the gradient for params[i]) and
// makes an optimizer on prog's kernel set with the configuration, learning
// rate and state of opt (an *optim.SGD, *optim.Adam or *optim.RMSprop).
func NewDeviceUpdate[T kernels.Float](prog *engine.Program, params, grads gorgonia.Nodes, opt optim.Optimizer) (*DeviceUpdate[T], error) {
	if len(params) != len(grads) {
		return nil, fmt.Errorf("train: device update of %d parameters with %d gradients", len(params), len(grads))
	}
	set, err := engine.KernelSet[T](prog)
	if err != nil {
		return nil, fmt.Errorf("train: device program: %w", err)
	}
	u := &DeviceUpdate[T]{set: set}
	if u.params, err = engine.Buffers[T](prog, params...); err != nil {
		return nil, fmt.Errorf("train: device program: %w", err)
	}
	if u.grads, err = engine.Buffers[T](prog, grads...); err != nil {
		return nil, fmt.Errorf("train: device program: %w", err)
	}
	if err := u.init(opt, params); err != nil {
		return nil, errors.Join(err, u.Close())
	}
	return u, nil
}

func (u *DeviceUpdate[T]) init(opt optim.Optimizer, params gorgonia.Nodes) error {
	var err error
	shapes := make([][]int, len(params))
	longest := 1
	for i, n := range params {
		shapes[i] = []int(n.Shape().Clone())
		longest = max(longest, u.grads[i].Len())
	}
	if u.opt, err = optim.NewDeviceFrom(u.set, opt, shapes); err != nil {
		return fmt.Errorf("train: device: %w", err)
	}
	if u.zeroBuf, err = u.set.Alloc(longest); err != nil {
		return fmt.Errorf("train: device: %w", err)
	}
	if err := u.set.Fill(u.zeroBuf, 0); err != nil {
		return fmt.Errorf("train: device: %w", err)
	}
	for _, g := range u.grads {
		z, err := u.set.View(u.zeroBuf, 0, g.Len())
		if err != nil {
			return fmt.Errorf("train: device: %w", err)
		}
		u.zeros = append(u.zeros, z)
	}
	return nil
}

// Params returns the parameter buffers the optimizer updates (to bind
// other programs to them).
func (u *DeviceUpdate[T]) Params() []kernels.Buffer[T] { return u.params }

// Optimizer returns the optimizer on the set.
func (u *DeviceUpdate[T]) Optimizer() *optim.DeviceOptimizer[T] { return u.opt }

// Finite reports whether every element of the gradients (as the last run
// of the program left them) is finite.
func (u *DeviceUpdate[T]) Finite() (bool, error) {
	// g·0 is 0 for finite g and NaN for ±Inf or NaN, so a dot product with
	// zeros tests every element in one reduction.
	for i, g := range u.grads {
		d, err := u.set.Dot(g, u.zeros[i])
		if err != nil {
			return false, fmt.Errorf("train: gradient %d: %w", i, err)
		}
		if d != 0 {
			return false, nil
		}
	}
	return true, nil
}

// SetLR sets the optimizer's learning rate.
func (u *DeviceUpdate[T]) SetLR(lr float64) { u.opt.SetLR(lr) }

// SyncOptimizer copies the device optimizer's state (moments, step count)
// into opt, the host optimizer of the same rule.
func (u *DeviceUpdate[T]) SyncOptimizer(opt optim.Optimizer) error {
	st, err := u.opt.State()
	if err != nil {
		return fmt.Errorf("train: device optimizer: %w", err)
	}
	if err := opt.SetState(st); err != nil {
		return fmt.Errorf("train: device optimizer: %w", err)
	}
	return nil
}

// Step applies one optimizer step to the parameter buffers with the
// gradient buffers.
func (u *DeviceUpdate[T]) Step() error { return u.opt.Step(u.params, u.grads) }

// Close releases the optimizer state and the scratch buffer (not the
// program's buffers).
func (u *DeviceUpdate[T]) Close() error {
	var errs []error
	if u.opt != nil {
		errs = append(errs, u.opt.Close())
	}
	if u.zeroBuf != nil {
		errs = append(errs, u.set.Free(u.zeroBuf))
	}
	return errors.Join(errs...)
}

// NewDeviceStep compiles the loss and gradient program of model (in
// training mode, batches of the given size drawn from ds, as
// NewGradProgram does) on set, with the parameters resident, and an
// optimizer on set with the configuration, learning rate and state of opt
// (an *optim.SGD, *optim.Adam or *optim.RMSprop). The program must compile
// to kernel calls (no TapeMachine fallback).
func NewDeviceStep[T kernels.Float](model nn.Model, opt optim.Optimizer, ds *data.Dataset, batch int, loss objective.Kind,
	flatten bool, set kernels.Set[T]) (*DeviceStep[T], error) {
	if set == nil {
		return nil, fmt.Errorf("train: device: nil kernel set")
	}
	model = nn.InMode(model, nn.Training)
	obj, err := objective.Build(model, ds, batch, loss, flatten)
	if err != nil {
		return nil, err
	}
	grads, err := autodiff.Grad(obj.Loss, obj.ParamNodes...)
	if err != nil {
		return nil, fmt.Errorf("train: gradient graph: %w", err)
	}
	outputs := append(gorgonia.Nodes{obj.Loss}, grads...)
	gp := &GradProgram{obj: obj, grads: make(tensor.List, len(grads))} // grads: only its length (the statistics follow the gradients)
	if bs, ok := model.(nn.BatchStatser); ok {
		stats := bs.BatchStatNodes(obj.G)
		if len(stats) > 0 {
			gp.stats, gp.nstat = bs, len(stats)
			outputs = append(outputs, stats...)
		}
	}
	frozen := frozenInputs(model, obj, outputs)
	eo := engine.OptionsOn(set)
	eo.Resident, eo.DeviceOutputs = append(append(gorgonia.Nodes{}, obj.ParamNodes...), frozen...), grads
	if gp.prog, err = engine.CompileWith(obj.G, eo, outputs...); err != nil {
		if gp.stats != nil {
			gp.stats.ReleaseGraph(obj.G)
		}
		return nil, fmt.Errorf("train: device program: %w", err)
	}
	s := &DeviceStep[T]{gp: gp, nodes: obj.ParamNodes, frozen: frozen, hostSeen: true}
	if s.up, err = NewDeviceUpdate[T](gp.prog, obj.ParamNodes, grads, opt); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Run computes the loss and the gradients (left on the set) on examples
// idx of ds, and reports whether every gradient element is finite.
func (s *DeviceStep[T]) Run(ds *data.Dataset, idx []int) (loss float64, finite bool, err error) {
	p := s.gp
	if len(idx) != p.obj.Batch() {
		return math.NaN(), false, fmt.Errorf("train: batch of %d examples for a program built for %d", len(idx), p.obj.Batch())
	}
	if err := p.obj.Fill(ds, idx); err != nil {
		return math.NaN(), false, err
	}
	if err := p.prog.Run(); err != nil {
		return math.NaN(), false, err
	}
	if loss, err = p.prog.Scalar(0); err != nil {
		return math.NaN(), false, err
	}
	finite, err = s.up.Finite()
	return loss, finite, err
}

// Update applies one optimizer step with the gradients of the last Run at
// learning rate lr, then folds the last Run's batch statistics into the
// model's running statistics (models with batch norm).
func (s *DeviceStep[T]) Update(lr float64) error {
	s.up.SetLR(lr)
	if err := s.up.Step(); err != nil {
		return err
	}
	s.hostSeen = false
	if err := s.gp.UpdateRunningStats(); err != nil {
		return err
	}
	if s.gp.stats != nil && len(s.frozen) > 0 {
		// The running statistics changed on the host; a program that
		// reads them needs them again (a training-mode graph normally
		// does not, and then frozen holds none of them).
		if err := s.gp.prog.Upload(s.frozen...); err != nil {
			return fmt.Errorf("train: device frozen parameters: %w", err)
		}
	}
	return nil
}

// SyncParams downloads the parameters into the model's tensors (nothing
// when they are already there).
func (s *DeviceStep[T]) SyncParams() error {
	if s.hostSeen {
		return nil
	}
	if err := s.gp.prog.Download(s.nodes...); err != nil {
		return fmt.Errorf("train: device parameters: %w", err)
	}
	s.hostSeen = true
	return nil
}

// UploadParams copies the model's parameter tensors, frozen ones included,
// to the set (after they were changed on the host, e.g. restored from a
// checkpoint).
func (s *DeviceStep[T]) UploadParams() error {
	if err := s.gp.prog.Upload(append(append(gorgonia.Nodes{}, s.nodes...), s.frozen...)...); err != nil {
		return fmt.Errorf("train: device parameters: %w", err)
	}
	s.hostSeen = true
	return nil
}

// Attach lets probe p measure on the set from the step's parameter
// buffers (DeviceProbe.AttachDevice); detach must be called before Close.
func (s *DeviceStep[T]) Attach(p DeviceProbe) (detach func() error, err error) {
	return p.AttachDevice(s.gp.prog, s.nodes)
}

// SyncOptimizer hands the device optimizer's state to the host optimizer
// opt (for checkpoints and at the end of training).
func (s *DeviceStep[T]) SyncOptimizer(opt optim.Optimizer) error { return s.up.SyncOptimizer(opt) }

// LoadOptimizer replaces the device optimizer's state with opt's.
func (s *DeviceStep[T]) LoadOptimizer(opt optim.Optimizer) error {
	if err := s.up.opt.SetState(opt.State()); err != nil {
		return fmt.Errorf("train: device optimizer: %w", err)
	}
	return nil
}

// Close releases the program, the optimizer state and the scratch buffer.
func (s *DeviceStep[T]) Close() error {
	var errs []error
	if s.up != nil {
		errs = append(errs, s.up.Close())
	}
	errs = append(errs, s.gp.Close())
	return errors.Join(errs...)
}

// DeviceProbe is a Probe that can measure on the kernel set a device run
// trains on, reading the parameters where the training step keeps them
// (curvature.SharpnessProbe and curvature.TraceProbe are). When training
// on a device the trainer attaches each such probe once, after building
// the step: AttachDevice receives the step's compiled program and its
// resident trainable-parameter nodes (engine.Buffers and engine.KernelSet
// give their buffers and set; engine.Bind shares them with the probe's
// own programs). While attached, Measure must read the parameters there
// and the trainer does not download them for it. detach, called before
// the step is closed, releases what the probe holds on the set. An error
// wrapping errors.ErrUnsupported means that the probe cannot run there: it
// is measured on the host as other probes are.
type DeviceProbe interface {
	Probe
	AttachDevice(prog *engine.Program, params gorgonia.Nodes) (detach func() error, err error)
}

// frozenInputs returns the nodes of model's frozen parameters that the
// program of outputs reads.
func frozenInputs(model nn.Model, obj *objective.Graph, outputs gorgonia.Nodes) gorgonia.Nodes {
	sub := obj.G.SubgraphRoots(outputs...)
	var out gorgonia.Nodes
	for _, p := range model.Params() {
		if !p.Frozen {
			continue
		}
		if n := obj.G.ByName(p.Name); len(n) == 1 && sub.Has(n[0].ID()) && n[0].Op() == nil {
			out = append(out, n[0])
		}
	}
	return out
}

// newDeviceEvalProgram is NewEvalProgram on the step's set: the trainable
// parameters are bound to the step's buffers (read in place, never
// uploaded) and the frozen ones the graph reads are resident, uploaded
// once per evaluation (EvalProgram.Run). It reports false when the
// evaluation graph's parameters are not the step's tensors; then every
// parameter is uploaded once per evaluation, after the caller brought the
// step's parameters to the host.
func newDeviceEvalProgram[T kernels.Float](s *DeviceStep[T], model nn.Model, ds *data.Dataset, batch int, loss objective.Kind,
	flatten bool, o engine.Options) (*EvalProgram, bool, error) {
	model = nn.InMode(model, nn.Evaluation)
	obj, err := objective.Build(model, ds, batch, loss, flatten)
	if err != nil {
		return nil, false, err
	}
	frozen := frozenInputs(model, obj, gorgonia.Nodes{obj.Output})
	shared := len(obj.ParamNodes) == len(s.nodes)
	for i := 0; shared && i < len(s.nodes); i++ {
		shared = obj.ParamNodes[i].Value() == s.nodes[i].Value()
	}
	sub := obj.G.SubgraphRoots(obj.Output)
	o.Backend = engine.Native
	var refresh gorgonia.Nodes
	for i, n := range obj.ParamNodes {
		if !sub.Has(n.ID()) {
			continue
		}
		o.Resident = append(o.Resident, n)
		if shared {
			o.Bind = append(o.Bind, engine.Bind[T](n, s.up.params[i]))
		} else {
			refresh = append(refresh, n)
		}
	}
	o.Resident = append(o.Resident, frozen...)
	refresh = append(refresh, frozen...)
	prog, err := engine.CompileWith(obj.G, o, obj.Output)
	if err != nil {
		return nil, false, err
	}
	return &EvalProgram{obj: obj, prog: prog, loss: loss, refresh: refresh}, shared, nil
}

// deviceStep returns the stepper of t.o.Device for the model's dtype.
func (t *Trainer) deviceStep() (stepper, error) {
	ps := t.model.Params().Trainable()
	if len(ps) == 0 {
		return nil, fmt.Errorf("train: device: the model has no trainable parameters")
	}
	switch dt := ps[0].Value.Dtype(); dt {
	case gt.Float32:
		if t.o.Device.Set32 == nil {
			return nil, fmt.Errorf("train: device: a float32 model needs Device.Set32")
		}
		return newDeviceStepper(t, t.o.Device.Set32, engine.Options{Set32: t.o.Device.Set32})
	case gt.Float64:
		if t.o.Device.Set64 == nil {
			return nil, fmt.Errorf("train: device: a float64 model needs Device.Set64")
		}
		return newDeviceStepper(t, t.o.Device.Set64, engine.Options{Set64: t.o.Device.Set64})
	default:
		return nil, fmt.Errorf("train: device: parameters of dtype %v", dt)
	}
}

// deviceStepper runs the step on a kernel set through a DeviceStep; the
// parameters and optimizer state come back to the host only when toHost
// asks. It is made after a checkpoint was restored, so it starts from the
// restored host values.
type deviceStepper[T kernels.Float] struct {
	t        *Trainer
	ds       *DeviceStep[T]
	evalOpts engine.Options
	evalHost bool // the evaluation program reads the parameters from the host
}

func newDeviceStepper[T kernels.Float](t *Trainer, set kernels.Set[T], evalOpts engine.Options) (stepper, error) {
	ds, err := NewDeviceStep(t.model, t.opt, t.train, t.o.BatchSize, t.o.Loss, t.o.Flatten, set)
	if err != nil {
		return nil, err
	}
	return &deviceStepper[T]{t: t, ds: ds, evalOpts: evalOpts}, nil
}

func (d *deviceStepper[T]) grad(idx []int) (float64, bool, error) { return d.ds.Run(d.t.train, idx) }

func (d *deviceStepper[T]) update(float64) error { return d.ds.Update(d.t.opt.LR()) }

func (d *deviceStepper[T]) toHost(opt bool) error {
	if err := d.ds.SyncParams(); err != nil {
		return err
	}
	if opt {
		return d.ds.SyncOptimizer(d.t.opt)
	}
	return nil
}

func (d *deviceStepper[T]) newEval(batch int) (*EvalProgram, error) {
	ep, shared, err := newDeviceEvalProgram(d.ds, d.t.model, d.t.test, batch, d.t.o.Loss, d.t.o.Flatten, d.evalOpts)
	d.evalHost = !shared
	return ep, err
}

func (d *deviceStepper[T]) beforeEval() error {
	if d.evalHost {
		return d.toHost(false)
	}
	return nil
}

func (d *deviceStepper[T]) attach(p Probe) (func() error, bool, error) {
	dp, ok := p.(DeviceProbe)
	if !ok {
		return nil, false, nil
	}
	detach, err := d.ds.Attach(dp)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("train: device probe: %w", err)
	}
	return detach, true, nil
}

func (d *deviceStepper[T]) close() error { return d.ds.Close() }

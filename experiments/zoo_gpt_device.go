package experiments

import (
	"context"
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/train"
)

// deviceLMStepper is nn.TrainLM's step on a kernel set (an nn.LMStepper
// for nn.TrainLMWith): nn's LM programs compiled on the set, the
// parameters resident there, the gradients left there and a
// train.DeviceUpdate with opt's configuration (SGD, Adam or RMSprop)
// updating both in place; the validation program reads the same parameter
// buffers (engine.Bind). Each step uploads the batch (and the dropout
// masks) and downloads the loss; the logits stay on the set. The programs,
// the dropout masks and the optimizer are those of the host stepper, so
// on the CPU set a run equals the host's bit for bit. Close brings the
// parameters back to the model's tensors and the optimizer's state to opt.
type deviceLMStepper[T kernels.Float] struct {
	tp, ep *nn.LMProgram
	up     *train.DeviceUpdate[T]
	opt    optim.Optimizer // the host optimizer; receives the state at Close
}

// newDeviceLMStepper builds the stepper of m for c on set, with an
// optimizer configured as opt.
func newDeviceLMStepper[T kernels.Float](set kernels.Set[T], opt optim.Optimizer, m *nn.GPT, c nn.LMConfig) (_ nn.LMStepper, err error) {
	for _, p := range m.Params() {
		if p.Frozen {
			return nil, fmt.Errorf("LM on a device: frozen parameter %s is not supported", p.Name)
		}
	}
	s := &deviceLMStepper[T]{opt: opt}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.release())
		}
	}()
	if s.tp, err = nn.NewLMProgramWith(m, nn.Training, c.Batch, c.Context, true, c.Seed, func(n nn.LMNodes) (engine.Options, error) {
		o := engine.OptionsOn(set)
		o.Resident, o.DeviceOutputs = n.Params, append(append(gorgonia.Nodes{}, n.Grads...), n.Logits)
		return o, nil
	}); err != nil {
		return nil, fmt.Errorf("LM device program: %w", err)
	}
	if fb := s.tp.Program().Fallback(); fb != "" {
		return nil, fmt.Errorf("LM device program falls back to the TapeMachine: %s", fb)
	}
	n := s.tp.Nodes()
	if s.up, err = train.NewDeviceUpdate[T](s.tp.Program(), n.Params, n.Grads, opt); err != nil {
		return nil, fmt.Errorf("LM on a device: %w", err)
	}
	if s.ep, err = nn.NewLMProgramWith(m, nn.Evaluation, c.Batch, c.Context, false, 0, func(n nn.LMNodes) (engine.Options, error) {
		o := engine.OptionsOn(set)
		o.Resident, o.DeviceOutputs = n.Params, gorgonia.Nodes{n.Logits}
		for i, p := range n.Params {
			o.Bind = append(o.Bind, engine.Bind[T](p, s.up.Params()[i]))
		}
		return o, nil
	}); err != nil {
		return nil, fmt.Errorf("LM device validation program: %w", err)
	}
	return s, nil
}

func (s *deviceLMStepper[T]) SetLR(lr float64) { s.up.SetLR(lr) }

func (s *deviceLMStepper[T]) Grad(inputs, targets []int) (float64, bool, error) {
	l, err := s.tp.Loss(inputs, targets)
	if err != nil {
		return l, false, err
	}
	finite, err := s.up.Finite()
	return l, finite, err
}

func (s *deviceLMStepper[T]) Update() error { return s.up.Step() }

func (s *deviceLMStepper[T]) Validate(inputs, targets []int) (float64, error) {
	return s.ep.Loss(inputs, targets)
}

// Close downloads the parameters into the model's tensors, hands the
// device optimizer's state to the host optimizer it was configured from
// (as the host stepper leaves it), and releases the programs and the
// optimizer.
func (s *deviceLMStepper[T]) Close() error {
	var err error
	if err = s.tp.Program().Download(s.tp.Nodes().Params...); err != nil {
		err = fmt.Errorf("LM on a device: parameters: %w", err)
	}
	if s.up != nil {
		err = errors.Join(err, s.up.SyncOptimizer(s.opt))
	}
	return errors.Join(err, s.release())
}

// release closes what the stepper holds, the validation program (bound to
// the training program's buffers) first.
func (s *deviceLMStepper[T]) release() error {
	var errs []error
	if s.ep != nil {
		errs = append(errs, s.ep.Close())
	}
	if s.up != nil {
		errs = append(errs, s.up.Close())
	}
	if s.tp != nil {
		errs = append(errs, s.tp.Close())
	}
	return errors.Join(errs...)
}

// trainLM trains m with nn.TrainLM on the host, or with nn.TrainLMWith and
// a deviceLMStepper on dev's set for the model's dtype when dev is not nil.
func trainLM(ctx context.Context, dev *train.Device, m *nn.GPT, opt optim.Optimizer, trainTok, valTok []int, c nn.LMConfig) (nn.LMResult, error) {
	if dev == nil {
		return nn.TrainLM(ctx, m, opt, trainTok, valTok, c)
	}
	var newStepper func(*nn.GPT, nn.LMConfig) (nn.LMStepper, error)
	switch dt := m.Params()[0].Value.Dtype(); dt {
	case gt.Float32:
		if dev.Set32 == nil {
			return nn.LMResult{}, errors.New("device has no float32 kernel set")
		}
		newStepper = func(m *nn.GPT, c nn.LMConfig) (nn.LMStepper, error) { return newDeviceLMStepper(dev.Set32, opt, m, c) }
	case gt.Float64:
		if dev.Set64 == nil {
			return nn.LMResult{}, errors.New("device has no float64 kernel set")
		}
		newStepper = func(m *nn.GPT, c nn.LMConfig) (nn.LMStepper, error) { return newDeviceLMStepper(dev.Set64, opt, m, c) }
	default:
		return nn.LMResult{}, fmt.Errorf("GPT of dtype %v on a device", dt)
	}
	return nn.TrainLMWith(ctx, m, trainTok, valTok, c, newStepper)
}

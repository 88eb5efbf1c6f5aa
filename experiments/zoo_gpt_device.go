package experiments

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
)

// lmDeviceGraph is a GPT's next-token objective on its own graph for
// batches of batch windows of context tokens, in one mode, as
// nn.NewLMProgram builds it: token ids [batch, context] and one-hot next
// tokens [batch·context, vocab] written in place, the mean cross-entropy,
// and the trainable parameter nodes (in the order of Params().Trainable()).
type lmDeviceGraph struct {
	g      *gorgonia.ExprGraph
	m      *nn.GPT // in the graph's mode
	ids    *gt.Dense
	oh     *gt.Dense
	loss   *gorgonia.Node
	params gorgonia.Nodes
}

func newLMDeviceGraph(m *nn.GPT, mode nn.Mode, batch, context int) (*lmDeviceGraph, error) {
	mm := m.WithMode(mode).(*nn.GPT)
	g := gorgonia.NewGraph()
	bind, err := nn.Bind(g, m.Params())
	if err != nil {
		return nil, err
	}
	dt := m.Params()[0].Value.Dtype()
	vocab := m.Config().Vocab
	ids, err := tensor.Zeros(dt, batch, context)
	if err != nil {
		return nil, err
	}
	oh, err := tensor.Zeros(dt, batch*context, vocab)
	if err != nil {
		return nil, err
	}
	xn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(batch, context), gorgonia.WithValue(ids), gorgonia.WithName("tokens"))
	tn := gorgonia.NewMatrix(g, dt, gorgonia.WithShape(batch*context, vocab), gorgonia.WithValue(oh), gorgonia.WithName("next_tokens"))
	logits, err := mm.Forward(bind, xn)
	if err != nil {
		return nil, err
	}
	loss, err := ops.SoftmaxCrossEntropy(logits, tn)
	if err != nil {
		return nil, err
	}
	return &lmDeviceGraph{g: g, m: mm, ids: ids, oh: oh, loss: loss, params: bind.Nodes(m.Params().Trainable())}, nil
}

// fill writes a batch of windows (row-major token ids and next tokens)
// into the graph's input tensors.
func (l *lmDeviceGraph) fill(inputs, targets []int) {
	V := l.m.Config().Vocab
	switch s := l.ids.Data().(type) {
	case []float32:
		oh := l.oh.Data().([]float32)
		clear(oh)
		for i, t := range inputs {
			s[i] = float32(t)
			oh[i*V+targets[i]] = 1
		}
	case []float64:
		oh := l.oh.Data().([]float64)
		clear(oh)
		for i, t := range inputs {
			s[i] = float64(t)
			oh[i*V+targets[i]] = 1
		}
	}
}

// trainLMOnDevice is nn.TrainLM with the training step on a kernel set:
// the parameters stay resident in set's memory, the gradients are left
// there and a DeviceOptimizer with opt's configuration (SGD, Adam or
// RMSprop) updates both in place; the validation program reads the same
// parameter buffers (engine.Bind). Each step uploads the batch (and the
// dropout masks) and downloads the loss; a dot product of every gradient
// with zeros tests it for non-finite elements on the set. The windows, the
// dropout masks, the learning rates and the validation batches are those
// of nn.TrainLM with the same configuration, so on the CPU set the run
// equals the host's bit for bit. At the end the parameters come back to
// the model's tensors.
func trainLMOnDevice[T kernels.Float](ctx context.Context, m *nn.GPT, opt optim.Optimizer, set kernels.Set[T], trainTok, valTok []int,
	c nn.LMConfig) (res nn.LMResult, err error) {
	if c.Steps <= 0 || c.Batch <= 0 {
		return res, fmt.Errorf("LM on a device: need positive steps and batch, got %d and %d", c.Steps, c.Batch)
	}
	if c.Context <= 0 {
		c.Context = m.Config().Context
	}
	if c.EvalBatches <= 0 {
		c.EvalBatches = 8
	}
	for _, p := range m.Params() {
		if p.Frozen {
			return res, fmt.Errorf("LM on a device: frozen parameter %s is not supported", p.Name)
		}
	}
	sampler, err := data.NewWindowSampler(trainTok, c.Context, c.Batch, c.Seed)
	if err != nil {
		return res, err
	}
	vs, err := data.NewWindowSampler(valTok, c.Context, c.Batch, c.Seed^0x76616c)
	if err != nil {
		return res, err
	}
	tg, err := newLMDeviceGraph(m, nn.Training, c.Batch, c.Context)
	if err != nil {
		return res, err
	}
	grads, err := autodiff.Grad(tg.loss, tg.params...)
	if err != nil {
		return res, fmt.Errorf("LM gradient: %w", err)
	}
	eo := engine.Options{Backend: engine.Native, Resident: tg.params, DeviceOutputs: grads}
	if eo.Set32, eo.Set64, err = setsOf(set); err != nil {
		return res, err
	}
	prog, err := engine.CompileWith(tg.g, eo, append(gorgonia.Nodes{tg.loss}, grads...)...)
	if err != nil {
		return res, fmt.Errorf("LM device program: %w", err)
	}
	defer func() { err = errors.Join(err, prog.Close()) }()
	if prog.Fallback() != "" {
		return res, fmt.Errorf("LM device program falls back to the TapeMachine: %s", prog.Fallback())
	}
	params, err := engine.Buffers[T](prog, tg.params...)
	if err != nil {
		return res, err
	}
	gbufs, err := engine.Buffers[T](prog, grads...)
	if err != nil {
		return res, err
	}

	eg, err := newLMDeviceGraph(m, nn.Evaluation, c.Batch, c.Context)
	if err != nil {
		return res, err
	}
	ev := engine.Options{Backend: engine.Native, Resident: eg.params}
	if ev.Set32, ev.Set64, err = setsOf(set); err != nil {
		return res, err
	}
	for i, n := range eg.params {
		ev.Bind = append(ev.Bind, engine.Bind[T](n, params[i]))
	}
	evProg, err := engine.CompileWith(eg.g, ev, eg.loss)
	if err != nil {
		return res, fmt.Errorf("LM device validation program: %w", err)
	}
	defer func() { err = errors.Join(err, evProg.Close()) }()

	shapes := make([][]int, len(tg.params))
	longest := 1
	for i, n := range tg.params {
		shapes[i] = []int(n.Shape().Clone())
		longest = max(longest, gbufs[i].Len())
	}
	dopt, err := optim.NewDeviceFrom(set, opt, shapes)
	if err != nil {
		return res, fmt.Errorf("LM on a device: %w", err)
	}
	defer func() { err = errors.Join(err, dopt.Close()) }()
	zero, err := set.Alloc(longest)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, set.Free(zero)) }()
	if err := set.Fill(zero, 0); err != nil {
		return res, err
	}
	zeros := make([]kernels.Buffer[T], len(gbufs))
	for i, g := range gbufs {
		if zeros[i], err = set.View(zero, 0, g.Len()); err != nil {
			return res, err
		}
	}
	finite := func() (bool, error) {
		// g·0 is 0 for finite g and NaN otherwise.
		for i, g := range gbufs {
			d, err := set.Dot(g, zeros[i])
			if err != nil {
				return false, err
			}
			if d != 0 {
				return false, nil
			}
		}
		return true, nil
	}

	drop := rand.New(rand.NewPCG(c.Seed, 0x64726f70)) // nn.NewLMProgram's dropout stream
	n := c.Batch * c.Context
	in, tgt := make([]int, n), make([]int, n)
	validate := func() (float64, error) {
		if err := vs.SetStep(0); err != nil {
			return math.NaN(), err
		}
		var s float64
		for k := 0; k < c.EvalBatches; k++ {
			if err := vs.NextInto(in, tgt); err != nil {
				return math.NaN(), err
			}
			eg.fill(in, tgt)
			if err := evProg.Run(); err != nil {
				return math.NaN(), err
			}
			l, err := evProg.Scalar(0)
			if err != nil {
				return math.NaN(), err
			}
			s += l
		}
		return s / float64(c.EvalBatches), nil
	}
	var sum float64
	var cnt int
	for step := 0; step < c.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if err := sampler.NextInto(in, tgt); err != nil {
			return res, err
		}
		if c.LR != nil {
			dopt.SetLR(c.LR(step))
		}
		tg.fill(in, tgt)
		if err := tg.m.ResampleDropout(tg.g, drop); err != nil {
			return res, err
		}
		if err := prog.Run(); err != nil {
			return res, fmt.Errorf("LM step %d: %w", step, err)
		}
		l, err := prog.Scalar(0)
		if err != nil {
			return res, fmt.Errorf("LM step %d: %w", step, err)
		}
		ok, err := finite()
		if err != nil {
			return res, fmt.Errorf("LM step %d: %w", step, err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) || !ok {
			return res, fmt.Errorf("LM step %d: loss %v, diverged", step, l)
		}
		if err := dopt.Step(params, gbufs); err != nil {
			return res, fmt.Errorf("LM step %d: %w", step, err)
		}
		sum += l
		cnt++
		res.Steps = step + 1
		if (c.EvalEvery > 0 && res.Steps%c.EvalEvery == 0) || res.Steps == c.Steps {
			v, err := validate()
			if err != nil {
				return res, fmt.Errorf("LM validation at step %d: %w", res.Steps, err)
			}
			res.TrainLoss, res.ValLoss = sum/float64(cnt), v
			if c.Log != nil {
				c.Log(res.Steps, res.TrainLoss, v)
			}
			sum, cnt = 0, 0
		}
	}
	if err := prog.Download(tg.params...); err != nil {
		return res, fmt.Errorf("LM on a device: parameters: %w", err)
	}
	return res, nil
}

// setsOf places set into the engine's float32 or float64 slot.
func setsOf[T kernels.Float](set kernels.Set[T]) (kernels.Set[float32], kernels.Set[float64], error) {
	switch s := any(set).(type) {
	case kernels.Set[float32]:
		return s, nil, nil
	case kernels.Set[float64]:
		return nil, s, nil
	}
	return nil, nil, fmt.Errorf("kernel set %T of an unknown element type", set)
}

// trainLM trains m with nn.TrainLM on the host, or with trainLMOnDevice on
// dev's set for the model's dtype when dev is not nil.
func trainLM(ctx context.Context, dev *train.Device, m *nn.GPT, opt optim.Optimizer, trainTok, valTok []int, c nn.LMConfig) (nn.LMResult, error) {
	if dev == nil {
		return nn.TrainLM(ctx, m, opt, trainTok, valTok, c)
	}
	switch dt := m.Params()[0].Value.Dtype(); dt {
	case gt.Float32:
		if dev.Set32 == nil {
			return nn.LMResult{}, errors.New("device has no float32 kernel set")
		}
		return trainLMOnDevice(ctx, m, opt, dev.Set32, trainTok, valTok, c)
	case gt.Float64:
		if dev.Set64 == nil {
			return nn.LMResult{}, errors.New("device has no float64 kernel set")
		}
		return trainLMOnDevice(ctx, m, opt, dev.Set64, trainTok, valTok, c)
	default:
		return nn.LMResult{}, fmt.Errorf("GPT of dtype %v on a device", dt)
	}
}

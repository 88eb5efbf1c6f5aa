package experiments

import (
	"fmt"
	"io"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/train"
)

// optimParams are the optimizer keys shared by experiments that train with
// a configurable first-order method.
func optimParams(name string, lr float64, schedule string) []config.Param {
	return []config.Param{
		{Key: "optim.name", Default: name, Help: "sgd, adam, adamw or rmsprop"},
		{Key: "optim.lr", Default: lr, Help: "peak learning rate"},
		{Key: "optim.momentum", Default: 0.9, Help: "SGD momentum"},
		{Key: "optim.beta1", Default: 0.9, Help: "Adam β₁"},
		{Key: "optim.beta2", Default: 0.999, Help: "Adam β₂ / RMSprop α"},
		{Key: "optim.eps", Default: 1e-8, Help: "Adam / RMSprop ε"},
		{Key: "optim.weight_decay", Default: 0.0, Help: "weight decay (decoupled for adamw, coupled otherwise)"},
		{Key: "optim.schedule", Default: schedule, Help: "constant or cosine (decay to 0 over the run)"},
	}
}

// trainerParams are the keys of a classifier trained by train.Trainer: its
// dtype and the training loop's cadence.
func trainerParams(epochs int) []config.Param {
	return []config.Param{
		{Key: "model.dtype", Default: "float32", Help: "float32 or float64"},
		{Key: "train.epochs", Default: epochs, Help: "training epochs"},
		{Key: "train.batch_size", Default: 128, Help: "minibatch size"},
		{Key: "train.log_every", Default: 50, Help: "steps between metric records"},
		{Key: "train.eval_every", Default: 0, Help: "steps between test evaluations (0 = every epoch)"},
		{Key: "train.checkpoint_every", Default: 0, Help: "steps between checkpoints (0 = every epoch)"},
	}
}

// newClassifierTrainer builds the optimizer (optim.* keys) and the trainer
// (trainerParams' keys) of a cross-entropy classifier for env: on env's
// device when one is given, writing env's run directory. It returns the
// trainer and its number of steps.
func newClassifierTrainer(cfg *config.Config, env *Env, model nn.Model, trainSet, testSet *data.Dataset, flatten bool,
	progress io.Writer, bar bool) (*train.Trainer, int, error) {
	epochs, batch := cfg.Int("train.epochs"), cfg.Int("train.batch_size")
	if batch <= 0 || batch > trainSet.Len() {
		return nil, 0, fmt.Errorf("train.batch_size %d: want 1..%d", batch, trainSet.Len())
	}
	total := epochs * (trainSet.Len() / batch)
	opt, sched, err := newOptimizer(cfg, total)
	if err != nil {
		return nil, 0, err
	}
	tr, err := train.New(model, opt, trainSet, testSet, train.Options{
		Device: env.TrainDevice,
		Epochs: epochs, BatchSize: batch, Seed: env.Seed, Loss: objective.CrossEntropy, Flatten: flatten,
		LogEvery: cfg.Int("train.log_every"), EvalEvery: cfg.Int("train.eval_every"),
		CheckpointEvery: cfg.Int("train.checkpoint_every"),
		Dir:             env.Dir, Resume: env.Resume, LR: sched,
		Progress: progress, Bar: bar,
	})
	return tr, total, err
}

// newOptimizer builds the optimizer and its learning-rate schedule.
func newOptimizer(cfg *config.Config, totalSteps int) (optim.Optimizer, optim.Schedule, error) {
	lr := cfg.Float("optim.lr")
	if lr <= 0 {
		return nil, nil, fmt.Errorf("optim.lr must be positive, got %g", lr)
	}
	wd := cfg.Float("optim.weight_decay")
	var (
		o   optim.Optimizer
		err error
	)
	switch name := cfg.String("optim.name"); name {
	case "sgd":
		o, err = optim.NewSGD(optim.SGDConfig{LR: lr, Momentum: cfg.Float("optim.momentum"), WeightDecay: wd})
	case "adam", "adamw":
		c := optim.AdamConfig{LR: lr, Beta1: cfg.Float("optim.beta1"), Beta2: cfg.Float("optim.beta2"), Eps: cfg.Float("optim.eps")}
		if name == "adam" {
			c.WeightDecay = wd
			o, err = optim.NewAdam(c)
		} else {
			o, err = optim.NewAdamW(c, wd)
		}
	case "rmsprop":
		o, err = optim.NewRMSprop(optim.RMSpropConfig{LR: lr, Alpha: cfg.Float("optim.beta2"), Eps: cfg.Float("optim.eps"), WeightDecay: wd})
	default:
		return nil, nil, fmt.Errorf("optim.name %q: want sgd, adam, adamw or rmsprop", name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("optimizer: %w", err)
	}
	var sched optim.Schedule
	switch s := cfg.String("optim.schedule"); s {
	case "constant":
		sched = optim.Constant(lr)
	case "cosine":
		if sched, err = optim.Cosine(lr, 0, totalSteps); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("optim.schedule %q: want constant or cosine", s)
	}
	return o, sched, nil
}

// loadSplits loads the training and test splits with load from the
// config's data.dir, keeping the first data.train_size training examples
// and, where the experiment has the key, the first data.test_size test
// examples (0 keeps all).
func loadSplits(cfg *config.Config, load func(split, dir string) (*data.Dataset, error)) (trainSet, testSet *data.Dataset, err error) {
	dir := cfg.String("data.dir")
	if trainSet, err = load("train", dir); err != nil {
		return nil, nil, err
	}
	if testSet, err = load("test", dir); err != nil {
		return nil, nil, err
	}
	if n := cfg.Int("data.train_size"); n > 0 {
		if n > trainSet.Len() {
			return nil, nil, fmt.Errorf("data.train_size %d exceeds the %d training examples", n, trainSet.Len())
		}
		trainSet = trainSet.Head(n)
	}
	if _, ok := cfg.Lookup("data.test_size"); ok {
		if n := cfg.Int("data.test_size"); n > 0 {
			if n > testSet.Len() {
				return nil, nil, fmt.Errorf("data.test_size %d exceeds the %d test examples", n, testSet.Len())
			}
			testSet = testSet.Head(n)
		}
	}
	return trainSet, testSet, nil
}

// normalizeByFirst normalizes every set in place by the per-channel mean and
// standard deviation of the first (the training set).
func normalizeByFirst(sets ...*data.Dataset) error {
	mean, std := sets[0].MeanStd()
	for _, ds := range sets {
		if err := ds.Normalize(mean, std); err != nil {
			return err
		}
	}
	return nil
}

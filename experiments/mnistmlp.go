package experiments

import (
	"context"
	"fmt"
	"math"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// MNISTMLP trains a fully connected classifier on the full MNIST training
// set and checks its test accuracy: the end-to-end path of the framework.
func MNISTMLP() *Experiment {
	params := []config.Param{
		{Key: "data.dir", Default: "", Help: "folder with the MNIST IDX files (default: the GoMNIST module's data folder)"},
		{Key: "data.train_size", Default: 0, Help: "use the first N training images (0 = all 60,000)"},
		{Key: "model.hidden", Default: []int{512, 512}, Help: "hidden layer widths"},
		{Key: "model.activation", Default: "relu", Help: "relu, tanh, gelu, sigmoid or leaky_relu:<alpha>"},
		{Key: "check.min_test_acc", Default: 0.98, Help: "verdict: minimum final test accuracy"},
	}
	params = append(params, trainerParams(8)...)
	params = append(params, optimParams("adam", 1e-3, "cosine")...)
	return &Experiment{
		Name:        "mnist-mlp",
		Description: "MLP on the full MNIST training set; verdict on test accuracy (end-to-end check of the framework)",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"model.hidden": []int{1024, 1024}, "train.epochs": 20},
		},
		FullRuntime: "about 1 minute on one GPU once the CUDA kernel set lands; about 6 minutes on a 2-core CPU today",
		Device:      true,
		Run:         runMNISTMLP,
		Curvature:   mnistMLPCurvature,
	}
}

// mnistMLPCurvature builds mnist-mlp's model (seeded by the config's seed)
// and datasets (training subset, normalization by the training set's
// statistics): the setup of a run, and of Hessian measurements on one of
// its checkpoints.
func mnistMLPCurvature(cfg *config.Config) (*CurvatureSetup, error) {
	trainSet, testSet, err := loadSplits(cfg, data.LoadMNIST)
	if err != nil {
		return nil, err
	}
	if err := normalizeByFirst(trainSet, testSet); err != nil {
		return nil, err
	}
	dt, err := parseDtype(cfg.String("model.dtype"))
	if err != nil {
		return nil, err
	}
	act, err := nn.ParseActivation(cfg.String("model.activation"))
	if err != nil {
		return nil, err
	}
	widths := append([]int{trainSet.ExampleSize()}, cfg.Ints("model.hidden")...)
	widths = append(widths, trainSet.Classes)
	model, err := nn.NewMLP(tensor.NewRNG(uint64(cfg.Int("seed")), 0), dt, widths, act, tensor.KaimingUniform())
	if err != nil {
		return nil, err
	}
	return &CurvatureSetup{Model: model, Train: trainSet, Test: testSet, Loss: objective.CrossEntropy, Flatten: true}, nil
}

func parseDtype(s string) (gt.Dtype, error) {
	switch s {
	case "float32":
		return gt.Float32, nil
	case "float64":
		return gt.Float64, nil
	}
	return gt.Dtype{}, fmt.Errorf("model.dtype %q: want float32 or float64", s)
}

func runMNISTMLP(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	setup, err := mnistMLPCurvature(cfg)
	if err != nil {
		return nil, err
	}
	model, trainSet, testSet := setup.Model.(*nn.MLP), setup.Train, setup.Test
	widths, dt := model.Widths, model.Params()[0].Value.Dtype()
	tr, total, err := newClassifierTrainer(cfg, env, model, trainSet, testSet, true, env.Progress, env.Bar)
	if err != nil {
		return nil, err
	}
	env.Logf("model: MLP %v (%d parameters, %s), %d steps", widths, model.Params().Count(), dt, total)
	res, err := tr.Run(ctx)
	if err != nil {
		return nil, err
	}
	out := &Outcome{
		Checks: []Check{AtLeast("test_accuracy", res.Test.Accuracy, cfg.Float("check.min_test_acc"))},
		Values: map[string]any{
			"test_accuracy":    res.Test.Accuracy,
			"test_loss":        res.Test.Loss,
			"train_loss":       res.TrainLoss,
			"steps":            res.Steps,
			"parameters":       model.Params().Count(),
			"train_seconds":    math.Round(res.Wall.Seconds()*100) / 100,
			"resumed":          res.Resumed,
			"train_examples":   trainSet.Len(),
			"test_examples":    res.Test.N,
			"steps_per_second": float64(res.Steps) / res.Wall.Seconds(),
		},
	}
	return out, nil
}

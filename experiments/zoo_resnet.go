package experiments

import (
	"context"
	"math"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/tensor"
)

// ZooResNet trains a batch-norm ResNet on Fashion-MNIST (a ResNet-8 with
// widths 16, 32, 64 in the small preset, ResNet-20 in the full one) and
// checks its test accuracy; it also reports the wall time per epoch.
func ZooResNet() *Experiment {
	params := []config.Param{
		{Key: "data.dir", Default: "", Help: "folder with the Fashion-MNIST IDX files (default: " + data.FashionMNISTDir + ")"},
		{Key: "data.train_size", Default: 0, Help: "use the first N training images (0 = all 60,000)"},
		{Key: "data.test_size", Default: 0, Help: "evaluate on the first N test images (0 = all 10,000)"},
		{Key: "model.widths", Default: []int{16, 32, 64}, Help: "channels of the ResNet stages"},
		{Key: "model.blocks", Default: []int{1, 1, 1}, Help: "basic blocks per stage ([1,1,1] = ResNet-8, [3,3,3] = ResNet-20)"},
		{Key: "model.activation", Default: "relu", Help: "relu, gelu, tanh or leaky_relu:<alpha>"},
		{Key: "check.min_test_acc", Default: 0.90, Help: "verdict: minimum final test accuracy"},
	}
	params = append(params, trainerParams(4)...)
	params = append(params, optimParams("adam", 2e-3, "cosine")...)
	return &Experiment{
		Name:        "zoo-resnet-fmnist",
		Description: "batch-norm ResNet (small: ResNet-8, full: ResNet-20) on Fashion-MNIST; verdict on test accuracy ≥ 90%, reports time per epoch",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"model.blocks": []int{3, 3, 3}, "train.epochs": 10},
		},
		FullRuntime: "small (ResNet-8, 4 epochs): 22 minutes on the 2-core CPU at load ≈ 4, about an hour at load ≈ 15; full (ResNet-20, 10 epochs): several hours",
		Device:      true,
		Run:         runZooResNet,
	}
}

func runZooResNet(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	trainSet, testSet, err := loadSplits(cfg, data.LoadFashionMNIST)
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
	rc := nn.ResNetConfig{InChannels: trainSet.Channels(), Classes: trainSet.Classes,
		Widths: cfg.Ints("model.widths"), Blocks: cfg.Ints("model.blocks"), Act: act}
	model, err := nn.NewResNet(tensor.NewRNG(env.Seed, 0), dt, rc)
	if err != nil {
		return nil, err
	}
	tr, total, err := newClassifierTrainer(cfg, env, model, trainSet, testSet, false, env.Out, false)
	if err != nil {
		return nil, err
	}
	env.Logf("model: ResNet widths %v blocks %v (%d trainable parameters, %s), %d steps",
		rc.Widths, rc.Blocks, model.Params().Trainable().Count(), dt, total)
	res, err := tr.Run(ctx)
	if err != nil {
		return nil, err
	}
	perEpoch := res.Wall.Seconds() / math.Max(1, float64(res.Epochs))
	return &Outcome{
		Checks: []Check{AtLeast("test_accuracy", res.Test.Accuracy, cfg.Float("check.min_test_acc"))},
		Values: map[string]any{
			"test_accuracy":     res.Test.Accuracy,
			"test_loss":         res.Test.Loss,
			"train_loss":        res.TrainLoss,
			"steps":             res.Steps,
			"trainable_params":  model.Params().Trainable().Count(),
			"train_seconds":     math.Round(res.Wall.Seconds()*100) / 100,
			"seconds_per_epoch": math.Round(perEpoch*100) / 100,
			"train_examples":    trainSet.Len(),
			"resumed":           res.Resumed,
		},
	}, nil
}

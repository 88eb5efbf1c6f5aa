package experiments

import (
	"context"
	"fmt"
	"math"
	"time"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/metrics"
)

// ZooSimCLR pre-trains a small ResNet encoder with a contrastive loss on
// unlabelled Fashion-MNIST images and compares a linear probe on its
// features with a probe on the same encoder at initialization.
func ZooSimCLR() *Experiment {
	params := []config.Param{
		{Key: "data.dir", Default: "", Help: "folder with the Fashion-MNIST IDX files"},
		{Key: "data.train_size", Default: 10000, Help: "unlabelled images for pre-training (first N)"},
		{Key: "data.probe_train", Default: 5000, Help: "labelled images for the linear probe"},
		{Key: "data.probe_test", Default: 2000, Help: "test images for the probe"},
		{Key: "model.widths", Default: []int{8, 16, 32}, Help: "encoder ResNet stage widths"},
		{Key: "model.blocks", Default: []int{1, 1, 1}, Help: "encoder blocks per stage"},
		{Key: "model.proj_hidden", Default: 64, Help: "projection head hidden width"},
		{Key: "model.proj_out", Default: 32, Help: "projection dimension"},
		{Key: "train.loss", Default: "infonce", Help: "infonce or spectral"},
		{Key: "train.temperature", Default: 0.2, Help: "InfoNCE temperature"},
		{Key: "train.steps", Default: 1000, Help: "contrastive steps"},
		{Key: "train.batch_size", Default: 64, Help: "images per step (two views each)"},
		{Key: "train.lr", Default: 1e-3, Help: "Adam learning rate"},
		{Key: "aug.crop_pad", Default: 3, Help: "random-crop padding in pixels"},
		{Key: "aug.flip", Default: 0.5, Help: "horizontal flip probability"},
		{Key: "aug.noise", Default: 0.2, Help: "Gaussian noise std (normalized units)"},
		{Key: "probe.epochs", Default: 20, Help: "linear probe epochs"},
		{Key: "check.min_gain", Default: 0.02, Help: "verdict: probe accuracy after pre-training minus at initialization, at least (two points)"},
	}
	return &Experiment{
		Name:        "zoo-simclr-fmnist",
		Description: "SimCLR pre-training of a small ResNet on Fashion-MNIST; linear-probe accuracy against the same encoder at initialization",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"data.train_size": 60000, "train.steps": 3000, "model.widths": []int{16, 32, 64}},
		},
		FullRuntime: "small: about 11 minutes on a loaded 2-core CPU",
		Run:         runZooSimCLR,
	}
}

func runZooSimCLR(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	full, err := data.LoadFashionMNIST("train", cfg.String("data.dir"))
	if err != nil {
		return nil, err
	}
	testFull, err := data.LoadFashionMNIST("test", cfg.String("data.dir"))
	if err != nil {
		return nil, err
	}
	pre := full.Head(cfg.Int("data.train_size"))
	mean, std := pre.MeanStd()
	probeTrain, probeTest := full.Head(cfg.Int("data.probe_train")), testFull.Head(cfg.Int("data.probe_test"))
	for _, ds := range []*data.Dataset{pre, probeTrain, probeTest} {
		if err := ds.Normalize(mean, std); err != nil {
			return nil, err
		}
	}
	enc, err := nn.NewResNet(tensor.NewRNG(env.Seed, 0), gt.Float32, nn.ResNetConfig{InChannels: pre.Channels(),
		Widths: cfg.Ints("model.widths"), Blocks: cfg.Ints("model.blocks"), Features: true})
	if err != nil {
		return nil, err
	}
	model, err := nn.NewSimCLR(tensor.NewRNG(env.Seed, 1), gt.Float32, enc, enc.FeatureDim(), cfg.Int("model.proj_hidden"), cfg.Int("model.proj_out"))
	if err != nil {
		return nil, err
	}
	pc := nn.ProbeConfig{Epochs: cfg.Int("probe.epochs"), Batch: 100, LR: 1e-2, Seed: env.Seed}
	probe := func() (float64, error) {
		ftr, err := nn.Features(enc, probeTrain, 500)
		if err != nil {
			return math.NaN(), err
		}
		fte, err := nn.Features(enc, probeTest, 500)
		if err != nil {
			return math.NaN(), err
		}
		_, acc, err := nn.TrainLinearProbe(ftr, fte, pc)
		return acc, err
	}
	acc0, err := probe()
	if err != nil {
		return nil, err
	}
	env.Logf("encoder ResNet %v %v (%d parameters): linear probe at initialization %.4f", cfg.Ints("model.widths"), cfg.Ints("model.blocks"), enc.Params().Count(), acc0)

	opt, err := optim.NewAdam(optim.AdamConfig{LR: cfg.Float("train.lr"), Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		return nil, err
	}
	batch, steps := cfg.Int("train.batch_size"), cfg.Int("train.steps")
	tr, err := nn.NewSimCLRTrainer(model, opt, nn.ContrastiveLoss(cfg.String("train.loss")), batch, pre.Shape, cfg.Float("train.temperature"))
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	mw, err := metrics.Create(env.Dir)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	augs := [2]*data.Augmenter{data.NewAugmenter(env.Seed), data.NewAugmenter(env.Seed + 1)}
	es := pre.ExampleSize()
	shape := pre.Shape
	views := [2][]float32{make([]float32, batch*es), make([]float32, batch*es)}
	perEpoch := pre.Len() / batch
	start := time.Now()
	var sum float64
	var cnt int
	for step := 0; step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		perm := data.Permutation(pre.Len(), env.Seed, uint64(step/perEpoch))
		pos := step % perEpoch
		for v, a := range augs {
			for r, i := range perm[pos*batch : (pos+1)*batch] {
				copy(views[v][r*es:(r+1)*es], pre.Example(i))
			}
			a.Seek(uint64(step))
			if err := a.RandomCrop(views[v], shape, cfg.Int("aug.crop_pad")); err != nil {
				return nil, err
			}
			if err := a.HorizontalFlip(views[v], shape, cfg.Float("aug.flip")); err != nil {
				return nil, err
			}
			a.GaussianNoise(views[v], cfg.Float("aug.noise"))
		}
		l, err := tr.Step(views[0], views[1])
		if err != nil {
			return nil, fmt.Errorf("contrastive step %d: %w", step, err)
		}
		sum += l
		cnt++
		if (step+1)%50 == 0 || step+1 == steps {
			env.Logf("step %d: %s loss %.4f (%.0fs)", step+1, cfg.String("train.loss"), sum/float64(cnt), time.Since(start).Seconds())
			if err := mw.Write(metrics.Record{Step: step + 1, Loss: sum / float64(cnt)}); err != nil {
				return nil, err
			}
			sum, cnt = 0, 0
		}
	}
	wall := time.Since(start)
	if err := mw.WriteSummary(); err != nil {
		return nil, err
	}
	acc1, err := probe()
	if err != nil {
		return nil, err
	}
	env.Logf("linear probe after pre-training %.4f (at initialization %.4f)", acc1, acc0)
	return &Outcome{
		Checks: []Check{AtLeast("probe_gain", acc1-acc0, cfg.Float("check.min_gain"))},
		Values: map[string]any{
			"probe_acc_pretrained": acc1,
			"probe_acc_init":       acc0,
			"steps":                steps,
			"pretrain_seconds":     math.Round(wall.Seconds()*100) / 100,
			"seconds_per_step":     wall.Seconds() / float64(max(1, steps)),
			"encoder_params":       enc.Params().Count(),
		},
	}, nil
}

package experiments

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"time"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train"
	"github.com/gradlab/gradlab/train/metrics"
)

// ZooGAN trains a conditional GAN on MNIST, saves a PNG grid of samples per
// class, and checks that a classifier trained on the real digits labels the
// samples with their conditioning class.
func ZooGAN() *Experiment {
	params := []config.Param{
		{Key: "data.dir", Default: "", Help: "folder with the MNIST IDX files (default: the GoMNIST module's data folder)"},
		{Key: "data.train_size", Default: 0, Help: "use the first N training images for the GAN and the judge (0 = all 60,000)"},
		{Key: "model.arch", Default: "mlp", Help: "mlp or dcgan"},
		{Key: "model.zdim", Default: 64, Help: "noise dimension"},
		{Key: "model.g_hidden", Default: []int{256, 512}, Help: "generator widths (dcgan: first feature-map channels)"},
		{Key: "model.d_hidden", Default: []int{512, 256}, Help: "discriminator widths (dcgan: first conv channels)"},
		{Key: "train.steps", Default: 6000, Help: "GAN steps (one update of each network)"},
		{Key: "train.batch_size", Default: 64, Help: "real images per step"},
		{Key: "train.lr", Default: 2e-4, Help: "Adam learning rate of both networks"},
		{Key: "train.beta1", Default: 0.5, Help: "Adam β₁ of both networks"},
		{Key: "train.eval_every", Default: 1000, Help: "steps between agreement measurements"},
		{Key: "classifier.epochs", Default: 2, Help: "epochs of the judging MLP classifier on real MNIST"},
		{Key: "eval.per_class", Default: 100, Help: "generated samples per class for the agreement"},
		{Key: "check.min_agreement", Default: 0.8, Help: "verdict: minimum fraction of samples classified as their conditioning label"},
	}
	return &Experiment{
		Name:        "zoo-cgan-mnist",
		Description: "conditional GAN on MNIST; verdict: a classifier trained on real digits agrees with the conditioning label on ≥ 80% of the samples; PNG grids per class",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"train.steps": 20000},
		},
		FullRuntime: "small: about 4 minutes on a loaded 2-core CPU (MLP GAN, 6000 steps)",
		Run:         runZooGAN,
	}
}

func runZooGAN(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	trainSet, testSet, err := loadSplits(cfg, data.LoadMNIST)
	if err != nil {
		return nil, err
	}
	for _, ds := range []*data.Dataset{trainSet, testSet} {
		for i, v := range ds.X {
			ds.X[i] = 2*v - 1
		}
	}
	im := [3]int{trainSet.Shape[0], trainSet.Shape[1], trainSet.Shape[2]}
	K := trainSet.Classes

	// The judge: an MLP trained on the real digits.
	judge, err := nn.NewMLP(tensor.NewRNG(env.Seed, 9), gt.Float32, []int{trainSet.ExampleSize(), 256, K}, nn.Activation{Name: "relu"}, tensor.KaimingUniform())
	if err != nil {
		return nil, err
	}
	jopt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		return nil, err
	}
	jt, err := train.New(judge, jopt, trainSet, testSet, train.Options{Epochs: cfg.Int("classifier.epochs"), BatchSize: 128, Seed: env.Seed, Flatten: true, LogEvery: 1 << 30})
	if err != nil {
		return nil, err
	}
	jres, err := jt.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("classifier: %w", err)
	}
	env.Logf("classifier on real MNIST: test accuracy %.4f", jres.Test.Accuracy)

	gc := nn.GANConfig{Image: im, Classes: K, ZDim: cfg.Int("model.zdim"), Hidden: cfg.Ints("model.g_hidden")}
	dc := nn.GANConfig{Image: im, Classes: K, Hidden: cfg.Ints("model.d_hidden")}
	var (
		gen  nn.Generator
		disc nn.Conditional
	)
	switch a := cfg.String("model.arch"); a {
	case "mlp":
		if gen, err = nn.NewMLPGenerator(tensor.NewRNG(env.Seed, 1), gt.Float32, gc); err != nil {
			return nil, err
		}
		disc, err = nn.NewMLPDiscriminator(tensor.NewRNG(env.Seed, 2), gt.Float32, dc)
	case "dcgan":
		if gen, err = nn.NewDCGenerator(tensor.NewRNG(env.Seed, 1), gt.Float32, gc); err != nil {
			return nil, err
		}
		disc, err = nn.NewDCDiscriminator(tensor.NewRNG(env.Seed, 2), gt.Float32, dc)
	default:
		return nil, fmt.Errorf("model.arch %q: want mlp or dcgan", a)
	}
	if err != nil {
		return nil, err
	}
	adam := func() (optim.Optimizer, error) {
		return optim.NewAdam(optim.AdamConfig{LR: cfg.Float("train.lr"), Beta1: cfg.Float("train.beta1"), Beta2: 0.999, Eps: 1e-8})
	}
	optG, err := adam()
	if err != nil {
		return nil, err
	}
	optD, err := adam()
	if err != nil {
		return nil, err
	}
	batch, steps := cfg.Int("train.batch_size"), cfg.Int("train.steps")
	tr, err := nn.NewGANTrainer(gen, disc, optG, optD, batch, env.Seed)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	env.Logf("GAN %s: generator %d parameters, discriminator %d, %d steps of batch %d",
		cfg.String("model.arch"), gen.Params().Count(), disc.Params().Count(), steps, batch)

	perClass := cfg.Int("eval.per_class")
	evalLabels := make([]int, perClass*K)
	for i := range evalLabels {
		evalLabels[i] = i / perClass
	}
	ep, err := train.NewEvalProgram(judge, &data.Dataset{Name: "samples", Shape: trainSet.Shape, Classes: K}, perClass, objective.CrossEntropy, true)
	if err != nil {
		return nil, err
	}
	defer ep.Close()
	agreement := func() (float64, []float32, error) {
		x, err := nn.GenerateImages(gen, evalLabels, env.Seed+1000)
		if err != nil {
			return math.NaN(), nil, err
		}
		e, err := ep.Run(&data.Dataset{Name: "samples", X: x, Shape: trainSet.Shape, Y: evalLabels, Classes: K}, 0)
		if err != nil {
			return math.NaN(), nil, err
		}
		return e.Accuracy, x, nil
	}

	mw, err := metrics.Create(env.Dir)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	es := trainSet.ExampleSize()
	images := make([]float32, batch*es)
	labels := make([]int, batch)
	perEpoch := trainSet.Len() / batch
	start := time.Now()
	var sumD, sumG float64
	var n int
	var agree float64
	var samples []float32
	for step := 0; step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		epoch, pos := step/perEpoch, step%perEpoch
		perm := data.Permutation(trainSet.Len(), env.Seed, uint64(epoch))
		for r, i := range perm[pos*batch : (pos+1)*batch] {
			copy(images[r*es:(r+1)*es], trainSet.Example(i))
			labels[r] = trainSet.Y[i]
		}
		ld, lg, err := tr.Step(images, labels)
		if err != nil {
			return nil, fmt.Errorf("GAN step %d: %w", step, err)
		}
		sumD, sumG, n = sumD+ld, sumG+lg, n+1
		last := step+1 == steps
		if (step+1)%cfg.Int("train.eval_every") == 0 || last {
			if agree, samples, err = agreement(); err != nil {
				return nil, err
			}
			env.Logf("step %d: loss D %.4f G %.4f, agreement %.4f (%.0fs)", step+1, sumD/float64(n), sumG/float64(n), agree, time.Since(start).Seconds())
			if err := mw.Write(metrics.Record{Step: step + 1, Epoch: epoch, Loss: sumD / float64(n),
				Values: map[string]float64{"loss_g": sumG / float64(n), "agreement": agree}}); err != nil {
				return nil, err
			}
			sumD, sumG, n = 0, 0, 0
		}
	}
	wall := time.Since(start)
	if err := mw.WriteSummary(); err != nil {
		return nil, err
	}
	// PNG grids: one per class (its first samples) and an overview with one
	// row per class.
	side := int(math.Ceil(math.Sqrt(float64(perClass))))
	dir := filepath.Join(env.Dir, "samples")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for k := 0; k < K; k++ {
		idx := make([]int, perClass)
		for i := range idx {
			idx[i] = k*perClass + i
		}
		if err := savePNGGrid(filepath.Join(dir, fmt.Sprintf("class_%d.png", k)), samples, idx, im, side); err != nil {
			return nil, err
		}
	}
	var over []int
	cols := min(10, perClass)
	for k := 0; k < K; k++ {
		for i := 0; i < cols; i++ {
			over = append(over, k*perClass+i)
		}
	}
	if err := os.MkdirAll(filepath.Join(env.Dir, "plots"), 0o755); err != nil {
		return nil, err
	}
	if err := savePNGGrid(filepath.Join(env.Dir, "plots", "gan_samples.png"), samples, over, im, cols); err != nil {
		return nil, err
	}
	return &Outcome{
		Checks: []Check{AtLeast("sample_agreement", agree, cfg.Float("check.min_agreement"))},
		Values: map[string]any{
			"sample_agreement":     agree,
			"classifier_test_acc":  jres.Test.Accuracy,
			"gan_steps":            steps,
			"gan_seconds":          math.Round(wall.Seconds()*100) / 100,
			"seconds_per_step":     wall.Seconds() / float64(max(1, steps)),
			"generator_params":     gen.Params().Count(),
			"discriminator_params": disc.Params().Count(),
		},
	}, nil
}

// savePNGGrid writes the examples idx of x (pixels in [−1, 1], shape im,
// one or three channels) as a grayscale or colour grid with cols columns
// and a one-pixel border.
func savePNGGrid(path string, x []float32, idx []int, im [3]int, cols int) error {
	c, h, w := im[0], im[1], im[2]
	rows := (len(idx) + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, cols*(w+1)+1, rows*(h+1)+1))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	es := c * h * w
	px := func(v float32) uint8 { return uint8(math.Round(float64(max(0, min(1, (v+1)/2))) * 255)) }
	for n, e := range idx {
		r, q := n/cols, n%cols
		for yy := 0; yy < h; yy++ {
			for xx := 0; xx < w; xx++ {
				var col color.RGBA
				if c == 3 {
					col = color.RGBA{px(x[e*es+yy*w+xx]), px(x[e*es+h*w+yy*w+xx]), px(x[e*es+2*h*w+yy*w+xx]), 255}
				} else {
					g := px(x[e*es+yy*w+xx])
					col = color.RGBA{g, g, g, 255}
				}
				img.SetRGBA(1+q*(w+1)+xx, 1+r*(h+1)+yy, col)
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

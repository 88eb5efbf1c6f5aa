package experiments

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gradlab/gradlab/config"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/metrics"
)

// ZooGPT trains a character-level GPT on a text (Newton's Opticks by
// default) and checks that its validation loss falls below the unigram
// baseline by the configured fraction; it writes a sample of generated
// text to sample.txt. With --device it trains on the device's kernel set
// (a deviceLMStepper); the sample is drawn on the host.
func ZooGPT() *Experiment {
	params := []config.Param{
		{Key: "data.path", Default: "", Help: "UTF-8 text file (default: the Opticks text shipped with Go)"},
		{Key: "data.val_frac", Default: 0.1, Help: "last fraction of the text held out for validation"},
		{Key: "model.layers", Default: 2, Help: "transformer blocks"},
		{Key: "model.heads", Default: 4, Help: "attention heads"},
		{Key: "model.width", Default: 64, Help: "embedding width"},
		{Key: "model.context", Default: 64, Help: "context length in characters"},
		{Key: "model.tie_weights", Default: false, Help: "share the token embedding with the output head"},
		{Key: "model.dropout", Default: 0.0, Help: "dropout probability in training mode"},
		{Key: "model.dtype", Default: "float32", Help: "float32 or float64"},
		{Key: "train.steps", Default: 600, Help: "optimizer steps"},
		{Key: "train.batch_size", Default: 32, Help: "windows per step"},
		{Key: "train.lr", Default: 3e-3, Help: "Adam peak learning rate (linear warm-up, cosine decay)"},
		{Key: "train.warmup", Default: 50, Help: "warm-up steps"},
		{Key: "train.eval_every", Default: 100, Help: "steps between validation passes"},
		{Key: "train.eval_batches", Default: 8, Help: "validation batches per pass (fixed windows)"},
		{Key: "sample.chars", Default: 400, Help: "characters to generate at the end"},
		{Key: "sample.temperature", Default: 0.8, Help: "sampling temperature"},
		{Key: "sample.prompt", Default: "Light ", Help: "prompt of the generated sample"},
		{Key: "check.max_val_ratio", Default: 0.7, Help: "verdict: validation loss / unigram cross-entropy at most this"},
	}
	return &Experiment{
		Name:        "zoo-gpt-text",
		Description: "character-level GPT on Newton's Opticks; verdict: validation loss at least 30% below the unigram baseline; prints a sample",
		Params:      params,
		Presets: map[string]map[string]any{
			"small": {},
			"full":  {"model.layers": 4, "model.width": 128, "model.context": 128, "train.steps": 3000},
		},
		FullRuntime: "small: a few minutes on a loaded 2-core CPU",
		Device:      true,
		Run:         runZooGPT,
	}
}

func runZooGPT(ctx context.Context, env *Env) (*Outcome, error) {
	cfg := env.Config
	corpus, err := data.LoadText(cfg.String("data.path"))
	if err != nil {
		return nil, err
	}
	trainTok, valTok, err := corpus.Split(cfg.Float("data.val_frac"))
	if err != nil {
		return nil, err
	}
	dt, err := parseDtype(cfg.String("model.dtype"))
	if err != nil {
		return nil, err
	}
	gc := nn.GPTConfig{Vocab: corpus.Vocab.Size(), Context: cfg.Int("model.context"), Layers: cfg.Int("model.layers"),
		Heads: cfg.Int("model.heads"), Width: cfg.Int("model.width"), TieWeights: cfg.Bool("model.tie_weights"),
		Dropout: cfg.Float("model.dropout")}
	model, err := nn.NewGPT(tensor.NewRNG(env.Seed, 0), dt, gc)
	if err != nil {
		return nil, err
	}
	unigram, err := nn.UnigramCrossEntropy(trainTok, valTok, gc.Vocab)
	if err != nil {
		return nil, err
	}
	steps := cfg.Int("train.steps")
	cos, err := optim.Cosine(cfg.Float("train.lr"), cfg.Float("train.lr")/10, steps)
	if err != nil {
		return nil, err
	}
	sched, err := optim.Warmup(cos, cfg.Int("train.warmup"))
	if err != nil {
		return nil, err
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: cfg.Float("train.lr"), Beta1: 0.9, Beta2: 0.99, Eps: 1e-8})
	if err != nil {
		return nil, err
	}
	env.Logf("corpus %s: %d characters, vocabulary %d; unigram cross-entropy %.4f nats", corpus.Name, len(corpus.Tokens), gc.Vocab, unigram)
	env.Logf("model: GPT %d layers, %d heads, width %d, context %d (%d parameters, %s)", gc.Layers, gc.Heads, gc.Width, gc.Context, model.Params().Count(), dt)
	mw, err := metrics.Create(env.Dir)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	start := time.Now()
	var logErr error
	res, err := trainLM(ctx, env.TrainDevice, model, opt, trainTok, valTok, nn.LMConfig{
		Steps: steps, Batch: cfg.Int("train.batch_size"), Context: gc.Context, Seed: env.Seed,
		EvalEvery: cfg.Int("train.eval_every"), EvalBatches: cfg.Int("train.eval_batches"), LR: sched,
		Log: func(step int, tl, vl float64) {
			env.Logf("step %d: train %.4f val %.4f (unigram %.4f) %.0fs", step, tl, vl, unigram, time.Since(start).Seconds())
			if err := mw.Write(metrics.Record{Step: step, Loss: tl, Values: map[string]float64{"val_loss": vl, "unigram": unigram}}); err != nil && logErr == nil {
				logErr = err
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if logErr != nil {
		return nil, logErr
	}
	wall := time.Since(start)
	if err := mw.WriteSummary(); err != nil {
		return nil, err
	}
	sampler, err := nn.NewSampler(model, env.Seed)
	if err != nil {
		return nil, err
	}
	defer sampler.Close()
	prompt, err := corpus.Vocab.Encode(cfg.String("sample.prompt"))
	if err != nil {
		return nil, fmt.Errorf("sample.prompt: %w", err)
	}
	gen, err := sampler.Generate(prompt, cfg.Int("sample.chars"), cfg.Float("sample.temperature"))
	if err != nil {
		return nil, err
	}
	text, err := corpus.Vocab.Decode(append(prompt, gen...))
	if err != nil {
		return nil, err
	}
	env.Logf("sample (temperature %g):\n%s", cfg.Float("sample.temperature"), text)
	if err := os.WriteFile(filepath.Join(env.Dir, "sample.txt"), []byte(text+"\n"), 0o644); err != nil {
		return nil, err
	}
	ratio := res.ValLoss / unigram
	return &Outcome{
		Checks: []Check{AtMost("val_loss_over_unigram", ratio, cfg.Float("check.max_val_ratio"))},
		Values: map[string]any{
			"val_loss":         res.ValLoss,
			"train_loss":       res.TrainLoss,
			"unigram_loss":     unigram,
			"val_over_unigram": ratio,
			"steps":            res.Steps,
			"parameters":       model.Params().Count(),
			"train_seconds":    math.Round(wall.Seconds()*100) / 100,
			"seconds_per_step": wall.Seconds() / float64(max(1, res.Steps)),
			"sample":           text,
		},
	}, nil
}

package experiments

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestZooExperimentsRunTiny runs each model-zoo experiment end to end on a
// tiny configuration and checks the run directory and the measured values
// (not the verdicts, which need the full sizes).
func TestZooExperimentsRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("loads MNIST-sized data sets")
	}
	for _, tc := range []struct {
		exp    *Experiment
		sets   []string
		values []string
		files  []string
	}{
		{ZooResNet(), []string{"data.train_size=256", "data.test_size=500", "model.widths=[4]", "model.blocks=[1]", "train.epochs=1", "train.batch_size=64"},
			[]string{"test_accuracy", "seconds_per_epoch"}, []string{"metrics.jsonl"}},
		{ZooGPT(), []string{"train.steps=4", "train.eval_every=2", "train.eval_batches=1", "model.layers=1", "model.width=16", "model.context=16", "train.batch_size=4", "sample.chars=20"},
			[]string{"val_loss", "unigram_loss", "val_over_unigram"}, []string{"sample.txt", "metrics.jsonl"}},
		{ZooGAN(), []string{"data.train_size=512", "train.steps=4", "train.eval_every=2", "classifier.epochs=1", "eval.per_class=4", "model.g_hidden=[16]", "model.d_hidden=[16]", "train.batch_size=16"},
			[]string{"sample_agreement", "classifier_test_acc"}, []string{"samples/class_0.png", "samples/class_9.png", "plots/gan_samples.png"}},
		{ZooSimCLR(), []string{"data.train_size=64", "data.probe_train=64", "data.probe_test=64", "train.steps=2", "train.batch_size=8", "model.widths=[4]", "model.blocks=[1]", "probe.epochs=1"},
			[]string{"probe_acc_pretrained", "probe_acc_init"}, []string{"metrics.jsonl"}},
	} {
		t.Run(tc.exp.Name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			s, err := Run(context.Background(), tc.exp, RunOptions{Sets: tc.sets, Out: dir, Stdout: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if s.Error != "" {
				t.Fatal(s.Error)
			}
			for _, k := range tc.values {
				v, ok := s.Values[k].(float64)
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("value %s = %v", k, s.Values[k])
				}
			}
			for _, f := range append(tc.files, "summary.json") {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

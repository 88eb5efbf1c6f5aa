package experiments

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/optim"
)

// snetTinySets is a run of a few steps on a few hundred images.
var snetTinySets = []string{"data.train_size=320", "data.test_size=200", "train.epochs=1", "train.batch_size=32",
	"train.log_every=3", "model.hidden=[16]", "samuel.interval=4", "samuel.extra_intervals=[7]", "decay.gammas=[0.5]", "decay.periods=[0.5]"}

func skipWithoutFashionMNIST(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("loads Fashion-MNIST")
	}
	if _, err := os.Stat(data.FashionMNISTDir); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
}

func TestSamuelNetRunTiny(t *testing.T) {
	skipWithoutFashionMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Run(context.Background(), SamuelNet(), RunOptions{Sets: snetTinySets, Out: dir, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if s.Error != "" {
		t.Fatal(s.Error)
	}
	for _, k := range []string{"samuel_test_accuracy", "samuel_train_loss", "best_const_test_accuracy", "best_const_train_loss",
		"tuned_step_decay_test_acc", "tuned_step_decay_train_loss", "const_lr0.01_test_accuracy"} {
		v, ok := s.Values[k].(float64)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("value %s = %v", k, s.Values[k])
		}
	}
	// 10 steps of 32: two resynchronisations, five schedules of step decay.
	if kept, ok := s.Values["samuel_kept_lr_per_interval"].([]float64); !ok || len(kept) != 2 {
		t.Errorf("kept rates %v", s.Values["samuel_kept_lr_per_interval"])
	}
	if n := s.Values["step_decay_schedules_tried"]; n != 5 {
		t.Errorf("step decays tried: %v, want 5", n)
	}
	if len(s.Checks) != 2 {
		t.Errorf("checks %v", s.Checks)
	}
	for _, f := range []string{"summary.json", "config.yaml", "metrics.jsonl", "plots/samuel_net_chosen_lr.png", "plots/samuel_net_loss.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestSamuelNetEqualExpertsMatchSGD(t *testing.T) {
	// With every expert at the same rate all copies stay equal, so SAMUEL
	// must reproduce the plain SGD loop of the constant-rate baseline
	// exactly: the same minibatches, gradients and final weights.
	skipWithoutFashionMNIST(t)
	cfg, _, err := Resolve(SamuelNet(), RunOptions{Sets: snetTinySets})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSnetSetup(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	const lr = 0.05
	sam, err := s.runSamuel(context.Background(), []float64{lr, lr, lr}, []float64{1, 10}, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	sgd, err := s.runSchedule(context.Background(), "sgd", optim.Constant(lr))
	if err != nil {
		t.Fatal(err)
	}
	if sam.trainLoss != sgd.trainLoss || sam.testAcc != sgd.testAcc || sam.testLoss != sgd.testLoss {
		t.Errorf("SAMUEL ends at train loss %v, test %v / %v; SGD at %v, %v / %v",
			sam.trainLoss, sam.testAcc, sam.testLoss, sgd.trainLoss, sgd.testAcc, sgd.testLoss)
	}
	if len(sam.window) != len(sgd.window) {
		t.Fatalf("%d windows vs %d", len(sam.window), len(sgd.window))
	}
	for i := range sam.window {
		if sam.window[i] != sgd.window[i] {
			t.Errorf("window %d: SAMUEL loss %v, SGD %v", i, sam.window[i], sgd.window[i])
		}
	}
	if sgd.trainLoss >= math.Log(10) {
		t.Errorf("SGD did not reduce the training loss below chance: %v", sgd.trainLoss)
	}
}

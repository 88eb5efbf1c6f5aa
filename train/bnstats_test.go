package train

import (
	"context"
	"math"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// identityVGG is a VGG whose only convolution (1→1 channel, 3×3) is frozen
// at the identity, so its batch norm sees the raw input and the expected
// running statistics follow from the data alone.
func identityVGG(t *testing.T) (*nn.VGG, *nn.Param, *nn.Param) {
	t.Helper()
	m, err := nn.NewVGG(tensor.NewRNG(1, 0), gt.Float64, nn.VGGConfig{Input: [3]int{1, 3, 3}, Classes: 2, Layers: []int{1}, BN: true})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := m.Params().ByName("features.0.conv.w")
	d := w.Value.Data().([]float64)
	clear(d)
	d[4] = 1
	w.Frozen = true
	rm, _ := m.Params().ByName("features.0.bn.running_mean")
	rv, _ := m.Params().ByName("features.0.bn.running_var")
	return m, rm, rv
}

func imageSet(n int, seed uint64) *data.Dataset {
	rng := tensor.NewRNG(seed, 3)
	ds := &data.Dataset{Name: "tiny-images", Shape: []int{1, 3, 3}, Classes: 2, X: make([]float32, n*9), Y: make([]int, n)}
	for i := range ds.X {
		ds.X[i] = float32(2*rng.Float64() + 1)
	}
	for i := range ds.Y {
		ds.Y[i] = rng.IntN(2)
	}
	return ds
}

// TestRunningStatsChangeOnlyWithTrainingSteps trains a batch-norm model for
// one epoch and compares its running statistics with the momentum rule
// applied to the batches the trainer drew, computed from the data; gradient
// programs, Hessian-vector products and evaluations run outside the trainer
// must leave them unchanged, and checkpoints must store them.
func TestRunningStatsChangeOnlyWithTrainingSteps(t *testing.T) {
	const n, batch, seed = 12, 4, 7
	ds := imageSet(n, 1)
	m, rm, rv := identityVGG(t)
	snapshot := func() (float64, float64) { return rm.Value.Data().([]float64)[0], rv.Value.Data().([]float64)[0] }

	// Programs that are not training steps.
	gp, err := NewGradProgram(m, ds, batch, objective.CrossEntropy, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gp.Run(ds, []int{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	gp.Close()
	ep, err := NewEvalProgram(m, ds, 5, objective.CrossEntropy, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Run(ds, 0); err != nil {
		t.Fatal(err)
	}
	ep.Close()
	obj, err := objective.Build(m, ds, batch, objective.CrossEntropy, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := obj.Fill(ds, []int{4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	probe, err := autodiff.NewProbe(obj.G, obj.ParamNodes)
	if err != nil {
		t.Fatal(err)
	}
	hvp, err := autodiff.HVP(obj.Loss, obj.ParamNodes, probe)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := engine.Compile(obj.G, hvp...)
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Run(); err != nil {
		t.Fatal(err)
	}
	prog.Close()
	if m0, v0 := snapshot(); m0 != 0 || v0 != 1 {
		t.Fatalf("running statistics moved to (%v, %v) without a training step", m0, v0)
	}

	// One epoch of training: three steps.
	opt, err := optim.NewAdam(optim.DefaultAdam())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr, err := New(m, opt, ds, ds, Options{Epochs: 1, BatchSize: batch, Seed: seed, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	wm, wv := 0.0, 1.0
	perm := data.Permutation(n, seed, 0)
	for s := 0; s < n/batch; s++ {
		var mean, sq float64
		for _, i := range perm[s*batch : (s+1)*batch] {
			for _, v := range ds.Example(i) {
				mean += float64(v)
			}
		}
		mean /= batch * 9
		for _, i := range perm[s*batch : (s+1)*batch] {
			for _, v := range ds.Example(i) {
				sq += (float64(v) - mean) * (float64(v) - mean)
			}
		}
		wm = 0.9*wm + 0.1*mean
		wv = 0.9*wv + 0.1*sq/(batch*9-1)
	}
	gm, gv := snapshot()
	if math.Abs(gm-wm) > 1e-6 || math.Abs(gv-wv) > 1e-6 {
		t.Errorf("after training: running (%v, %v), want (%v, %v)", gm, gv, wm, wv)
	}

	// The checkpoint holds the running statistics: a fresh model resumed
	// from it (zero more epochs to run) gets them back.
	m2, rm2, _ := identityVGG(t)
	opt2, _ := optim.NewAdam(optim.DefaultAdam())
	tr2, err := New(m2, opt2, ds, nil, Options{Epochs: 1, BatchSize: batch, Seed: seed, Dir: dir, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rm2.Value.Data().([]float64)[0]; got != gm {
		t.Errorf("resumed running mean %v, saved %v", got, gm)
	}
}

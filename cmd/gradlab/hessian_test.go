package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/curvature"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
	"github.com/gradlab/gradlab/train/checkpoint"
)

// TestHessianCommand trains a tiny float64 mnist-mlp run, measures its
// checkpoint with `gradlab hessian`, and checks the report against a dense
// Hessian of the same loss diagonalized by gonum, with the weights copied
// from the checkpoint by the test itself.
func TestHessianCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	if _, stderr, err := run(t, "run", "mnist-mlp", "--out", dir,
		"--set", "data.train_size=256", "--set", "model.hidden=2", "--set", "train.epochs=1",
		"--set", "model.dtype=float64", "--set", "check.min_test_acc=0", "--set", "optim.lr=0.01"); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	const n = 64
	stdout, stderr, err := run(t, "hessian", "--checkpoint", dir, "--n", "64", "--top", "3",
		"--lanczos-steps", "120", "--trace", "--trace-probes", "200", "--density", "--density-probes", "2", "--density-steps", "30")
	if err != nil {
		t.Fatalf("hessian: %v\n%s", err, stderr)
	}
	for _, want := range []string{"λ1", "λ3", "trace", "density moment 2", "hessian.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "hessian.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep HessianReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "density.png")); err != nil {
		t.Error(err)
	}

	// Independent reconstruction of the model, data and weights.
	ds, err := data.LoadMNIST("train", "")
	if err != nil {
		t.Fatal(err)
	}
	ds = ds.Head(256)
	mean, std := ds.MeanStd()
	if err := ds.Normalize(mean, std); err != nil {
		t.Fatal(err)
	}
	ds = ds.Head(n)
	act, _ := nn.ParseActivation("relu")
	model, err := nn.NewMLP(tensor.NewRNG(99, 0), gt.Float64, []int{784, 2, 10}, act, tensor.KaimingUniform())
	if err != nil {
		t.Fatal(err)
	}
	ck, ok, err := checkpoint.Latest(filepath.Join(dir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no checkpoint: %v", err)
	}
	if rep.Checkpoint != ck || rep.Step != stepOf(ck) {
		t.Errorf("report names checkpoint %s step %d, newest is %s", rep.Checkpoint, rep.Step, ck)
	}
	ts, _, err := checkpoint.Load(ck)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range model.Params() {
		src := ts["param/"+p.Name].Data().([]float64)
		copy(p.Value.Data().([]float64), src)
	}
	op, err := curvature.NewHessianOperator(model, ds, curvature.HVPOptions{Loss: objective.CrossEntropy, Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if rep.Parameters != op.Dim() || rep.Examples != n {
		t.Fatalf("report: %d parameters, %d examples; want %d, %d", rep.Parameters, rep.Examples, op.Dim(), n)
	}
	loss, err := op.Loss()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-rep.Loss) > 1e-12*math.Abs(loss) {
		t.Errorf("loss %.15g, report %.15g", loss, rep.Loss)
	}
	dim := op.Dim()
	h := mat.NewSymDense(dim, nil)
	e := make([]float64, dim)
	col := make([]float64, dim)
	for i := 0; i < dim; i++ {
		e[i] = 1
		if err := op.Apply(col, e); err != nil {
			t.Fatal(err)
		}
		e[i] = 0
		for j := i; j < dim; j++ {
			h.SetSym(i, j, col[j])
		}
	}
	var es mat.EigenSym
	if !es.Factorize(h, false) {
		t.Fatal("EigenSym failed")
	}
	vals := es.Values(nil)
	slices.Sort(vals)
	for i := 0; i < 3; i++ {
		want := vals[dim-1-i]
		if d := math.Abs(rep.Eigenvalues[i]-want) / math.Abs(want); d > 1e-6 {
			t.Errorf("λ%d = %.10g, dense %.10g (rel %.2g)", i+1, rep.Eigenvalues[i], want, d)
		}
	}
	var tr float64
	for i := 0; i < dim; i++ {
		tr += h.At(i, i)
	}
	if rep.Trace == nil || math.Abs(rep.Trace.Mean-tr) > 3*rep.Trace.StdErr {
		t.Errorf("trace %+v, dense %.6g", rep.Trace, tr)
	}
	if rep.Density == nil || math.Abs(rep.Density.Moments[0]-1) > 1e-9 || rep.Density.Max < vals[dim-1]*(1-1e-6) {
		t.Errorf("density %+v (λ_max %.6g)", rep.Density, vals[dim-1])
	}
}

func TestHessianCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"hessian"},
		{"hessian", "--checkpoint", dir},
		{"hessian", "--checkpoint", dir, "--experiment", "nope"},
		{"hessian", "--checkpoint", dir, "--experiment", "mnist-mlp", "--top", "0"},
	} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

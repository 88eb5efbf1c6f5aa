package nn

import (
	"context"
	"math"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

func tinyGPT(t *testing.T, dt gt.Dtype, tie bool) *GPT {
	t.Helper()
	m, err := NewGPT(tensor.NewRNG(4, 0), dt, GPTConfig{Vocab: 5, Context: 4, Layers: 2, Heads: 2, Width: 4, TieWeights: tie})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lmBuilder is the next-token loss of m on fixed random windows.
func lmBuilder(m *GPT, batch, T int) fdcheck.Builder {
	rng := tensor.NewRNG(9, 1)
	V := m.cfg.Vocab
	in, tg := make([]int, batch*T), make([]int, batch*T)
	for i := range in {
		in[i], tg[i] = rng.IntN(V), rng.IntN(V)
	}
	ids, _ := ops.IDs(in, gt.Shape{batch, T}, gt.Float64)
	oh, _ := ops.OneHot(tg, V, gt.Float64)
	return func(g *gorgonia.ExprGraph, nodes gorgonia.Nodes) (*gorgonia.Node, error) {
		b := bindFD(g, m, nodes)
		xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, T), gorgonia.WithValue(ids), gorgonia.WithName("ids"))
		tn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch*T, V), gorgonia.WithValue(oh), gorgonia.WithName("t"))
		lg, err := m.Forward(b, xn)
		if err != nil {
			return nil, err
		}
		return ops.SoftmaxCrossEntropy(lg, tn)
	}
}

func TestGPTDerivatives(t *testing.T) {
	for _, tc := range []struct {
		name string
		tie  bool
		T    int
	}{{"untied", false, 4}, {"tied-short", true, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyGPT(t, gt.Float64, tc.tie)
			// Larger weights than the 0.02 initialization, so that attention
			// is far from uniform and the check sees curvature.
			rng := tensor.NewRNG(5, 5)
			for _, p := range m.Params() {
				d := p.Value.Data().([]float64)
				for i := range d {
					d[i] += 0.5 * (rng.Float64() - 0.5)
				}
			}
			checkDerivatives(t, lmBuilder(m, 2, tc.T), fdParams(t, m), 1e-3, 1e-5)
		})
	}
}

// gptCount is the parameter count in closed form: per block 12·D² + 13·D,
// embeddings (V + T)·D, the final LayerNorm 2·D and an untied head D·V.
func gptCount(c GPTConfig) int {
	d := c.Width
	n := c.Layers*(12*d*d+13*d) + (c.Vocab+c.Context)*d + 2*d
	if !c.TieWeights {
		n += d * c.Vocab
	}
	return n
}

func TestGPTParameterCount(t *testing.T) {
	for _, c := range []GPTConfig{
		{Vocab: 65, Context: 256, Layers: 6, Heads: 6, Width: 384},
		{Vocab: 80, Context: 64, Layers: 2, Heads: 4, Width: 64, TieWeights: true},
	} {
		m, err := NewGPT(tensor.NewRNG(1, 0), gt.Float32, c)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Params().Count(), gptCount(c); got != want {
			t.Errorf("%+v: %d parameters, closed form %d", c, got, want)
		}
	}
	if _, err := NewGPT(tensor.NewRNG(1, 0), gt.Float32, GPTConfig{Vocab: 5, Context: 4, Layers: 1, Heads: 3, Width: 4}); err == nil {
		t.Error("width not divisible by heads accepted")
	}
}

// TestGPTCausal checks that the logits at position t do not depend on the
// tokens after t, and that the forward pass leaves the (tied) parameters
// unchanged.
func TestGPTCausal(t *testing.T) {
	m := tinyGPT(t, gt.Float64, true)
	before := m.Params().Values().Clone()
	p, err := NewLMProgram(m, Evaluation, 1, 4, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run := func(in []int) []float64 {
		if _, _, err := p.Run(in, nil); err != nil {
			t.Fatal(err)
		}
		lg, err := p.Logits()
		if err != nil {
			t.Fatal(err)
		}
		return append([]float64(nil), lg.Data().([]float64)...)
	}
	a, b := run([]int{1, 2, 3, 4}), run([]int{1, 2, 0, 0})
	V := 5
	for i := 0; i < 2*V; i++ {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			t.Fatalf("logit %d of an early position changed with later tokens: %v vs %v", i, a[i], b[i])
		}
	}
	same := true
	for i := 2 * V; i < 4*V; i++ {
		same = same && a[i] == b[i]
	}
	if same {
		t.Error("later positions ignore their own tokens")
	}
	for i, v := range m.Params().Values() {
		if !gt.Shape(v.Shape()).Eq(before[i].Shape()) {
			t.Fatal("shape changed")
		}
		x, y := v.Data().([]float64), before[i].Data().([]float64)
		for j := range x {
			if x[j] != y[j] {
				t.Fatalf("parameter %s changed by a forward pass", m.Params()[i].Name)
			}
		}
	}
}

func TestUnigramCrossEntropy(t *testing.T) {
	// train counts (3, 1, 0) smoothed to (4, 2, 1)/7; val tokens 0 and 1.
	got, err := UnigramCrossEntropy([]int{0, 0, 0, 1}, []int{0, 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := -(math.Log(4.0/7) + math.Log(2.0/7)) / 2
	if math.Abs(got-want) > 1e-15 {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := UnigramCrossEntropy([]int{5}, []int{0}, 3); err == nil {
		t.Error("out-of-vocabulary token accepted")
	}
}

// TestTrainLMLearnsAPeriodicText trains a tiny GPT on "abcd" repeated, whose
// next character is determined by the current one: the validation loss must
// fall far below the unigram baseline ln 4, and greedy sampling must
// continue the pattern.
func TestTrainLMLearnsAPeriodicText(t *testing.T) {
	c, err := data.NewCorpus("abcd", strings.Repeat("abcd", 200))
	if err != nil {
		t.Fatal(err)
	}
	tr, val, err := c.Split(0.2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewGPT(tensor.NewRNG(1, 0), gt.Float32, GPTConfig{Vocab: c.Vocab.Size(), Context: 8, Layers: 1, Heads: 2, Width: 16, Dropout: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	base, err := UnigramCrossEntropy(tr, val, c.Vocab.Size())
	if err != nil {
		t.Fatal(err)
	}
	res, err := TrainLM(context.Background(), m, opt, tr, val, LMConfig{Steps: 60, Batch: 8, Seed: 1, EvalBatches: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unigram %.3f, train %.3f, val %.3f", base, res.TrainLoss, res.ValLoss)
	if res.ValLoss > 0.2*base {
		t.Errorf("validation loss %.3f, want below a fifth of the unigram %.3f", res.ValLoss, base)
	}
	s, err := NewSampler(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prompt, _ := c.Vocab.Encode("ab")
	out, err := s.Generate(prompt, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := c.Vocab.Decode(out)
	if text != "cdabcdabcdab" {
		t.Errorf("greedy continuation of \"ab\": %q", text)
	}
}

package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// infoNCERef is NT-Xent computed with plain loops over the 2N projections.
func infoNCERef(z1, z2 []float64, n, d int, tau float64) float64 {
	z := append(append([]float64(nil), z1...), z2...)
	norm := func(i int) []float64 {
		v := z[i*d : (i+1)*d]
		var s float64
		for _, x := range v {
			s += x * x
		}
		out := make([]float64, d)
		for j, x := range v {
			out[j] = x / math.Sqrt(s)
		}
		return out
	}
	sim := func(a, b int) float64 {
		u, v := norm(a), norm(b)
		var s float64
		for j := range u {
			s += u[j] * v[j]
		}
		return s
	}
	var total float64
	for i := 0; i < 2*n; i++ {
		pos := (i + n) % (2 * n)
		var den float64
		for k := 0; k < 2*n; k++ {
			if k != i {
				den += math.Exp(sim(i, k) / tau)
			}
		}
		total += -sim(i, pos)/tau + math.Log(den)
	}
	return total / float64(2*n)
}

func spectralRef(z1, z2 []float64, n, d int) float64 {
	dot := func(i, j int) float64 {
		var s float64
		for k := 0; k < d; k++ {
			s += z1[i*d+k] * z2[j*d+k]
		}
		return s
	}
	var pos, neg float64
	for i := 0; i < n; i++ {
		pos += dot(i, i)
		for j := 0; j < n; j++ {
			if i != j {
				neg += dot(i, j) * dot(i, j)
			}
		}
	}
	return -2*pos/float64(n) + neg/float64(n*(n-1))
}

func TestContrastiveLossValues(t *testing.T) {
	const n, d = 5, 3
	rng := tensor.NewRNG(2, 2)
	a, b := randDense(rng, n, d), randDense(rng, n, d)
	for _, tc := range []struct {
		name string
		tau  float64
		want float64
	}{
		{"infonce-0.5", 0.5, infoNCERef(a.Data().([]float64), b.Data().([]float64), n, d, 0.5)},
		{"infonce-0.1", 0.1, infoNCERef(a.Data().([]float64), b.Data().([]float64), n, d, 0.1)},
		{"spectral", 0, spectralRef(a.Data().([]float64), b.Data().([]float64), n, d)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gorgonia.NewGraph()
			z1 := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, d), gorgonia.WithValue(a), gorgonia.WithName("z1"))
			z2 := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(n, d), gorgonia.WithValue(b), gorgonia.WithName("z2"))
			var l *gorgonia.Node
			var err error
			if tc.tau > 0 {
				l, err = InfoNCE(z1, z2, tc.tau)
			} else {
				l, err = SpectralContrastive(z1, z2)
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := engine.Compile(g, l)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.Run(); err != nil {
				t.Fatal(err)
			}
			got, _ := p.Scalar(0)
			// The row norms carry an ε of 1e-12 under the square root.
			if math.Abs(got-tc.want) > 1e-10*math.Max(1, math.Abs(tc.want)) {
				t.Errorf("got %.15g, want %.15g", got, tc.want)
			}
		})
	}
}

func tinySimCLR(t *testing.T, dt gt.Dtype) *SimCLR {
	t.Helper()
	enc, err := NewResNet(tensor.NewRNG(1, 0), dt, ResNetConfig{InChannels: 1, Widths: []int{2, 3}, Blocks: []int{1, 1}, Act: Activation{Name: "gelu"}, Features: true})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewSimCLR(tensor.NewRNG(2, 0), dt, enc, enc.FeatureDim(), 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSimCLRDerivatives(t *testing.T) {
	for _, loss := range []ContrastiveLoss{LossInfoNCE, LossSpectral} {
		t.Run(string(loss), func(t *testing.T) {
			m := tinySimCLR(t, gt.Float64)
			rng := tensor.NewRNG(6, 1)
			x1, x2 := randDense(rng, 4, 1, 6, 6), randDense(rng, 4, 1, 6, 6)
			build := func(g *gorgonia.ExprGraph, nodes gorgonia.Nodes) (*gorgonia.Node, error) {
				b := bindFD(g, m, nodes)
				in := func(v *gt.Dense, name string) *gorgonia.Node {
					return gorgonia.NewTensor(g, gt.Float64, 4, gorgonia.WithShape(4, 1, 6, 6), gorgonia.WithValue(v), gorgonia.WithName(name))
				}
				z1, err := m.Forward(b, in(x1, "x1"))
				if err != nil {
					return nil, err
				}
				z2, err := m.Forward(b, in(x2, "x2"))
				if err != nil {
					return nil, err
				}
				if loss == LossInfoNCE {
					return InfoNCE(z1, z2, 0.5)
				}
				return SpectralContrastive(z1, z2)
			}
			checkDerivatives(t, build, fdParams(t, m), 1e-3, 1e-5)
		})
	}
}

// TestSimCLRTrainingAndProbe runs a few contrastive steps (the loss must
// fall, the encoder's running statistics must move), then checks the
// linear probe on features that separate two Gaussian classes.
func TestSimCLRTrainingAndProbe(t *testing.T) {
	m := tinySimCLR(t, gt.Float32)
	opt, err := optim.NewAdam(optim.AdamConfig{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	tr, err := NewSimCLRTrainer(m, opt, LossInfoNCE, n, []int{1, 6, 6}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := tensor.NewRNG(3, 3)
	base := make([]float32, n*36)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	views := func() ([]float32, []float32) {
		a, b := make([]float32, len(base)), make([]float32, len(base))
		for i, v := range base {
			a[i] = v + float32(0.1*rng.NormFloat64())
			b[i] = v + float32(0.1*rng.NormFloat64())
		}
		return a, b
	}
	rm, _ := m.Params().ByName("stem.bn.running_mean")
	var first, last float64
	for s := 0; s < 30; s++ {
		a, b := views()
		l, err := tr.Step(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = l
		}
		last = l
	}
	t.Logf("InfoNCE %.4f → %.4f (chance level log(2n−1) = %.4f)", first, last, math.Log(2*n-1))
	if !(last < first-0.1) {
		t.Errorf("loss did not fall: %v → %v", first, last)
	}
	if rm.Value.Data().([]float32)[0] == 0 {
		t.Error("encoder running mean never updated")
	}
	ds := &data.Dataset{Name: "imgs", Shape: []int{1, 6, 6}, X: base, Y: make([]int, n), Classes: 2}
	f, err := Features(m.Encoder, ds, 3)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != n || f.Shape[0] != 3 {
		t.Fatalf("features %d × %v", f.Len(), f.Shape)
	}

	mix, err := data.GaussianMixture(2, 1, 100, 3, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	mixTest, err := data.GaussianMixture(2, 1, 100, 3, 0.5, 5)
	if err != nil {
		t.Fatal(err)
	}
	trAcc, teAcc, err := TrainLinearProbe(mix, mixTest, ProbeConfig{Epochs: 20, Batch: 20, LR: 0.05, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if trAcc < 0.95 || teAcc < 0.95 {
		t.Errorf("probe accuracy on separated classes: train %.3f test %.3f", trAcc, teAcc)
	}
}

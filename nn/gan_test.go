package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
	"github.com/gradlab/gradlab/ops"
	"github.com/gradlab/gradlab/optim"
	"github.com/gradlab/gradlab/tensor"
)

// joint lists the parameters of both networks as one model.
type joint struct{ g, d Conditional }

func (j joint) Params() Params { return append(append(Params(nil), j.g.Params()...), j.d.Params()...) }

// ganBuilder is the discriminator loss plus the generator's non-saturating
// loss, BCE(D(x,y),1) + BCE(D(G(z,y'),y'),0) + BCE(D(G(z,y'),y'),1), as
// a function of both networks' parameters.
func ganBuilder(g Generator, d Conditional, n int) fdcheck.Builder {
	rng := tensor.NewRNG(3, 3)
	im := g.Image()
	x := randDense(rng, n, im[0], im[1], im[2])
	z := randDense(rng, n, g.ZDim())
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(g.Classes())
	}
	y, _ := ops.OneHot(labels, g.Classes(), gt.Float64)
	ones, _ := tensor.Constant(1)(rng, gt.Float64, n, 1)
	zeros, _ := tensor.Zeros(gt.Float64, n, 1)
	return func(gr *gorgonia.ExprGraph, nodes gorgonia.Nodes) (*gorgonia.Node, error) {
		b := bindFD(gr, joint{g, d}, nodes)
		in := func(v *gt.Dense, name string) *gorgonia.Node {
			s := v.Shape().Clone()
			return gorgonia.NewTensor(gr, gt.Float64, len(s), gorgonia.WithShape(s...), gorgonia.WithValue(v), gorgonia.WithName(name))
		}
		yn := in(y, "y")
		fake, err := condInMode(g, Training).Forward(b, in(z, "z"), yn)
		if err != nil {
			return nil, err
		}
		lf, err := d.Forward(b, fake, yn)
		if err != nil {
			return nil, err
		}
		lr, err := d.Forward(b, in(x, "x"), yn)
		if err != nil {
			return nil, err
		}
		on, zn := in(ones, "ones"), in(zeros, "zeros")
		a, err := ops.SigmoidBCE(lr, on)
		if err != nil {
			return nil, err
		}
		c, err := ops.SigmoidBCE(lf, zn)
		if err != nil {
			return nil, err
		}
		e, err := ops.SigmoidBCE(lf, on)
		if err != nil {
			return nil, err
		}
		return gorgonia.Add(gorgonia.Must(gorgonia.Add(a, c)), e)
	}
}

func TestGANDerivatives(t *testing.T) {
	cfg := GANConfig{Image: [3]int{1, 4, 4}, Classes: 3, ZDim: 3, Hidden: []int{4}}
	mlpG, err := NewMLPGenerator(tensor.NewRNG(1, 0), gt.Float64, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mlpD, err := NewMLPDiscriminator(tensor.NewRNG(2, 0), gt.Float64, GANConfig{Image: cfg.Image, Classes: 3, Hidden: []int{5, 3}})
	if err != nil {
		t.Fatal(err)
	}
	dcG, err := NewDCGenerator(tensor.NewRNG(3, 0), gt.Float64, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dcD, err := NewDCDiscriminator(tensor.NewRNG(4, 0), gt.Float64, GANConfig{Image: cfg.Image, Classes: 3, Hidden: []int{2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    Generator
		d    Conditional
	}{{"mlp", mlpG, mlpD}, {"dcgan", dcG, dcD}} {
		t.Run(tc.name, func(t *testing.T) {
			checkDerivatives(t, ganBuilder(tc.g, tc.d, 4), fdParams(t, joint{tc.g, tc.d}), 1e-4, 1e-5)
		})
	}
}

// TestGANTrainerSteps runs a few steps of both GANs on a toy conditional
// distribution and checks that the losses are finite, that the networks
// and the DCGAN generator's running statistics moved, and that samples
// have the image shape and the tanh range.
func TestGANTrainerSteps(t *testing.T) {
	const batch = 8
	cfg := GANConfig{Image: [3]int{1, 4, 4}, Classes: 2, ZDim: 4, Hidden: []int{8}}
	images := make([]float32, batch*16)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = i % 2
		for j := 0; j < 16; j++ {
			images[i*16+j] = float32(2*labels[i]-1) * 0.8
		}
	}
	mk := func(name string) (Generator, Conditional) {
		if name == "mlp" {
			g, err := NewMLPGenerator(tensor.NewRNG(1, 0), gt.Float32, cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := NewMLPDiscriminator(tensor.NewRNG(2, 0), gt.Float32, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return g, d
		}
		g, err := NewDCGenerator(tensor.NewRNG(1, 0), gt.Float32, cfg)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDCDiscriminator(tensor.NewRNG(2, 0), gt.Float32, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g, d
	}
	for _, name := range []string{"mlp", "dcgan"} {
		t.Run(name, func(t *testing.T) {
			g, d := mk(name)
			before := joint{g, d}.Params().Values().Clone()
			adam := func() optim.Optimizer {
				o, err := optim.NewAdam(optim.AdamConfig{LR: 2e-3, Beta1: 0.5, Beta2: 0.999, Eps: 1e-8})
				if err != nil {
					t.Fatal(err)
				}
				return o
			}
			tr, err := NewGANTrainer(g, d, adam(), adam(), batch, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for s := 0; s < 5; s++ {
				ld, lg, err := tr.Step(images, labels)
				if err != nil {
					t.Fatal(err)
				}
				if math.IsNaN(ld) || math.IsNaN(lg) || ld <= 0 || lg <= 0 {
					t.Fatalf("step %d: losses %v %v", s, ld, lg)
				}
			}
			for i, p := range (joint{g, d}).Params() {
				diff := before[i].Clone().(*gt.Dense)
				a, b := p.Value.Data().([]float32), diff.Data().([]float32)
				moved := false
				for j := range a {
					moved = moved || a[j] != b[j]
				}
				// Trainable weights move by the optimizer, running
				// statistics by the updates after each generator step.
				if !moved {
					t.Errorf("%s (frozen %v) did not move", p.Name, p.Frozen)
				}
			}
			out, err := GenerateImages(g, []int{0, 1, 1}, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 3*16 {
				t.Fatalf("%d pixels for 3 samples", len(out))
			}
			for _, v := range out {
				if !(v > -1 && v < 1) {
					t.Fatalf("pixel %v outside (-1, 1)", v)
				}
			}
		})
	}
}

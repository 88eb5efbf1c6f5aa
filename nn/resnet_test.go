package nn

import (
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/tensor"
)

// resnetCount is the parameter count of a ResNet by closed form: 3×3
// convolutions without bias, four numbers per batch norm channel (two of
// them frozen), 1×1 projection shortcuts and a biased classifier.
func resnetCount(cfg ResNetConfig) (all, trainable int) {
	bn := func(c int) (int, int) { return 4 * c, 2 * c }
	add := func(a, t int) { all += a; trainable += t }
	add(9*cfg.InChannels*cfg.Widths[0], 9*cfg.InChannels*cfg.Widths[0])
	add(bn(cfg.Widths[0]))
	in := cfg.Widths[0]
	for s, w := range cfg.Widths {
		for k := 0; k < cfg.Blocks[s]; k++ {
			c := 9*in*w + 9*w*w
			add(c, c)
			add(bn(w))
			add(bn(w))
			if in != w || (k == 0 && s > 0) {
				add(in*w, in*w)
				add(bn(w))
			}
			in = w
		}
	}
	add(in*cfg.Classes+cfg.Classes, in*cfg.Classes+cfg.Classes)
	return all, trainable
}

func TestResNetParameterCounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ResNetConfig
		// published trainable count, 0 when none is quoted here
		published int
	}{
		// ResNet-18 for CIFAR-10 with a 3×3 stem, as in the widely used
		// PyTorch CIFAR reference implementation: 11,173,962 parameters.
		{"resnet18-cifar10", ResNet18(3, 10), 11173962},
		{"resnet20-fmnist", ResNet20(1, 10), 0},
		{"resnet20-cifar10", ResNet20(3, 10), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewResNet(tensor.NewRNG(1, 0), gt.Float32, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			all, tr := resnetCount(tc.cfg)
			if got := m.Params().Count(); got != all {
				t.Errorf("Count() = %d, closed form %d", got, all)
			}
			if got := m.Params().Trainable().Count(); got != tr {
				t.Errorf("trainable = %d, closed form %d", got, tr)
			}
			if gt2, fr := ParamCounts(m); gt2 != tr || fr != all-tr {
				t.Errorf("ParamCounts = %d, %d; closed form %d, %d", gt2, fr, tr, all-tr)
			}
			if tc.published > 0 && tr != tc.published {
				t.Errorf("trainable = %d, published %d", tr, tc.published)
			}
			t.Logf("%s: %d trainable, %d with running statistics", tc.name, tr, all)
		})
	}
}

// TestResNetDerivatives compares the gradient and Hessian-vector products
// of a tiny ResNet (one downsampling stage) with finite differences, in both
// modes and with a smooth and a piecewise-linear activation.
func TestResNetDerivatives(t *testing.T) {
	for _, tc := range []struct {
		name string
		act  string
		mode Mode
		nobn bool
		step float64
	}{
		{"gelu-train", "gelu", Training, false, 1e-3},
		{"gelu-eval", "gelu", Evaluation, false, 1e-3},
		{"relu-train", "relu", Training, false, 1e-5},
		{"tanh-nobn", "tanh", Training, true, 1e-3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, err := ParseActivation(tc.act)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ResNetConfig{InChannels: 2, Classes: 3, Widths: []int{2, 3}, Blocks: []int{1, 1}, Act: act, NoBN: tc.nobn}
			m, err := NewResNet(tensor.NewRNG(2, 0), gt.Float64, cfg)
			if err != nil {
				t.Fatal(err)
			}
			randomizeRunningStats(m, 4)
			mm := InMode(m, tc.mode)
			checkDerivatives(t, classifierBuilder(mm, 5, 3, 4, 2, 6, 6), fdParams(t, mm), tc.step, 1e-5)
		})
	}
}

func TestResNetRejectsBadInput(t *testing.T) {
	if _, err := NewResNet(tensor.NewRNG(1, 0), gt.Float64, ResNetConfig{InChannels: 1, Classes: 2, Widths: []int{4}, Blocks: []int{1, 1}}); err == nil {
		t.Error("mismatched widths and blocks accepted")
	}
}

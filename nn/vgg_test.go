package nn

import (
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/tensor"
)

func TestVGGParameterCounts(t *testing.T) {
	// VGG-11 for CIFAR-10 with a single 512→10 classifier: the conv weights
	// 9·(3·64 + 64·128 + 128·256 + 256·256 + 256·512 + 3·512·512) plus either
	// conv biases or two trainable batch norm numbers per channel.
	convW := 9 * (3*64 + 64*128 + 128*256 + 256*256 + 256*512 + 3*512*512)
	channels := 64 + 128 + 256 + 256 + 512 + 512 + 512 + 512
	fc := 512*10 + 10
	for _, tc := range []struct {
		bn        bool
		trainable int
		all       int
	}{
		{false, convW + channels + fc, convW + channels + fc},
		{true, convW + 2*channels + fc, convW + 4*channels + fc},
	} {
		m, err := NewVGG(tensor.NewRNG(1, 0), gt.Float32, VGG11(3, 10, tc.bn))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Params().Trainable().Count(); got != tc.trainable {
			t.Errorf("bn=%v: %d trainable, want %d", tc.bn, got, tc.trainable)
		}
		if got := m.Params().Count(); got != tc.all {
			t.Errorf("bn=%v: %d parameters, want %d", tc.bn, got, tc.all)
		}
	}
	if _, err := NewVGG(tensor.NewRNG(1, 0), gt.Float32, VGG11(1, 10, false).withInput(28)); err == nil {
		t.Error("VGG-11 on 28×28 (pooled to nothing) accepted")
	}
}

func (c VGGConfig) withInput(hw int) VGGConfig {
	c.Input[1], c.Input[2] = hw, hw
	return c
}

func TestVGGDerivatives(t *testing.T) {
	for _, tc := range []struct {
		name string
		bn   bool
		act  string
		mode Mode
		step float64
	}{
		{"bn-gelu-train", true, "gelu", Training, 1e-3},
		{"bn-gelu-eval", true, "gelu", Evaluation, 1e-3},
		{"nobn-relu", false, "relu", Training, 1e-5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, _ := ParseActivation(tc.act)
			cfg := VGGConfig{Input: [3]int{1, 6, 6}, Classes: 3, Layers: []int{2, VGGPool, 3, VGGPool}, Hidden: []int{4}, BN: tc.bn, Act: act}
			m, err := NewVGG(tensor.NewRNG(3, 0), gt.Float64, cfg)
			if err != nil {
				t.Fatal(err)
			}
			randomizeRunningStats(m, 6)
			mm := InMode(m, tc.mode)
			checkDerivatives(t, classifierBuilder(mm, 8, 3, 4, 1, 6, 6), fdParams(t, mm), tc.step, 1e-5)
		})
	}
}

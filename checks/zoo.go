package checks

import (
	"fmt"
	"math/rand/v2"

	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/nn"
)

// zooCases are tiny instances of every model family of package nn. Smooth
// activations (GELU) keep finite differences away from ReLU kinks; max
// pooling stays, since random inputs make ties unlikely.
func zooCases(seed uint64) []Case {
	gelu, err := nn.ParseActivation("gelu")
	if err != nil {
		panic(err)
	}
	rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
	must := func(m nn.Model, err error) nn.Model {
		if err != nil {
			panic(fmt.Sprintf("checks: building a fixed tiny model: %v", err))
		}
		return m
	}
	var cs []Case
	resnet := must(nn.NewResNet(rng(10), gt.Float64, nn.ResNetConfig{InChannels: 1, Classes: 3, Widths: []int{2, 3}, Blocks: []int{1, 1}, Act: gelu}))
	cs = append(cs,
		modelCase("resnet tiny (batch-norm training mode)", seed, resnet, []int{3, 1, 6, 6}, 3, nil),
		modelCase("resnet tiny (evaluation mode)", seed, nn.InMode(resnet, nn.Evaluation), []int{3, 1, 6, 6}, 3, nil),
		modelCase("resnet tiny without batch norm", seed,
			must(nn.NewResNet(rng(11), gt.Float64, nn.ResNetConfig{InChannels: 1, Classes: 3, Widths: []int{2, 3}, Blocks: []int{1, 1}, Act: gelu, NoBN: true})),
			[]int{2, 1, 5, 5}, 3, nil),
		modelCase("vgg tiny with batch norm and max-pool", seed,
			must(nn.NewVGG(rng(12), gt.Float64, nn.VGGConfig{Input: [3]int{1, 6, 6}, Classes: 3, Layers: []int{2, nn.VGGPool, 3}, Hidden: []int{4}, BN: true, Act: gelu})),
			[]int{3, 1, 6, 6}, 3, nil),
		modelCase("gpt tiny (2 layers, 2 heads, tied)", seed,
			must(nn.NewGPT(rng(13), gt.Float64, nn.GPTConfig{Vocab: 5, Context: 4, Layers: 2, Heads: 2, Width: 4, TieWeights: true})),
			[]int{2, 3}, 5, []int{0, 3, 1, 4, 4, 2}),
		modelCase("scale-invariant mlp 5-6-6-3", seed,
			must(nn.NewScaleInvMLP(rng(14), gt.Float64, []int{5, 6, 6, 3}, gelu, 1e-5)),
			[]int{4, 5}, 3, nil),
		modelCase("two-layer leaky-relu 0.2 (mse)", seed,
			must(nn.NewTwoLayer(rng(15), nn.TwoLayerConfig{In: 4, Width: 5, Alpha: 0.2, InitScale: 0.7, Dtype: gt.Float64})),
			[]int{6, 4}, 1, nil),
	)
	diag, err := nn.NewDiagNet(gt.Float64, 6, 0.8)
	cs = append(cs, modelCase("diagonal net u⊙u − v⊙v (mse)", seed, must(diag, err), []int{5, 6}, 1, nil))
	deep, err := nn.NewDeepDiag(gt.Float64, 6, 3, 0.9)
	cs = append(cs, modelCase("deep diagonal net depth 3 (mse)", seed, must(deep, err), []int{5, 6}, 1, nil))
	return cs
}

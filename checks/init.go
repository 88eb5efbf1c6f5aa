package checks

import "github.com/gradlab/gradlab/tensor"

func initNormal(std float64) tensor.Init { return tensor.Normal(0, std) }

package autodiff_test

import (
	"gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

func tensorOf(p fdcheck.Param) *tensor.Dense {
	return tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(append([]float64(nil), p.Data...)))
}

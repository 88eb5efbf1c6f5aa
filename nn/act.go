package nn

import (
	"fmt"
	"strconv"
	"strings"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/ops"
)

// Activation is an elementwise nonlinearity, named as in configs:
// "relu" (ops.ReLU), "tanh", "sigmoid", "gelu" (tanh form, ops.GELUTanh), "identity" and
// "leaky_relu:<alpha>" (ops.LeakyReLU, e.g. "leaky_relu:0.2").
type Activation struct {
	Name  string
	Alpha float64 // leaky ReLU slope
}

// ParseActivation parses an activation name.
func ParseActivation(s string) (Activation, error) {
	name, arg, hasArg := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	switch name {
	case "relu", "tanh", "sigmoid", "gelu", "identity":
		if hasArg {
			return Activation{}, fmt.Errorf("nn: activation %q takes no argument", name)
		}
		return Activation{Name: name}, nil
	case "leaky_relu":
		a := 0.01
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil || v < 0 || v >= 1 {
				return Activation{}, fmt.Errorf("nn: leaky_relu slope %q: want a number in [0, 1)", arg)
			}
			a = v
		}
		return Activation{Name: name, Alpha: a}, nil
	}
	return Activation{}, fmt.Errorf("nn: unknown activation %q (want relu, tanh, sigmoid, gelu, identity or leaky_relu:<alpha>)", s)
}

// Apply builds the activation of x.
func (a Activation) Apply(x *gorgonia.Node) (*gorgonia.Node, error) {
	switch a.Name {
	case "relu":
		return ops.ReLU(x)
	case "tanh":
		return gorgonia.Tanh(x)
	case "sigmoid":
		return gorgonia.Sigmoid(x)
	case "identity", "":
		return x, nil
	case "leaky_relu":
		return LeakyReLU(x, a.Alpha)
	case "gelu":
		return ops.GELUTanh(x)
	}
	return nil, fmt.Errorf("nn: unknown activation %q", a.Name)
}

func scalarLike(x *gorgonia.Node, v float64) *gorgonia.Node {
	return gorgonia.NewConstant(castScalar(x, v))
}

func castScalar(x *gorgonia.Node, v float64) any {
	if x.Dtype().Name() == "float32" {
		return float32(v)
	}
	return v
}

// LeakyReLU is max(x, αx) for 0 ≤ α < 1 (ops.LeakyReLU, differentiable to
// any order).
func LeakyReLU(x *gorgonia.Node, alpha float64) (*gorgonia.Node, error) {
	return ops.LeakyReLU(x, alpha)
}

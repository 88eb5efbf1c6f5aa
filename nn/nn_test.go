package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/tensor"
)

// evalLoss builds MLP → cross-entropy on a fresh graph and returns the loss
// and its gradient with respect to every parameter.
func evalLoss(t *testing.T, m *MLP, x, y []float64, batch int) (float64, []float64) {
	t.Helper()
	g := gorgonia.NewGraph()
	b, err := Bind(g, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	xn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, m.Widths[0]), gorgonia.WithName("x"),
		gorgonia.WithValue(gt.New(gt.WithShape(batch, m.Widths[0]), gt.WithBacking(x))))
	yn := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(batch, m.Widths[len(m.Widths)-1]), gorgonia.WithName("y"),
		gorgonia.WithValue(gt.New(gt.WithShape(batch, m.Widths[len(m.Widths)-1]), gt.WithBacking(y))))
	out, err := m.Forward(b, xn)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := CrossEntropy(out, yn)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gorgonia.Grad(loss, b.Nodes(m.Params())...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Compile(g, append(gorgonia.Nodes{loss}, grads...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	l, _ := p.Scalar(0)
	var gl tensor.List
	for i := range grads {
		d, err := p.Dense(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		gl = append(gl, d.Clone().(*gt.Dense))
	}
	return l, gl.Flatten(nil)
}

// naiveLoss computes the same MLP and cross-entropy with plain loops.
func naiveLoss(m *MLP, x, y []float64, batch int) float64 {
	vals := m.Params().Values()
	var total float64
	for n := 0; n < batch; n++ {
		h := append([]float64(nil), x[n*m.Widths[0]:(n+1)*m.Widths[0]]...)
		for l := 0; l+1 < len(m.Widths); l++ {
			w := vals[2*l].Data().([]float64)
			bb := vals[2*l+1].Data().([]float64)
			in, out := m.Widths[l], m.Widths[l+1]
			o := make([]float64, out)
			for j := 0; j < out; j++ {
				o[j] = bb[j]
				for i := 0; i < in; i++ {
					o[j] += h[i] * w[i*out+j]
				}
				if l+2 < len(m.Widths) {
					o[j] = math.Tanh(o[j])
				}
			}
			h = o
		}
		mx := math.Inf(-1)
		for _, v := range h {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range h {
			s += math.Exp(v - mx)
		}
		for c, v := range h {
			total -= y[n*len(h)+c] * (v - mx - math.Log(s))
		}
	}
	return total / float64(batch)
}

func TestMLPCrossEntropyMatchesLoopsAndFiniteDifferences(t *testing.T) {
	act, _ := ParseActivation("tanh")
	for _, widths := range [][]int{{3, 4}, {5, 7, 3}, {4, 6, 5, 2}} {
		rng := tensor.NewRNG(3, uint64(len(widths)))
		m, err := NewMLP(rng, gt.Float64, widths, act, tensor.Normal(0, 0.7))
		if err != nil {
			t.Fatal(err)
		}
		// Non-zero biases so that their gradients are exercised.
		for _, p := range m.Params() {
			if err := (tensor.List{p.Value}).Axpy(0.1, tensor.List{p.Value}); err != nil {
				t.Fatal(err)
			}
		}
		const batch = 3
		nin, nout := widths[0], widths[len(widths)-1]
		x := make([]float64, batch*nin)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		y := make([]float64, batch*nout)
		for n := 0; n < batch; n++ {
			y[n*nout+rng.IntN(nout)] = 1
		}
		l, g := evalLoss(t, m, x, y, batch)
		if want := naiveLoss(m, x, y, batch); math.Abs(l-want) > 1e-12 {
			t.Errorf("%v: loss %v, loops %v", widths, l, want)
		}
		theta := m.Params().Values()
		flat := theta.Flatten(nil)
		const eps = 1e-6
		for i := range flat {
			orig := flat[i]
			flat[i] = orig + eps
			_ = theta.Unflatten(flat)
			lp := naiveLoss(m, x, y, batch)
			flat[i] = orig - eps
			_ = theta.Unflatten(flat)
			lm := naiveLoss(m, x, y, batch)
			flat[i] = orig
			_ = theta.Unflatten(flat)
			fd := (lp - lm) / (2 * eps)
			if math.Abs(fd-g[i]) > 1e-7*(1+math.Abs(fd)) {
				t.Errorf("%v: gradient %d: %v, finite difference %v", widths, i, g[i], fd)
			}
		}
	}
}

func TestParseActivation(t *testing.T) {
	cases := []struct {
		in    string
		name  string
		alpha float64
		bad   bool
	}{
		{"relu", "relu", 0, false},
		{"Leaky_ReLU:0.2", "leaky_relu", 0.2, false},
		{"leaky_relu", "leaky_relu", 0.01, false},
		{"leaky_relu:1.5", "", 0, true},
		{"relu:3", "", 0, true},
		{"swish", "", 0, true},
	}
	for _, c := range cases {
		a, err := ParseActivation(c.in)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if !c.bad && (a.Name != c.name || a.Alpha != c.alpha) {
			t.Errorf("%q: got %+v", c.in, a)
		}
	}
}

func TestMLPRejectsBadShapes(t *testing.T) {
	act, _ := ParseActivation("relu")
	if _, err := NewMLP(tensor.NewRNG(1, 1), gt.Float64, []int{3}, act, tensor.Normal(0, 1)); err == nil {
		t.Error("single width accepted")
	}
	m, _ := NewMLP(tensor.NewRNG(1, 1), gt.Float64, []int{3, 2}, act, tensor.Normal(0, 1))
	g := gorgonia.NewGraph()
	b, _ := Bind(g, m.Params())
	x := gorgonia.NewMatrix(g, gt.Float64, gorgonia.WithShape(2, 4), gorgonia.WithName("x"))
	if _, err := m.Forward(b, x); err == nil {
		t.Error("wrong input width accepted")
	}
}

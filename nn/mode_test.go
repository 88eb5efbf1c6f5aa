package nn

import (
	"math"
	"testing"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/tensor"
)

// TestBatchNormModes checks a batch norm layer against plain loops: the
// training-mode output normalizes with the batch mean and biased variance
// per channel, the evaluation-mode output with the running statistics, and
// UpdateRunningStats moves the running statistics by the momentum rule with
// the unbiased variance. Building and running graphs leaves the running
// statistics alone.
func TestBatchNormModes(t *testing.T) {
	const n, c, h, w = 3, 2, 2, 3
	rng := tensor.NewRNG(1, 1)
	x := randDense(rng, n, c, h, w)
	xs := x.Data().([]float64)
	core := newCore()
	b := &builder{rng: rng, dt: gt.Float64, c: &core}
	b.bn("bn", c)
	if b.err != nil {
		t.Fatal(b.err)
	}
	randomizeRunningStats(&fakeModel{&core}, 2)
	for _, p := range core.params {
		if p.Name == "bn.gamma" || p.Name == "bn.beta" {
			d := p.Value.Data().([]float64)
			for i := range d {
				d[i] = rng.Float64() + 0.5
			}
		}
	}
	val := func(name string) []float64 { return core.byName[name].Value.Data().([]float64) }
	rm0 := append([]float64(nil), val("bn.running_mean")...)
	rv0 := append([]float64(nil), val("bn.running_var")...)
	gamma, beta := val("bn.gamma"), val("bn.beta")

	// Per-channel batch statistics by loops.
	mean, bvar := make([]float64, c), make([]float64, c)
	cnt := float64(n * h * w)
	at := func(i, ch, k int) float64 { return xs[(i*c+ch)*h*w+k] }
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			for k := 0; k < h*w; k++ {
				mean[ch] += at(i, ch, k) / cnt
			}
		}
		for i := 0; i < n; i++ {
			for k := 0; k < h*w; k++ {
				d := at(i, ch, k) - mean[ch]
				bvar[ch] += d * d / cnt
			}
		}
	}

	for _, mode := range []Mode{Evaluation, Training} {
		t.Run(mode.String(), func(t *testing.T) {
			g := gorgonia.NewGraph()
			bind, err := Bind(g, core.params)
			if err != nil {
				t.Fatal(err)
			}
			xn := gorgonia.NewTensor(g, gt.Float64, 4, gorgonia.WithShape(n, c, h, w), gorgonia.WithValue(x), gorgonia.WithName("x"))
			cc := core
			cc.mode = mode
			y, err := cc.batchNorm(bind, "bn", xn)
			if err != nil {
				t.Fatal(err)
			}
			stats := cc.BatchStatNodes(g)
			if mode == Evaluation && len(stats) != 0 {
				t.Fatalf("evaluation graph recorded %d statistics", len(stats))
			}
			prog, err := engine.Compile(g, append(gorgonia.Nodes{y}, stats...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Close()
			if err := prog.Run(); err != nil {
				t.Fatal(err)
			}
			out, _ := prog.Dense(0)
			got := out.Data().([]float64)
			for i := 0; i < n; i++ {
				for ch := 0; ch < c; ch++ {
					mu, v := mean[ch], bvar[ch]
					if mode == Evaluation {
						mu, v = rm0[ch], rv0[ch]
					}
					for k := 0; k < h*w; k++ {
						want := (at(i, ch, k)-mu)/math.Sqrt(v+BNEps)*gamma[ch] + beta[ch]
						if g := got[(i*c+ch)*h*w+k]; math.Abs(g-want) > 1e-12 {
							t.Fatalf("y[%d,%d,%d] = %v, want %v", i, ch, k, g, want)
						}
					}
				}
			}
			for ch := 0; ch < c; ch++ {
				if val("bn.running_mean")[ch] != rm0[ch] || val("bn.running_var")[ch] != rv0[ch] {
					t.Fatal("running statistics changed by building or running a graph")
				}
			}
			if mode == Evaluation {
				return
			}
			vals := make([]*gt.Dense, len(stats))
			for i := range vals {
				vals[i], _ = prog.Dense(1 + i)
			}
			if err := cc.UpdateRunningStats(g, vals); err != nil {
				t.Fatal(err)
			}
			for ch := 0; ch < c; ch++ {
				wm := 0.9*rm0[ch] + 0.1*mean[ch]
				wv := 0.9*rv0[ch] + 0.1*bvar[ch]*cnt/(cnt-1)
				if gm, gv := val("bn.running_mean")[ch], val("bn.running_var")[ch]; math.Abs(gm-wm) > 1e-12 || math.Abs(gv-wv) > 1e-12 {
					t.Errorf("channel %d: running (%v, %v), want (%v, %v)", ch, gm, gv, wm, wv)
				}
			}
			if err := cc.UpdateRunningStats(g, vals[:1]); err == nil {
				t.Error("wrong number of statistics accepted")
			}
			cc.ReleaseGraph(g)
			if len(cc.BatchStatNodes(g)) != 0 {
				t.Error("ReleaseGraph kept the graph's statistics")
			}
		})
	}
}

type fakeModel struct{ c *core }

func (f *fakeModel) Params() Params { return f.c.params }
func (f *fakeModel) Forward(*Binding, *gorgonia.Node) (*gorgonia.Node, error) {
	return nil, nil
}

func TestInModeSharesParameters(t *testing.T) {
	m, err := NewResNet(tensor.NewRNG(1, 0), gt.Float32, ResNetConfig{InChannels: 1, Classes: 2, Widths: []int{2}, Blocks: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	e := InMode(m, Evaluation).(Moded)
	if e.Mode() != Evaluation || m.Mode() != Training {
		t.Fatalf("modes: view %v, original %v", e.Mode(), m.Mode())
	}
	for i, p := range e.Params() {
		if p != m.Params()[i] {
			t.Fatalf("parameter %d not shared", i)
		}
	}
	mlp, _ := NewMLP(tensor.NewRNG(1, 0), gt.Float32, []int{2, 2}, Activation{Name: "relu"}, tensor.KaimingUniform())
	if InMode(mlp, Evaluation) != Model(mlp) {
		t.Error("InMode changed a model without modes")
	}
}

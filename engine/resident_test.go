package engine_test

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
	"github.com/gradlab/gradlab/tensor"
)

// counting is a device-like set (its concrete type hidden from the engine)
// that counts the host transfers.
type counting struct {
	kernels.Set[float64]
	uploads, downloads int
}

func (c *counting) Upload(dst kernels.Buffer[float64], src []float64) error {
	c.uploads++
	return c.Set.Upload(dst, src)
}

func (c *counting) Download(dst []float64, src kernels.Buffer[float64]) error {
	c.downloads++
	return c.Set.Download(dst, src)
}

// The sets made here take gorgonia's BLAS, as the engine's own CPU sets
// do, so that results can be compared bit for bit.

// residentMLP is a small MLP's loss and gradient graph.
type residentMLP struct {
	ds    *data.Dataset
	obj   *objective.Graph
	grads gorgonia.Nodes
	idx   []int
}

func newResidentMLP(t *testing.T) *residentMLP {
	t.Helper()
	ds, err := data.GaussianMixture(3, 2, 20, 2, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(2, 1), gt.Float64, []int{2, 6, 3}, act, tensor.HeNormal(1))
	if err != nil {
		t.Fatal(err)
	}
	o, err := objective.Build(m, ds, 7, objective.CrossEntropy, true)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := autodiff.Grad(o.Loss, o.ParamNodes...)
	if err != nil {
		t.Fatal(err)
	}
	r := &residentMLP{ds: ds, obj: o, grads: grads, idx: []int{0, 3, 7, 11, 13, 17, 19}}
	if err := o.Fill(ds, r.idx); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *residentMLP) outputs() gorgonia.Nodes { return append(gorgonia.Nodes{r.obj.Loss}, r.grads...) }

// hostValues runs a plain host program (every input read from its tensor
// on every run) and returns the loss and the gradients.
func (r *residentMLP) hostValues(t *testing.T) (float64, [][]float64) {
	t.Helper()
	p, err := engine.CompileWith(r.obj.G, engine.Options{Backend: engine.Native, Workers: 1}, r.outputs()...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	loss, err := p.Scalar(0)
	if err != nil {
		t.Fatal(err)
	}
	var gs [][]float64
	for i := range r.grads {
		d, err := p.Dense(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, append([]float64(nil), d.Float64s()...))
	}
	return loss, gs
}

func paramData(n *gorgonia.Node) []float64 { return n.Value().(*gt.Dense).Float64s() }

func download(t *testing.T, set kernels.Set[float64], b kernels.Buffer[float64]) []float64 {
	t.Helper()
	out := make([]float64, b.Len())
	if err := set.Download(out, b); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestResidentParameters keeps an MLP's parameters in the set's memory and
// its gradients there too, takes gradient steps with the set's own Axpy on
// the buffers Buffers returns, and compares every run with a host program
// that reads the same parameters, updated on the host, from their tensors
// (same kernels: equal bit for bit). On the device-like set it also counts
// the transfers: a run uploads only the batch and downloads only the loss.
func TestResidentParameters(t *testing.T) {
	for _, dev := range []bool{false, true} {
		name := map[bool]string{false: "host", true: "device"}[dev]
		t.Run(name, func(t *testing.T) {
			r := newResidentMLP(t)
			cpu := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})
			defer cpu.Close()
			var set kernels.Set[float64] = cpu
			cnt := &counting{Set: cpu}
			if dev {
				set = cnt
			}
			prog, pbufs, gbufs := compileResidentStep(t, r.obj.G, set, r.obj.ParamNodes, r.grads, r.outputs())
			defer prog.Close()
			const lr = 0.3
			for it := 0; it < 4; it++ {
				wantLoss, wantGrads := r.hostValues(t)
				up, down := cnt.uploads, cnt.downloads
				if err := prog.Run(); err != nil {
					t.Fatal(err)
				}
				if dev && (cnt.uploads-up != 2 || cnt.downloads-down != 1) {
					t.Errorf("run %d: %d uploads and %d downloads, want 2 (input, target) and 1 (loss)",
						it, cnt.uploads-up, cnt.downloads-down)
				}
				loss, err := prog.Scalar(0)
				if err != nil {
					t.Fatal(err)
				}
				if loss != wantLoss {
					t.Errorf("run %d: loss %v, host %v", it, loss, wantLoss)
				}
				for i, b := range gbufs {
					if g := download(t, cpu, b); !sameFloats(g, wantGrads[i]) {
						t.Errorf("run %d: gradient %d differs from the host program's", it, i)
					}
				}
				// One gradient step on the set, the same step on the host
				// tensors for the next reference.
				for i, b := range pbufs {
					if err := set.Axpy(-lr, gbufs[i], b); err != nil {
						t.Fatal(err)
					}
					hp := paramData(r.obj.ParamNodes[i])
					for j := range hp {
						hp[j] += -lr * wantGrads[i][j]
					}
				}
				for i, n := range r.obj.ParamNodes {
					if got := download(t, cpu, pbufs[i]); !sameFloats(got, paramData(n)) {
						t.Errorf("run %d: resident parameter %d differs from the host update", it, i)
					}
				}
			}
			// Device outputs are refreshed on the host only by Download.
			g0 := r.grads[0]
			d, err := prog.Dense(1)
			if err != nil {
				t.Fatal(err)
			}
			if dev && sameFloats(d.Float64s(), download(t, cpu, gbufs[0])) {
				t.Error("a device output was downloaded by Run")
			}
			if err := prog.Download(g0); err != nil {
				t.Fatal(err)
			}
			if !sameFloats(d.Float64s(), download(t, cpu, gbufs[0])) {
				t.Error("Download did not refresh the output's host tensor")
			}
		})
	}
}

// TestResidentUploadDownload checks that a host-side change of a resident
// input reaches the device only through Upload, and that Download writes
// the device value into the node's tensor.
func TestResidentUploadDownload(t *testing.T) {
	r := newResidentMLP(t)
	cpu := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})
	defer cpu.Close()
	set := &counting{Set: cpu}
	w := r.obj.ParamNodes[0]
	prog, err := engine.CompileWith(r.obj.G, engine.Options{Backend: engine.Native, Set64: set,
		Resident: r.obj.ParamNodes}, r.obj.Loss)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	run := func() float64 {
		t.Helper()
		if err := prog.Run(); err != nil {
			t.Fatal(err)
		}
		l, err := prog.Scalar(0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	before := run()
	hw := paramData(w)
	saved := append([]float64(nil), hw...)
	for j := range hw {
		hw[j] *= 2
	}
	if l := run(); l != before {
		t.Errorf("a host change reached the device without Upload: loss %v, was %v", l, before)
	}
	if err := prog.Upload(w); err != nil {
		t.Fatal(err)
	}
	want, _ := r.hostValues(t)
	if l := run(); l != want {
		t.Errorf("after Upload: loss %v, host program %v", l, want)
	}
	copy(hw, saved)
	if err := prog.Download(w); err != nil {
		t.Fatal(err)
	}
	for j := range hw {
		if hw[j] != 2*saved[j] {
			t.Fatalf("Download: element %d is %v, want the device's %v", j, hw[j], 2*saved[j])
		}
	}
	// Upload, Download and Run allocate nothing in steady state.
	if a := testing.AllocsPerRun(20, func() {
		if err := prog.Upload(w); err != nil {
			t.Fatal(err)
		}
		if err := prog.Run(); err != nil {
			t.Fatal(err)
		}
		if err := prog.Download(w); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per upload, run and download", a)
	}
}

// TestResidentErrors checks the errors for misuse of resident inputs,
// device outputs and Buffers.
func TestResidentErrors(t *testing.T) {
	r := newResidentMLP(t)
	g, w := r.obj.G, r.obj.ParamNodes[0]
	outs := r.outputs()
	other := gorgonia.NewGraph()
	foreign := gorgonia.NewScalar(other, gt.Float64, gorgonia.WithName("foreign"))
	unused := gorgonia.NewVector(g, gt.Float64, gorgonia.WithShape(3), gorgonia.WithName("unused"),
		gorgonia.WithValue(gt.New(gt.WithShape(3), gt.WithBacking([]float64{1, 2, 3}))))
	set := device{kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})}
	defer set.Close()
	for _, c := range []struct {
		name string
		o    engine.Options
		want string
	}{
		{"op node", engine.Options{Resident: gorgonia.Nodes{r.obj.Loss}}, "not an input"},
		{"foreign node", engine.Options{Resident: gorgonia.Nodes{foreign}}, "another graph"},
		{"unused input", engine.Options{Backend: engine.Native, Resident: gorgonia.Nodes{unused}}, "does not reach"},
		{"device output not an output", engine.Options{DeviceOutputs: gorgonia.Nodes{w}}, "not an output"},
	} {
		o := c.o
		o.Set64 = set
		if _, err := engine.CompileWith(g, o, outs...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	prog, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Set64: set, Resident: gorgonia.Nodes{w}}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	x := r.obj.Input
	if _, err := engine.Buffers[float32](prog, w); err == nil {
		t.Error("Buffers[float32] of a float64 program did not fail")
	}
	if _, err := engine.Buffers[float64](prog, x); err == nil {
		t.Error("Buffers of a non-resident input did not fail")
	}
	if err := prog.Upload(x); err == nil {
		t.Error("Upload of a non-resident input did not fail")
	}
	if err := prog.Upload(r.grads[0]); err == nil {
		t.Error("Upload of an output did not fail")
	}
	if err := prog.Download(x); err == nil {
		t.Error("Download of a non-resident input did not fail")
	}
	tp, err := engine.CompileWith(g, engine.Options{Backend: engine.Tape, Resident: gorgonia.Nodes{w}}, outs...)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if _, err := engine.Buffers[float64](tp, w); err == nil || !strings.Contains(err.Error(), "TapeMachine") {
		t.Errorf("Buffers of a tape program: error %v", err)
	}
	if err := tp.Upload(w); err != nil {
		t.Errorf("Upload on the tape: %v", err)
	}
	if err := tp.Download(w, r.grads[0]); err != nil {
		t.Errorf("Download on the tape: %v", err)
	}
}

// TestResidentProbePowerIteration keeps the parameters and the probe
// vector of a Hessian-vector product program on the device-like set and
// runs power iteration there (Dot and Scale kernels on the buffers, no
// upload of the probe between runs). The Rayleigh quotient must reach the
// largest-magnitude eigenvalue of the Hessian built column by column from
// central differences of the gradient (gonum's EigenSym).
func TestResidentProbePowerIteration(t *testing.T) {
	r := newResidentMLP(t)
	o := r.obj
	probe, err := autodiff.NewProbe(o.G, o.ParamNodes)
	if err != nil {
		t.Fatal(err)
	}
	hv, err := autodiff.HVP(o.Loss, o.ParamNodes, probe)
	if err != nil {
		t.Fatal(err)
	}
	cpu := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})
	defer cpu.Close()
	set := &counting{Set: cpu}

	// The oracle: H[:, k] = (∇L(θ + h·e_k) − ∇L(θ − h·e_k)) / 2h.
	gp, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native, Workers: 1}, r.grads...)
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	var flat [][]float64 // the parameters' backing slices
	for _, n := range o.ParamNodes {
		flat = append(flat, paramData(n))
	}
	grad := func() []float64 {
		if err := gp.Run(); err != nil {
			t.Fatal(err)
		}
		var out []float64
		for i := range r.grads {
			d, err := gp.Dense(i)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, d.Float64s()...)
		}
		return out
	}
	dim := len(grad())
	hess := mat.NewSymDense(dim, nil)
	const h = 1e-5
	k := 0
	for _, p := range flat {
		for j := range p {
			x := p[j]
			p[j] = x + h
			gPlus := grad()
			p[j] = x - h
			gMinus := grad()
			p[j] = x
			// Column k gives half of each symmetric pair (i, k) and the
			// whole diagonal entry.
			for i := 0; i < dim; i++ {
				d := (gPlus[i] - gMinus[i]) / (2 * h)
				if i != k {
					d /= 2
				}
				hess.SetSym(i, k, hess.At(i, k)+d)
			}
			k++
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(hess, false) {
		t.Fatal("eigendecomposition failed")
	}
	var want float64
	for _, l := range eig.Values(nil) {
		if math.Abs(l) > math.Abs(want) {
			want = l
		}
	}

	resident := append(append(gorgonia.Nodes{}, o.ParamNodes...), probe...)
	prog, err := engine.CompileWith(o.G, engine.Options{Backend: engine.Native, Set64: set, Resident: resident,
		DeviceOutputs: hv}, hv...)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	vs, err := engine.Buffers[float64](prog, probe...)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := engine.Buffers[float64](prog, hv...)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if err := set.Fill(v, 1); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(a, b []kernels.Buffer[float64]) float64 {
		var s float64
		for i := range a {
			d, err := set.Dot(a[i], b[i])
			if err != nil {
				t.Fatal(err)
			}
			s += d
		}
		return s
	}
	up := set.uploads
	var lambda float64
	const iters = 400
	for it := 0; it < iters; it++ {
		if err := prog.Run(); err != nil {
			t.Fatal(err)
		}
		lambda = sum(vs, ws) / sum(vs, vs)
		scale := 1 / math.Sqrt(sum(ws, ws))
		for i := range vs {
			if err := set.Unary(kernels.Scale, vs[i], ws[i], kernels.UnaryArgs{A: scale}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := set.uploads - up; got != 2*iters {
		t.Errorf("%d uploads in %d runs, want %d (input and target only)", got, iters, 2*iters)
	}
	if math.Abs(lambda-want) > 1e-6*math.Abs(want) {
		t.Errorf("power iteration on the set: λ = %.10g, dense Hessian from finite differences: %.10g", lambda, want)
	}
}

// compileResidentStep compiles outputs of g on set with params resident and
// grads left on the set, and returns the program with the parameter and
// gradient buffers.
func compileResidentStep(t *testing.T, g *gorgonia.ExprGraph, set kernels.Set[float64], params, grads, outputs gorgonia.Nodes) (
	*engine.Program, []kernels.Buffer[float64], []kernels.Buffer[float64]) {
	t.Helper()
	prog, err := engine.CompileWith(g, engine.Options{Backend: engine.Native, Set64: set, Resident: params, DeviceOutputs: grads},
		outputs...)
	if err != nil {
		t.Fatal(err)
	}
	pbufs, err := engine.Buffers[float64](prog, params...)
	if err != nil {
		t.Fatal(err)
	}
	gbufs, err := engine.Buffers[float64](prog, grads...)
	if err != nil {
		t.Fatal(err)
	}
	return prog, pbufs, gbufs
}

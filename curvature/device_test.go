package curvature

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/kernels"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
)

// hiddenSet hides a CPU set's concrete type from the engine, which then
// treats it as a device (uploads and downloads as with the CUDA set), and
// counts the transfers.
type hiddenSet[T kernels.Float] struct {
	kernels.Set[T]
	uploads, downloads int
}

func (h *hiddenSet[T]) Upload(dst kernels.Buffer[T], src []T) error {
	h.uploads++
	return h.Set.Upload(dst, src)
}

func (h *hiddenSet[T]) Download(dst []T, src kernels.Buffer[T]) error {
	h.downloads++
	return h.Set.Download(dst, src)
}

func newHidden[T kernels.Float](t testing.TB) *hiddenSet[T] {
	t.Helper()
	c := kernels.NewCPU[T](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})
	t.Cleanup(func() { c.Close() })
	return &hiddenSet[T]{Set: c}
}

// residentStep stands for a training step on the device: a loss program
// of model on set with the trainable parameters resident.
func residentStep[T kernels.Float](t testing.TB, model nn.Model, set kernels.Set[T], batch int) (*engine.Program, gorgonia.Nodes) {
	t.Helper()
	ps := model.Params()
	ds := gaussianData(batch, ps[len(ps)-1].Value.Shape().TotalSize(), 99, ps[0].Value.Shape()[0]) // classes: the last bias
	obj, err := objective.Build(model, ds, batch, objective.CrossEntropy, true)
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Backend: engine.Native, Resident: obj.ParamNodes}
	switch s := any(set).(type) {
	case kernels.Set[float32]:
		o.Set32 = s
	case kernels.Set[float64]:
		o.Set64 = s
	}
	prog, err := engine.CompileWith(obj.G, o, obj.Loss)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog, obj.ParamNodes
}

// sameValues compares two probe results key by key: every key of want
// present in got, equal to rel (iteration counts exactly), wall times
// aside.
func sameValues(t *testing.T, got, want map[string]float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("device reports %d values, host %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("device lacks %q", k)
		case k == "lambda_max_seconds" || k == "trace_seconds":
		case k == "lambda_max_iters" || k == "trace_probes":
			if g != w {
				t.Errorf("%s: device %v, host %v", k, g, w)
			}
		case k == "lambda_max_residual":
			// A difference of rounding-size vectors: compare on the
			// scale of λ₁.
			if math.Abs(g-w) > rel*math.Abs(want["lambda_max"]) {
				t.Errorf("%s: device %.12g, host %.12g", k, g, w)
			}
		case math.Abs(g-w) > rel*math.Abs(w):
			t.Errorf("%s: device %.15g, host %.15g (rel %.2g)", k, g, w, math.Abs(g-w)/math.Abs(w))
		}
	}
}

// TestDeviceSharpnessProbe measures λ₁ with a SharpnessProbe attached to a
// device (the CPU set behind a hidden type, the parameters resident in a
// step program) and with the same probe on the host, same options and
// seeds, twice each (the second warm-starting where configured): every
// value agrees to rounding and the iteration counts exactly. It counts
// the transfers of a measurement (the examples of each chunk run up, the
// loss of each gradient chunk down: no parameter or vector), compares λ₁
// with the top eigenvalue of the dense Hessian from central differences
// of the gradient (gonum EigenSym), and checks that detach brings the
// eigenvector back.
func TestDeviceSharpnessProbe(t *testing.T) {
	ds := gaussianData(12, 3, 41, 4)
	model := newTinyMLP(t, gt.Float64, 4, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 5}) // chunks 5, 5, 2
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	n := op.Dim()
	eig := eigenvalues(t, symmetrize(denseFromGradients(t, op, 1e-5)))
	lmax := eig[n-1]
	if math.Abs(eig[0]) > lmax {
		t.Fatalf("test needs λ_max to dominate |λ_min|: %g vs %g", lmax, eig[0])
	}
	const chunks = 3
	for _, c := range []struct {
		name   string
		opts   SharpnessOptions
		oracle float64 // relative tolerance against the dense λ₁ (0: not converged by design)
	}{
		{"power", SharpnessOptions{Method: PowerMethod, Power: PowerOptions{Tol: 1e-6, MaxIter: 400}}, 1e-4},
		{"power-fixed-shifted", SharpnessOptions{Method: PowerMethod, Power: PowerOptions{Tol: -1, MaxIter: 7, Shift: 0.5}}, 0},
		{"lanczos", SharpnessOptions{Method: LanczosMethod, LanczosSteps: n}, 1e-7},
		{"lanczos-short-warm", SharpnessOptions{Method: LanczosMethod, LanczosSteps: 6, WarmStart: true}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Every, c.opts.Seed = 1, 7
			c.opts.LR = func() float64 { return 0.3 }
			host, err := NewSharpnessProbe(op, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := NewSharpnessProbe(op, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			set := newHidden[float64](t)
			prog, params := residentStep[float64](t, model, set, 4)
			detach, err := dev.AttachDevice(prog, params)
			if err != nil {
				t.Fatal(err)
			}
			for rep := 0; rep < 2; rep++ {
				want, err := host.Measure(rep)
				if err != nil {
					t.Fatal(err)
				}
				up, down := set.uploads, set.downloads
				got, err := dev.Measure(rep)
				if err != nil {
					t.Fatal(err)
				}
				sameValues(t, got, want, 1e-9)
				if c.oracle > 0 && relErr(got["lambda_max"], lmax) > c.oracle {
					t.Errorf("λ₁ on the device %.10g, dense Hessian %.10g", got["lambda_max"], lmax)
				}
				// Lanczos restarts upload their random vectors (one to three
				// tries each).
				applies, restarts := int(got["lambda_max_iters"]), 0
				if lz := dev.dev.(*sharpnessDevice[float64]).lz; lz != nil {
					restarts = lz.Restarts()
				}
				u, d := set.uploads-up, set.downloads-down
				if extra := u - 2*chunks*(1+applies); extra < restarts || extra > 3*restarts || d != chunks {
					t.Errorf("measurement %d: %d uploads and %d downloads, want %d (examples) plus 1 to 3 per restart (%d) and %d (losses)",
						rep, u, d, 2*chunks*(1+applies), restarts, chunks)
				}
			}
			if err := detach(); err != nil {
				t.Fatal(err)
			}
			if d := vecRelDiff(dev.Vector(), host.Vector()); d > 1e-8 {
				t.Errorf("eigenvector after detach differs from the host's by %.2g", d)
			}
			// Detached, the probe measures on the host again, from the
			// same state as the host probe.
			want, err := host.Measure(2)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dev.Measure(2)
			if err != nil {
				t.Fatal(err)
			}
			sameValues(t, got, want, 1e-8)
		})
	}
}

// TestDeviceTraceProbe compares a TraceProbe attached to a device with the
// same probe on the host (equal estimates to rounding, same probe count),
// each per-probe value vᵀHv with the same Rademacher vector multiplied by
// the dense finite-difference Hessian, and the estimate with the dense
// trace (within four standard errors).
func TestDeviceTraceProbe(t *testing.T) {
	ds := gaussianData(12, 3, 42, 4)
	model := newTinyMLP(t, gt.Float64, 4, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	n := op.Dim()
	dense := symmetrize(denseFromGradients(t, op, 1e-5))
	var tr float64
	for i := 0; i < n; i++ {
		tr += dense.At(i, i)
	}
	opts := TraceProbeOptions{Every: 1, Trace: TraceOptions{Probes: 200}, Seed: 9}
	host, err := NewTraceProbe(op, opts)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewTraceProbe(op, opts)
	if err != nil {
		t.Fatal(err)
	}
	set := newHidden[float64](t)
	prog, params := residentStep[float64](t, model, set, 4)
	detach, err := dev.AttachDevice(prog, params)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	want, err := host.Measure(1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dev.Measure(1)
	if err != nil {
		t.Fatal(err)
	}
	sameValues(t, got, want, 1e-10)
	if math.Abs(got["trace"]-tr) > 4*got["trace_se"] {
		t.Errorf("device trace %.6g ± %.3g, dense %.6g", got["trace"], got["trace_se"], tr)
	}
	// The same probes against the dense matrix.
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7ace)) // the trace probe's stream
	v := make([]float64, n)
	samples := dev.dev.(*traceDevice[float64]).hut.Samples()
	for k, x := range samples {
		Rademacher.Fill(rng, v)
		var hv mat.VecDense
		hv.MulVec(dense, mat.NewVecDense(n, v))
		if w := mat.Dot(mat.NewVecDense(n, v), &hv); math.Abs(x-w) > 1e-6*(1+math.Abs(w)) {
			t.Fatalf("probe %d: vᵀHv %.10g on the device, %.10g with the dense Hessian", k, x, w)
		}
	}
}

// TestDeviceAttachRefusals checks that a probe refuses, as unsupported,
// parameters of another model and a program on the TapeMachine.
func TestDeviceAttachRefusals(t *testing.T) {
	ds := gaussianData(6, 3, 1, 4)
	model := newTinyMLP(t, gt.Float64, 1, 4, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	p, err := NewSharpnessProbe(op, SharpnessOptions{Every: 1})
	if err != nil {
		t.Fatal(err)
	}
	set := newHidden[float64](t)
	other := newTinyMLP(t, gt.Float64, 2, 4, 3)
	prog, params := residentStep[float64](t, other, set, 3)
	if _, err := p.AttachDevice(prog, params); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("another model's parameters: %v, want errors.ErrUnsupported", err)
	}
	obj, err := objective.Build(model, ds, 3, objective.CrossEntropy, true)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := engine.CompileWith(obj.G, engine.Options{Backend: engine.Tape, Resident: obj.ParamNodes}, obj.Loss)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if _, err := p.AttachDevice(tp, obj.ParamNodes); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("a TapeMachine program: %v, want errors.ErrUnsupported", err)
	}
	tr, err := NewTraceProbe(OperatorFunc{N: 3, Fn: func(dst, v []float64) error { copy(dst, v); return nil }},
		TraceProbeOptions{Every: 1, Trace: TraceOptions{Probes: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.AttachDevice(prog, params); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("a trace probe on a plain operator: %v, want errors.ErrUnsupported", err)
	}
}

// TestDeviceSolversDoNotAllocate runs the device power iteration, Lanczos
// and Hutchinson (and a measurement's gradient) in steady state and
// requires zero allocations per run.
func TestDeviceSolversDoNotAllocate(t *testing.T) {
	ds := gaussianData(12, 3, 43, 4)
	model := newTinyMLP(t, gt.Float64, 5, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	set := newHidden[float64](t)
	prog, params := residentStep[float64](t, model, set, 4)
	d, err := NewDeviceHessianOn[float64](op, prog, params)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pw, err := NewDevicePowerIteration(d, PowerOptions{Tol: -1, MaxIter: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	lz, err := NewDeviceLanczos(d, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer lz.Close()
	hut, err := NewDeviceHutchinson(d, TraceOptions{Probes: 10})
	if err != nil {
		t.Fatal(err)
	}
	start, err := set.Alloc(d.Dim())
	if err != nil {
		t.Fatal(err)
	}
	rng := newRNG(3)
	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"gradient", func() error { _, err := d.Gradient(); return err }},
		{"apply", d.Apply},
		{"power", func() error {
			if err := set.Fill(start, 1); err != nil {
				return err
			}
			_, err := pw.Run(start, rng)
			return err
		}},
		{"lanczos", func() error {
			if err := set.Fill(start, 1); err != nil {
				return err
			}
			return lz.Run(start, rng)
		}},
		{"hutchinson", func() error { _, err := hut.Run(rng); return err }},
	} {
		if err := c.fn(); err != nil { // first run: lazy host scratch
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(5, func() {
			if err := c.fn(); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per run", c.name, a)
		}
	}
}

// TestDeviceFloat32 attaches λ₁ and trace probes of a float32 model to a
// float32 device set: the device keeps float32 vectors where the host
// probe keeps float64 ones, so the values agree to float32 rounding.
func TestDeviceFloat32(t *testing.T) {
	ds := gaussianData(12, 3, 44, 4)
	model := newTinyMLP(t, gt.Float32, 6, 4, 6, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true, Chunk: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	set := newHidden[float32](t)
	prog, params := residentStep[float32](t, model, set, 4)
	so := SharpnessOptions{Every: 1, Method: LanczosMethod, LanczosSteps: 10, Seed: 2}
	to := TraceProbeOptions{Every: 1, Trace: TraceOptions{Probes: 20}, Seed: 5}
	hs, _ := NewSharpnessProbe(op, so)
	ds2, _ := NewSharpnessProbe(op, so)
	ht, _ := NewTraceProbe(op, to)
	dt, _ := NewTraceProbe(op, to)
	for _, p := range []deviceAttacher{ds2, dt} {
		detach, err := p.AttachDevice(prog, params)
		if err != nil {
			t.Fatal(err)
		}
		defer detach()
	}
	for _, c := range []struct {
		host, dev interface {
			Measure(int) (map[string]float64, error)
		}
		keys []string
	}{
		{hs, ds2, []string{"lambda_max", "probe_loss", "grad_norm", "param_norm_sq"}},
		{ht, dt, []string{"trace"}},
	} {
		want, err := c.host.Measure(1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.dev.Measure(1)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.keys {
			if relErr(got[k], want[k]) > 1e-4 {
				t.Errorf("%s: float32 device %.8g, host %.8g", k, got[k], want[k])
			}
		}
	}
}

// deviceAttacher is what the probes share with train.DeviceProbe.
type deviceAttacher interface {
	AttachDevice(prog *engine.Program, params gorgonia.Nodes) (func() error, error)
}

// TestDeviceLanczosRunUntil checks that stopping a device Lanczos run
// after k steps gives the tridiagonal matrix, Ritz values and residual
// bounds of a k-step run, and that the rule sees the steps in order.
func TestDeviceLanczosRunUntil(t *testing.T) {
	ds := gaussianData(9, 3, 45, 4)
	model := newTinyMLP(t, gt.Float64, 7, 4, 5, 3)
	op, err := NewHessianOperator(model, ds, HVPOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	set := newHidden[float64](t)
	prog, params := residentStep[float64](t, model, set, 4)
	d, err := NewDeviceHessianOn[float64](op, prog, params)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start, err := set.Alloc(d.Dim())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Free(start)
	if err := set.Fill(start, 1); err != nil {
		t.Fatal(err)
	}
	const k = 4
	long, err := NewDeviceLanczos(d, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	var seen []int
	if err := long.RunUntil(start, nil, func(j int) bool { seen = append(seen, j); return j == k }); err != nil {
		t.Fatal(err)
	}
	short, err := NewDeviceLanczos(d, k)
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close()
	if err := short.Run(start, nil); err != nil {
		t.Fatal(err)
	}
	if long.Steps() != k || len(seen) != k || seen[k-1] != k {
		t.Fatalf("stopped after %d steps, rule saw %v", long.Steps(), seen)
	}
	a1, b1 := long.Tridiagonal()
	a2, b2 := short.Tridiagonal()
	if !slicesEqual(a1, a2) || !slicesEqual(b1, b2) || !slicesEqual(long.RitzValues(), short.RitzValues()) ||
		long.ResidualBound(k-1) != short.ResidualBound(k-1) {
		t.Errorf("stopped run %v %v %v, %d-step run %v %v %v", a1, b1, long.RitzValues(), k, a2, b2, short.RitzValues())
	}
}

func slicesEqual(a, b []float64) bool {
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

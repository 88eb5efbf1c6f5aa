package engine_test

import (
	"strings"
	"testing"

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

// sharedMLP is one model with two loss graphs over different batch sizes,
// as a training step and a probe over other examples have.
type sharedMLP struct {
	ds         *data.Dataset
	step, eval *objective.Graph
	grads      gorgonia.Nodes
}

func newSharedMLP(t *testing.T) *sharedMLP {
	t.Helper()
	ds, err := data.GaussianMixture(3, 2, 20, 2, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	act, _ := nn.ParseActivation("tanh")
	m, err := nn.NewMLP(tensor.NewRNG(3, 1), gt.Float64, []int{2, 5, 3}, act, tensor.HeNormal(1))
	if err != nil {
		t.Fatal(err)
	}
	s := &sharedMLP{ds: ds}
	if s.step, err = objective.Build(m, ds, 6, objective.CrossEntropy, true); err != nil {
		t.Fatal(err)
	}
	if s.eval, err = objective.Build(m, ds, 11, objective.CrossEntropy, true); err != nil {
		t.Fatal(err)
	}
	if s.grads, err = autodiff.Grad(s.step.Loss, s.step.ParamNodes...); err != nil {
		t.Fatal(err)
	}
	if err := s.step.Fill(ds, []int{0, 2, 4, 6, 8, 10}); err != nil {
		t.Fatal(err)
	}
	if err := s.eval.Fill(ds, []int{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21}); err != nil {
		t.Fatal(err)
	}
	return s
}

// hostLoss runs the second graph's loss on the host from the parameter
// tensors.
func (s *sharedMLP) hostLoss(t *testing.T) float64 {
	t.Helper()
	p, err := engine.CompileWith(s.eval.G, engine.Options{Backend: engine.Native, Workers: 1}, s.eval.Loss)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	l, err := p.Scalar(0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBindSharesResidentParameters compiles a gradient program with the
// parameters resident and a second program (another graph of the same
// model) whose parameter inputs are bound to the first program's buffers.
// Gradient steps taken on the first program's buffers must be seen by the
// second without any parameter upload (its runs upload only its batch),
// closing the second must leave the first's buffers alive, and Download
// through the second must bring the shared values to the host tensors.
func TestBindSharesResidentParameters(t *testing.T) {
	for _, dev := range []bool{false, true} {
		t.Run(map[bool]string{false: "host", true: "device"}[dev], func(t *testing.T) {
			s := newSharedMLP(t)
			cpu := kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})
			defer cpu.Close()
			var set kernels.Set[float64] = cpu
			cnt := &counting{Set: cpu}
			if dev {
				set = cnt
			}
			step, pbufs, gbufs := compileResidentStep(t, s.step.G, set, s.step.ParamNodes, s.grads,
				append(gorgonia.Nodes{s.step.Loss}, s.grads...))
			defer step.Close()
			binds := make([]engine.Binding, len(pbufs))
			for i, b := range pbufs {
				binds[i] = engine.Bind[float64](s.eval.ParamNodes[i], b)
			}
			// Compiling uploads what an unbound program uploads less the
			// parameters.
			up := cnt.uploads
			unbound, err := engine.CompileWith(s.eval.G, engine.Options{Backend: engine.Native, Set64: set,
				Resident: s.eval.ParamNodes}, s.eval.Loss)
			if err != nil {
				t.Fatal(err)
			}
			unbound.Close()
			up, up0 := cnt.uploads, cnt.uploads-up
			eval, err := engine.CompileWith(s.eval.G, engine.Options{Backend: engine.Native, Set64: set,
				Resident: s.eval.ParamNodes, Bind: binds}, s.eval.Loss)
			if err != nil {
				t.Fatal(err)
			}
			if got := cnt.uploads - up; dev && got != up0-len(binds) {
				t.Errorf("compiling the bound program made %d uploads, want %d (%d without binding, less %d parameters)",
					got, up0-len(binds), up0, len(binds))
			}
			ebufs, err := engine.Buffers[float64](eval, s.eval.ParamNodes...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ebufs {
				if ebufs[i] != pbufs[i] {
					t.Errorf("parameter %d: the bound program's buffer is not the step's", i)
				}
			}
			const lr = 0.5
			for it := 0; it < 3; it++ {
				if err := step.Run(); err != nil {
					t.Fatal(err)
				}
				for i, b := range pbufs {
					if err := set.Axpy(-lr, gbufs[i], b); err != nil {
						t.Fatal(err)
					}
				}
				// The host reference: the same step on the host tensors.
				if dev {
					for i, n := range s.step.ParamNodes {
						hp := paramData(n)
						g := download(t, cpu, gbufs[i])
						for j := range hp {
							hp[j] += -lr * g[j]
						}
					}
				}
				want := s.hostLoss(t)
				up := cnt.uploads
				if err := eval.Run(); err != nil {
					t.Fatal(err)
				}
				if dev && cnt.uploads-up != 2 {
					t.Errorf("run %d of the bound program: %d uploads, want 2 (input and target)", it, cnt.uploads-up)
				}
				got, err := eval.Scalar(0)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("step %d: bound program's loss %v, host %v", it, got, want)
				}
			}
			// Download through the bound program writes the shared value
			// (on the host CPU set the tensor is the shared memory itself).
			w := s.eval.ParamNodes[0]
			hw := paramData(w)
			saved := append([]float64(nil), hw...)
			if dev {
				clear(hw)
			}
			if err := eval.Download(w); err != nil {
				t.Fatal(err)
			}
			if !sameFloats(hw, saved) {
				t.Error("Download through the bound program did not restore the shared value")
			}
			if err := eval.Close(); err != nil {
				t.Fatal(err)
			}
			// The step program's buffers outlive the bound program.
			if err := step.Run(); err != nil {
				t.Fatal(err)
			}
			if got := download(t, cpu, pbufs[0]); !sameFloats(got, saved) {
				t.Error("closing the bound program changed the step's parameters")
			}
			if dev {
				if a := testing.AllocsPerRun(10, func() {
					if err := step.Run(); err != nil {
						t.Fatal(err)
					}
				}); a != 0 {
					t.Errorf("%v allocations per run after the bound program closed", a)
				}
			}
		})
	}
}

// TestBindErrors checks the refusals of Options.Bind.
func TestBindErrors(t *testing.T) {
	s := newSharedMLP(t)
	set := &counting{Set: kernels.NewCPU[float64](kernels.CPUOptions{Workers: 1, BLAS: gorgonia.WhichBLAS()})}
	defer set.Close()
	w := s.eval.ParamNodes[0]
	size := w.Shape().TotalSize()
	good, err := set.Alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Free(good)
	short, err := set.Alloc(size - 1)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Free(short)
	set32 := kernels.NewCPU[float32](kernels.CPUOptions{Workers: 1})
	defer set32.Close()
	b32, err := set32.Alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	res := gorgonia.Nodes{w}
	for _, c := range []struct {
		name string
		o    engine.Options
		want string
	}{
		{"not resident", engine.Options{Bind: []engine.Binding{engine.Bind[float64](w, good)}}, "not listed in Options.Resident"},
		{"twice", engine.Options{Resident: res, Bind: []engine.Binding{engine.Bind[float64](w, good), engine.Bind[float64](w, good)}}, "bound twice"},
		{"short buffer", engine.Options{Resident: res, Bind: []engine.Binding{engine.Bind[float64](w, short)}}, "buffer of"},
		{"element type", engine.Options{Resident: res, Bind: []engine.Binding{engine.Bind[float32](w, b32)}}, "does not hold"},
		{"tape", engine.Options{Backend: engine.Tape, Resident: res, Bind: []engine.Binding{engine.Bind[float64](w, good)}}, "TapeMachine"},
		{"other graph", engine.Options{Resident: res, Bind: []engine.Binding{engine.Bind[float64](s.step.ParamNodes[0], good)}}, "another graph"},
		{"nil node", engine.Options{Resident: res, Bind: []engine.Binding{{}}}, "no node"},
	} {
		o := c.o
		o.Set64 = set
		p, err := engine.CompileWith(s.eval.G, o, s.eval.Loss)
		if err == nil {
			p.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

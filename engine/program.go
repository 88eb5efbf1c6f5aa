package engine

import (
	"errors"
	"fmt"
	"log"
	"math"
	"time"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/kernels"
)

// Backend selects how a Program executes.
type Backend int

const (
	// Auto compiles to kernel calls and falls back to the TapeMachine when
	// the graph uses an op the compiler does not support.
	Auto Backend = iota
	// Native compiles to kernel calls and fails on unsupported ops.
	Native
	// Tape runs on gorgonia's TapeMachine (for comparison and debugging).
	Tape
)

func (b Backend) String() string {
	switch b {
	case Auto:
		return "auto"
	case Native:
		return "native"
	case Tape:
		return "tape"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// Options configure Compile.
type Options struct {
	Backend Backend
	// Workers is the number of goroutines of the CPU kernel set (0: all
	// cores).
	Workers int
	// Set32 and Set64 supply the kernel sets for float32 and float64
	// graphs; nil means a new CPU set owned (and closed) by the program.
	// A supplied set is not closed by Program.Close.
	Set32 kernels.Set[float32]
	Set64 kernels.Set[float64]
	// Logf reports a fallback to the TapeMachine, once per Compile; nil
	// means log.Printf.
	Logf func(format string, args ...any)
	// Resident lists input nodes (parameters, probe vectors) whose values
	// stay in the kernel set's memory between runs: Compile uploads them
	// once and Run never uploads them again. Program.Upload copies a
	// changed host value to the set, Program.Download copies the set's
	// value back into the node's tensor, and Buffers hands the set's
	// buffer to other kernels (an optimizer updating it in place). On the
	// host CPU set a resident input aliases its tensor, as every input
	// does, so nothing changes there.
	Resident []*gorgonia.Node
	// DeviceOutputs lists outputs that Run leaves in the kernel set's
	// memory (gradients consumed there by an optimizer): their host
	// tensors (Dense, Scalar, Output) are refreshed only by
	// Program.Download. On the host CPU set they alias the program's
	// buffers and are always current.
	DeviceOutputs []*gorgonia.Node
	// Bind gives resident inputs (each also listed in Resident) buffers of
	// the program's kernel set that the caller owns (see Bind, Binding):
	// the program reads them in place instead of allocating and uploading
	// its own, Run never uploads them, Upload and Download copy between
	// them and the node's tensor, Buffers returns them, and Close does not
	// free them. The caller keeps them alive while the program is used
	// (for buffers of another program: that program open). A program with
	// bound inputs never falls back to the TapeMachine.
	Bind []Binding
	// NoChains turns off the fusion of elementwise chains into single
	// Chain kernel calls (fuse_chain.go), for comparisons and profiling;
	// the results are the same bit for bit either way.
	NoChains bool
}

// runner is one way of executing a compiled graph.
type runner interface {
	run() error
	output(i int) gorgonia.Value
	close() error
}

// Program is a compiled graph with a fixed list of outputs.
type Program struct {
	r        runner
	outputs  []*gorgonia.Node
	backend  string
	fallback string
	resident map[int64]bool // IDs of Options.Resident
	outIndex map[int64]int  // ID of each output node → its first index
}

// Compile prepares g for execution and arranges for the given output nodes
// to be readable after every Run, with the default Options: kernel calls
// over preallocated buffers when the compiler supports every op, the
// TapeMachine otherwise. All outputs must belong to g. Compile must be
// called after the whole graph (including gradient nodes) is built.
func Compile(g *gorgonia.ExprGraph, outputs ...*gorgonia.Node) (*Program, error) {
	return CompileWith(g, Options{}, outputs...)
}

// CompileWith is Compile with options.
func CompileWith(g *gorgonia.ExprGraph, o Options, outputs ...*gorgonia.Node) (*Program, error) {
	if len(outputs) == 0 {
		return nil, fmt.Errorf("engine: no outputs")
	}
	for i, n := range outputs {
		if n == nil {
			return nil, fmt.Errorf("engine: output %d is nil", i)
		}
		if n.Graph() != g {
			return nil, fmt.Errorf("engine: output %d (%s) belongs to another graph", i, n.Name())
		}
	}
	p := &Program{outputs: outputs}
	if err := p.checkResidency(g, o); err != nil {
		return nil, err
	}
	if err := checkBindings(g, o); err != nil {
		return nil, err
	}
	if o.Backend != Tape {
		r, name, err := compileFor(g, o, outputs)
		if err == nil {
			p.r, p.backend = r, name
			return p, nil
		}
		var u *unsupportedError
		if o.Backend == Native || len(o.Bind) > 0 || !errors.As(err, &u) {
			return nil, fmt.Errorf("engine: %w", err)
		}
		p.fallback = err.Error()
		logf := o.Logf
		if logf == nil {
			logf = log.Printf
		}
		logf("engine: running the graph on gorgonia's TapeMachine: %s", p.fallback)
	}
	p.r, p.backend = newTape(g, outputs), "tape"
	return p, nil
}

func compileFor(g *gorgonia.ExprGraph, o Options, outputs []*gorgonia.Node) (runner, string, error) {
	switch dt := outputs[0].Dtype(); dt {
	case gt.Float32:
		set, own := o.Set32, false
		if set == nil {
			set, own = kernels.NewCPU[float32](kernels.CPUOptions{Workers: o.Workers, BLAS: gorgonia.WhichBLAS()}), true
		}
		nat, err := compileNative(g, set, outputs, newResidency(o), !o.NoChains)
		if err != nil {
			if own {
				_ = set.Close()
			}
			return nil, "", err
		}
		nat.ownSet = own
		return nat, set.Name(), nil
	case gt.Float64:
		set, own := o.Set64, false
		if set == nil {
			set, own = kernels.NewCPU[float64](kernels.CPUOptions{Workers: o.Workers, BLAS: gorgonia.WhichBLAS()}), true
		}
		nat, err := compileNative(g, set, outputs, newResidency(o), !o.NoChains)
		if err != nil {
			if own {
				_ = set.Close()
			}
			return nil, "", err
		}
		nat.ownSet = own
		return nat, set.Name(), nil
	default:
		return nil, "", &unsupportedError{ops: []string{fmt.Sprintf("output dtype %v", dt)}}
	}
}

// Backend names what runs the program: a kernel set ("cpu/float32", …) or
// "tape".
func (p *Program) Backend() string { return p.backend }

// Fallback is why the program runs on the TapeMachine although the
// compiler was asked first ("" when it did not fall back).
func (p *Program) Fallback() string { return p.fallback }

// HostOps lists the ops of a compiled program that run through their own
// Do method on the host (allocating their result) because the compiler has
// no kernel for them.
func (p *Program) HostOps() []string {
	if h, ok := p.r.(interface{ hostOpList() []string }); ok {
		return h.hostOpList()
	}
	return nil
}

// StepTime is the time a compiled program spent in one of its steps.
type StepTime struct {
	Step  string // node name and op
	Total time.Duration
}

// Profile runs a compiled program runs times and returns the time spent in
// each step, in execution order (on a device set, kernels may run
// asynchronously and their time land on a later synchronising step). It
// fails for programs on the TapeMachine.
func (p *Program) Profile(runs int) ([]StepTime, error) {
	n, ok := p.r.(interface {
		profile(int) ([]StepTime, error)
	})
	if !ok {
		return nil, fmt.Errorf("engine: profile: the program runs on the %s", p.backend)
	}
	return n.profile(runs)
}

// Run executes the program once. Output values are valid until the next Run.
func (p *Program) Run() error {
	if err := p.r.run(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	return nil
}

// Output returns output i's value after the last Run.
func (p *Program) Output(i int) gorgonia.Value { return p.r.output(i) }

// Dense returns output i as a dense tensor. Scalars come back as 0-d tensors
// from compiled programs and may come back as gorgonia scalars (an error
// here) from the TapeMachine.
func (p *Program) Dense(i int) (*gt.Dense, error) {
	switch v := p.r.output(i).(type) {
	case *gt.Dense:
		return v, nil
	case nil:
		return nil, fmt.Errorf("engine: output %d (%s) has no value; was Run called?", i, p.outputs[i].Name())
	default:
		return nil, fmt.Errorf("engine: output %d (%s) is %T, not a dense tensor", i, p.outputs[i].Name(), v)
	}
}

// Scalar returns output i as a float64; the output must hold one element.
func (p *Program) Scalar(i int) (float64, error) {
	if nat, ok := p.r.(interface{ scalar(int) (float64, bool) }); ok {
		if x, ok := nat.scalar(i); ok {
			return x, nil
		}
	}
	v := p.r.output(i)
	if v == nil {
		return math.NaN(), fmt.Errorf("engine: output %d (%s) has no value; was Run called?", i, p.outputs[i].Name())
	}
	switch v := v.(type) {
	case *gorgonia.F64:
		return float64(*v), nil
	case *gorgonia.F32:
		return float64(*v), nil
	case *gt.Dense:
		switch d := v.Data().(type) {
		case float64:
			return d, nil
		case float32:
			return float64(d), nil
		case []float64:
			if len(d) == 1 {
				return d[0], nil
			}
		case []float32:
			if len(d) == 1 {
				return float64(d[0]), nil
			}
		}
	}
	return math.NaN(), fmt.Errorf("engine: output %d (%s) is not a scalar (shape %v)", i, p.outputs[i].Name(), v.Shape())
}

// Close releases the machine or the buffers and kernel set.
func (p *Program) Close() error { return p.r.close() }

// tape runs the graph on gorgonia's TapeMachine; outputs are read through
// gorgonia.Read nodes, since the values of intermediate nodes are not
// reliable after a run (registers are reused).
type tape struct {
	vm   gorgonia.VM
	vals []gorgonia.Value
}

func newTape(g *gorgonia.ExprGraph, outputs []*gorgonia.Node) *tape {
	t := &tape{vals: make([]gorgonia.Value, len(outputs))}
	reads := make(gorgonia.Nodes, len(outputs))
	for i, n := range outputs {
		reads[i] = gorgonia.Read(n, &t.vals[i])
	}
	// Only the part of the graph that reaches the outputs is compiled:
	// symbolic differentiation also creates nodes nothing needs.
	t.vm = gorgonia.NewTapeMachine(g.SubgraphRoots(reads...))
	return t
}

func (t *tape) run() error {
	defer t.vm.Reset()
	return t.vm.RunAll()
}

func (t *tape) output(i int) gorgonia.Value { return t.vals[i] }
func (t *tape) close() error                { return t.vm.Close() }

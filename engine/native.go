package engine

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unsafe"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/kernels"
)

// planKind says where a node's value lives.
type planKind int

const (
	kindNew   planKind = iota // written by the node's step into a planned buffer
	kindAlias                 // shares the buffer of its first child (reshapes)
	kindInput                 // the graph input's own tensor (no copy)
	kindConst                 // a constant, copied once at compile time
	kindRead                  // gorgonia.Read: publishes its child's value after every run
	kindFused                 // folded into its only consumer: no step, no buffer
)

// step runs one node.
type step func() error

// builder makes a node's step once its buffers are known.
type builder[T kernels.Float] func(set kernels.Set[T], in []kernels.Buffer[T], out kernels.Buffer[T]) (step, error)

// nodePlan is the compiler's view of one node.
type nodePlan[T kernels.Float] struct {
	n        *gorgonia.Node
	children []int // indices into the order
	shape    []int
	size     int
	kind     planKind
	build    builder[T]
	constVal []T // kindConst

	buf int // planned buffer (kindNew, or kindAlias of a planned node); -1 otherwise
	ext int // external buffer (inputs, constants and their aliases); -1 otherwise

	value  kernels.Buffer[T] // resolved buffer of the node's value
	into   *gorgonia.Value   // kindRead: where gorgonia.Read stores the value
	hostDo bool              // runs through the op's own Do method

	// What the fusion pass needs to know (see fuse.go).
	binary bool             // an elementwise binary op planned by binaryPlan
	binOp  kernels.BinaryOp // its operator
	repeat bool             // a repetition of size-1 axes (gorgonia's broadcast)
	slope  bool             // a leaky ReLU's slope (ops.ReLUSlope)
	leak   float64          // its leak
	label  string           // the step's op name when a fold replaced the node's op
	relu   bool             // a ReLUBackward fold (its leak in leak)
	// unary: one Unary call of unaryOp with unaryArgs (setUnary).
	unary     bool
	unaryOp   kernels.UnaryOp
	unaryArgs kernels.UnaryArgs
}

// external is an input or constant buffer.
type external[T kernels.Float] struct {
	node  *gorgonia.Node
	val   gorgonia.Value // the value the buffer was made from (inputs)
	host  *kernels.Host[T]
	buf   kernels.Buffer[T]
	input bool
	data  []T // host data uploaded before each run when the set is not the CPU
	// resident: an input kept in the set's memory, uploaded only at
	// compile time and by Program.Upload.
	resident bool
	// bound: an input whose buffer the caller owns (Options.Bind, share.go).
	bound bool
}

// native is a graph compiled to kernel calls over preallocated buffers.
type native[T kernels.Float] struct {
	set     kernels.Set[T]
	ownSet  bool
	onHost  bool
	steps   []step
	names   []string
	exts    []*external[T]
	outs    []*gt.Dense
	outBufs []kernels.Buffer[T]
	outHost [][]T
	bufs    []kernels.Buffer[T]
	hostOps []string            // ops run through their Do method
	scratch []kernels.Buffer[T] // buffers the steps allocated for themselves

	resident map[int64]*external[T]      // resident inputs by node ID
	keep     []bool                      // outputs Run leaves on the set
	bound    map[int64]kernels.Buffer[T] // Options.Bind by node ID (share.go)
}

// tracking is the set handed to builders: it records their allocations
// (scratch space, constants) so that close frees them.
type tracking[T kernels.Float] struct {
	kernels.Set[T]
	allocs *[]kernels.Buffer[T]
}

func (t tracking[T]) Alloc(n int) (kernels.Buffer[T], error) {
	b, err := t.Set.Alloc(n)
	if err == nil {
		*t.allocs = append(*t.allocs, b)
	}
	return b, err
}

// unsupportedError lists the ops a graph uses that the compiler does not
// handle.
type unsupportedError struct{ ops []string }

func (e *unsupportedError) Error() string {
	return "unsupported ops: " + strings.Join(e.ops, "; ")
}

// compileNative compiles the subgraph reaching outputs for element type T
// on set (with fused elementwise chains unless chains is false).
func compileNative[T kernels.Float](g *gorgonia.ExprGraph, set kernels.Set[T], outputs []*gorgonia.Node, res residency, chains bool) (*native[T], error) {
	sub := g.SubgraphRoots(outputs...)
	sorted, err := gorgonia.Sort(sub)
	if err != nil {
		return nil, fmt.Errorf("sort: %w", err)
	}
	// Sort puts roots first; execution runs leaves first.
	order := make([]*gorgonia.Node, len(sorted))
	for i, n := range sorted {
		order[len(sorted)-1-i] = n
	}
	index := make(map[int64]int, len(order))
	for i, n := range order {
		index[n.ID()] = i
	}
	var dt gt.Dtype
	var z T
	if _, ok := any(z).(float32); ok {
		dt = gt.Float32
	} else {
		dt = gt.Float64
	}

	_, onHost := set.(*kernels.CPU[T])
	plans := make([]*nodePlan[T], len(order))
	var unsupported []string
	seen := map[string]bool{}
	for i, n := range order {
		p := &nodePlan[T]{n: n, shape: []int(n.Shape().Clone()), buf: -1, ext: -1}
		p.size = 1
		for _, d := range p.shape {
			p.size *= d
		}
		for _, c := range autodiff.Children(g, n) {
			j, ok := index[c.ID()]
			if !ok {
				return nil, fmt.Errorf("node %s: child %s outside the compiled subgraph", n.Name(), c.Name())
			}
			p.children = append(p.children, j)
		}
		plans[i] = p
		if pkg, name := opType(n.Op()); pkg == "gorgonia.org/gorgonia" && name == "readOp" {
			into, err := readTarget(n.Op())
			if err != nil || len(p.children) != 1 {
				unsupported = append(unsupported, fmt.Sprintf("read node %s", n.Name()))
				continue
			}
			p.kind, p.into = kindRead, into
			continue
		}
		if ndt, ok := nodeDtype(n); !ok || ndt != dt {
			msg := fmt.Sprintf("node %s (%v) has type %v (program is %v)", n.Name(), n.Op(), n.Type(), dt)
			if !seen[msg] {
				seen[msg] = true
				unsupported = append(unsupported, msg)
			}
			continue
		}
		if err := classify(p, plans, onHost); err != nil {
			msg := err.Error()
			if !seen[msg] {
				seen[msg] = true
				unsupported = append(unsupported, msg)
			}
		}
	}
	if len(unsupported) > 0 {
		return nil, &unsupportedError{ops: unsupported}
	}
	if err := res.check(index, func(i int) bool { return plans[i].kind == kindInput }); err != nil {
		return nil, err
	}
	if err := fuse(plans, index, outputs, chains); err != nil {
		return nil, err
	}

	nat := &native[T]{set: set, onHost: onHost, resident: make(map[int64]*external[T], len(res.inputs))}
	if nat.bound, err = boundBuffers[T](res.bind); err != nil {
		return nil, err
	}

	// Liveness: the last step that reads each node; outputs live to the end.
	last := make([]int, len(plans))
	for i := range plans {
		last[i] = i
	}
	for i, p := range plans {
		for _, c := range p.children {
			last[c] = max(last[c], i)
		}
	}
	for _, o := range outputs {
		last[index[o.ID()]] = len(plans)
	}
	for _, p := range plans {
		if p.kind == kindRead {
			// The value must outlive the run: it is read afterwards.
			last[p.children[0]] = len(plans)
		}
	}

	// Buffer plan: reuse a released buffer when one is free.
	type pbuf struct {
		size, last int
		free       bool
	}
	var pbufs []pbuf
	for i, p := range plans {
		switch p.kind {
		case kindInput, kindConst:
			if err := nat.addExternal(p); err != nil {
				nat.close()
				return nil, err
			}
			if p.kind == kindInput && res.inputs[p.n.ID()] != nil {
				e := nat.exts[p.ext]
				e.resident = true
				nat.resident[p.n.ID()] = e
			}
		case kindAlias:
			src := plans[p.children[0]]
			if src.size != p.size {
				return nil, fmt.Errorf("node %s: reshape of %d elements into %d", p.n.Name(), src.size, p.size)
			}
			p.buf, p.ext = src.buf, src.ext
			if p.buf >= 0 {
				pbufs[p.buf].last = max(pbufs[p.buf].last, last[i])
			}
		case kindNew:
			best := -1
			for b := range pbufs {
				if !pbufs[b].free {
					continue
				}
				if best < 0 || fitBetter(pbufs[b].size, pbufs[best].size, p.size) {
					best = b
				}
			}
			if best < 0 {
				pbufs = append(pbufs, pbuf{})
				best = len(pbufs) - 1
			}
			pbufs[best] = pbuf{size: max(pbufs[best].size, p.size), last: last[i]}
			p.buf = best
		}
		// Release buffers whose last reader is this step.
		for _, c := range append(p.children, i) {
			if b := plans[c].buf; b >= 0 && !pbufs[b].free && pbufs[b].last <= i {
				pbufs[b].free = true
			}
		}
	}
	for _, b := range pbufs {
		buf, err := set.Alloc(max(b.size, 1))
		if err != nil {
			nat.close()
			return nil, fmt.Errorf("buffer of %d elements: %w", b.size, err)
		}
		nat.bufs = append(nat.bufs, buf)
	}
	for _, p := range plans {
		switch {
		case p.buf >= 0:
			v, err := set.View(nat.bufs[p.buf], 0, p.size)
			if err != nil {
				nat.close()
				return nil, err
			}
			p.value = v
		case p.ext >= 0:
			p.value = nat.exts[p.ext].buf
		}
	}
	for _, p := range plans {
		if p.kind == kindRead {
			src := plans[p.children[0]]
			s, err := nat.readStep(src.value, src.shape, p.into)
			if err != nil {
				nat.close()
				return nil, fmt.Errorf("read node %s: %w", p.n.Name(), err)
			}
			nat.steps = append(nat.steps, s)
			nat.names = append(nat.names, p.n.Name())
			continue
		}
		if p.kind != kindNew {
			continue
		}
		in := make([]kernels.Buffer[T], len(p.children))
		for k, c := range p.children {
			in[k] = plans[c].value
		}
		s, err := p.build(tracking[T]{Set: set, allocs: &nat.scratch}, in, p.value)
		if err != nil {
			nat.close()
			return nil, fmt.Errorf("node %s (%v): %w", p.n.Name(), p.n.Op(), err)
		}
		nat.steps = append(nat.steps, s)
		label := p.label
		if label == "" {
			label = p.n.Op().String()
		}
		nat.names = append(nat.names, fmt.Sprintf("%s (%s)", p.n.Name(), label))
		if p.hostDo {
			nat.hostOps = append(nat.hostOps, p.n.Op().String())
		}
	}
	for _, o := range outputs {
		p := plans[index[o.ID()]]
		var host []T
		if h, ok := p.value.(*kernels.Host[T]); ok && nat.onHost {
			host = h.Data[:p.size]
		} else {
			host = make([]T, p.size)
		}
		nat.outBufs = append(nat.outBufs, p.value)
		nat.outHost = append(nat.outHost, host)
		nat.keep = append(nat.keep, res.outputs[o.ID()])
		nat.outs = append(nat.outs, gt.New(gt.WithShape(p.shape...), gt.WithBacking(host)))
	}
	return nat, nil
}

// readTarget returns the *Value a gorgonia.Read node writes to (an
// unexported field of its op).
func readTarget(op gorgonia.Op) (*gorgonia.Value, error) {
	v := reflect.ValueOf(op)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("read op of kind %v", v.Kind())
	}
	f := v.FieldByName("into")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.Type().Elem() != reflect.TypeOf((*gorgonia.Value)(nil)).Elem() {
		return nil, fmt.Errorf("read op without an into *Value field")
	}
	return (*gorgonia.Value)(unsafe.Pointer(f.Pointer())), nil
}

// readStep publishes a value through a gorgonia.Read target after the
// run: a dense tensor over the host buffer (downloaded first when the set
// is not the CPU).
func (nat *native[T]) readStep(src kernels.Buffer[T], shape []int, into *gorgonia.Value) (step, error) {
	if into == nil {
		return nil, fmt.Errorf("nil read target")
	}
	n := prod(shape)
	if h, ok := src.(*kernels.Host[T]); ok && nat.onHost {
		d := gt.New(gt.WithShape(shape...), gt.WithBacking(h.Data[:n]))
		return func() error { *into = d; return nil }, nil
	}
	host := make([]T, n)
	d := gt.New(gt.WithShape(shape...), gt.WithBacking(host))
	return func() error {
		if err := nat.set.Download(host, src); err != nil {
			return err
		}
		*into = d
		return nil
	}, nil
}

// nodeDtype returns a node's element type (false for nodes without a
// type, on which gorgonia's Dtype panics).
func nodeDtype(n *gorgonia.Node) (dt gt.Dtype, ok bool) {
	if n.Type() == nil {
		return dt, false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return n.Dtype(), true
}

// fitBetter reports whether a free buffer of size a suits a request of
// need elements better than one of size b: the smallest that fits, else the
// largest.
func fitBetter(a, b, need int) bool {
	switch {
	case a >= need && b >= need:
		return a < b
	case a >= need:
		return true
	case b >= need:
		return false
	}
	return a > b
}

// addExternal gives an input or constant node its buffer.
func (nat *native[T]) addExternal(p *nodePlan[T]) error {
	e := &external[T]{node: p.n, input: p.kind == kindInput}
	var data []T
	if e.input {
		e.val = p.n.Value()
		d, err := valueData[T](e.val, p.size)
		if err != nil {
			return fmt.Errorf("input %s: %w", p.n.Name(), err)
		}
		data = d
		if ok, err := nat.addBound(p, e, data); ok || err != nil {
			return err
		}
	} else {
		data = p.constVal
	}
	if nat.onHost {
		e.host = kernels.Wrap(data)
		e.buf = e.host
		if !e.input {
			// Constants get their own copy.
			e.host.Data = append([]T(nil), data...)
		}
	} else {
		b, err := nat.set.Alloc(max(len(data), 1))
		if err != nil {
			return err
		}
		if err := nat.set.Upload(b, data); err != nil {
			return err
		}
		e.buf, e.data = b, data
	}
	p.ext = len(nat.exts)
	nat.exts = append(nat.exts, e)
	return nil
}

// valueData returns the elements of a graph value: the backing slice of a
// dense tensor (no copy) or a fresh one-element slice for a scalar.
func valueData[T kernels.Float](v gorgonia.Value, size int) ([]T, error) {
	if v == nil {
		return nil, fmt.Errorf("no value bound")
	}
	switch d := v.Data().(type) {
	case []T:
		if len(d) < size {
			return nil, fmt.Errorf("value holds %d elements, node needs %d", len(d), size)
		}
		return d[:size], nil
	case T:
		return []T{d}, nil
	}
	return nil, fmt.Errorf("value of type %T (dtype %v) does not hold the program's element type", v, v.Dtype())
}

// refresh re-reads inputs whose bound value was replaced (gorgonia.Let)
// since the last run, and uploads inputs to a device that is not the host
// (except resident ones, which only Program.Upload uploads).
func (nat *native[T]) refresh() error {
	for _, e := range nat.exts {
		if !e.input || e.bound || (e.resident && !nat.onHost) {
			continue
		}
		if err := nat.sync(e); err != nil {
			return err
		}
	}
	return nil
}

// sync re-reads input e's bound value and, on a device, uploads it.
func (nat *native[T]) sync(e *external[T]) error {
	v := e.node.Value()
	switch sv := v.(type) {
	case *gorgonia.F64:
		e.setScalar(T(float64(*sv)))
	case *gorgonia.F32:
		e.setScalar(T(float32(*sv)))
	default:
		if v != e.val {
			d, err := valueData[T](v, e.buf.Len())
			if err != nil {
				return fmt.Errorf("input %s: %w", e.node.Name(), err)
			}
			e.val = v
			if e.host != nil {
				e.host.Data = d
			} else {
				e.data = d
			}
		}
	}
	if e.host == nil {
		if err := nat.set.Upload(e.buf, e.data); err != nil {
			return fmt.Errorf("input %s: %w", e.node.Name(), err)
		}
	}
	return nil
}

// setScalar stores the value of a scalar input (gorgonia scalars cannot be
// aliased, so they are copied on every run).
func (e *external[T]) setScalar(v T) {
	if e.host != nil {
		e.host.Data[0] = v
	} else {
		e.data[0] = v
	}
}

func (nat *native[T]) run() error {
	if err := nat.refresh(); err != nil {
		return err
	}
	for i, s := range nat.steps {
		if err := s(); err != nil {
			return fmt.Errorf("%s: %w", nat.names[i], err)
		}
	}
	if !nat.onHost {
		for i, b := range nat.outBufs {
			if nat.keep[i] {
				continue
			}
			if err := nat.set.Download(nat.outHost[i], b); err != nil {
				return fmt.Errorf("output %d: %w", i, err)
			}
		}
	}
	return nil
}

func (nat *native[T]) output(i int) gorgonia.Value { return nat.outs[i] }

// profile runs the program runs times and returns the total time spent in
// each step.
func (nat *native[T]) profile(runs int) ([]StepTime, error) {
	out := make([]StepTime, len(nat.steps))
	for i := range out {
		out[i].Step = nat.names[i]
	}
	for r := 0; r < runs; r++ {
		if err := nat.refresh(); err != nil {
			return nil, err
		}
		for i, s := range nat.steps {
			t0 := time.Now()
			if err := s(); err != nil {
				return nil, fmt.Errorf("%s: %w", nat.names[i], err)
			}
			out[i].Total += time.Since(t0)
		}
	}
	return out, nil
}

func (nat *native[T]) hostOpList() []string { return nat.hostOps }

// scalar returns output i when it holds one element (without the
// allocation of boxing it through Value.Data).
func (nat *native[T]) scalar(i int) (float64, bool) {
	if len(nat.outHost[i]) != 1 {
		return 0, false
	}
	return float64(nat.outHost[i][0]), true
}

func (nat *native[T]) close() error {
	var first error
	for _, b := range append(nat.bufs, nat.scratch...) {
		if err := nat.set.Free(b); err != nil && first == nil {
			first = err
		}
	}
	if !nat.onHost {
		for _, e := range nat.exts {
			if e.bound {
				continue
			}
			if err := nat.set.Free(e.buf); err != nil && first == nil {
				first = err
			}
		}
	}
	nat.bufs, nat.exts, nat.scratch = nil, nil, nil
	if nat.ownSet {
		if err := nat.set.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

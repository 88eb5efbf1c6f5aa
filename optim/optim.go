package optim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gorgonia.org/tensor"
)

// Optimizer updates parameters in place from their gradients.
//
// Step must be called with the same parameter list (same count, shapes and
// dtypes, in the same order) on every call; state buffers are created on the
// first call (or by SetState) and checked against the parameters on every
// later call. Rules that also need the loss value implement LossSetter.
type Optimizer interface {
	// Step applies one update to params using grads (grads[i] belongs to params[i]).
	Step(params, grads []*tensor.Dense) error
	// State returns a deep copy of the optimizer state for checkpointing.
	State() State
	// SetState replaces the optimizer state with a deep copy of s, after
	// checking its kind, keys, shapes and dtypes.
	SetState(s State) error
	// LR returns the current learning rate.
	LR() float64
	// SetLR sets the learning rate used by the next Step (e.g. from a Schedule).
	SetLR(lr float64)
}

// LossSetter is implemented by step rules that need the loss value at the
// current parameters (SqrtLossGD). A trainer calls SetLoss before Step.
type LossSetter interface {
	SetLoss(loss float64)
}

// State is the serialisable state of an optimizer: named scalars (such as
// "step") and named buffers, one per parameter and slot, keyed "slot/index"
// (for example "m/0", "v/0" for Adam's moments of parameter 0). It encodes
// to and from JSON exactly (MarshalJSON / UnmarshalJSON); a checkpoint writer
// may equally store Scalars as JSON and Buffers as named tensors.
type State struct {
	// Kind names the optimizer that produced the state ("sgd", "adam", ...).
	Kind    string
	Scalars map[string]float64
	Buffers map[string]*tensor.Dense
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	out := State{Kind: s.Kind, Scalars: make(map[string]float64, len(s.Scalars)), Buffers: make(map[string]*tensor.Dense, len(s.Buffers))}
	for k, v := range s.Scalars {
		out.Scalars[k] = v
	}
	for k, v := range s.Buffers {
		if v != nil {
			out.Buffers[k] = cloneDense(v)
		}
	}
	return out
}

// BufferKey returns the State.Buffers key of slot for parameter index i.
func BufferKey(slot string, i int) string { return slot + "/" + strconv.Itoa(i) }

// ErrNoLoss is returned by SqrtLossGD.Step when SetLoss was not called since
// the previous step.
var ErrNoLoss = errors.New("optim: loss not set before step")

type float interface{ ~float32 | ~float64 }

func cloneDense(t *tensor.Dense) *tensor.Dense {
	shape := slices.Clone([]int(t.Shape()))
	switch t.Dtype() {
	case tensor.Float64:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(t.Float64s())))
	case tensor.Float32:
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(t.Float32s())))
	default:
		return t.Clone().(*tensor.Dense)
	}
}

func zerosLike(t *tensor.Dense) *tensor.Dense {
	shape := slices.Clone([]int(t.Shape()))
	if t.Dtype() == tensor.Float32 {
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, len(t.Float32s()))))
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float64, len(t.Float64s()))))
}

// copyData copies src into dst; both must have the same dtype and length.
func copyData(dst, src *tensor.Dense) {
	if dst.Dtype() == tensor.Float32 {
		copy(dst.Float32s(), src.Float32s())
		return
	}
	copy(dst.Float64s(), src.Float64s())
}

func sameShape(a, b tensor.Shape) bool { return slices.Equal([]int(a), []int(b)) }

// checkTensor reports whether t is usable as a parameter, gradient or buffer.
func checkTensor(what string, i int, t *tensor.Dense) error {
	if t == nil {
		return fmt.Errorf("%s %d is nil", what, i)
	}
	if dt := t.Dtype(); dt != tensor.Float64 && dt != tensor.Float32 {
		return fmt.Errorf("%s %d has dtype %v, want float32 or float64", what, i, dt)
	}
	if t.RequiresIterator() {
		return fmt.Errorf("%s %d (shape %v) is not contiguous", what, i, t.Shape())
	}
	return nil
}

// checkPairs validates params against grads.
func checkPairs(params, grads []*tensor.Dense) error {
	if len(params) != len(grads) {
		return fmt.Errorf("%d parameters but %d gradients", len(params), len(grads))
	}
	for i, p := range params {
		if err := checkTensor("parameter", i, p); err != nil {
			return err
		}
		g := grads[i]
		if err := checkTensor("gradient", i, g); err != nil {
			return err
		}
		if g.Dtype() != p.Dtype() || !sameShape(g.Shape(), p.Shape()) {
			return fmt.Errorf("gradient %d has shape %v %v, parameter %d has shape %v %v",
				i, g.Shape(), g.Dtype(), i, p.Shape(), p.Dtype())
		}
	}
	return nil
}

// slots holds per-parameter state buffers for a fixed list of slot names.
type slots struct {
	names []string
	bufs  [][]*tensor.Dense // bufs[s][i]
	init  bool
}

func newSlots(names ...string) slots {
	return slots{names: names, bufs: make([][]*tensor.Dense, len(names))}
}

// prepare allocates buffers like params on first use and otherwise checks
// that the buffers match params.
func (s *slots) prepare(params []*tensor.Dense) error {
	if !s.init {
		for k := range s.names {
			s.bufs[k] = make([]*tensor.Dense, len(params))
			for i, p := range params {
				s.bufs[k][i] = zerosLike(p)
			}
		}
		s.init = true
		return nil
	}
	for k, name := range s.names {
		b := s.bufs[k]
		if len(b) != len(params) {
			return fmt.Errorf("state has %d %q buffers but %d parameters were given", len(b), name, len(params))
		}
		for i, p := range params {
			if b[i].Dtype() != p.Dtype() || !sameShape(b[i].Shape(), p.Shape()) {
				return fmt.Errorf("state buffer %s has shape %v %v, parameter %d has shape %v %v",
					BufferKey(name, i), b[i].Shape(), b[i].Dtype(), i, p.Shape(), p.Dtype())
			}
		}
	}
	return nil
}

func (s *slots) export(st *State) {
	if !s.init {
		return
	}
	for k, name := range s.names {
		for i, b := range s.bufs[k] {
			st.Buffers[BufferKey(name, i)] = cloneDense(b)
		}
	}
}

// load reads the slots from st. An empty state (no buffers and step 0)
// resets the slots so that they are created on the next step.
func (s *slots) load(st State) error {
	if len(s.names) == 0 {
		return nil
	}
	n := -1
	for k := range st.Buffers {
		for _, name := range s.names {
			if len(k) > len(name)+1 && k[:len(name)+1] == name+"/" {
				i, err := strconv.Atoi(k[len(name)+1:])
				if err != nil || i < 0 {
					return fmt.Errorf("buffer key %q: bad parameter index", k)
				}
				n = max(n, i)
			}
		}
	}
	if n < 0 {
		s.init = false
		for k := range s.bufs {
			s.bufs[k] = nil
		}
		return nil
	}
	bufs := make([][]*tensor.Dense, len(s.names))
	for k, name := range s.names {
		bufs[k] = make([]*tensor.Dense, n+1)
		for i := 0; i <= n; i++ {
			key := BufferKey(name, i)
			b, ok := st.Buffers[key]
			if !ok || b == nil {
				return fmt.Errorf("missing buffer %q", key)
			}
			if err := checkTensor("buffer "+key+" of parameter", i, b); err != nil {
				return err
			}
			if k > 0 && (b.Dtype() != bufs[0][i].Dtype() || !sameShape(b.Shape(), bufs[0][i].Shape())) {
				return fmt.Errorf("buffer %s has shape %v %v but %s has %v %v", key, b.Shape(), b.Dtype(),
					BufferKey(s.names[0], i), bufs[0][i].Shape(), bufs[0][i].Dtype())
			}
			bufs[k][i] = cloneDense(b)
		}
	}
	s.bufs = bufs
	s.init = true
	return nil
}

// checkState verifies the kind and that only known keys are present.
func checkState(st State, kind string, scalars []string, slotNames []string) error {
	if st.Kind != kind {
		return fmt.Errorf("state kind %q, want %q", st.Kind, kind)
	}
	for k := range st.Scalars {
		if !slices.Contains(scalars, k) {
			return fmt.Errorf("unknown scalar %q (known: %v)", k, scalars)
		}
	}
	for k := range st.Buffers {
		ok := false
		for _, name := range slotNames {
			if len(k) > len(name)+1 && k[:len(name)+1] == name+"/" {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("unknown buffer %q (slots: %v)", k, slotNames)
		}
	}
	return nil
}

func getStep(st State) (int, error) {
	v, ok := st.Scalars["step"]
	if !ok {
		return 0, nil
	}
	if v < 0 || v != math.Trunc(v) || v > 1<<53 {
		return 0, fmt.Errorf("scalar step = %v is not a non-negative integer", v)
	}
	return int(v), nil
}

func newState(kind string, step int) State {
	return State{Kind: kind, Scalars: map[string]float64{"step": float64(step)}, Buffers: map[string]*tensor.Dense{}}
}

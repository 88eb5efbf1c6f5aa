package curvature

import (
	"errors"
	"fmt"
	"math"

	"gorgonia.org/gorgonia"
	gt "gorgonia.org/tensor"

	"github.com/gradlab/gradlab/autodiff"
	"github.com/gradlab/gradlab/data"
	"github.com/gradlab/gradlab/engine"
	"github.com/gradlab/gradlab/nn"
	"github.com/gradlab/gradlab/objective"
)

// DefaultChunk is the number of examples per HVP chunk when HVPOptions.Chunk
// is zero.
const DefaultChunk = 1000

// HVPOptions configures a Hessian operator over a dataset.
type HVPOptions struct {
	// Loss is the loss of the model's outputs (objective.CrossEntropy or
	// objective.MSE); empty means objective.CrossEntropy.
	Loss objective.Kind
	// Flatten feeds examples as flat vectors (MLPs).
	Flatten bool
	// Indices selects the examples the loss averages over; nil means the
	// whole dataset. The slice is copied.
	Indices []int
	// Chunk is the number of examples per compiled program; zero means
	// DefaultChunk (capped at the number of examples). When the examples
	// do not divide evenly, a second program is compiled for the short
	// last chunk.
	Chunk int
}

// chunkProgram is one compiled loss/gradient/HVP program for a fixed batch
// size. Its probe nodes are backed by tensors whose slices Apply writes.
type chunkProgram struct {
	obj    *objective.Graph
	prog   *engine.Program
	probes []*gt.Dense
	batch  int
	nParam int // number of parameter tensors
	// grad computes only the loss and gradient (a third of the cost of
	// prog), on its own graph with its own input tensors.
	gradObj  *objective.Graph
	gradProg *engine.Program
}

// HessianOperator is the Hessian of a model's mean loss over a dataset (or
// a subset of it) with respect to the trainable parameters, seen as an
// Operator on flattened float64 vectors. Apply computes the exact
// Hessian–vector product by double backpropagation, one chunk of examples
// at a time, and weights each chunk's product by chunk/N, since the loss
// of a chunk is the mean over its examples. Loss and Gradient give the mean
// loss and its gradient over the same examples.
//
// The parameter tensors are shared with the model: the operator always
// sees the current weights. The programs are compiled once by
// NewHessianOperator (an HVP program, and a cheaper loss-and-gradient
// program on a second graph, per chunk size) and reused by every call; an
// Apply writes the probe
// vector into the probe nodes' backing tensors and allocates no vectors of
// its own. A HessianOperator is not safe for concurrent use.
type HessianOperator struct {
	ds      *data.Dataset
	idx     []int
	params  nn.Params
	sizes   []int // element count per trainable tensor
	dim     int
	full    *chunkProgram // batch = chunk
	tail    *chunkProgram // batch = N mod chunk, or nil
	chunk   int
	applies int
}

// NewHessianOperator builds and compiles the HVP programs of model on ds.
// The model's graph is built as the model's Forward builds it: a model
// whose normalization layers use batch statistics in training mode is
// differentiated in that mode, per chunk, and nothing updates running
// statistics.
func NewHessianOperator(model nn.Model, ds *data.Dataset, opts HVPOptions) (*HessianOperator, error) {
	if ds == nil || ds.Len() == 0 {
		return nil, errors.New("curvature: hessian operator: empty dataset")
	}
	kind := opts.Loss
	if kind == "" {
		kind = objective.CrossEntropy
	}
	var idx []int
	if opts.Indices == nil {
		idx = make([]int, ds.Len())
		for i := range idx {
			idx[i] = i
		}
	} else {
		if len(opts.Indices) == 0 {
			return nil, errors.New("curvature: hessian operator: empty index list")
		}
		idx = append([]int(nil), opts.Indices...)
		for _, i := range idx {
			if i < 0 || i >= ds.Len() {
				return nil, fmt.Errorf("curvature: hessian operator: index %d outside dataset of %d examples", i, ds.Len())
			}
		}
	}
	chunk := opts.Chunk
	if chunk < 0 {
		return nil, fmt.Errorf("curvature: hessian operator: chunk %d < 0", chunk)
	}
	if chunk == 0 {
		chunk = DefaultChunk
	}
	chunk = min(chunk, len(idx))
	h := &HessianOperator{ds: ds, idx: idx, chunk: chunk}
	var err error
	if h.full, err = newChunkProgram(model, ds, chunk, kind, opts.Flatten); err != nil {
		return nil, err
	}
	if r := len(idx) % chunk; r != 0 {
		if h.tail, err = newChunkProgram(model, ds, r, kind, opts.Flatten); err != nil {
			_ = h.full.close()
			return nil, err
		}
	}
	h.params = h.full.obj.Params
	h.sizes = make([]int, len(h.params))
	for i, p := range h.params {
		h.sizes[i] = p.Value.Shape().TotalSize()
		h.dim += h.sizes[i]
	}
	return h, nil
}

func newChunkProgram(model nn.Model, ds *data.Dataset, batch int, kind objective.Kind, flatten bool) (*chunkProgram, error) {
	obj, err := objective.Build(model, ds, batch, kind, flatten)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	wrt := obj.ParamNodes
	probeNodes, err := autodiff.NewProbe(obj.G, wrt)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	// The three steps of autodiff.HVP, keeping the first derivative so
	// that the same program also returns the loss and gradient.
	grads, err := autodiff.Grad(obj.Loss, wrt...)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: gradient: %w", err)
	}
	s, err := autodiff.Dot(grads, probeNodes)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	hv, err := autodiff.Grad(s, wrt...)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: second derivative: %w", err)
	}
	outs := make(gorgonia.Nodes, 0, 1+2*len(wrt))
	outs = append(outs, obj.Loss)
	outs = append(outs, grads...)
	outs = append(outs, hv...)
	prog, err := engine.Compile(obj.G, outs...)
	if err != nil {
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	probes := make([]*gt.Dense, len(probeNodes))
	for i, n := range probeNodes {
		d, ok := n.Value().(*gt.Dense)
		if !ok {
			_ = prog.Close()
			return nil, fmt.Errorf("curvature: hessian operator: parameter %q is not a tensor (%T)", wrt[i].Name(), n.Value())
		}
		probes[i] = d
	}
	gobj, err := objective.Build(model, ds, batch, kind, flatten)
	if err != nil {
		_ = prog.Close()
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	ggrads, err := autodiff.Grad(gobj.Loss, gobj.ParamNodes...)
	if err != nil {
		_ = prog.Close()
		return nil, fmt.Errorf("curvature: hessian operator: gradient: %w", err)
	}
	gprog, err := engine.Compile(gobj.G, append(gorgonia.Nodes{gobj.Loss}, ggrads...)...)
	if err != nil {
		_ = prog.Close()
		return nil, fmt.Errorf("curvature: hessian operator: %w", err)
	}
	return &chunkProgram{obj: obj, prog: prog, probes: probes, batch: batch, nParam: len(wrt), gradObj: gobj, gradProg: gprog}, nil
}

func (c *chunkProgram) close() error {
	return errors.Join(c.prog.Close(), c.gradProg.Close())
}

// Dim returns the number of trainable parameters.
func (h *HessianOperator) Dim() int { return h.dim }

// Params returns the trainable parameters in the order of the flattened
// vectors.
func (h *HessianOperator) Params() nn.Params { return h.params }

// Examples returns the number of examples the loss averages over.
func (h *HessianOperator) Examples() int { return len(h.idx) }

// Chunk returns the number of examples per compiled program.
func (h *HessianOperator) Chunk() int { return h.chunk }

// Applies returns how many Hessian–vector products have been computed.
func (h *HessianOperator) Applies() int { return h.applies }

// setProbe writes v (or zeros when v is nil) into the probe tensors of c.
func (h *HessianOperator) setProbe(c *chunkProgram, v []float64) {
	off := 0
	for i, t := range c.probes {
		n := h.sizes[i]
		switch d := t.Data().(type) {
		case []float64:
			if v == nil {
				clear(d)
			} else {
				copy(d, v[off:off+n])
			}
		case []float32:
			if v == nil {
				clear(d)
			} else {
				for j, x := range v[off : off+n] {
					d[j] = float32(x)
				}
			}
		}
		off += n
	}
}

// addOutputs adds w times outputs first..first+nParam-1 of prog (flattened
// in order) to dst.
func (h *HessianOperator) addOutputs(dst []float64, prog *engine.Program, nParam, first int, w float64) error {
	off := 0
	for i := 0; i < nParam; i++ {
		n := h.sizes[i]
		out := dst[off : off+n]
		switch d := prog.Output(first + i).Data().(type) {
		case []float64:
			if len(d) != n {
				return fmt.Errorf("curvature: hessian operator: output %d has %d elements, want %d", first+i, len(d), n)
			}
			for j, x := range d {
				out[j] += w * x
			}
		case []float32:
			if len(d) != n {
				return fmt.Errorf("curvature: hessian operator: output %d has %d elements, want %d", first+i, len(d), n)
			}
			for j, x := range d {
				out[j] += w * float64(x)
			}
		case float64:
			out[0] += w * d
		case float32:
			out[0] += w * float64(d)
		default:
			return fmt.Errorf("curvature: hessian operator: output %d has type %T", first+i, d)
		}
		off += n
	}
	return nil
}

// run evaluates every chunk, the HVP program with probe v or, when v is
// nil, the gradient program, and calls fn with each chunk's program and
// weight.
func (h *HessianOperator) run(v []float64, fn func(c *chunkProgram, w float64) error) error {
	n := len(h.idx)
	if v != nil {
		h.setProbe(h.full, v)
		if h.tail != nil {
			h.setProbe(h.tail, v)
		}
	}
	for start := 0; start < n; start += h.chunk {
		end := min(start+h.chunk, n)
		c := h.full
		if end-start != h.chunk {
			c = h.tail
		}
		obj, prog := c.obj, c.prog
		if v == nil {
			obj, prog = c.gradObj, c.gradProg
		}
		if err := obj.Fill(h.ds, h.idx[start:end]); err != nil {
			return fmt.Errorf("curvature: hessian operator: %w", err)
		}
		if err := prog.Run(); err != nil {
			return fmt.Errorf("curvature: hessian operator: %w", err)
		}
		if err := fn(c, float64(end-start)/float64(n)); err != nil {
			return err
		}
	}
	return nil
}

// Apply writes H·v into dst, H the Hessian of the mean loss.
func (h *HessianOperator) Apply(dst, v []float64) error {
	if len(dst) != h.dim || len(v) != h.dim {
		return fmt.Errorf("curvature: hessian operator: got len(dst)=%d len(v)=%d, want %d", len(dst), len(v), h.dim)
	}
	clear(dst)
	h.applies++
	return h.run(v, func(c *chunkProgram, w float64) error {
		return h.addOutputs(dst, c.prog, c.nParam, 1+c.nParam, w)
	})
}

// Gradient writes the gradient of the mean loss into grad (when grad is
// not nil) and returns the mean loss.
func (h *HessianOperator) Gradient(grad []float64) (float64, error) {
	if grad != nil && len(grad) != h.dim {
		return math.NaN(), fmt.Errorf("curvature: hessian operator: gradient of length %d, want %d", len(grad), h.dim)
	}
	if grad != nil {
		clear(grad)
	}
	var loss float64
	err := h.run(nil, func(c *chunkProgram, w float64) error {
		l, err := c.gradProg.Scalar(0)
		if err != nil {
			return fmt.Errorf("curvature: hessian operator: %w", err)
		}
		loss += w * l
		if grad == nil {
			return nil
		}
		return h.addOutputs(grad, c.gradProg, c.nParam, 1, w)
	})
	if err != nil {
		return math.NaN(), err
	}
	return loss, nil
}

// Loss returns the mean loss.
func (h *HessianOperator) Loss() (float64, error) { return h.Gradient(nil) }

// ParamVector writes the current trainable parameters into dst (allocated
// when nil or too short) and returns it.
func (h *HessianOperator) ParamVector(dst []float64) []float64 {
	return h.params.Values().Flatten(dst)
}

// Close releases the compiled programs.
func (h *HessianOperator) Close() error {
	err := h.full.close()
	if h.tail != nil {
		err = errors.Join(err, h.tail.close())
	}
	return err
}

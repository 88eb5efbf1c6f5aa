package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// MinTraceProbes is the smallest probe count Trace accepts: below it the
// sample standard error is itself too noisy to report.
const MinTraceProbes = 10

// DefaultTraceProbes is the default maximum probe count (the number of
// Gaussian probes used by the Edge-of-Stability code).
const DefaultTraceProbes = 100

// ErrTooFewProbes is returned when fewer than MinTraceProbes probes are
// requested.
var ErrTooFewProbes = errors.New("curvature: too few probes")

// TraceOptions configures Hutchinson's trace estimator.
type TraceOptions struct {
	// Probe is the probe distribution (Rademacher by default).
	Probe ProbeKind
	// Probes is the maximum number of probes; zero means
	// DefaultTraceProbes. Values below MinTraceProbes are an error.
	Probes int
	// MinProbes is the number of probes drawn before the RelTol stopping
	// test is consulted; zero means MinTraceProbes, and smaller values
	// are raised to it.
	MinProbes int
	// RelTol, when positive, stops early once StdErr ≤ RelTol·|Mean|.
	RelTol float64
}

// TraceResult is a Hutchinson estimate of tr(H).
type TraceResult struct {
	// Mean is the average of vᵀHv over the probes.
	Mean float64
	// StdErr is the sample standard deviation of vᵀHv divided by √Probes.
	StdErr float64
	// Probes is the number of probes used.
	Probes int
	// Converged is true when RelTol was set and met.
	Converged bool
}

// Hutchinson is a prepared trace estimator; Run does not allocate. It is
// not safe for concurrent use.
type Hutchinson struct {
	op   Operator
	opts TraceOptions
	v, w []float64
	// samples holds vᵀHv of the last Run.
	samples []float64
}

// NewHutchinson validates opts and allocates work vectors.
func NewHutchinson(op Operator, opts TraceOptions) (*Hutchinson, error) {
	n := op.Dim()
	if n <= 0 {
		return nil, fmt.Errorf("curvature: trace: operator dimension %d", n)
	}
	if err := opts.Probe.valid(); err != nil {
		return nil, fmt.Errorf("curvature: trace: %w", err)
	}
	if opts.Probes == 0 {
		opts.Probes = DefaultTraceProbes
	}
	if opts.Probes < MinTraceProbes {
		return nil, fmt.Errorf("curvature: trace: %d probes requested, at least %d required: %w", opts.Probes, MinTraceProbes, ErrTooFewProbes)
	}
	opts.MinProbes = min(max(opts.MinProbes, MinTraceProbes), opts.Probes)
	if opts.RelTol < 0 || math.IsNaN(opts.RelTol) {
		return nil, fmt.Errorf("curvature: trace: RelTol = %g, want >= 0", opts.RelTol)
	}
	return &Hutchinson{
		op: op, opts: opts,
		v: make([]float64, n), w: make([]float64, n),
		samples: make([]float64, 0, opts.Probes),
	}, nil
}

// Run draws probes from rng and returns the estimate.
func (h *Hutchinson) Run(rng *rand.Rand) (TraceResult, error) {
	if rng == nil {
		return TraceResult{}, errors.New("curvature: trace: nil random generator")
	}
	h.samples = h.samples[:0]
	var acc traceAccumulator
	for k := 1; k <= h.opts.Probes; k++ {
		h.opts.Probe.Fill(rng, h.v)
		if err := h.op.Apply(h.w, h.v); err != nil {
			return TraceResult{}, fmt.Errorf("curvature: trace probe %d: %w", k, err)
		}
		x := dot(h.v, h.w)
		h.samples = append(h.samples, x)
		if acc.add(x, h.opts) {
			break
		}
	}
	return acc.res, nil
}

// traceAccumulator is a Hutchinson estimate built one sample vᵀHv at a
// time: Welford's running mean and sum of squared deviations, the standard
// error, and the stopping rule of TraceOptions.
type traceAccumulator struct {
	mean, m2 float64
	res      TraceResult
}

// add takes the next sample and reports whether the estimate has converged
// (RelTol met after at least MinProbes samples).
func (a *traceAccumulator) add(x float64, opts TraceOptions) bool {
	k := a.res.Probes + 1
	d := x - a.mean
	a.mean += d / float64(k)
	a.m2 += d * (x - a.mean)
	a.res.Mean = a.mean
	a.res.Probes = k
	if k > 1 {
		a.res.StdErr = math.Sqrt(a.m2 / float64(k-1) / float64(k))
	}
	if opts.RelTol > 0 && k >= opts.MinProbes && a.res.StdErr <= opts.RelTol*math.Abs(a.mean) {
		a.res.Converged = true
	}
	return a.res.Converged
}

// Samples returns the per-probe values vᵀHv of the last Run (aliasing the
// estimator's storage).
func (h *Hutchinson) Samples() []float64 { return h.samples }

// Trace estimates tr(H) with Hutchinson's estimator using a fresh
// Hutchinson solver.
func Trace(op Operator, rng *rand.Rand, opts TraceOptions) (TraceResult, error) {
	h, err := NewHutchinson(op, opts)
	if err != nil {
		return TraceResult{}, err
	}
	return h.Run(rng)
}

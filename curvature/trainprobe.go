package curvature

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// EigenMethod selects how a SharpnessProbe finds λ₁.
type EigenMethod int

const (
	// PowerMethod is power iteration (the Edge-of-Stability code's choice:
	// start from g/‖g‖). It finds the eigenvalue of largest magnitude.
	PowerMethod EigenMethod = iota
	// LanczosMethod is Lanczos with full re-orthogonalisation; it finds the
	// largest algebraic eigenvalue even when negative curvature dominates.
	LanczosMethod
)

// String returns "power" or "lanczos".
func (m EigenMethod) String() string {
	switch m {
	case PowerMethod:
		return "power"
	case LanczosMethod:
		return "lanczos"
	}
	return fmt.Sprintf("EigenMethod(%d)", int(m))
}

// ParseEigenMethod parses "power" or "lanczos".
func ParseEigenMethod(s string) (EigenMethod, error) {
	switch s {
	case "power":
		return PowerMethod, nil
	case "lanczos":
		return LanczosMethod, nil
	}
	return 0, fmt.Errorf("curvature: unknown eigenvalue method %q (want power or lanczos)", s)
}

// DefaultProbeLanczosSteps is the number of Lanczos steps a SharpnessProbe
// takes when SharpnessOptions.LanczosSteps is zero.
const DefaultProbeLanczosSteps = 20

// SharpnessOptions configures a SharpnessProbe.
type SharpnessOptions struct {
	// Every is the probe period in steps (must be positive).
	Every int
	// LR returns the current step size η; when nil the η-derived values
	// (eta_lambda, ngd_sharpness, sqrt_sharpness) are not reported.
	LR func() float64
	// Method selects power iteration or Lanczos.
	Method EigenMethod
	// Power sets the tolerance, iteration cap and shift of power
	// iteration (its Start and Deflate fields must be empty; zero values
	// mean the package defaults).
	Power PowerOptions
	// LanczosSteps is the number of Lanczos steps; zero means
	// DefaultProbeLanczosSteps.
	LanczosSteps int
	// WarmStart starts each measurement from the previous measurement's
	// top eigenvector instead of g/‖g‖ (much cheaper along a slowly moving
	// trajectory). The first measurement, and any with a zero gradient
	// and no previous vector, start from g/‖g‖ or a seeded random vector.
	WarmStart bool
	// Seed seeds the generator used for random starts and restarts.
	Seed uint64
}

// SharpnessProbe measures the top Hessian eigenvalue λ₁ of a
// HessianOperator and the quantities derived from it; it satisfies the
// trainer's probe interface (Every and Measure). Measure reports, with
// L and ∇L taken over the operator's examples at the current parameters:
//
//	lambda_max            λ₁
//	lambda_max_iters      operator applications used by the eigensolver
//	lambda_max_residual   ‖Hv − λ₁v‖ of the returned vector
//	lambda_max_seconds    wall time of the whole measurement
//	probe_loss            L
//	grad_norm             ‖∇L‖
//	param_norm_sq         ‖θ‖²
//	spherical_sharpness   ‖θ‖²·λ₁
//	eta, eta_lambda       η and η·λ₁ (when LR is set)
//	ngd_sharpness         η·λ₁/‖∇L‖ (normalized GD; when LR is set)
//	sqrt_sharpness        η·λ₁/(2√L) (GD on √L; when LR is set and L > 0)
//
// A SharpnessProbe reuses its vectors and solver between measurements and
// is not safe for concurrent use.
type SharpnessProbe struct {
	op    *HessianOperator
	opts  SharpnessOptions
	rng   *rand.Rand
	grad  []float64
	start []float64
	theta []float64
	prev  []float64
	has   bool
	power *PowerIteration
	lz    *Lanczos
	dev   deviceMeasurer // non-nil while attached to a device (device_probe.go)
}

// NewSharpnessProbe prepares a probe on op.
func NewSharpnessProbe(op *HessianOperator, opts SharpnessOptions) (*SharpnessProbe, error) {
	if op == nil {
		return nil, errors.New("curvature: sharpness probe: nil operator")
	}
	if opts.Every <= 0 {
		return nil, fmt.Errorf("curvature: sharpness probe: Every = %d, want > 0", opts.Every)
	}
	if opts.Power.Start != nil || opts.Power.Deflate != nil {
		return nil, errors.New("curvature: sharpness probe: Power.Start and Power.Deflate must be empty")
	}
	n := op.Dim()
	p := &SharpnessProbe{op: op, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x5ba4)),
		grad: make([]float64, n), start: make([]float64, n), theta: make([]float64, n), prev: make([]float64, n)}
	var err error
	switch opts.Method {
	case PowerMethod:
		po := opts.Power
		po.Start = p.start
		p.power, err = NewPowerIteration(op, po)
	case LanczosMethod:
		steps := opts.LanczosSteps
		if steps == 0 {
			steps = DefaultProbeLanczosSteps
		}
		p.lz, err = NewLanczos(op, steps)
	default:
		err = fmt.Errorf("unknown method %v", opts.Method)
	}
	if err != nil {
		return nil, fmt.Errorf("curvature: sharpness probe: %w", err)
	}
	return p, nil
}

// Every returns the probe period in steps.
func (p *SharpnessProbe) Every() int { return p.opts.Every }

// Vector returns the top eigenvector estimate of the last measurement
// (aliasing the probe's storage), or nil before the first one. While the
// probe is attached to a device (AttachDevice) it downloads the vector
// first, and returns nil if that fails.
func (p *SharpnessProbe) Vector() []float64 {
	if !p.has {
		return nil
	}
	if p.dev != nil && p.dev.vector() != nil {
		return nil
	}
	return p.prev
}

// Measure computes λ₁ and the derived values at the current parameters.
func (p *SharpnessProbe) Measure(step int) (map[string]float64, error) {
	if p.dev != nil {
		return p.dev.measure(step)
	}
	t0 := time.Now()
	loss, err := p.op.Gradient(p.grad)
	if err != nil {
		return nil, fmt.Errorf("curvature: sharpness probe at step %d: %w", step, err)
	}
	gnorm := nrm2(p.grad)
	switch {
	case p.opts.WarmStart && p.has:
		copy(p.start, p.prev)
	case gnorm > 0 && !math.IsInf(gnorm, 0) && !math.IsNaN(gnorm):
		for i, g := range p.grad {
			p.start[i] = g / gnorm
		}
	default:
		Gaussian.Fill(p.rng, p.start)
	}
	var lambda, resid float64
	var iters int
	if p.power != nil {
		r, err := p.power.Run(p.rng)
		if err != nil {
			return nil, fmt.Errorf("curvature: sharpness probe at step %d: %w", step, err)
		}
		lambda, resid, iters = r.Value, r.Residual, r.Iterations
		copy(p.prev, r.Vector)
	} else {
		if err := p.lz.Run(p.start, p.rng); err != nil {
			return nil, fmt.Errorf("curvature: sharpness probe at step %d: %w", step, err)
		}
		k := p.lz.Steps()
		lambda = p.lz.RitzValues()[k-1]
		resid = p.lz.ResidualBound(k - 1)
		iters = k
		if err := p.lz.RitzVector(p.prev, k-1); err != nil {
			return nil, fmt.Errorf("curvature: sharpness probe at step %d: %w", step, err)
		}
	}
	p.has = true
	p.theta = p.op.ParamVector(p.theta)
	out := p.values(lambda, resid, iters, loss, gnorm, dot(p.theta, p.theta))
	out["lambda_max_seconds"] = time.Since(t0).Seconds()
	return out, nil
}

// values are the values Measure reports, but for the wall time.
func (p *SharpnessProbe) values(lambda, resid float64, iters int, loss, gnorm, normSq float64) map[string]float64 {
	out := map[string]float64{
		"lambda_max":          lambda,
		"lambda_max_iters":    float64(iters),
		"lambda_max_residual": resid,
		"probe_loss":          loss,
		"grad_norm":           gnorm,
		"param_norm_sq":       normSq,
		"spherical_sharpness": SphericalSharpness(normSq, lambda),
	}
	if p.opts.LR != nil {
		eta := p.opts.LR()
		out["eta"] = eta
		out["eta_lambda"] = EoSRatio(eta, lambda)
		if gnorm > 0 {
			out["ngd_sharpness"] = NormalizedGDSharpness(eta, lambda, gnorm)
		}
		if loss > 0 {
			out["sqrt_sharpness"] = SqrtLossGDSharpness(eta, lambda, loss)
		}
	}
	return out
}

// TraceProbeOptions configures a TraceProbe.
type TraceProbeOptions struct {
	// Every is the probe period in steps (must be positive).
	Every int
	// Trace configures Hutchinson's estimator.
	Trace TraceOptions
	// Seed seeds the probe vectors.
	Seed uint64
}

// TraceProbe measures tr(H) by Hutchinson's estimator; it satisfies the
// trainer's probe interface. Measure reports trace, trace_se (standard
// error), trace_probes and trace_seconds.
type TraceProbe struct {
	h     *Hutchinson
	every int
	rng   *rand.Rand
	dev   deviceMeasurer // non-nil while attached to a device (device_probe.go)
}

// NewTraceProbe prepares a trace probe on op.
func NewTraceProbe(op Operator, opts TraceProbeOptions) (*TraceProbe, error) {
	if opts.Every <= 0 {
		return nil, fmt.Errorf("curvature: trace probe: Every = %d, want > 0", opts.Every)
	}
	h, err := NewHutchinson(op, opts.Trace)
	if err != nil {
		return nil, fmt.Errorf("curvature: trace probe: %w", err)
	}
	return &TraceProbe{h: h, every: opts.Every, rng: rand.New(rand.NewPCG(opts.Seed, 0x7ace))}, nil
}

// Every returns the probe period in steps.
func (p *TraceProbe) Every() int { return p.every }

// Measure estimates the trace at the current parameters.
func (p *TraceProbe) Measure(step int) (map[string]float64, error) {
	if p.dev != nil {
		return p.dev.measure(step)
	}
	t0 := time.Now()
	r, err := p.h.Run(p.rng)
	if err != nil {
		return nil, fmt.Errorf("curvature: trace probe at step %d: %w", step, err)
	}
	return traceValues(r, time.Since(t0)), nil
}

// traceValues are the values a TraceProbe reports.
func traceValues(r TraceResult, wall time.Duration) map[string]float64 {
	return map[string]float64{
		"trace":         r.Mean,
		"trace_se":      r.StdErr,
		"trace_probes":  float64(r.Probes),
		"trace_seconds": wall.Seconds(),
	}
}

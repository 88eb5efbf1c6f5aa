package experiments

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"

	"github.com/gradlab/gradlab/curvature"
)

// eosMinLanczosSteps is the floor of the minimum step count: the stopping
// rule compares two consecutive top Ritz values.
const eosMinLanczosSteps = 2

// eosColdSteps is the length of the cold-started reference run used to
// verify the warm-started measurements (the Edge-of-Stability authors run
// 100 iterations from g/‖g‖).
const eosColdSteps = 100

// eosHessian is what an eosLambdaProbe measures: the Hessian of the
// training loss as an operator, with the loss, its gradient and the
// parameters at the current point (a *curvature.HessianOperator).
type eosHessian interface {
	curvature.Operator
	Gradient(grad []float64) (float64, error)
	ParamVector(dst []float64) []float64
}

// eosLambdaOptions configures an eosLambdaProbe.
type eosLambdaOptions struct {
	every       int            // probe period in steps
	lr          func() float64 // the phase's step size η
	maxSteps    int            // Lanczos steps at most per measurement
	tol         float64        // stop when the top Ritz value changes by ≤ tol (relative)
	verifyEvery int            // every verifyEvery-th measurement is repeated cold (0: never)
	minSteps    int            // Lanczos steps at least per measurement
	seed        uint64
}

// eosLambdaProbe measures the top Hessian eigenvalue λ₁ during training
// (a train.Probe). Each measurement runs Lanczos with full
// re-orthogonalisation from the previous measurement's top Ritz vector —
// λ₁ and its eigenvector move little between probes a few steps apart —
// and stops once it has taken minSteps steps and the top Ritz value
// changed by at most tol (relative) in the last step, or after maxSteps
// steps. The first measurement starts from g/‖g‖. Top Ritz values only
// increase with the step count and never exceed λ₁, so stopping early can
// only under-estimate λ₁.
//
// The minimum matters more than the tolerance. At the edge of stability
// several eigenvalues sit within about 1% of each other near 2/η and the
// top eigenvector switches among them; from the previous top vector the
// Ritz value first settles on the old direction's eigenvalue, where the
// change rule is already met, and reaches the new top only a few steps
// later. On the small preset (seeds 1 and 3, 50 reference runs each after
// step 1,000) a minimum of 3 steps left errors up to 1.0–1.2%, 4 up to
// 1.1%, 5 up to 0.03% (seed 3), 6 up to 0.016%, and 10 fixed steps up to
// 4e-6; mixing the gradient into the start vector did not help. The
// verification runs (verifyEvery) measure the error of a run against a
// cold-started 100-step Lanczos run from g/‖g‖ at the same parameters.
//
// Measure reports the keys of curvature.SharpnessProbe (lambda_max,
// lambda_max_iters, lambda_max_residual, lambda_max_seconds, probe_loss,
// grad_norm, param_norm_sq, spherical_sharpness, eta, eta_lambda,
// ngd_sharpness, sqrt_sharpness) and, on verification probes,
// lambda_max_cold and lambda_max_cold_rel_diff = (λ_cold − λ)/λ_cold.
type eosLambdaProbe struct {
	op   eosHessian
	o    eosLambdaOptions
	rng  *rand.Rand
	n, m int

	basis         []float64 // m rows of length n
	w             []float64
	alpha, beta   []float64
	d, e, z, work []float64

	grad, prev, theta []float64
	has               bool

	count      int // measurements taken
	applies    int // Hessian–vector products of those measurements
	cold       *curvature.Lanczos
	verified   int
	maxRelDiff float64

	dev eosDeviceMeasurer // set while attached to a device (AttachDevice)
}

func newEOSLambdaProbe(op eosHessian, o eosLambdaOptions) (*eosLambdaProbe, error) {
	if op == nil {
		return nil, errors.New("λ₁ probe: nil operator")
	}
	if o.every <= 0 || o.minSteps < eosMinLanczosSteps || o.maxSteps < o.minSteps || !(o.tol >= 0) || o.verifyEvery < 0 || o.lr == nil {
		return nil, fmt.Errorf("λ₁ probe: need every > 0, %d ≤ minimum Lanczos steps (%d) ≤ maximum (%d), tol ≥ 0, verify_every ≥ 0 and a step size",
			eosMinLanczosSteps, o.minSteps, o.maxSteps)
	}
	n := op.Dim()
	m := min(o.maxSteps, n)
	p := &eosLambdaProbe{
		op: op, o: o, rng: rand.New(rand.NewPCG(o.seed, 0x1a7b)), n: n, m: m,
		basis: make([]float64, m*n), w: make([]float64, n),
		alpha: make([]float64, m), beta: make([]float64, m),
		d: make([]float64, m), e: make([]float64, m), z: make([]float64, m*m), work: make([]float64, max(1, 2*m-2)),
		grad: make([]float64, n), prev: make([]float64, n), theta: make([]float64, n),
	}
	if o.verifyEvery > 0 {
		var err error
		if p.cold, err = curvature.NewLanczos(op, eosColdSteps); err != nil {
			return nil, fmt.Errorf("λ₁ probe: %w", err)
		}
	}
	return p, nil
}

// Every returns the probe period in steps.
func (p *eosLambdaProbe) Every() int { return p.o.every }

// topRitz returns the largest eigenvalue of the leading k×k block of the
// tridiagonal matrix (alpha, beta).
func (p *eosLambdaProbe) topRitz(k int) (float64, error) {
	return p.topRitzOf(p.alpha, p.beta, k)
}

// lanczos runs the adaptive Lanczos process from start and leaves the top
// Ritz vector in p.prev. It returns the top Ritz value, its residual
// bound β_k·|z_k| and the number of steps (operator applications).
func (p *eosLambdaProbe) lanczos(start []float64) (lambda, resid float64, k int, err error) {
	n := p.n
	q0 := p.basis[:n]
	copy(q0, start)
	nq := math.Sqrt(floats.Dot(q0, q0))
	if !(nq > 0) || math.IsInf(nq, 0) {
		return 0, 0, 0, fmt.Errorf("start vector norm %g", nq)
	}
	floats.Scale(1/nq, q0)
	prevTheta, scale := math.NaN(), 0.0
	for j := 0; j < p.m; j++ {
		q := p.basis[j*n : (j+1)*n]
		if err := p.op.Apply(p.w, q); err != nil {
			return 0, 0, 0, fmt.Errorf("lanczos step %d: %w", j+1, err)
		}
		if j > 0 {
			floats.AddScaled(p.w, -p.beta[j-1], p.basis[(j-1)*n:j*n])
		}
		a := floats.Dot(q, p.w)
		floats.AddScaled(p.w, -a, q)
		for pass := 0; pass < 2; pass++ {
			for i := 0; i <= j; i++ {
				qi := p.basis[i*n : (i+1)*n]
				floats.AddScaled(p.w, -floats.Dot(qi, p.w), qi)
			}
		}
		b := math.Sqrt(floats.Dot(p.w, p.w))
		if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(b, 0) {
			return 0, 0, 0, fmt.Errorf("lanczos step %d: α=%g β=%g", j+1, a, b)
		}
		p.alpha[j], p.beta[j], k = a, b, j+1
		theta, err := p.topRitz(k)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("lanczos step %d: %w", k, err)
		}
		converged := k >= p.o.minSteps && math.Abs(theta-prevTheta) <= p.o.tol*math.Abs(theta)
		prevTheta = theta
		scale = max(scale, math.Abs(a)+b)
		if converged || k == p.m || b <= 1e-10*scale {
			// b ≈ 0: the Krylov space is invariant; its top Ritz pair is
			// an exact eigenpair (rare in practice for a network Hessian).
			break
		}
		next := p.basis[k*n : (k+1)*n]
		for i, x := range p.w {
			next[i] = x / b
		}
	}
	// Top Ritz vector: eigenvectors of T_k, last column (ascending order).
	copy(p.d, p.alpha[:k])
	copy(p.e, p.beta[:k])
	var impl gonum.Implementation
	z := p.z[:k*k]
	if !impl.Dsteqr(lapack.EVTridiag, k, p.d[:k], p.e[:max(k-1, 0)], z, max(k, 1), p.work) {
		return 0, 0, 0, errors.New("tridiagonal eigenvectors did not converge")
	}
	clear(p.prev)
	for j := 0; j < k; j++ {
		floats.AddScaled(p.prev, z[j*k+k-1], p.basis[j*n:(j+1)*n])
	}
	return p.d[k-1], math.Abs(p.beta[k-1] * z[(k-1)*k+k-1]), k, nil
}

// Measure computes λ₁ and the derived values at the current parameters,
// on the device while the probe is attached to one (AttachDevice).
func (p *eosLambdaProbe) Measure(step int) (map[string]float64, error) {
	if p.dev != nil {
		return p.dev.measure(step)
	}
	t0 := time.Now()
	loss, err := p.op.Gradient(p.grad)
	if err != nil {
		return nil, fmt.Errorf("λ₁ probe at step %d: %w", step, err)
	}
	gnorm := math.Sqrt(floats.Dot(p.grad, p.grad))
	start := p.prev
	if !p.has {
		if !(gnorm > 0) || math.IsInf(gnorm, 0) {
			return nil, fmt.Errorf("λ₁ probe at step %d: gradient norm %g, no start vector", step, gnorm)
		}
		start = p.grad
	}
	lambda, resid, iters, err := p.lanczos(start)
	if err != nil {
		return nil, fmt.Errorf("λ₁ probe at step %d: %w", step, err)
	}
	p.has = true
	p.applies += iters
	p.theta = p.op.ParamVector(p.theta)
	out := p.values(lambda, resid, iters, loss, gnorm, floats.Dot(p.theta, p.theta))
	out["lambda_max_seconds"] = time.Since(t0).Seconds()
	p.count++
	if p.cold != nil && p.count%p.o.verifyEvery == 0 && gnorm > 0 {
		if err := p.cold.Run(p.grad, p.rng); err != nil {
			return nil, fmt.Errorf("λ₁ probe at step %d: cold reference: %w", step, err)
		}
		p.verify(out, lambda, p.cold.RitzValues()[p.cold.Steps()-1])
	}
	return out, nil
}

// values are the measured quantities of one measurement: λ₁ with its
// Lanczos step count and residual bound, and the derived sharpness ratios
// at the loss, gradient norm and ‖θ‖² of the point.
func (p *eosLambdaProbe) values(lambda, resid float64, iters int, loss, gnorm, normSq float64) map[string]float64 {
	eta := p.o.lr()
	out := map[string]float64{
		"lambda_max":          lambda,
		"lambda_max_iters":    float64(iters),
		"lambda_max_residual": resid,
		"probe_loss":          loss,
		"grad_norm":           gnorm,
		"param_norm_sq":       normSq,
		"spherical_sharpness": curvature.SphericalSharpness(normSq, lambda),
		"eta":                 eta,
		"eta_lambda":          curvature.EoSRatio(eta, lambda),
	}
	if gnorm > 0 {
		out["ngd_sharpness"] = curvature.NormalizedGDSharpness(eta, lambda, gnorm)
	}
	if loss > 0 {
		out["sqrt_sharpness"] = curvature.SqrtLossGDSharpness(eta, lambda, loss)
	}
	return out
}

// verify records a cold reference value ref of a measurement λ into out
// and into the probe's verification summary.
func (p *eosLambdaProbe) verify(out map[string]float64, lambda, ref float64) {
	rel := (ref - lambda) / math.Abs(ref)
	out["lambda_max_cold"] = ref
	out["lambda_max_cold_rel_diff"] = rel
	p.verified++
	p.maxRelDiff = max(p.maxRelDiff, math.Abs(rel))
}

// warmFrom makes the next measurement start from q's last top Ritz vector
// (when q has one), e.g. across the boundary of two training phases.
func (p *eosLambdaProbe) warmFrom(q *eosLambdaProbe) {
	if q != nil && q.has && len(q.prev) == len(p.prev) {
		copy(p.prev, q.prev)
		p.has = true
	}
}

// record stores the probe's cost and verification summary under prefix.
func (p *eosLambdaProbe) record(out *Outcome, prefix string) {
	if p.count > 0 {
		out.Values[prefix+"_probe_mean_lanczos_steps"] = eosRound(float64(p.applies)/float64(p.count), 3)
	}
	if p.verified > 0 {
		out.Values[prefix+"_probe_cold_checks"] = p.verified
		out.Values[prefix+"_probe_cold_max_abs_rel_diff"] = p.maxRelDiff
	}
}

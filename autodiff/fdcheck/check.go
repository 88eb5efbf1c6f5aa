package fdcheck

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Options controls the finite-difference checks. The zero value gives the
// defaults noted on each field.
type Options struct {
	Seed        uint64  // seed of the random directions (default 1)
	Directions  int     // number of random unit directions (default 3)
	Step        float64 // finite-difference step along a unit direction (default 1e-3, suits the O(h⁴) stencil in float64)
	Floor       float64 // smallest denominator of a relative error (default 1e-8)
	Coordinates bool    // also compare the whole gradient with per-coordinate differences
}

func (o Options) withDefaults() Options {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Directions <= 0 {
		o.Directions = 3
	}
	if o.Step <= 0 {
		o.Step = 1e-3
	}
	if o.Floor <= 0 {
		o.Floor = 1e-8
	}
	return o
}

// Result is one comparison of an autodiff quantity with finite differences.
// For "grad" it compares the directional derivative ⟨∇L, u⟩ with the
// differenced loss; for "grad-coords" the whole gradient with per-coordinate
// differences (Analytic and Numeric are then norms); for "hvp" the vector
// H·u with the differenced gradient (norms again).
type Result struct {
	Check     string
	Direction int // index of the random direction, -1 for "grad-coords"
	Analytic  float64
	Numeric   float64
	AbsErr    float64 // |a−n| or ‖a−n‖
	RelErr    float64 // AbsErr / max(|a|, |n|, Floor)
}

// Report collects the results of one check run.
type Report struct {
	Results       []Result
	MaxGradRelErr float64 // over "grad" and "grad-coords"
	MaxHVPRelErr  float64
}

// Pass reports whether every result has a relative error of at most tol.
func (r Report) Pass(tol float64) bool {
	for _, res := range r.Results {
		if !(res.RelErr <= tol) {
			return false
		}
	}
	return true
}

func (r *Report) add(res Result) {
	r.Results = append(r.Results, res)
	switch res.Check {
	case "hvp":
		r.MaxHVPRelErr = math.Max(r.MaxHVPRelErr, res.RelErr)
	default:
		r.MaxGradRelErr = math.Max(r.MaxGradRelErr, res.RelErr)
	}
}

// CheckGrad builds the problem and compares its gradient with finite
// differences at the parameters' values.
func CheckGrad(build Builder, params []Param, opt Options) (Report, error) {
	return check(build, params, opt, true, false)
}

// CheckHVP builds the problem and compares its Hessian-vector products with
// finite differences of its gradient at the parameters' values.
func CheckHVP(build Builder, params []Param, opt Options) (Report, error) {
	return check(build, params, opt, false, true)
}

// Check runs both CheckGrad and CheckHVP on one problem.
func Check(build Builder, params []Param, opt Options) (Report, error) {
	return check(build, params, opt, true, true)
}

func check(build Builder, params []Param, opt Options, grad, hvp bool) (Report, error) {
	p, err := NewProblem(build, params)
	if err != nil {
		return Report{}, err
	}
	defer p.Close()
	var rep Report
	theta := p.Point()
	if grad {
		if err := p.CheckGrad(&rep, theta, opt); err != nil {
			return rep, err
		}
	}
	if hvp {
		if err := p.CheckHVP(&rep, theta, opt); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// Directions returns n seeded random unit vectors of length dim.
func Directions(seed uint64, n, dim int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 0x6664636865636b))
	out := make([][]float64, n)
	for k := range out {
		u := make([]float64, dim)
		var s float64
		for i := range u {
			u[i] = rng.NormFloat64()
			s += u[i] * u[i]
		}
		s = math.Sqrt(s)
		for i := range u {
			u[i] /= s
		}
		out[k] = u
	}
	return out
}

// stencil returns (8(f(h)−f(−h)) − (f(2h)−f(−2h))) / 12h, the five-point
// central difference, for a vector-valued f of the step t along a direction.
func stencil(h float64, f func(t float64) ([]float64, error)) ([]float64, error) {
	var vals [4][]float64
	for i, t := range []float64{h, -h, 2 * h, -2 * h} {
		v, err := f(t)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	out := make([]float64, len(vals[0]))
	for i := range out {
		out[i] = (8*(vals[0][i]-vals[1][i]) - (vals[2][i] - vals[3][i])) / (12 * h)
	}
	return out, nil
}

func shifted(theta, u []float64, t float64) []float64 {
	x := make([]float64, len(theta))
	for i := range x {
		x[i] = theta[i] + t*u[i]
	}
	return x
}

// NumericGrad returns the derivative of the loss at theta along u by the
// five-point central difference with the given step.
func (p *Problem) NumericGrad(theta, u []float64, step float64) (float64, error) {
	if len(u) != p.Dim() {
		return 0, fmt.Errorf("fdcheck: direction has %d entries, want %d", len(u), p.Dim())
	}
	d, err := stencil(step, func(t float64) ([]float64, error) {
		l, err := p.Loss(shifted(theta, u, t))
		return []float64{l}, err
	})
	if err != nil {
		return 0, err
	}
	return d[0], nil
}

// NumericHVP returns the derivative of the gradient at theta along u (≈ H·u)
// by the five-point central difference with the given step.
func (p *Problem) NumericHVP(theta, u []float64, step float64) ([]float64, error) {
	if len(u) != p.Dim() {
		return nil, fmt.Errorf("fdcheck: direction has %d entries, want %d", len(u), p.Dim())
	}
	return stencil(step, func(t float64) ([]float64, error) {
		_, g, err := p.Grad(shifted(theta, u, t))
		return g, err
	})
}

// CheckGrad appends gradient comparisons at theta to rep.
func (p *Problem) CheckGrad(rep *Report, theta []float64, opt Options) error {
	opt = opt.withDefaults()
	_, g, err := p.Grad(theta)
	if err != nil {
		return err
	}
	for k, u := range Directions(opt.Seed, opt.Directions, p.Dim()) {
		num, err := p.NumericGrad(theta, u, opt.Step)
		if err != nil {
			return fmt.Errorf("fdcheck: grad direction %d: %w", k, err)
		}
		var a float64
		for i := range u {
			a += g[i] * u[i]
		}
		rep.add(compare("grad", k, []float64{a}, []float64{num}, opt.Floor))
	}
	if opt.Coordinates {
		num := make([]float64, p.Dim())
		e := make([]float64, p.Dim())
		for i := range e {
			e[i] = 1
			d, err := p.NumericGrad(theta, e, opt.Step)
			if err != nil {
				return fmt.Errorf("fdcheck: grad coordinate %d: %w", i, err)
			}
			e[i] = 0
			num[i] = d
		}
		rep.add(compare("grad-coords", -1, g, num, opt.Floor))
	}
	return nil
}

// CheckHVP appends Hessian-vector product comparisons at theta to rep.
func (p *Problem) CheckHVP(rep *Report, theta []float64, opt Options) error {
	opt = opt.withDefaults()
	for k, u := range Directions(opt.Seed+1, opt.Directions, p.Dim()) {
		hv, err := p.HVP(theta, u)
		if err != nil {
			return err
		}
		num, err := p.NumericHVP(theta, u, opt.Step)
		if err != nil {
			return fmt.Errorf("fdcheck: hvp direction %d: %w", k, err)
		}
		rep.add(compare("hvp", k, hv, num, opt.Floor))
	}
	return nil
}

func compare(kind string, dir int, a, n []float64, floor float64) Result {
	var na, nn, nd float64
	for i := range a {
		na += a[i] * a[i]
		nn += n[i] * n[i]
		d := a[i] - n[i]
		nd += d * d
	}
	na, nn, nd = math.Sqrt(na), math.Sqrt(nn), math.Sqrt(nd)
	if len(a) == 1 {
		na, nn = a[0], n[0]
	}
	return Result{
		Check:     kind,
		Direction: dir,
		Analytic:  na,
		Numeric:   nn,
		AbsErr:    nd,
		RelErr:    nd / math.Max(math.Max(math.Abs(na), math.Abs(nn)), floor),
	}
}

// RelErr returns ‖a−b‖ / max(‖a‖, ‖b‖, floor).
func RelErr(a, b []float64, floor float64) float64 {
	return compare("", 0, a, b, floor).RelErr
}

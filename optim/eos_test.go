package optim

import (
	"math"
	"slices"
	"testing"

	"gorgonia.org/tensor"
)

// toyEoS is L(x, y) = (1 + x²)y² from §4: its minimizers are y = 0, where
// λ₁ = 2(1 + x²).
func toyEoS(p []float64) (loss float64, grad [2]float64, lambda1 float64) {
	x, y := p[0], p[1]
	loss = (1 + x*x) * y * y
	grad = [2]float64{2 * x * y * y, 2 * (1 + x*x) * y}
	// Hessian [[2y², 4xy], [4xy, 2(1+x²)]]; largest eigenvalue in closed form.
	a, b, c := 2*y*y, 4*x*y, 2*(1+x*x)
	lambda1 = (a+c)/2 + math.Sqrt((a-c)*(a-c)/4+b*b)
	return
}

// TestEdgeOfStabilityToy runs §4 small version (a): normalized GD and GD on
// √L from (x₀, y₀) = (3, η/2) for T = 8 units of time t = η²·steps. The
// limiting flows on the manifold y = 0 are, for normalized GD,
// dx/dt = −¼ d/dx log λ₁ = −x/(2(1+x²)) (so ln x + x²/2 = ln x₀ + x₀²/2 − t/2),
// and for GD on √L, dx/dt = −⅛ dλ₁/dx = −x/2 (so x = x₀e^{−t/2}). Checked:
// x(T) within 2% of the flow, and the median over the second half of
// η·λ₁/‖∇L‖ (normalized GD) in [1.9, 2.1]. For GD on √L the y-update is
// y ← y − η√(1+x²)·sign(y), so every |y| < η√(1+x²) lies on a period-2 orbit
// (a, a − η√(1+x²)) and η·λ₁/(2√L) itself depends on the start; its value
// with √L averaged over two consecutive steps is 2 on every such orbit, and
// that is what is checked.
func TestEdgeOfStabilityToy(t *testing.T) {
	const x0, T = 3.0, 8.0
	normFlow := func() float64 { // solve ln x + x²/2 = ln x0 + x0²/2 − T/2 by Newton
		c := math.Log(x0) + x0*x0/2 - T/2
		x := 1.0
		for range 100 {
			f := math.Log(x) + x*x/2 - c
			x -= f / (1/x + x)
		}
		return x
	}()
	sqrtFlow := x0 * math.Exp(-T/2)
	for _, eta := range []float64{0.1, 0.05} {
		for _, method := range []string{"normalized", "sqrt"} {
			var opt Optimizer
			var err error
			if method == "normalized" {
				opt, err = NewNormalizedGD(eta)
			} else {
				opt, err = NewSqrtLossGD(eta)
			}
			mustNoErr(t, err)
			params := []*tensor.Dense{f64([]float64{x0, eta / 2}, 2)}
			grads := []*tensor.Dense{f64([]float64{0, 0}, 2)}
			steps := int(math.Round(T / (eta * eta)))
			var ratios []float64
			prevSqrt := math.NaN()
			for s := range steps {
				p := params[0].Float64s()
				loss, g, l1 := toyEoS(p)
				copy(grads[0].Float64s(), g[:])
				gn := math.Hypot(g[0], g[1])
				r := eta * l1 / gn
				if method == "sqrt" {
					r = eta * l1 / (math.Sqrt(loss) + prevSqrt) // 2·(mean of √L over two steps)
					prevSqrt = math.Sqrt(loss)
					opt.(LossSetter).SetLoss(loss)
				}
				if s >= steps/2 {
					ratios = append(ratios, r)
				}
				mustNoErr(t, opt.Step(params, grads))
			}
			slices.Sort(ratios)
			median := ratios[len(ratios)/2]
			want := normFlow
			if method == "sqrt" {
				want = sqrtFlow
			}
			x := params[0].Float64s()[0]
			t.Logf("%s η = %g: x(T) = %.5f, flow %.5f (%.2f%%), median sharpness ratio %.4f",
				method, eta, x, want, 100*(x-want)/want, median)
			if math.Abs(x-want) > 0.02*math.Abs(want) {
				t.Errorf("%s η = %g: x(T) = %g, flow predicts %g", method, eta, x, want)
			}
			if median < 1.9 || median > 2.1 {
				t.Errorf("%s η = %g: median sharpness ratio %g outside [1.9, 2.1]", method, eta, median)
			}
		}
	}
}

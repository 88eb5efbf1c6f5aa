package curvature_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/gradlab/gradlab/curvature"
	"gonum.org/v1/gonum/mat"
)

// A diagonal Hessian whose most negative eigenvalue has the largest
// magnitude: plain power iteration finds −4, a shift of 4 finds the top
// algebraic eigenvalue 3, and Lanczos finds both ends at once.
func Example() {
	h := mat.NewSymDense(4, []float64{
		3, 0, 0, 0,
		0, -4, 0, 0,
		0, 0, 1, 0,
		0, 0, 0, 0.5,
	})
	op := curvature.NewDense(h)
	rng := rand.New(rand.NewPCG(1, 2))

	r, _ := curvature.PowerIterate(op, rng, curvature.PowerOptions{Tol: 1e-10, MaxIter: 1000})
	fmt.Printf("power: %.4f\n", r.Value)
	r, _ = curvature.PowerIterate(op, rng, curvature.PowerOptions{Tol: 1e-10, MaxIter: 1000, Shift: 4})
	fmt.Printf("power on H+4I: %.4f\n", r.Value)

	top, _ := curvature.TopEigen(op, 2, rng, curvature.LanczosOptions{})
	low, _ := curvature.SmallestEigen(op, rng, curvature.LanczosOptions{})
	fmt.Printf("lanczos: top %.4f %.4f, smallest %.4f\n", top[0].Value, top[1].Value, low.Value)

	// Rademacher probes give vᵀDv = tr(D) exactly for a diagonal D.
	tr, _ := curvature.Trace(op, rng, curvature.TraceOptions{Probes: 10})
	fmt.Printf("trace: %.4f ± %.4f\n", tr.Mean, tr.StdErr)
	// Output:
	// power: -4.0000
	// power on H+4I: 3.0000
	// lanczos: top 3.0000 1.0000, smallest -4.0000
	// trace: 0.5000 ± 0.0000
}

package curvature

import (
	"fmt"
	"math/rand/v2"
)

// ProbeKind selects the distribution of random probe vectors used by the
// stochastic estimators (Hutchinson trace, stochastic Lanczos quadrature).
type ProbeKind int

const (
	// Rademacher probes have independent ±1 entries. They give the
	// lowest-variance Hutchinson estimator among i.i.d. probes with unit
	// variance entries: Var(vᵀHv) = 2 Σ_{i≠j} H_ij².
	Rademacher ProbeKind = iota
	// Gaussian probes have independent standard normal entries:
	// Var(vᵀHv) = 2‖H‖_F².
	Gaussian
)

// String returns "rademacher" or "gaussian".
func (k ProbeKind) String() string {
	switch k {
	case Rademacher:
		return "rademacher"
	case Gaussian:
		return "gaussian"
	}
	return fmt.Sprintf("ProbeKind(%d)", int(k))
}

func (k ProbeKind) valid() error {
	if k != Rademacher && k != Gaussian {
		return fmt.Errorf("curvature: unknown probe kind %d", int(k))
	}
	return nil
}

// Fill overwrites dst with a probe of kind k drawn from rng. Entries have
// mean 0 and variance 1, so E[vvᵀ] = I. Draws are taken in index order, so
// a generator in the same state reproduces the same probe.
func (k ProbeKind) Fill(rng *rand.Rand, dst []float64) {
	switch k {
	case Gaussian:
		for i := range dst {
			dst[i] = rng.NormFloat64()
		}
	default:
		// One 64-bit draw supplies 64 signs.
		var bits uint64
		for i := range dst {
			if i%64 == 0 {
				bits = rng.Uint64()
			}
			if bits&1 == 1 {
				dst[i] = 1
			} else {
				dst[i] = -1
			}
			bits >>= 1
		}
	}
}

//go:build cuda || gradlabcuda

package cuda

import (
	"fmt"
	"runtime"

	"github.com/gradlab/gradlab/kernels"
)

// normFunctions are the kernels of norm.cuh that New loads (each name gets
// the set's _f32 or _f64 suffix).
var normFunctions = []string{"ln_forward", "ln_back_x", "ln_back_param", "bn_forward", "bn_backward"}

// normOperand is one buffer argument of a normalization kernel: its
// launch-argument slot, the buffer (nil allowed when optional) and the
// elements it must hold.
type normOperand[T kernels.Float] struct {
	slot     int
	name     string
	b        kernels.Buffer[T]
	n        int
	optional bool
}

// normArgs checks the operands and writes them into the argument block
// (null for absent optional ones).
func (s *Set[T]) normArgs(what string, ops ...normOperand[T]) error {
	for _, o := range ops {
		if o.b == nil {
			if !o.optional {
				return fmt.Errorf("cuda: %s: missing %s", what, o.name)
			}
			s.args[o.slot] = 0
			continue
		}
		d, err := s.dev(o.name, o.b, o.n)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		s.p(o.slot, d)
	}
	return nil
}

// LayerNorm implements kernels.Set: one block per row.
func (s *Set[T]) LayerNorm(y, mean, rstd, x, gamma, beta kernels.Buffer[T], rows, d int, eps float64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	const what = "layer norm"
	if err := kernels.CheckNormSizes(what, rows, d, eps); err != nil {
		return err
	}
	if err := s.normArgs(what, normOperand[T]{0, "y", y, rows * d, true}, normOperand[T]{1, "mean", mean, rows, true},
		normOperand[T]{2, "rstd", rstd, rows, true}, normOperand[T]{3, "x", x, rows * d, false},
		normOperand[T]{4, "gamma", gamma, d, true}, normOperand[T]{5, "beta", beta, d, true}); err != nil {
		return err
	}
	if rows == 0 {
		return nil
	}
	s.i(6, int64(rows))
	s.i(7, int64(d))
	s.f(8, eps)
	return s.launchGrid("ln_forward", 9, min(rows, maxGrid), 1, 1)
}

// LayerNormBackward implements kernels.Set: gx with one block per row, gγ
// and gβ with one block per 32 columns.
func (s *Set[T]) LayerNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy kernels.Buffer[T], rows, d int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	const what = "layer norm backward"
	if err := kernels.CheckNormSizes(what, rows, d, 0); err != nil {
		return err
	}
	// Check every operand before launching anything.
	if err := s.normArgs(what, normOperand[T]{0, "gx", gx, rows * d, true}, normOperand[T]{1, "ggamma", ggamma, d, true},
		normOperand[T]{2, "gbeta", gbeta, d, true}, normOperand[T]{3, "x", x, rows * d, false},
		normOperand[T]{4, "gamma", gamma, d, true}, normOperand[T]{5, "mean", mean, rows, false},
		normOperand[T]{6, "rstd", rstd, rows, false}, normOperand[T]{7, "gy", gy, rows * d, false}); err != nil {
		return err
	}
	if d == 0 {
		return nil
	}
	if gx != nil && rows > 0 {
		if err := s.normArgs(what, normOperand[T]{0, "gx", gx, rows * d, false}, normOperand[T]{1, "x", x, rows * d, false},
			normOperand[T]{2, "gamma", gamma, d, true}, normOperand[T]{3, "mean", mean, rows, false},
			normOperand[T]{4, "rstd", rstd, rows, false}, normOperand[T]{5, "gy", gy, rows * d, false}); err != nil {
			return err
		}
		s.i(6, int64(rows))
		s.i(7, int64(d))
		if err := s.launchGrid("ln_back_x", 8, min(rows, maxGrid), 1, 1); err != nil {
			return err
		}
	}
	if ggamma == nil && gbeta == nil {
		return nil
	}
	if err := s.normArgs(what, normOperand[T]{0, "ggamma", ggamma, d, true}, normOperand[T]{1, "gbeta", gbeta, d, true},
		normOperand[T]{2, "x", x, rows * d, false}, normOperand[T]{3, "mean", mean, rows, false},
		normOperand[T]{4, "rstd", rstd, rows, false}, normOperand[T]{5, "gy", gy, rows * d, false}); err != nil {
		return err
	}
	s.i(6, int64(rows))
	s.i(7, int64(d))
	return s.launchGrid("ln_back_param", 8, min((d+31)/32, maxGrid), 1, 1)
}

// BatchNorm implements kernels.Set: one block per channel.
func (s *Set[T]) BatchNorm(y, mean, rstd, x, gamma, beta kernels.Buffer[T], outer, c, inner int, eps float64) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	const what = "batch norm"
	if outer < 0 || c < 0 || inner < 0 {
		return fmt.Errorf("cuda: %s: negative size %d×%d×%d", what, outer, c, inner)
	}
	if err := kernels.CheckNormSizes(what, c, outer*inner, eps); err != nil {
		return err
	}
	n := outer * c * inner
	if err := s.normArgs(what, normOperand[T]{0, "y", y, n, true}, normOperand[T]{1, "mean", mean, c, true},
		normOperand[T]{2, "rstd", rstd, c, true}, normOperand[T]{3, "x", x, n, false},
		normOperand[T]{4, "gamma", gamma, c, true}, normOperand[T]{5, "beta", beta, c, true}); err != nil {
		return err
	}
	if c == 0 {
		return nil
	}
	s.i(6, int64(outer))
	s.i(7, int64(c))
	s.i(8, int64(inner))
	s.f(9, eps)
	return s.launchGrid("bn_forward", 10, min(c, maxGrid), 1, 1)
}

// BatchNormBackward implements kernels.Set: one block per channel computes
// the channel's sums, gγ, gβ and gx.
func (s *Set[T]) BatchNormBackward(gx, ggamma, gbeta, x, gamma, mean, rstd, gy kernels.Buffer[T], outer, c, inner int) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	const what = "batch norm backward"
	if outer < 0 || c < 0 || inner < 0 {
		return fmt.Errorf("cuda: %s: negative size %d×%d×%d", what, outer, c, inner)
	}
	if err := kernels.CheckNormSizes(what, c, outer*inner, 0); err != nil {
		return err
	}
	n := outer * c * inner
	if err := s.normArgs(what, normOperand[T]{0, "gx", gx, n, true}, normOperand[T]{1, "ggamma", ggamma, c, true},
		normOperand[T]{2, "gbeta", gbeta, c, true}, normOperand[T]{3, "x", x, n, false},
		normOperand[T]{4, "gamma", gamma, c, true}, normOperand[T]{5, "mean", mean, c, false},
		normOperand[T]{6, "rstd", rstd, c, false}, normOperand[T]{7, "gy", gy, n, false}); err != nil {
		return err
	}
	if c == 0 {
		return nil
	}
	s.i(8, int64(outer))
	s.i(9, int64(c))
	s.i(10, int64(inner))
	return s.launchGrid("bn_backward", 11, min(c, maxGrid), 1, 1)
}

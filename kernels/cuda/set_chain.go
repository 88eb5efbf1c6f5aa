//go:build cuda || gradlabcuda

package cuda

import (
	"fmt"
	"math"
	"runtime"

	"github.com/gradlab/gradlab/kernels"
)

// chainFunctions are the kernels of chain.cuh that New loads (each name gets
// the set's _f32 or _f64 suffix).
var chainFunctions = []string{"chain"}

// chainSlots is the number of program slots of the chain kernel (after d,
// n and the header); kernels.MaxChainCost keeps every program within it.
const chainSlots = 29

// Chain implements kernels.Set: one thread per element runs the program,
// which travels in the launch arguments (see chain.cuh for the layout).
func (s *Set[T]) Chain(dst kernels.Buffer[T], inputs []kernels.Buffer[T], prog *kernels.ChainProgram) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if prog == nil {
		return fmt.Errorf("cuda: chain: nil program")
	}
	ins, code, params := prog.Inputs(), prog.Code(), prog.Params()
	if len(inputs) != len(ins) {
		return fmt.Errorf("cuda: chain: %d input buffers for a program of %d inputs", len(inputs), len(ins))
	}
	nin, words := len(ins), (len(code)+1)/2
	if 2*nin+words+len(params) > chainSlots || len(params) > 7 {
		return fmt.Errorf("cuda: chain: program of cost %d does not fit %d slots", prog.Cost(), chainSlots)
	}
	d, err := s.dev("chain dst", dst, 0)
	if err != nil {
		return err
	}
	n := d.n
	s.p(0, d)
	s.i(1, int64(n))
	s.i(2, int64(nin)|int64(len(code))<<8|int64(len(params))<<16)
	for k, in := range ins {
		need := n
		if in.Len > 0 {
			need = in.Len
		}
		b, err := s.dev("chain input", inputs[k], need)
		if err != nil {
			return fmt.Errorf("input %d: %w", k, err)
		}
		s.p(3+k, b)
		var w int64
		if in.Len > 0 {
			w = int64(in.Len) | int64(max(in.Inner, 1))<<32
		}
		s.i(3+nin+k, w)
	}
	base := 3 + 2*nin
	for k := range words {
		s.args[base+k] = 0
	}
	param := func(v float64) uint64 {
		if math.Float64bits(v) == 0 {
			return 0
		}
		for j, q := range params {
			if math.Float64bits(q) == math.Float64bits(v) {
				return uint64(j + 1)
			}
		}
		return 0 // not reached: the program lists every non-zero parameter
	}
	for k, c := range code {
		var w uint64
		if c.Binary {
			w = 1 | uint64(c.Op)<<1 | uint64(c.X)<<6 | uint64(c.Y)<<12
		} else {
			w = uint64(c.Unary)<<1 | uint64(c.X)<<6 | param(c.Args.A)<<18 | param(c.Args.B)<<21 | param(c.Args.C)<<24
		}
		s.args[base+k/2] |= w << (32 * (k % 2))
	}
	pb := base + words
	for k, v := range params {
		s.f(pb+k, v)
	}
	for k := pb + len(params); k < 3+chainSlots; k++ {
		s.args[k] = 0
	}
	if n == 0 {
		return nil
	}
	return s.launch("chain", 3+chainSlots, int64(n))
}

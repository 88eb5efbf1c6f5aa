//go:build cuda || gradlabcuda

package cuda

import (
	"fmt"
	"runtime"

	"github.com/gradlab/gradlab/kernels"
)

// chainFunctions are the kernels of chain.cuh that New loads (each name gets
// the set's _f32 or _f64 suffix).
var chainFunctions = []string{"chain"}

// chainSlots is the number of program words the chain kernel takes after
// d, n and the header; kernels.MaxChainCost keeps every program within it.
const chainSlots = 29

// Chain implements kernels.Set: one thread per element runs the program,
// which travels in the launch arguments as ChainProgram.Pack lays it out
// (see chain.cuh).
func (s *Set[T]) Chain(dst kernels.Buffer[T], inputs []kernels.Buffer[T], prog *kernels.ChainProgram) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer runtime.UnlockOSThread()
	if prog == nil {
		return fmt.Errorf("cuda: chain: nil program")
	}
	ins := prog.Inputs()
	if len(inputs) != len(ins) {
		return fmt.Errorf("cuda: chain: %d input buffers for a program of %d inputs", len(inputs), len(ins))
	}
	if c := prog.Cost(); c > chainSlots {
		return fmt.Errorf("cuda: chain: program of cost %d does not fit %d slots", c, chainSlots)
	}
	d, err := s.dev("chain dst", dst, 0)
	if err != nil {
		return err
	}
	n := d.n
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
	}
	hdr := prog.Pack(s.args[3 : 3+chainSlots])
	for k := 3 + prog.Cost(); k < 3+chainSlots; k++ {
		s.args[k] = 0
	}
	s.p(0, d)
	s.i(1, int64(n))
	s.args[2] = hdr
	if n == 0 {
		return nil
	}
	return s.launch("chain", 3+chainSlots, int64(n))
}

package kernels

import "fmt"

// chainBlockBytes is the size of the blocks of elements the CPU set pushes
// through a chain program at a time (8192 float32s, 4096 float64s): every
// instruction runs over one block before the next starts, so that the
// registers of a block stay in the L2 cache, while each loop is long
// enough for the packed C loops of the elementwise kernels to pay and for
// the hardware prefetchers to follow the input streams. (Blocks of 2 KiB
// to 128 KiB measured the same within noise on the development machine.)
const chainBlockBytes = 32768

// chainJob runs a chain program over blocks [lo, hi) of block elements.
// It is the CPU set's scratch space for one program, kept in
// ChainProgram.cpu: scratch[w] holds the register slots of worker w.
type chainJob[T Float] struct {
	set     *CPU[T]
	prog    *ChainProgram
	dst     []T
	in      [MaxChainInputs][]T
	block   int // elements per block
	chunk   int // blocks per pool chunk: worker w runs the chunk starting at block w·chunk
	scratch [][]T
}

func (j *chainJob[T]) run(lo, hi int) {
	p := j.prog
	s := j.scratch[lo/j.chunk]
	bl := j.block
	n := len(j.dst)
	nin := len(p.inputs)
	for b := lo; b < hi; b++ {
		start := b * bl
		end := min(start+bl, n)
		m := end - start
		for r, in := range p.inputs {
			if in.Len > 0 {
				o := p.slot[r] * bl
				gatherChain(s[o:o+m], j.in[r], in, start)
			}
		}
		for k := range p.code {
			c := &p.code[k]
			var d []T
			if o := p.slot[nin+k]; o >= 0 {
				d = s[o*bl : o*bl+m]
			} else {
				d = j.dst[start:end]
			}
			x := j.reg(s, c.X, start, end)
			if c.Binary {
				binLoop(c.Op, d, x, j.reg(s, c.Y, start, end), 1, 1)
				continue
			}
			// The very loops of Set.Unary, over this block.
			u := unaryJob[T]{op: c.Unary, dst: d, src: x, a: c.Args.A, b: c.Args.B, c: c.Args.C}
			u.run(0, m)
		}
	}
}

// reg returns register r's values over elements [start, end): an input
// read in full in place, anything else from its scratch slot.
func (j *chainJob[T]) reg(s []T, r, start, end int) []T {
	if o := j.prog.slot[r]; o >= 0 {
		return s[o*j.block : o*j.block+end-start]
	}
	return j.in[r][start:end]
}

// gatherChain copies into d the elements of broadcast input x that chain
// elements start, start+1, … read.
func gatherChain[T Float](d, x []T, in ChainInput, start int) {
	if in.Len == 1 {
		v := x[0]
		for i := range d {
			d[i] = v
		}
		return
	}
	q, r := start/in.Inner, start%in.Inner // inner position
	pos := q % in.Len
	for i := range d {
		d[i] = x[pos]
		if r++; r == in.Inner {
			r = 0
			if pos++; pos == in.Len {
				pos = 0
			}
		}
	}
}

// Chain implements Set: blocks of elements run through the
// program one instruction at a time, in parallel over blocks for large n.
func (s *CPU[T]) Chain(dst Buffer[T], inputs []Buffer[T], prog *ChainProgram) error {
	if prog == nil {
		return fmt.Errorf("kernels: chain: nil program")
	}
	if len(inputs) != len(prog.inputs) {
		return fmt.Errorf("kernels: chain: %d input buffers for a program of %d inputs", len(inputs), len(prog.inputs))
	}
	n := dst.Len()
	d, err := host[T]("chain dst", dst, n)
	if err != nil {
		return err
	}
	j, ok := prog.cpu.(*chainJob[T])
	if !ok || j.set != s {
		bl := chainBlockBytes / 8
		if s.f32 {
			bl = chainBlockBytes / 4
		}
		j = &chainJob[T]{set: s, prog: prog, block: bl, scratch: make([][]T, s.pool.workers)}
		for w := range j.scratch {
			j.scratch[w] = make([]T, prog.slots*bl)
		}
		prog.cpu = j
	}
	for k, in := range prog.inputs {
		need := n
		if in.Len > 0 {
			need = in.Len
		}
		x, err := host[T]("chain input", inputs[k], need)
		if err != nil {
			return fmt.Errorf("input %d: %w", k, err)
		}
		j.in[k] = x
	}
	if n == 0 {
		return nil
	}
	blocks := (n + j.block - 1) / j.block
	par := s.par(n)
	j.dst, j.chunk = d, s.pool.chunk(blocks, par)
	s.pool.do(blocks, j, par)
	j.dst = nil
	for k := range prog.inputs {
		j.in[k] = nil
	}
	return nil
}

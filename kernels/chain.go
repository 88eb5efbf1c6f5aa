package kernels

import (
	"fmt"
	"math"
	"strings"
)

// ChainKernels run fused chains of elementwise operations in one pass.
type ChainKernels[T Float] interface {
	// Chain runs prog over dst.Len() elements: element i of every input is
	// read once (see ChainInput for broadcast inputs), the instructions
	// run in order on values of type T, and the result of the last one is
	// written to dst[i]. Each instruction computes exactly what Unary or
	// Binary computes for that element, so the result equals, bit for bit,
	// running the instructions one by one through those kernels. inputs
	// has one buffer per ChainInput of prog; dst may be one of the inputs
	// that are read in full, and must not overlap any other input.
	// Calling Chain allocates nothing (a Set may keep scratch space with
	// the program on its first call).
	Chain(dst Buffer[T], inputs []Buffer[T], prog *ChainProgram) error
}

// Limits of a ChainProgram. Every Set runs every program NewChainProgram
// accepts; the cost bound is what one CUDA launch can carry in its
// arguments (see ChainProgram.Cost).
const (
	MaxChainInputs = 8  // inputs of a program
	MaxChainLen    = 32 // instructions of a program
	MaxChainParams = 7  // distinct non-zero parameter values (bit patterns) of a program
	MaxChainCost   = 29 // bound on ChainProgram.Cost
)

// ChainInput says how a chain reads one input buffer. The zero value reads
// it in full: element i of the chain reads element i. With Len > 0 the
// input holds Len elements repeated as a broadcast operand: element i
// reads element (i / Inner) % Len (Inner 0 counts as 1). A scalar is
// {Len: 1}; a bias of n elements added to the rows of an m×n matrix is
// {Len: n}; a column of m elements repeated across the n columns of an
// m×n matrix is {Len: m, Inner: n}.
type ChainInput struct {
	Len, Inner int
}

// Full reports whether the input is read in full.
func (in ChainInput) Full() bool { return in.Len == 0 }

// index returns the element of the input that chain element i reads.
func (in ChainInput) index(i int) int {
	if in.Len == 0 {
		return i
	}
	return (i / max(in.Inner, 1)) % in.Len
}

// ChainInstr is one instruction of a ChainProgram: Unary(Unary, X, Args)
// or, when Binary, Binary(Op, X, Y). X and Y name registers: 0 … inputs−1
// are the inputs, inputs+k is the result of instruction k (an earlier
// instruction).
type ChainInstr struct {
	Binary bool
	Unary  UnaryOp
	Args   UnaryArgs
	Op     BinaryOp
	X, Y   int
}

// ChainUnary returns the instruction op(x) with parameters args.
func ChainUnary(op UnaryOp, x int, args UnaryArgs) ChainInstr {
	return ChainInstr{Unary: op, X: x, Args: args}
}

// ChainBinary returns the instruction op(x, y).
func ChainBinary(op BinaryOp, x, y int) ChainInstr {
	return ChainInstr{Binary: true, Op: op, X: x, Y: y}
}

// usedArgs returns how many of the parameters A, B, C unary op reads.
func usedArgs(op UnaryOp) int {
	switch op {
	case ReLU, ReLUSlope, GELU, GELUTanh:
		return 1
	case Scale:
		return 2
	case Pow:
		return 3
	}
	return 0
}

// ChainProgram is a validated, immutable chain of elementwise
// instructions (see ChainKernels.Chain). Create it with NewChainProgram. A
// Set may keep scratch space with the program: a program must not be run
// by two Chain calls at the same time.
type ChainProgram struct {
	inputs []ChainInput
	code   []ChainInstr
	params []float64 // distinct non-zero parameter values, in order of appearance
	bcast  int       // inputs that are not read in full

	// Register plan for block-wise execution: slot[r] is the scratch slot
	// of register r (the gathered copy of a broadcast input, or an
	// instruction's result; -1 for full inputs and the last result, which
	// live in the caller's buffers); slots is their number.
	slot  []int
	slots int

	cpu any // the CPU set's scratch space (*chainJob[T])
}

// NewChainProgram validates a program: at most MaxChainInputs inputs, 1 …
// MaxChainLen instructions whose operands are inputs or earlier results,
// known ops with valid parameters (CheckUnaryArgs), at most MaxChainParams
// distinct non-zero parameter values and a Cost of at most MaxChainCost.
// Parameters an op does not read are ignored (stored as zero).
func NewChainProgram(inputs []ChainInput, code []ChainInstr) (*ChainProgram, error) {
	nin := len(inputs)
	if nin > MaxChainInputs {
		return nil, fmt.Errorf("kernels: chain of %d inputs (at most %d)", nin, MaxChainInputs)
	}
	if len(code) == 0 || len(code) > MaxChainLen {
		return nil, fmt.Errorf("kernels: chain of %d instructions (1 … %d)", len(code), MaxChainLen)
	}
	p := &ChainProgram{inputs: append([]ChainInput(nil), inputs...), code: append([]ChainInstr(nil), code...)}
	for k, in := range p.inputs {
		if in.Len < 0 || in.Inner < 0 || in.Len > math.MaxInt32 || in.Inner > math.MaxInt32 || (in.Len == 0 && in.Inner != 0) {
			return nil, fmt.Errorf("kernels: chain input %d: %+v", k, in)
		}
		if in.Len > 0 {
			p.inputs[k].Inner = max(in.Inner, 1)
			p.bcast++
		}
	}
	addParam := func(v float64) {
		if v == 0 && !math.Signbit(v) {
			return
		}
		for _, q := range p.params {
			if math.Float64bits(q) == math.Float64bits(v) {
				return
			}
		}
		p.params = append(p.params, v)
	}
	for k := range p.code {
		c := &p.code[k]
		regs := nin + k
		if c.X < 0 || c.X >= regs || (c.Binary && (c.Y < 0 || c.Y >= regs)) {
			return nil, fmt.Errorf("kernels: chain instruction %d reads a register outside 0 … %d", k, regs-1)
		}
		if c.Binary {
			if c.Op < 0 || c.Op >= numBinary {
				return nil, fmt.Errorf("kernels: chain instruction %d: unknown binary op %v", k, c.Op)
			}
			c.Unary, c.Args = 0, UnaryArgs{}
			continue
		}
		if err := CheckUnaryArgs(c.Unary, c.Args); err != nil {
			return nil, fmt.Errorf("kernels: chain instruction %d: %w", k, err)
		}
		c.Op, c.Y = 0, 0
		used := usedArgs(c.Unary)
		args := [3]*float64{&c.Args.A, &c.Args.B, &c.Args.C}
		for j, a := range args {
			if j >= used {
				*a = 0
				continue
			}
			addParam(*a)
		}
	}
	if len(p.params) > MaxChainParams {
		return nil, fmt.Errorf("kernels: chain with %d distinct parameter values (at most %d)", len(p.params), MaxChainParams)
	}
	if c := p.Cost(); c > MaxChainCost {
		return nil, fmt.Errorf("kernels: chain of cost %d (at most %d)", c, MaxChainCost)
	}
	p.plan()
	return p, nil
}

// Cost is 2·inputs + ⌈instructions/2⌉ + distinct non-zero parameter
// values: the number of 64-bit launch arguments the CUDA set needs beyond
// the destination, the length and a header.
func (p *ChainProgram) Cost() int {
	return 2*len(p.inputs) + (len(p.code)+1)/2 + len(p.params)
}

// Pack encodes the program for a device kernel into w (at least Cost()
// words) and returns the header inputs | instructions<<8 | params<<16.
// The words are, in order:
//
//   - inputs words left for the caller (the addresses of the input buffers);
//   - one index word per input: 0 for an input read in full, else
//     Len | Inner<<32;
//   - the instructions, two 32-bit words per word (the first in the low
//     half): bit 0 binary, bits 1–5 the UnaryOp or BinaryOp, bits 6–11 and
//     12–17 the registers X and Y, bits 18–20, 21–23 and 24–26 the
//     parameters A, B and C of a unary op as 0 (zero) or k (Params()[k−1]);
//   - the bits of the float64 values of Params().
//
// Pack allocates nothing; it panics if w is too short.
func (p *ChainProgram) Pack(w []uint64) (hdr uint64) {
	nin, words := len(p.inputs), (len(p.code)+1)/2
	_ = w[p.Cost()-1]
	for k, in := range p.inputs {
		w[nin+k] = 0
		if in.Len > 0 {
			w[nin+k] = uint64(in.Len) | uint64(in.Inner)<<32
		}
	}
	base := 2 * nin
	for k := range words {
		w[base+k] = 0
	}
	param := func(v float64) uint64 {
		for j, q := range p.params {
			if math.Float64bits(q) == math.Float64bits(v) {
				return uint64(j + 1)
			}
		}
		return 0 // +0, the only value not listed
	}
	for k, c := range p.code {
		var x uint64
		if c.Binary {
			x = 1 | uint64(c.Op)<<1 | uint64(c.X)<<6 | uint64(c.Y)<<12
		} else {
			x = uint64(c.Unary)<<1 | uint64(c.X)<<6 | param(c.Args.A)<<18 | param(c.Args.B)<<21 | param(c.Args.C)<<24
		}
		w[base+k/2] |= x << (32 * (k % 2))
	}
	for k, v := range p.params {
		w[base+words+k] = math.Float64bits(v)
	}
	return uint64(nin) | uint64(len(p.code))<<8 | uint64(len(p.params))<<16
}

// Inputs returns the program's inputs (the caller must not modify them).
func (p *ChainProgram) Inputs() []ChainInput { return p.inputs }

// Code returns the program's instructions (the caller must not modify
// them); parameters the ops do not read are zero.
func (p *ChainProgram) Code() []ChainInstr { return p.code }

// Params returns the distinct non-zero parameter values of the program's
// instructions in order of first appearance (the caller must not modify
// them).
func (p *ChainProgram) Params() []float64 { return p.params }

// String describes the program, e.g. "in0 in1 | r2=mul(in0,in1) r3=tanh(r2)".
func (p *ChainProgram) String() string {
	var b strings.Builder
	reg := func(r int) string {
		if r < len(p.inputs) {
			return fmt.Sprintf("in%d", r)
		}
		return fmt.Sprintf("r%d", r)
	}
	for k, in := range p.inputs {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(reg(k))
		if in.Len > 0 {
			fmt.Fprintf(&b, "[%d/%d]", in.Len, in.Inner)
		}
	}
	b.WriteString(" |")
	for k, c := range p.code {
		fmt.Fprintf(&b, " %s=", reg(len(p.inputs)+k))
		if c.Binary {
			fmt.Fprintf(&b, "%v(%s,%s)", c.Op, reg(c.X), reg(c.Y))
			continue
		}
		b.WriteString(c.Unary.String())
		switch usedArgs(c.Unary) {
		case 1:
			fmt.Fprintf(&b, "{%v}", c.Args.A)
		case 2:
			fmt.Fprintf(&b, "{%v,%v}", c.Args.A, c.Args.B)
		case 3:
			fmt.Fprintf(&b, "{%v,%v,%v}", c.Args.A, c.Args.B, c.Args.C)
		}
		fmt.Fprintf(&b, "(%s)", reg(c.X))
	}
	return b.String()
}

// plan assigns scratch slots: one per broadcast input (its gathered copy,
// kept for the whole block) and, by linear scan, one per live result,
// reusing a slot once the register it holds was read for the last time
// (an instruction may write over its own operand). The last result goes to
// the destination.
func (p *ChainProgram) plan() {
	nin, n := len(p.inputs), len(p.code)
	p.slot = make([]int, nin+n)
	last := make([]int, nin+n)
	for r := range last {
		last[r] = -1
	}
	for k, c := range p.code {
		last[c.X] = k
		if c.Binary {
			last[c.Y] = k
		}
	}
	for r, in := range p.inputs {
		p.slot[r] = -1
		if in.Len > 0 {
			p.slot[r] = p.slots
			p.slots++
		}
	}
	var free []int
	for k, c := range p.code {
		if c.X >= nin && last[c.X] == k {
			free = append(free, p.slot[c.X])
		}
		if c.Binary && c.Y != c.X && c.Y >= nin && last[c.Y] == k {
			free = append(free, p.slot[c.Y])
		}
		r := nin + k
		switch {
		case k == n-1:
			p.slot[r] = -1
		case len(free) > 0:
			p.slot[r] = free[len(free)-1]
			free = free[:len(free)-1]
		default:
			p.slot[r] = p.slots
			p.slots++
		}
		if last[r] < 0 && k < n-1 {
			free = append(free, p.slot[r]) // never read
		}
	}
}

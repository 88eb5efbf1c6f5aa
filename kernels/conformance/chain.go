package conformance

import (
	"fmt"
	"math"

	"github.com/gradlab/gradlab/kernels"
)

// chainOp is an instruction kind the random chain programs draw from.
type chainOp struct {
	binary bool
	unary  kernels.UnaryOp
	args   kernels.UnaryArgs
	op     kernels.BinaryOp
}

// Every unary and binary op, with parameters exact in float32 (where the
// kernels convert them to T) and at most kernels.MaxChainParams distinct
// non-zero values among them, so that every drawn program is valid.
var chainAllOps = []chainOp{
	{unary: kernels.Copy}, {unary: kernels.Neg}, {unary: kernels.Exp}, {unary: kernels.Log}, {unary: kernels.Tanh},
	{unary: kernels.Sigmoid}, {unary: kernels.Square}, {unary: kernels.Sqrt}, {unary: kernels.Cube},
	{unary: kernels.Abs}, {unary: kernels.Sign}, {unary: kernels.Inverse},
	{unary: kernels.ReLU, args: kernels.UnaryArgs{A: 0.125}}, {unary: kernels.ReLU},
	{unary: kernels.ReLUSlope, args: kernels.UnaryArgs{A: 0.25}},
	{unary: kernels.Scale, args: kernels.UnaryArgs{A: -1.5, B: 0.25}},
	{unary: kernels.Pow, args: kernels.UnaryArgs{A: 0.5, B: 2, C: 0.25}},
	{unary: kernels.Softplus}, {unary: kernels.Log1p}, {unary: kernels.Expm1},
	{unary: kernels.GELU}, {unary: kernels.GELU, args: kernels.UnaryArgs{A: 1}},
	{unary: kernels.GELU, args: kernels.UnaryArgs{A: 3}},
	{unary: kernels.GELUTanh}, {unary: kernels.GELUTanh, args: kernels.UnaryArgs{A: 2}},
	{binary: true, op: kernels.Add}, {binary: true, op: kernels.Sub}, {binary: true, op: kernels.Mul},
	{binary: true, op: kernels.Div}, {binary: true, op: kernels.PowOp}, {binary: true, op: kernels.Max},
	{binary: true, op: kernels.Min}, {binary: true, op: kernels.Greater}, {binary: true, op: kernels.GreaterEq},
	{binary: true, op: kernels.Less}, {binary: true, op: kernels.LessEq}, {binary: true, op: kernels.Equal},
	{binary: true, op: kernels.NotEqual},
}

// chainSmoothOps are continuous ops with bounded slopes on bounded
// arguments, for which chainErrorBound bounds the rounding error.
var chainSmoothOps = []chainOp{
	{unary: kernels.Neg}, {unary: kernels.Tanh}, {unary: kernels.Sigmoid}, {unary: kernels.Abs},
	{unary: kernels.ReLU, args: kernels.UnaryArgs{A: 0.125}},
	{unary: kernels.Scale, args: kernels.UnaryArgs{A: 0.5, B: -0.25}},
	{unary: kernels.Softplus}, {unary: kernels.GELU}, {unary: kernels.GELUTanh, args: kernels.UnaryArgs{A: 1}},
	{binary: true, op: kernels.Add}, {binary: true, op: kernels.Sub}, {binary: true, op: kernels.Mul},
	{binary: true, op: kernels.Max}, {binary: true, op: kernels.Min},
}

// randomChain draws a program of n instructions over the given inputs
// from ops; operands favour recent results so that most of the program
// reaches the last one.
func (e *env[T]) randomChain(inputs []kernels.ChainInput, n int, ops []chainOp) []kernels.ChainInstr {
	nin := len(inputs)
	code := make([]kernels.ChainInstr, n)
	pick := func(k int) int {
		regs := nin + k
		if k > 0 && e.rng.IntN(3) > 0 {
			return nin + k - 1 - e.rng.IntN(min(k, 2))
		}
		return e.rng.IntN(regs)
	}
	for k := range code {
		o := ops[e.rng.IntN(len(ops))]
		if o.binary {
			code[k] = kernels.ChainBinary(o.op, pick(k), pick(k))
		} else {
			code[k] = kernels.ChainUnary(o.unary, pick(k), o.args)
		}
	}
	return code
}

// chainInputs returns the inputs' modes of one test case: full, scalar,
// a repeated row and a repeated column.
func chainInputs(nin, n int) []kernels.ChainInput {
	modes := []kernels.ChainInput{{}, {Len: 1}, {Len: max(1, min(n, 7))}, {Len: max(1, min(n, 13)), Inner: 11}}
	in := make([]kernels.ChainInput, nin)
	for k := range in {
		in[k] = modes[k%len(modes)]
	}
	return in
}

// expandChainInput returns the n values chain elements read from x.
func expandChainInput(x []float64, in kernels.ChainInput, n int) []float64 {
	if in.Len == 0 {
		return x
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = x[(i/max(in.Inner, 1))%in.Len]
	}
	return out
}

func testChain[T kernels.Float](e *env[T]) {
	sizes := []int{1, 37, 1000, 4096, 4097, 8193, 70001} // around the CPU set's block boundaries
	// Exactness: Chain equals the same instructions run one by one through
	// Unary and Binary, bit for bit, for every op.
	for _, n := range sizes {
		for trial := range 6 {
			nin := 1 + trial%4
			inputs := chainInputs(nin, n)
			if trial == 5 {
				inputs = chainInputs(1, n) // one full input, in place below
				nin = 1
			}
			code := e.randomChain(inputs, 2+e.rng.IntN(10), chainAllOps)
			prog, err := kernels.NewChainProgram(inputs, code)
			if err != nil {
				e.t.Fatalf("n=%d trial %d: %v", n, trial, err)
			}
			name := fmt.Sprintf("n=%d %v", n, prog)
			xs := make([][]float64, nin)
			bufs := make([]kernels.Buffer[T], nin)
			for k, in := range inputs {
				size := n
				if in.Len > 0 {
					size = in.Len
				}
				xs[k] = e.rnd(size, -3, 3)
				for i := 0; i < size; i += 5 {
					xs[k][i] = math.Round(xs[k][i]) // ties for the comparisons, zeros for the slopes
				}
				bufs[k] = e.up(xs[k])
			}
			want := e.chainOneByOne(prog, xs, n)
			db := e.poisoned(n)
			if trial == 5 {
				db = bufs[0]
			}
			e.ok(e.s.Chain(db, bufs, prog))
			e.sameBits(name, e.down(db), want)
			if trial != 5 {
				e.free(db)
			}
			e.free(bufs...)
		}
	}
	// Accuracy: smooth programs against a float64 reference that applies
	// the ops one by one, within a propagated rounding-error bound.
	for _, n := range sizes {
		for trial := range 4 {
			nin := 1 + trial
			inputs := chainInputs(nin, n)
			code := e.randomChain(inputs, 3+e.rng.IntN(12), chainSmoothOps)
			prog, err := kernels.NewChainProgram(inputs, code)
			if err != nil {
				e.t.Fatalf("n=%d trial %d: %v", n, trial, err)
			}
			xs := make([][]float64, nin)
			bufs := make([]kernels.Buffer[T], nin)
			for k, in := range inputs {
				size := n
				if in.Len > 0 {
					size = in.Len
				}
				xs[k] = e.rnd(size, -1.5, 1.5)
				bufs[k] = e.up(xs[k])
			}
			db := e.poisoned(n)
			e.ok(e.s.Chain(db, bufs, prog))
			want, bound := chainReference(prog, xs, n)
			e.check(fmt.Sprintf("n=%d %v", n, prog), e.down(db), want, bound)
			e.free(db)
			e.free(bufs...)
		}
	}
	// A wrong number of input buffers is an error.
	prog, err := kernels.NewChainProgram([]kernels.ChainInput{{}, {}}, []kernels.ChainInstr{kernels.ChainBinary(kernels.Add, 0, 1)})
	e.ok(err)
	xb, db := e.up(e.rnd(5, -1, 1)), e.poisoned(5)
	if err := e.s.Chain(db, []kernels.Buffer[T]{xb}, prog); err == nil {
		e.t.Error("chain with 1 input buffer for a program of 2: no error")
	}
	e.free(xb, db)
}

// chainOneByOne runs prog's instructions one at a time through the set's
// Unary and Binary kernels over full-size buffers (broadcast inputs
// expanded on the host) and returns the last result.
func (e *env[T]) chainOneByOne(prog *kernels.ChainProgram, xs [][]float64, n int) []float64 {
	e.t.Helper()
	inputs, code := prog.Inputs(), prog.Code()
	regs := make([]kernels.Buffer[T], 0, len(inputs)+len(code))
	for k, in := range inputs {
		regs = append(regs, e.up(expandChainInput(xs[k], in, n)))
	}
	for _, c := range code {
		d := e.poisoned(n)
		if c.Binary {
			e.ok(e.s.Binary(c.Op, d, regs[c.X], regs[c.Y], nil))
		} else {
			e.ok(e.s.Unary(c.Unary, d, regs[c.X], c.Args))
		}
		regs = append(regs, d)
	}
	out := e.down(regs[len(regs)-1])
	e.free(regs...)
	return out
}

// sameBits reports elements of got that differ from want in their bits
// (any NaN matches any NaN).
func (e *env[T]) sameBits(name string, got, want []float64) {
	e.t.Helper()
	bad := 0
	for i, w := range want {
		g := got[i]
		if math.Float64bits(g) == math.Float64bits(w) || (math.IsNaN(g) && math.IsNaN(w)) {
			continue
		}
		if bad < 3 {
			e.t.Errorf("%s: element %d = %v, one by one %v", name, i, g, w)
		}
		bad++
	}
	if bad > 3 {
		e.t.Errorf("%s: %d of %d elements differ", name, bad, len(want))
	}
}

// chainReference evaluates prog in float64 with the reference ops, and
// bounds each result's rounding error in units of the suite's tolerance
// (the magnitude check compares against): every op adds its result's
// magnitude (one rounding; transcendental functions one more unit) to the
// errors of its operands scaled by the op's slope there.
func chainReference(prog *kernels.ChainProgram, xs [][]float64, n int) (want, bound []float64) {
	inputs, code := prog.Inputs(), prog.Code()
	want, bound = make([]float64, n), make([]float64, n)
	v := make([]float64, len(inputs)+len(code))
	eb := make([]float64, len(v))
	for i := range n {
		for k, in := range inputs {
			j := i
			if in.Len > 0 {
				j = (i / in.Inner) % in.Len
			}
			v[k] = xs[k][j]
			eb[k] = 0
		}
		for k, c := range code {
			r := len(inputs) + k
			x, ex := v[c.X], eb[c.X]
			if c.Binary {
				y, ey := v[c.Y], eb[c.Y]
				v[r] = refBinary(c.Op, x, y)
				switch c.Op {
				case kernels.Mul:
					eb[r] = ex*math.Abs(y) + ey*math.Abs(x) + math.Abs(v[r])
				case kernels.Max, kernels.Min:
					eb[r] = math.Max(ex, ey)
				default: // Add, Sub
					eb[r] = ex + ey + math.Abs(v[r])
				}
				continue
			}
			v[r] = refUnary(c.Unary, x, c.Args)
			switch c.Unary {
			case kernels.Neg, kernels.Abs:
				eb[r] = ex
			case kernels.ReLU:
				eb[r] = ex + math.Abs(v[r])
			case kernels.Scale:
				eb[r] = math.Abs(c.Args.A)*ex + math.Abs(c.Args.A*x) + math.Abs(v[r])
			case kernels.Sigmoid:
				eb[r] = 0.25*ex + math.Abs(v[r]) + 1
			default: // tanh, softplus, GELU, GELU′ (tanh form): slopes below 1.2
				eb[r] = 1.2*ex + math.Abs(v[r]) + 1
			}
		}
		want[i] = v[len(v)-1]
		bound[i] = math.Max(2*eb[len(v)-1], 1)
	}
	return want, bound
}

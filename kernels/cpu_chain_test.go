package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestNewChainProgramRejects(t *testing.T) {
	full := []ChainInput{{}, {}}
	add := ChainBinary(Add, 0, 1)
	long := make([]ChainInstr, MaxChainLen+1)
	for k := range long {
		long[k] = ChainUnary(Neg, k, UnaryArgs{})
	}
	manyParams := make([]ChainInstr, MaxChainParams+1)
	for k := range manyParams {
		manyParams[k] = ChainUnary(Scale, k, UnaryArgs{A: float64(k + 2)})
	}
	cases := []struct {
		name   string
		inputs []ChainInput
		code   []ChainInstr
		want   string
	}{
		{"no code", full, nil, "instructions"},
		{"too long", []ChainInput{{}}, long, "instructions"},
		{"too many inputs", make([]ChainInput, MaxChainInputs+1), []ChainInstr{add}, "inputs"},
		{"operand ahead", full, []ChainInstr{ChainBinary(Add, 0, 2)}, "register"},
		{"negative operand", full, []ChainInstr{ChainUnary(Exp, -1, UnaryArgs{})}, "register"},
		{"unknown binary", full, []ChainInstr{ChainBinary(numBinary, 0, 1)}, "unknown binary"},
		{"unknown unary", full, []ChainInstr{ChainUnary(numUnary, 0, UnaryArgs{})}, "unknown unary"},
		{"bad GELU order", full, []ChainInstr{ChainUnary(GELU, 0, UnaryArgs{A: 1.5})}, "order"},
		{"bad input", []ChainInput{{Len: -1}}, []ChainInstr{ChainUnary(Exp, 0, UnaryArgs{})}, "input"},
		{"inner without len", []ChainInput{{Inner: 3}}, []ChainInstr{ChainUnary(Exp, 0, UnaryArgs{})}, "input"},
		{"too many params", []ChainInput{{}}, manyParams, "parameter"},
		{"too costly", make([]ChainInput, 8), long[:28], "cost"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewChainProgram(c.inputs, c.code)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// TestChainPlan checks the scratch slots: a straight chain of unary ops
// needs one slot (each op overwrites its operand), broadcast inputs one
// each, and unused params are dropped.
func TestChainPlan(t *testing.T) {
	straight := make([]ChainInstr, 10)
	for k := range straight {
		straight[k] = ChainUnary(Tanh, k, UnaryArgs{A: 5}) // A unused by tanh
	}
	p, err := NewChainProgram([]ChainInput{{}}, straight)
	if err != nil {
		t.Fatal(err)
	}
	if p.slots != 1 {
		t.Errorf("straight chain: %d slots, want 1", p.slots)
	}
	if len(p.Params()) != 0 || p.Code()[0].Args.A != 0 {
		t.Errorf("unused parameter kept: params %v, code[0] %+v", p.Params(), p.Code()[0])
	}
	// (a·b)+(c·d) with c a scalar: slot for c, one for a·b, one for c·d.
	q, err := NewChainProgram([]ChainInput{{}, {}, {Len: 1}, {}}, []ChainInstr{
		ChainBinary(Mul, 0, 1), ChainBinary(Mul, 2, 3), ChainBinary(Add, 4, 5),
	})
	if err != nil {
		t.Fatal(err)
	}
	if q.slots != 3 {
		t.Errorf("(a·b)+(c·d): %d slots, want 3", q.slots)
	}
	if got := q.Cost(); got != 2*4+2 {
		t.Errorf("cost %d, want 10", got)
	}
}

// runPacked runs a program packed by ChainProgram.Pack the way the CUDA
// chain kernel decodes it (kernels/cuda/chain.cuh), one element at a time
// with the CPU set's per-element functions.
func runPacked[T Float](hdr uint64, w []uint64, in [][]T, n int) []T {
	nin, ncode := int(hdr&0xff), int(hdr>>8&0xff)
	idx, code := w[nin:2*nin], w[2*nin:]
	par := code[(ncode+1)/2:]
	prm := func(j uint32) float64 {
		if j == 0 {
			return 0
		}
		return math.Float64frombits(par[j-1])
	}
	out := make([]T, n)
	r := make([]T, nin+ncode)
	for i := range out {
		for k := range nin {
			j := i
			if idx[k] != 0 {
				j = (i / int(idx[k]>>32)) % int(idx[k]&0xffffffff)
			}
			r[k] = in[k][j]
		}
		for k := range ncode {
			c := uint32(code[k>>1] >> (32 * (k & 1)))
			op, x := int(c>>1&31), r[c>>6&63]
			if c&1 != 0 {
				r[nin+k] = binScalar(BinaryOp(op), x, r[c>>12&63])
				continue
			}
			var d [1]T
			u := unaryJob[T]{op: UnaryOp(op), dst: d[:], src: []T{x}, a: prm(c >> 18 & 7), b: prm(c >> 21 & 7), c: prm(c >> 24 & 7)}
			u.run(0, 1)
			r[nin+k] = d[0]
		}
		out[i] = r[nin+ncode-1]
	}
	return out
}

// TestChainPack packs random programs (broadcast inputs, parameters, up to
// the cost limit) and requires that decoding them as the CUDA kernel does
// gives, bit for bit, what the CPU set's Chain gives.
func TestChainPack(t *testing.T) {
	testChainPack[float32](t)
	testChainPack[float64](t)
}

func testChainPack[T Float](t *testing.T) {
	s := NewCPU[T](CPUOptions{Workers: 2, MinParallel: 1000})
	defer s.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	params := []float64{0.5, -1.5, 2, 0.25, math.Copysign(0, -1), 3, 1}
	modes := []ChainInput{{}, {Len: 1}, {Len: 7}, {Len: 5, Inner: 3}}
	const n = 5000
	for trial := range 60 {
		nin := 1 + rng.IntN(MaxChainInputs)
		inputs := make([]ChainInput, nin)
		data := make([][]T, nin)
		bufs := make([]Buffer[T], nin)
		for k := range inputs {
			inputs[k] = modes[rng.IntN(len(modes))]
			size := n
			if inputs[k].Len > 0 {
				size = inputs[k].Len
			}
			data[k] = make([]T, size)
			for i := range data[k] {
				data[k][i] = T(4*rng.Float64() - 2)
			}
			bufs[k] = Wrap(data[k])
		}
		maxLen := min(MaxChainLen, 2*(MaxChainCost-2*nin-len(params)))
		code := make([]ChainInstr, 1+rng.IntN(maxLen))
		for k := range code {
			x, y := rng.IntN(nin+k), rng.IntN(nin+k)
			if rng.IntN(2) == 0 {
				code[k] = ChainBinary(BinaryOp(rng.IntN(int(numBinary))), x, y)
				continue
			}
			op := UnaryOp(rng.IntN(int(numUnary)))
			args := UnaryArgs{A: params[rng.IntN(len(params))], B: params[rng.IntN(len(params))], C: params[rng.IntN(len(params))]}
			if op == GELU || op == GELUTanh {
				args.A = float64(rng.IntN(3))
			}
			code[k] = ChainUnary(op, x, args)
		}
		prog, err := NewChainProgram(inputs, code)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		w := make([]uint64, prog.Cost())
		hdr := prog.Pack(w)
		want := runPacked(hdr, w, data, n)
		got := make([]T, n)
		if err := s.Chain(Wrap(got), bufs, prog); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			g, v := float64(got[i]), float64(want[i])
			if math.Float64bits(g) != math.Float64bits(v) && !(math.IsNaN(g) && math.IsNaN(v)) {
				t.Fatalf("%T trial %d (%v): element %d: Chain %v, packed %v", got[0], trial, prog, i, g, v)
			}
		}
	}
}

// TestChainDoesNotAllocate runs a program with broadcast inputs on the
// parallel path and requires zero allocations per call after the first.
func TestChainDoesNotAllocate(t *testing.T) {
	s := NewCPU[float32](CPUOptions{Workers: 3, MinParallel: 1024})
	defer s.Close()
	const n = 40000 // five blocks over three workers
	bufs := make([]Buffer[float32], 3)
	for k, size := range []int{n, 1, 100} {
		bufs[k], _ = s.Alloc(size)
		_ = s.Fill(bufs[k], 0.5)
	}
	dst, _ := s.Alloc(n)
	p, err := NewChainProgram([]ChainInput{{}, {Len: 1}, {Len: 100}}, []ChainInstr{
		ChainBinary(Mul, 0, 1), ChainUnary(GELU, 3, UnaryArgs{A: 1}), ChainBinary(Add, 4, 2), ChainUnary(Tanh, 5, UnaryArgs{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		if err := s.Chain(dst, bufs, p); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("%v allocations per Chain call, want 0", a)
	}
}

// BenchmarkChain compares a GELU-backward-like chain (g·GELU′(x) + r, then
// a scale) run as one Chain call with the same four kernels one by one.
func BenchmarkChain(b *testing.B) {
	s := NewCPU[float32](CPUOptions{})
	defer s.Close()
	const n = 1 << 20
	var x, g, r, t1, t2, dst Buffer[float32]
	for _, p := range []*Buffer[float32]{&x, &g, &r, &t1, &t2, &dst} {
		*p, _ = s.Alloc(n)
		_ = s.Fill(*p, 0.25)
	}
	prog, err := NewChainProgram([]ChainInput{{}, {}, {}}, []ChainInstr{
		ChainUnary(GELUTanh, 0, UnaryArgs{A: 1}), ChainBinary(Mul, 3, 1), ChainBinary(Add, 4, 2),
		ChainUnary(Scale, 5, UnaryArgs{A: 0.5}),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fused", func(b *testing.B) {
		in := []Buffer[float32]{x, g, r}
		for b.Loop() {
			_ = s.Chain(dst, in, prog)
		}
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			_ = s.Unary(GELUTanh, t1, x, UnaryArgs{A: 1})
			_ = s.Binary(Mul, t2, t1, g, nil)
			_ = s.Binary(Add, t1, t2, r, nil)
			_ = s.Unary(Scale, dst, t1, UnaryArgs{A: 0.5})
		}
	})
}

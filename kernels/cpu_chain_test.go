package kernels

import (
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

package data

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestVocab(t *testing.T) {
	v, err := NewVocab("hello, wörld")
	if err != nil {
		t.Fatal(err)
	}
	want := []rune{' ', ',', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'ö'}
	if !slices.Equal(v.Runes(), want) || v.Size() != len(want) {
		t.Fatalf("vocab %q, want %q", v.Runes(), want)
	}
	ids, err := v.Encode("wörld")
	if err != nil || !slices.Equal(ids, []int{8, 9, 7, 5, 2}) {
		t.Fatalf("Encode = %v, %v", ids, err)
	}
	s, err := v.Decode(ids)
	if err != nil || s != "wörld" {
		t.Fatalf("Decode = %q, %v", s, err)
	}
	for _, tc := range []struct {
		name string
		f    func() error
		want string
	}{
		{"unknown char", func() error { _, err := v.Encode("hex"); return err }, `character 'x' at byte 2`},
		{"bad utf8 encode", func() error { _, err := v.Encode("he\xffl"); return err }, "invalid UTF-8 at byte 2"},
		{"bad utf8 vocab", func() error { _, err := NewVocab("ab\xc3"); return err }, "invalid UTF-8 at byte 2"},
		{"bad id", func() error { _, err := v.Decode([]int{1, 10}); return err }, "token 10 at position 1"},
		{"duplicate", func() error { _, err := VocabOf([]rune("aba")); return err }, "listed twice"},
	} {
		if err := tc.f(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// A genuine U+FFFD in the text is a character, not an encoding error.
	if v, err := NewVocab("a\uFFFDb"); err != nil || v.Size() != 3 {
		t.Fatalf("U+FFFD: %v", err)
	}
}

func TestLoadTextDefault(t *testing.T) {
	p, err := DefaultTextPath()
	if err != nil {
		t.Fatal(err) // the Go distribution that runs this test ships the file
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadText("")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tokens) != utf8.RuneCount(raw) {
		t.Fatalf("%d tokens for %d characters", len(c.Tokens), utf8.RuneCount(raw))
	}
	back, err := c.Vocab.Decode(c.Tokens)
	if err != nil || back != string(raw) {
		t.Fatal("decoding the encoded corpus does not give the file back")
	}
	// Independent vocabulary: distinct runes of the file, sorted.
	seen := map[rune]bool{}
	for _, r := range string(raw) {
		seen[r] = true
	}
	if c.Vocab.Size() != len(seen) || !slices.IsSorted(c.Vocab.Runes()) {
		t.Fatalf("vocabulary of %d sorted=%v, want %d distinct characters", c.Vocab.Size(), slices.IsSorted(c.Vocab.Runes()), len(seen))
	}
	train, val, err := c.Split(0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(train)+len(val) != len(c.Tokens) || len(val) != len(c.Tokens)/10 {
		t.Fatalf("split %d + %d of %d", len(train), len(val), len(c.Tokens))
	}
	if _, _, err := c.Split(1); err == nil {
		t.Fatal("Split(1) succeeded")
	}
	if _, err := LoadText(p + ".absent"); err == nil || !strings.Contains(err.Error(), ".absent") {
		t.Fatalf("missing file error: %v", err)
	}
}

func TestDefaultTextPathFromGOROOT(t *testing.T) {
	p, err := DefaultTextPath()
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSuffix(p, "/"+DefaultTextRel)
	t.Setenv("GOROOT", root)
	if q, err := DefaultTextPath(); err != nil || q != p {
		t.Fatalf("with GOROOT=%s: %q, %v", root, q, err)
	}
}

func TestWindowSampler(t *testing.T) {
	tokens := make([]int, 500)
	for i := range tokens {
		tokens[i] = i // token value = its position, so windows reveal their start
	}
	const ctx, batch = 8, 5
	s, err := NewWindowSampler(tokens, ctx, batch, 42)
	if err != nil {
		t.Fatal(err)
	}
	var first [][]int
	for step := 0; step < 20; step++ {
		in, tgt := s.Next()
		if len(in) != ctx*batch || len(tgt) != ctx*batch {
			t.Fatalf("block sizes %d %d", len(in), len(tgt))
		}
		for b := 0; b < batch; b++ {
			start := in[b*ctx]
			if start < 0 || start+ctx >= len(tokens) {
				t.Fatalf("window start %d out of range", start)
			}
			for j := 0; j < ctx; j++ {
				if in[b*ctx+j] != start+j || tgt[b*ctx+j] != start+j+1 {
					t.Fatalf("row %d is not a window with its shifted targets", b)
				}
			}
		}
		first = append(first, slices.Clone(in))
	}
	// Resume: a fresh sampler set to step 7 continues identically.
	r, _ := NewWindowSampler(tokens, ctx, batch, 42)
	if err := r.SetStep(7); err != nil {
		t.Fatal(err)
	}
	for step := 7; step < 20; step++ {
		in, _ := r.Next()
		if !slices.Equal(in, first[step]) {
			t.Fatalf("resumed step %d differs", step)
		}
	}
	if r.Step() != 20 {
		t.Fatalf("Step() = %d", r.Step())
	}
	other, _ := NewWindowSampler(tokens, ctx, batch, 43)
	if in, _ := other.Next(); slices.Equal(in, first[0]) {
		t.Fatal("another seed gave the same first batch")
	}
	if allocs := testing.AllocsPerRun(50, func() { s.Next() }); allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
	for _, tc := range []struct {
		n, ctx, batch int
	}{{8, 8, 1}, {100, 0, 1}, {100, 4, 0}} {
		if _, err := NewWindowSampler(tokens[:tc.n], tc.ctx, tc.batch, 1); err == nil {
			t.Errorf("NewWindowSampler(%d tokens, ctx %d, batch %d) succeeded", tc.n, tc.ctx, tc.batch)
		}
	}
	// The shortest valid sequence: every window is the whole of it.
	w, err := NewWindowSampler(tokens[:9], 8, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if in, tgt := w.Next(); in[0] != 0 || tgt[7] != 8 {
		t.Fatal("the only window was not drawn")
	}
}

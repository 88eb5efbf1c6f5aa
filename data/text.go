package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"
)

// Vocab maps the distinct characters (Unicode code points) of a text to
// token ids 0..Size()-1 in increasing code point order.
type Vocab struct {
	runes []rune
	index map[rune]int
}

// NewVocab builds the vocabulary of the characters in text, which must be
// valid UTF-8.
func NewVocab(text string) (*Vocab, error) {
	if i := invalidUTF8(text); i >= 0 {
		return nil, fmt.Errorf("vocab: invalid UTF-8 at byte %d", i)
	}
	seen := map[rune]bool{}
	for _, r := range text {
		seen[r] = true
	}
	runes := make([]rune, 0, len(seen))
	for r := range seen {
		runes = append(runes, r)
	}
	slices.Sort(runes)
	return VocabOf(runes)
}

// VocabOf builds a vocabulary from an explicit list of distinct characters;
// token i is runes[i].
func VocabOf(runes []rune) (*Vocab, error) {
	v := &Vocab{runes: slices.Clone(runes), index: make(map[rune]int, len(runes))}
	for i, r := range runes {
		if _, dup := v.index[r]; dup {
			return nil, fmt.Errorf("vocab: character %q listed twice", r)
		}
		v.index[r] = i
	}
	return v, nil
}

func invalidUTF8(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i
			}
		}
	}
	return -1
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return len(v.runes) }

// Runes returns the characters in token order.
func (v *Vocab) Runes() []rune { return slices.Clone(v.runes) }

// Encode returns the token ids of s. A character outside the vocabulary is
// an error.
func (v *Vocab) Encode(s string) ([]int, error) {
	if i := invalidUTF8(s); i >= 0 {
		return nil, fmt.Errorf("encode: invalid UTF-8 at byte %d", i)
	}
	ids := make([]int, 0, utf8.RuneCountInString(s))
	for i, r := range s {
		id, ok := v.index[r]
		if !ok {
			return nil, fmt.Errorf("encode: character %q at byte %d is not in the vocabulary", r, i)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Decode returns the text of token ids. An id outside [0, Size()) is an
// error.
func (v *Vocab) Decode(ids []int) (string, error) {
	var b strings.Builder
	b.Grow(len(ids))
	for i, id := range ids {
		if id < 0 || id >= len(v.runes) {
			return "", fmt.Errorf("decode: token %d at position %d outside [0,%d)", id, i, len(v.runes))
		}
		b.WriteRune(v.runes[id])
	}
	return b.String(), nil
}

// Corpus is a text encoded at the character level.
type Corpus struct {
	Name   string
	Vocab  *Vocab
	Tokens []int
}

// NewCorpus encodes text with its own vocabulary.
func NewCorpus(name, text string) (*Corpus, error) {
	v, err := NewVocab(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	toks, err := v.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Corpus{Name: name, Vocab: v, Tokens: toks}, nil
}

// LoadText reads a UTF-8 text file as a character-level corpus. An empty
// path means [DefaultTextPath] (Newton's Opticks from the Go distribution).
func LoadText(path string) (*Corpus, error) {
	if path == "" {
		p, err := DefaultTextPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load text: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("load text: %s is empty", path)
	}
	return NewCorpus(filepath.Base(path), string(b))
}

// DefaultTextRel is the default corpus's path inside GOROOT.
const DefaultTextRel = "src/testdata/Isaac.Newton-Opticks.txt"

// DefaultTextPath returns $GOROOT/src/testdata/Isaac.Newton-Opticks.txt,
// taking GOROOT from the environment, else from `go env GOROOT`, else from
// the root recorded at build time.
func DefaultTextPath() (string, error) {
	var roots []string
	if r := os.Getenv("GOROOT"); r != "" {
		roots = append(roots, r)
	}
	if goBin, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(goBin, "env", "GOROOT").Output(); err == nil {
			if r := strings.TrimSpace(string(out)); r != "" {
				roots = append(roots, r)
			}
		}
	}
	if r := runtime.GOROOT(); r != "" { //nolint:staticcheck // last resort when no go command is around
		roots = append(roots, r)
	}
	var tried []string
	for _, r := range roots {
		p := filepath.Join(r, filepath.FromSlash(DefaultTextRel))
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		tried = append(tried, p)
	}
	if len(tried) == 0 {
		return "", errors.New("load text: cannot find GOROOT (set GOROOT or put the go command on PATH) or pass a text file")
	}
	return "", fmt.Errorf("load text: default corpus not found (tried %s); pass a text file", strings.Join(tried, ", "))
}

// Split returns the first part of the tokens for training and the last
// valFrac of them for validation (views, not copies).
func (c *Corpus) Split(valFrac float64) (train, val []int, err error) {
	if !(valFrac >= 0 && valFrac < 1) {
		return nil, nil, fmt.Errorf("%s: validation fraction %v outside [0,1)", c.Name, valFrac)
	}
	n := len(c.Tokens) - int(valFrac*float64(len(c.Tokens)))
	return c.Tokens[:n:n], c.Tokens[n:], nil
}

// WindowSampler draws batches of random windows from a token sequence for
// next-token prediction: each row of the input block is Context consecutive
// tokens and the same row of the target block is those tokens shifted by
// one. Batch k is a pure function of (seed, k), so the sampler resumes
// exactly from its step count.
type WindowSampler struct {
	tokens         []int
	context, batch int
	seed           uint64
	step           int
	pcg            *rand.PCG
	rng            *rand.Rand
	in, tgt        []int
}

// NewWindowSampler returns a sampler of batch windows of context tokens from
// tokens, which must hold at least context+1 tokens.
func NewWindowSampler(tokens []int, context, batch int, seed uint64) (*WindowSampler, error) {
	if context <= 0 || batch <= 0 {
		return nil, fmt.Errorf("window sampler: context %d and batch %d must be positive", context, batch)
	}
	if len(tokens) < context+1 {
		return nil, fmt.Errorf("window sampler: %d tokens are too few for a context of %d (need %d)", len(tokens), context, context+1)
	}
	pcg := rand.NewPCG(seed, 0)
	return &WindowSampler{
		tokens: tokens, context: context, batch: batch, seed: seed,
		pcg: pcg, rng: rand.New(pcg),
		in: make([]int, batch*context), tgt: make([]int, batch*context),
	}, nil
}

// Next returns the next batch as batch×context row-major blocks of inputs and
// targets. They are views of buffers the sampler reuses on the next call.
func (s *WindowSampler) Next() (inputs, targets []int) {
	s.NextInto(s.in, s.tgt)
	return s.in, s.tgt
}

// NextInto writes the next batch into inputs and targets, each of length at
// least batch×context.
func (s *WindowSampler) NextInto(inputs, targets []int) error {
	n := s.batch * s.context
	if len(inputs) < n || len(targets) < n {
		return fmt.Errorf("window sampler: buffers of %d and %d tokens, need %d", len(inputs), len(targets), n)
	}
	s.pcg.Seed(s.seed, uint64(s.step))
	span := len(s.tokens) - s.context // start positions 0..span-1
	for b := 0; b < s.batch; b++ {
		start := s.rng.IntN(span)
		copy(inputs[b*s.context:(b+1)*s.context], s.tokens[start:start+s.context])
		copy(targets[b*s.context:(b+1)*s.context], s.tokens[start+1:start+s.context+1])
	}
	s.step++
	return nil
}

// Step is the number of batches drawn so far.
func (s *WindowSampler) Step() int { return s.step }

// SetStep makes the next batch the one with index step, as if step batches
// had been drawn.
func (s *WindowSampler) SetStep(step int) error {
	if step < 0 {
		return fmt.Errorf("window sampler: negative step %d", step)
	}
	s.step = step
	return nil
}

package config_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gradlab/gradlab/config"
)

func TestYAMLText(t *testing.T) {
	c, err := testSchema().Resolve(config.Sources{
		Preset: map[string]any{"epochs": 3},
		Sets:   []string{"optim.name=true", "model.acts=[relu, gelu]", "optim.lr=2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := `batch_size: 32 # mini-batch size
epochs: 3 # number of training epochs
model:
  acts: [relu, gelu] # activations
  dropout: [0.0, 0.5] # dropout per layer
  widths: [64, 32] # hidden widths
optim:
  lr: 2.0 # learning rate
  name: "true" # optimizer
  nesterov: false # Nesterov momentum
seed: 1 # random seed
`
	if string(got) != want {
		t.Errorf("YAML() =\n%s\nwant\n%s", got, want)
	}
	// The same values from other sources render to the same bytes.
	same, err := testSchema().Resolve(config.Sources{
		File: writeFile(t, "c.yaml", "epochs: 3\noptim: {name: \"true\"}\n"),
		Env:  []string{"GRADLAB_MODEL_ACTS=relu,gelu", "GRADLAB_OPTIM_LR=2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if y, err := same.YAML(); err != nil || string(y) != want {
		t.Errorf("same values from other sources render differently (%v):\n%s", err, y)
	}
}

// roundTrip writes c.YAML() to a file, resolves it against s and checks
// that every value and the hash come back unchanged.
func roundTrip(t *testing.T, s *config.Schema, c *config.Config) {
	t.Helper()
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, y, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := s.Resolve(config.Sources{File: p})
	if err != nil {
		t.Fatalf("reading back:\n%s\nerror: %v", y, err)
	}
	for _, k := range c.Keys() {
		if got, want := back.Get(k), c.Get(k); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read back %#v, wrote %#v\n%s", k, got, want, y)
		}
		if back.Source(k) != config.SourceFile {
			t.Errorf("%s: read back from %q, want file", k, back.Source(k))
		}
	}
	if back.Hash() != c.Hash() {
		t.Errorf("hash changed on the round trip:\n%s", y)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	s := config.MustSchema(
		config.Param{Key: "n", Default: 0},
		config.Param{Key: "x", Default: 0.0},
		config.Param{Key: "b", Default: false},
		config.Param{Key: "s", Default: ""},
		config.Param{Key: "deep.er.key", Default: []int{}},
		config.Param{Key: "deep.fs", Default: []float64{}},
		config.Param{Key: "deep.ss", Default: []string{}},
	)
	tests := []map[string]any{
		{},
		{"n": math.MaxInt64, "x": 1e-300, "b": true, "s": "plain"},
		{"n": math.MinInt64, "x": -0.0, "s": ""},
		{"x": 1e300, "s": "true"},
		{"x": 3.0, "s": "1.5"},
		{"x": 0.1, "s": "null"},
		{"x": math.SmallestNonzeroFloat64, "s": "~"},
		{"x": math.MaxFloat64, "s": "a: b # not a comment"},
		{"s": "multi\nline\n", "deep.ss": []string{"", " lead", "trail ", "a,b", "[x]", "#", "yes", "0", "- item", "é ✓"}},
		{"s": "'single' \"double\" \\ back", "deep.fs": []float64{0, -1.5, 2e-9, 1e21}},
		{"s": "\t tab", "deep.er.key": []int{0, -1, 1 << 40}},
		{"s": "<<", "deep.ss": []string{"*alias", "&anchor", "!tag", "%x", "@x", "`x"}},
	}
	for _, preset := range tests {
		c, err := s.Resolve(config.Sources{Preset: preset})
		if err != nil {
			t.Fatalf("preset %v: %v", preset, err)
		}
		roundTrip(t, s, c)
	}
}

// TestYAMLRoundTripRandom round-trips seeded random configurations whose
// strings are drawn from characters that YAML treats specially.
func TestYAMLRoundTripRandom(t *testing.T) {
	s := config.MustSchema(
		config.Param{Key: "a.n", Default: 0},
		config.Param{Key: "a.x", Default: 0.0},
		config.Param{Key: "a.b", Default: false},
		config.Param{Key: "s", Default: ""},
		config.Param{Key: "l.ns", Default: []int{}},
		config.Param{Key: "l.xs", Default: []float64{}},
		config.Param{Key: "l.ss", Default: []string{}},
	)
	rng := rand.New(rand.NewPCG(7, 11))
	const alphabet = " \t\n:#-?[]{},&*!|>'\"%@`\\~=.0123456789eEaxyzTtrueFfalsNnul✓"
	randString := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			r := []rune(alphabet)
			b.WriteRune(r[rng.IntN(len(r))])
		}
		return b.String()
	}
	randFloat := func() float64 {
		switch rng.IntN(4) {
		case 0:
			return float64(rng.IntN(2000) - 1000)
		case 1:
			return rng.NormFloat64()
		case 2:
			return math.Float64frombits(rng.Uint64()&^(0x7ff<<52) | uint64(rng.IntN(0x7fe)+1)<<52) // any finite normal
		}
		return rng.Float64() * 1e-3
	}
	for range 300 {
		preset := map[string]any{
			"a.n": int(rng.Uint64()),
			"a.x": randFloat(),
			"a.b": rng.IntN(2) == 1,
			"s":   randString(),
		}
		ns, xs, ss := make([]int, rng.IntN(4)), make([]float64, rng.IntN(4)), make([]string, rng.IntN(4))
		for i := range ns {
			ns[i] = rng.IntN(1<<20) - 1<<19
		}
		for i := range xs {
			xs[i] = randFloat()
		}
		for i := range ss {
			ss[i] = randString()
		}
		preset["l.ns"], preset["l.xs"], preset["l.ss"] = ns, xs, ss
		c, err := s.Resolve(config.Sources{Preset: preset})
		if err != nil {
			t.Fatalf("preset %#v: %v", preset, err)
		}
		roundTrip(t, s, c)
		if t.Failed() {
			t.Fatalf("preset %#v", preset)
		}
	}
}

// TestFileHoles checks nulls and empty mappings, which viper drops.
func TestFileHoles(t *testing.T) {
	tests := []struct {
		text string
		err  string // "" = success
	}{
		{"model:\n", ""},
		{"model: {}\noptim:\n", ""},
		{"model: ~\nepochs: 2\n", ""},
		{"seed: null\n", `key "seed": invalid value: expected int, got null`},
		{"model:\n  widths:\n", `key "model.widths": invalid value: expected list of int, got null`},
		{"extra:\n", `line 1: unknown key "extra"`},
		{"optim:\n  extra: {}\n", `line 2: unknown key "optim.extra"`},
	}
	for _, tc := range tests {
		_, err := testSchema().Resolve(config.Sources{File: writeFile(t, "h.yaml", tc.text)})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.text, err)
		case tc.err != "" && err == nil:
			t.Errorf("%q: no error, want %q", tc.text, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("%q: error %q, want %q", tc.text, err, tc.err)
		}
	}
}

// TestFileAnchors checks that anchors, aliases and merge keys work.
func TestFileAnchors(t *testing.T) {
	text := `base: &base
  lr: 0.5
  name: adam
optim:
  <<: *base
  lr: 0.25
model:
  widths: &w [4, 2]
`
	// "base" is not a key, so it is reported; the rest must be read right.
	_, err := testSchema().Resolve(config.Sources{File: writeFile(t, "a.yaml", text)})
	if err == nil || !strings.Contains(err.Error(), `unknown key "base.lr"`) || strings.Count(err.Error(), "unknown key") != 2 {
		t.Fatalf("want unknown keys base.lr and base.name, got %v", err)
	}
	text = strings.Replace(text, "base: &base\n  lr: 0.5\n  name: adam\n", "", 1)
	text = strings.Replace(text, "optim:\n  <<: *base\n", "optim:\n  <<: {name: adam, lr: 0.5}\n", 1)
	c, err := testSchema().Resolve(config.Sources{File: writeFile(t, "a.yaml", text)})
	if err != nil {
		t.Fatal(err)
	}
	if c.String("optim.name") != "adam" || c.Float("optim.lr") != 0.25 || !reflect.DeepEqual(c.Ints("model.widths"), []int{4, 2}) {
		t.Errorf("got name %q lr %v widths %v", c.String("optim.name"), c.Float("optim.lr"), c.Ints("model.widths"))
	}
}

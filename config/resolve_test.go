package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gradlab/gradlab/config"
)

// testSchema is the fixed schema the tests resolve against.
func testSchema() *config.Schema {
	return config.MustSchema(
		config.Param{Key: "epochs", Default: 10, Help: "number of training epochs"},
		config.Param{Key: "batch_size", Default: 32, Help: "mini-batch size"},
		config.Param{Key: "seed", Default: 1, Help: "random seed"},
		config.Param{Key: "optim.name", Default: "sgd", Help: "optimizer"},
		config.Param{Key: "optim.lr", Default: 0.1, Help: "learning rate"},
		config.Param{Key: "optim.nesterov", Default: false, Help: "Nesterov momentum"},
		config.Param{Key: "model.widths", Default: []int{64, 32}, Help: "hidden widths"},
		config.Param{Key: "model.dropout", Default: []float64{0, 0.5}, Help: "dropout per layer"},
		config.Param{Key: "model.acts", Default: []string{"relu"}, Help: "activations"},
	)
}

// writeFile writes a YAML file in a test directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	s := testSchema()
	c, err := s.Resolve(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Params() {
		if got := c.Get(p.Key); !reflect.DeepEqual(got, p.Default) {
			t.Errorf("%s = %#v, want default %#v", p.Key, got, p.Default)
		}
		if src := c.Source(p.Key); src != config.SourceDefault {
			t.Errorf("Source(%s) = %q, want default", p.Key, src)
		}
	}
	if !reflect.DeepEqual(c.Keys(), s.Keys()) {
		t.Errorf("Keys() = %v, want %v", c.Keys(), s.Keys())
	}
}

// TestPrecedence sets one key in every layer up to a given one and checks
// that the highest layer wins, through both the value and Source.
func TestPrecedence(t *testing.T) {
	type layerVals struct{ preset, file, env, set string } // "" = layer leaves the key alone
	tests := []struct {
		name    string
		key     string
		vals    layerVals
		want    any
		wantSrc string
	}{
		{"default", "epochs", layerVals{}, 10, "default"},
		{"preset over default", "epochs", layerVals{preset: "2"}, 2, "preset"},
		{"file over preset", "epochs", layerVals{preset: "2", file: "3"}, 3, "file"},
		{"env over file", "epochs", layerVals{preset: "2", file: "3", env: "4"}, 4, "env"},
		{"set over env", "epochs", layerVals{preset: "2", file: "3", env: "4", set: "5"}, 5, "set"},
		{"set over default", "epochs", layerVals{set: "5"}, 5, "set"},
		{"env over preset", "epochs", layerVals{preset: "2", env: "4"}, 4, "env"},
		{"file alone", "epochs", layerVals{file: "3"}, 3, "file"},
		{"nested key, set over file", "optim.lr", layerVals{file: "0.5", set: "0.25"}, 0.25, "set"},
		{"nested key, env over preset", "optim.lr", layerVals{preset: "0.5", env: "0.125"}, 0.125, "env"},
		{"underscore key from env", "batch_size", layerVals{file: "8", env: "16"}, 16, "env"},
		{"list, file over preset", "model.widths", layerVals{preset: "[1]", file: "[2, 3]"}, []int{2, 3}, "file"},
		{"list, set over env", "model.widths", layerVals{env: "4,5", set: "[6]"}, []int{6}, "set"},
		{"bool, env over file", "optim.nesterov", layerVals{file: "false", env: "1"}, true, "env"},
		{"string, set over file", "optim.name", layerVals{file: "adam", set: "rmsprop"}, "rmsprop", "set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var src config.Sources
			if tc.vals.preset != "" {
				src.Preset = map[string]any{tc.key: tc.vals.preset}
			}
			if tc.vals.file != "" {
				// Written nested, the way configs usually are.
				segs := strings.Split(tc.key, ".")
				text := ""
				for i, seg := range segs {
					text += strings.Repeat("  ", i) + seg + ":"
					if i < len(segs)-1 {
						text += "\n"
					}
				}
				src.File = writeFile(t, "c.yaml", text+" "+tc.vals.file+"\n")
			}
			if tc.vals.env != "" {
				src.Env = []string{"HOME=/root", config.EnvName(tc.key) + "=" + tc.vals.env}
			}
			if tc.vals.set != "" {
				src.Sets = []string{tc.key + "=" + tc.vals.set}
			}
			c, err := testSchema().Resolve(src)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Get(tc.key); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
			}
			if got := c.Source(tc.key); got != tc.wantSrc {
				t.Errorf("Source(%s) = %q, want %q", tc.key, got, tc.wantSrc)
			}
			for _, k := range c.Keys() {
				if k != tc.key && c.Source(k) != config.SourceDefault {
					t.Errorf("untouched key %s has source %q", k, c.Source(k))
				}
			}
		})
	}
}

// TestLayersMix checks that each layer only replaces the keys it names.
func TestLayersMix(t *testing.T) {
	file := writeFile(t, "c.yaml", "optim:\n  lr: 0.01\n  name: adam\nmodel.widths: [128]\n")
	c, err := testSchema().Resolve(config.Sources{
		Preset: map[string]any{"epochs": 2, "optim": map[string]any{"lr": 0.5}, "seed": 7},
		File:   file,
		Env:    []string{"GRADLAB_OPTIM_NAME=rmsprop", "GRADLAB_SEED=9", "GRADLAB_DATA_DIR=/data", "OTHER=1", "NOEQUALS"},
		Sets:   []string{"seed=11", "epochs=4", "epochs=6"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		v   any
		src string
	}{
		"epochs":         {6, "set"}, // the last --set wins
		"batch_size":     {32, "default"},
		"seed":           {11, "set"},
		"optim.name":     {"rmsprop", "env"},
		"optim.lr":       {0.01, "file"},
		"optim.nesterov": {false, "default"},
		"model.widths":   {[]int{128}, "file"},
		"model.dropout":  {[]float64{0, 0.5}, "default"},
		"model.acts":     {[]string{"relu"}, "default"},
	}
	for k, w := range want {
		if got := c.Get(k); !reflect.DeepEqual(got, w.v) || c.Source(k) != w.src {
			t.Errorf("%s = %#v from %q, want %#v from %q", k, got, c.Source(k), w.v, w.src)
		}
	}
}

func TestTypedGetters(t *testing.T) {
	c, err := testSchema().Resolve(config.Sources{Sets: []string{"model.acts=relu,tanh"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Int("epochs") != 10 || c.Float("optim.lr") != 0.1 || c.Bool("optim.nesterov") || c.String("optim.name") != "sgd" {
		t.Errorf("scalar getters: %d %v %v %q", c.Int("epochs"), c.Float("optim.lr"), c.Bool("optim.nesterov"), c.String("optim.name"))
	}
	if !reflect.DeepEqual(c.Ints("model.widths"), []int{64, 32}) ||
		!reflect.DeepEqual(c.Floats("model.dropout"), []float64{0, 0.5}) ||
		!reflect.DeepEqual(c.Strings("model.acts"), []string{"relu", "tanh"}) {
		t.Errorf("list getters: %v %v %v", c.Ints("model.widths"), c.Floats("model.dropout"), c.Strings("model.acts"))
	}
	c.Ints("model.widths")[0] = 0
	if c.Ints("model.widths")[0] != 64 {
		t.Error("mutating a getter's slice changed the config")
	}
	if _, ok := c.Lookup("nope"); ok {
		t.Error("Lookup of an unknown key succeeded")
	}
	if c.Source("nope") != "" {
		t.Error("Source of an unknown key is not empty")
	}
}

func TestGetterPanics(t *testing.T) {
	c, err := testSchema().Resolve(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"unknown key", func() { c.Int("epoch") }, `Int("epoch"): unknown key (did you mean "epochs"?)`},
		{"wrong type", func() { c.Int("optim.lr") }, `Int("optim.lr"): key has type float, not int`},
		{"list vs scalar", func() { c.Float("model.dropout") }, "has type list of float, not float"},
		{"strings", func() { c.Strings("optim.name") }, "has type string, not list of string"},
		{"get unknown", func() { c.Get("x") }, `Get("x"): unknown key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg, _ := r.(string); !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want it to contain %q", r, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// TestErrors covers every class of error, from every source, and checks
// that each names what went wrong.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const accepted = "accepted keys: batch_size, epochs, model.acts, model.dropout, model.widths, optim.lr, optim.name, optim.nesterov, seed"
	tests := []struct {
		name string
		src  config.Sources
		is   error
		want []string // substrings of the message
	}{
		// Unknown keys.
		{"preset unknown", config.Sources{Preset: map[string]any{"epoch": 3}}, config.ErrUnknownKey,
			[]string{`preset: unknown key "epoch" (did you mean "epochs"?)`, accepted}},
		{"preset nested unknown", config.Sources{Preset: map[string]any{"optim": map[string]any{"lrr": 1.0}}}, config.ErrUnknownKey,
			[]string{`unknown key "optim.lrr" (did you mean "optim.lr"?)`, accepted}},
		{"file unknown flat", config.Sources{File: file("u1.yaml", "epochs: 1\nlearning_rate: 0.1\n")}, config.ErrUnknownKey,
			[]string{`u1.yaml" line 2: unknown key "learning_rate"`, accepted}},
		{"file unknown nested", config.Sources{File: file("u2.yaml", "optim:\n  lr: 0.1\n  beta1: 0.9\n")}, config.ErrUnknownKey,
			[]string{`line 3: unknown key "optim.beta1"`, accepted}},
		{"file unknown empty mapping", config.Sources{File: file("u3.yaml", "sched: {}\n")}, config.ErrUnknownKey,
			[]string{`unknown key "sched"`}},
		{"env unknown", config.Sources{Env: []string{"GRADLAB_OPTIM_LRR=0.1"}}, config.ErrUnknownKey,
			[]string{"unknown key GRADLAB_OPTIM_LRR (did you mean GRADLAB_OPTIM_LR for key \"optim.lr\"?)",
				"accepted GRADLAB_ variables: GRADLAB_BATCH_SIZE, GRADLAB_EPOCHS,", "allowed, not configuration: GRADLAB_CACHE_DIR, GRADLAB_DATA_DIR"}},
		{"env not allowed when list empty", config.Sources{Env: []string{"GRADLAB_DATA_DIR=/d"}, EnvAllow: []string{}}, config.ErrUnknownKey,
			[]string{"unknown key GRADLAB_DATA_DIR"}},
		{"env default allow-list replaced", config.Sources{Env: []string{"GRADLAB_NO_PROGRESS=1"}, EnvAllow: []string{"GRADLAB_OTHER"}}, config.ErrUnknownKey,
			[]string{"unknown key GRADLAB_NO_PROGRESS", "allowed, not configuration: GRADLAB_OTHER"}},
		{"set unknown", config.Sources{Sets: []string{"lr=0.1"}}, config.ErrUnknownKey,
			[]string{`--set "lr=0.1": unknown key "lr" (did you mean "optim.lr"?)`, accepted}},
		{"set unknown far", config.Sources{Sets: []string{"warmup_steps=10"}}, config.ErrUnknownKey,
			[]string{`unknown key "warmup_steps"`, accepted}},
		{"set prefix of keys", config.Sources{Sets: []string{"optim=adam"}}, config.ErrUnknownKey,
			[]string{`unknown key "optim" (it groups the keys optim.lr, optim.name, optim.nesterov)`}},
		// Wrong types.
		{"preset type", config.Sources{Preset: map[string]any{"epochs": 2.5}}, config.ErrBadValue,
			[]string{`preset: key "epochs": invalid value: expected int, got 2.5 (float): not an integer`}},
		{"preset string type", config.Sources{Preset: map[string]any{"optim.lr": "fast"}}, config.ErrBadValue,
			[]string{`key "optim.lr"`, `expected float, got "fast"`}},
		{"file int", config.Sources{File: file("t1.yaml", "epochs: abc\n")}, config.ErrBadValue,
			[]string{`t1.yaml" line 1: key "epochs": invalid value: expected int, got "abc"`}},
		{"file string from number", config.Sources{File: file("t2.yaml", "optim:\n  name: 3\n")}, config.ErrBadValue,
			[]string{`line 2: key "optim.name"`, "expected string, got 3 (int): quote it"}},
		{"file date for a string", config.Sources{File: file("t9.yaml", "optim:\n  name: 2024-01-01\n")}, config.ErrBadValue,
			[]string{`key "optim.name"`, "(time.Time): quote it"}},
		{"file two documents", config.Sources{File: file("docs.yaml", "epochs: 1\n---\nepochs: 2\n")}, config.ErrFile,
			[]string{"docs.yaml", "second YAML document"}},
		{"file list from scalar", config.Sources{File: file("t3.yaml", "model:\n  widths: 64\n")}, config.ErrBadValue,
			[]string{`key "model.widths"`, "expected list of int, got 64 (int)"}},
		{"file list element", config.Sources{File: file("t4.yaml", "model.widths: [64, wide]\n")}, config.ErrBadValue,
			[]string{`key "model.widths"`, `expected int, got "wide" (element 1`}},
		{"file null", config.Sources{File: file("t5.yaml", "seed:\n")}, config.ErrBadValue,
			[]string{`key "seed"`, "expected int, got null"}},
		{"file bool", config.Sources{File: file("t6.yaml", "optim.nesterov: yes\n")}, config.ErrBadValue,
			[]string{`key "optim.nesterov"`, `expected bool, got "yes"`}},
		{"file mapping for a key", config.Sources{File: file("t7.yaml", "epochs: {}\n")}, config.ErrBadValue,
			[]string{`key "epochs"`, "expected int, got {} (mapping)"}},
		{"file non-empty mapping for a key", config.Sources{File: file("t8.yaml", "epochs:\n  max: 3\n")}, config.ErrUnknownKey,
			[]string{`unknown key "epochs.max"`}},
		{"env int", config.Sources{Env: []string{"GRADLAB_EPOCHS=1.5"}}, config.ErrBadValue,
			[]string{`environment GRADLAB_EPOCHS: key "epochs": invalid value: expected int, got "1.5": not an integer`}},
		{"env float", config.Sources{Env: []string{"GRADLAB_OPTIM_LR=abc"}}, config.ErrBadValue,
			[]string{`key "optim.lr"`, `expected float, got "abc"`}},
		{"set int", config.Sources{Sets: []string{"epochs=abc"}}, config.ErrBadValue,
			[]string{`--set "epochs=abc": key "epochs": invalid value: expected int, got "abc"`}},
		{"set float", config.Sources{Sets: []string{"optim.lr=1e999"}}, config.ErrBadValue,
			[]string{`key "optim.lr"`, "out of range"}},
		{"set bool", config.Sources{Sets: []string{"optim.nesterov=on"}}, config.ErrBadValue,
			[]string{`key "optim.nesterov"`, `expected bool, got "on"`}},
		{"set list", config.Sources{Sets: []string{"model.dropout=[0.1,x]"}}, config.ErrBadValue,
			[]string{`key "model.dropout"`, `expected float, got "x"`}},
		// Malformed --set.
		{"set no equals", config.Sources{Sets: []string{"epochs"}}, config.ErrBadSet, []string{`"epochs": missing '='`}},
		{"set empty key", config.Sources{Sets: []string{"=3"}}, config.ErrBadSet, []string{"empty key"}},
		{"set bad char", config.Sources{Sets: []string{"optim/lr=3"}}, config.ErrBadSet, []string{`character '/'`}},
		// Files.
		{"file missing", config.Sources{File: filepath.Join(dir, "missing.yaml")}, config.ErrFile,
			[]string{"missing.yaml", "no such file"}},
		{"file is a directory", config.Sources{File: dir}, config.ErrFile, []string{dir, "is a directory"}},
		{"file invalid yaml", config.Sources{File: file("bad.yaml", "epochs: 1\noptim:\n  lr: [0.1\n")}, config.ErrFile,
			[]string{"bad.yaml", "line "}},
		{"file tab indent", config.Sources{File: file("tab.yaml", "optim:\n\tlr: 1\n")}, config.ErrFile,
			[]string{"tab.yaml", "line 2"}},
		{"file top-level list", config.Sources{File: file("list.yaml", "- epochs\n- 3\n")}, config.ErrFile,
			[]string{"list.yaml"}},
		{"file duplicate key", config.Sources{File: file("dup.yaml", "epochs: 1\nepochs: 2\n")}, config.ErrFile,
			[]string{"dup.yaml", "already defined"}},
		{"file flat and nested", config.Sources{File: file("dup2.yaml", "optim.lr: 1\noptim:\n  lr: 2\n")}, config.ErrFile,
			[]string{"dup2.yaml", `key "optim.lr" given more than once`}},
		{"file case clash", config.Sources{File: file("case.yaml", "Epochs: 1\nepochs: 2\n")}, config.ErrFile,
			[]string{"case.yaml", "line 2", "case-insensitive"}},
		{"env twice", config.Sources{Env: []string{"GRADLAB_SEED=1", "gradlab_seed=2"}}, nil,
			[]string{"GRADLAB_SEED and gradlab_seed both set key \"seed\""}},
		{"preset twice", config.Sources{Preset: map[string]any{"optim.lr": 1.0, "optim": map[string]any{"lr": 2.0}}}, nil,
			[]string{`preset: key "optim.lr" given more than once`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testSchema().Resolve(tc.src)
			if err == nil {
				t.Fatalf("Resolve succeeded (%v), want an error", c.Keys())
			}
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Errorf("error is not one *config.Error problem: %#v", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error does not match %v: %v", tc.is, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestAllProblemsReported checks that one Resolve reports the problems of
// every layer, in a fixed order.
func TestAllProblemsReported(t *testing.T) {
	src := config.Sources{
		Preset: map[string]any{"seed": "x", "epoch": 1},
		File:   writeFile(t, "c.yaml", "optim:\n  lr: fast\n"),
		Env:    []string{"GRADLAB_EPOCHS=ten", "GRADLAB_BOGUS=1"},
		Sets:   []string{"batch_size=1.5", "nokey"},
	}
	_, err := testSchema().Resolve(src)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := []string{`unknown key "epoch"`, `key "seed"`, `key "optim.lr"`, "GRADLAB_EPOCHS", "GRADLAB_BOGUS", `key "batch_size"`, `"nokey"`}
	if len(ce.Problems) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(ce.Problems[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to mention %s", i, ce.Problems[i], w)
		}
	}
	_, err2 := testSchema().Resolve(src)
	if err.Error() != err2.Error() {
		t.Errorf("error text differs between identical calls:\n%v\n---\n%v", err, err2)
	}
	for _, is := range []error{config.ErrUnknownKey, config.ErrBadValue, config.ErrBadSet} {
		if !errors.Is(err, is) {
			t.Errorf("errors.Is(err, %v) = false", is)
		}
	}
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		allow []string
		key   string
		want  any
	}{
		{"exact", []string{"GRADLAB_OPTIM_LR=0.5"}, nil, "optim.lr", 0.5},
		{"lower case name", []string{"gradlab_optim_lr=0.5"}, nil, "optim.lr", 0.5},
		{"underscore in key", []string{"GRADLAB_BATCH_SIZE=64"}, nil, "batch_size", 64},
		{"list", []string{"GRADLAB_MODEL_ACTS=[relu, gelu]"}, nil, "model.acts", []string{"relu", "gelu"}},
		{"string keeps '=' and spaces", []string{"GRADLAB_OPTIM_NAME= a=b "}, nil, "optim.name", " a=b "},
		{"default allow-list", []string{"GRADLAB_DATA_DIR=/d", "GRADLAB_NO_PROGRESS=1", "GRADLAB_CACHE_DIR=/c"}, nil, "seed", 1},
		{"custom allow-list", []string{"GRADLAB_WANDB=1", "gradlab_other=2"}, []string{"GRADLAB_WANDB", "GRADLAB_OTHER"}, "seed", 1},
		{"a key wins over the allow-list", []string{"GRADLAB_SEED=5"}, []string{"GRADLAB_SEED"}, "seed", 5},
		{"other variables ignored", []string{"PATH=/bin", "LANG", "=C:=x", "XGRADLAB_SEED=oops"}, nil, "seed", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := testSchema().Resolve(config.Sources{Env: tc.env, EnvAllow: tc.allow})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Get(tc.key); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
			}
		})
	}
	if got := config.DefaultEnvAllow(); !reflect.DeepEqual(got, []string{"GRADLAB_CACHE_DIR", "GRADLAB_DATA_DIR", "GRADLAB_NO_PROGRESS"}) {
		t.Errorf("DefaultEnvAllow() = %v", got)
	}
}

// TestFileForms checks the accepted ways of writing values in a file.
func TestFileForms(t *testing.T) {
	text := `# comment
Epochs: 1e3            # integral float for an int key, upper-case key
optim.lr: 3            # integer for a float key, flat dotted key
optim:
  name: "adam"
  nesterov: 1
model:
  widths: [128, "64"]
  dropout:
    - 0
    - 0.25
  acts: []
seed: "42"             # quoted number for an int key
`
	c, err := testSchema().Resolve(config.Sources{File: writeFile(t, "c.yaml", text)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"epochs": 1000, "optim.lr": 3.0, "optim.name": "adam", "optim.nesterov": true,
		"model.widths": []int{128, 64}, "model.dropout": []float64{0, 0.25}, "model.acts": []string{},
		"seed": 42, "batch_size": 32,
	}
	for k, w := range want {
		if got := c.Get(k); !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", k, got, w)
		}
	}
	// An empty file and a comment-only file give the defaults.
	for _, text := range []string{"", "# nothing\n", "model: {}\n"} {
		c, err := testSchema().Resolve(config.Sources{File: writeFile(t, "e.yaml", text)})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if c.Int("epochs") != 10 || c.Source("epochs") != "default" {
			t.Errorf("%q: epochs = %d from %s", text, c.Int("epochs"), c.Source("epochs"))
		}
	}
}

func TestDeterminism(t *testing.T) {
	file := writeFile(t, "c.yaml", "optim:\n  lr: 0.01\n")
	src := config.Sources{
		Preset: map[string]any{"epochs": 2, "model": map[string]any{"widths": []int{8, 4}}},
		File:   file,
		Env:    []string{"GRADLAB_SEED=3", "GRADLAB_OPTIM_NAME=adam"},
		Sets:   []string{"batch_size=16"},
	}
	s := testSchema()
	first, err := s.Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	y1, err := first.YAML()
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		c, err := s.Resolve(src)
		if err != nil {
			t.Fatal(err)
		}
		y, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if string(y) != string(y1) || c.Hash() != first.Hash() {
			t.Fatalf("resolution not deterministic:\n%s\n---\n%s", y1, y)
		}
	}
	// Environment order does not matter either.
	src.Env = []string{src.Env[1], src.Env[0]}
	c, err := s.Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash() != first.Hash() {
		t.Error("hash depends on the order of the environment")
	}
}

func TestHash(t *testing.T) {
	s := testSchema()
	base, err := s.Resolve(config.Sources{})
	if err != nil {
		t.Fatal(err)
	}
	// The same values from another source hash the same.
	same, err := s.Resolve(config.Sources{Sets: []string{"epochs=10", "optim.lr=1e-1", "model.widths=[64,32]"}})
	if err != nil {
		t.Fatal(err)
	}
	if same.Hash() != base.Hash() {
		t.Error("equal values from --set hash differently from the defaults")
	}
	// Any single change changes the hash.
	seen := map[string]string{base.Hash(): "defaults"}
	for _, set := range []string{
		"epochs=11", "batch_size=33", "seed=0", "optim.name=sgd ", "optim.lr=0.1000000001", "optim.nesterov=true",
		"model.widths=64", "model.widths=[64,32,0]", "model.dropout=[0.5,0]", "model.acts=[]", "model.acts=relu,relu",
	} {
		c, err := s.Resolve(config.Sources{Sets: []string{set}})
		if err != nil {
			t.Fatal(err)
		}
		h := c.Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("--set %s hashes like %s", set, prev)
		}
		seen[h] = set
	}
	// The hashed text, spelled out from the format documented on Hash.
	// Checkpoints record hashes, so a change of format must be deliberate.
	text := "batch_size\tint\t32\n" +
		"epochs\tint\t10\n" +
		"model.acts\t[]string\t[\"relu\"]\n" +
		"model.dropout\t[]float64\t[0,0.5]\n" +
		"model.widths\t[]int\t[64,32]\n" +
		"optim.lr\tfloat64\t0.1\n" +
		"optim.name\tstring\t\"sgd\"\n" +
		"optim.nesterov\tbool\tfalse\n" +
		"seed\tint\t1\n"
	sum := sha256.Sum256([]byte(text))
	if got, want := base.Hash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("hash of the defaults = %s, want %s", got, want)
	}
}

// TestConcurrentResolve resolves from many goroutines at once; run with
// -race it checks that Resolve shares no mutable state.
func TestConcurrentResolve(t *testing.T) {
	s := testSchema()
	file := writeFile(t, "c.yaml", "optim:\n  lr: 0.01\n")
	src := config.Sources{Preset: map[string]any{"epochs": 2}, File: file, Env: []string{"GRADLAB_SEED=3"}, Sets: []string{"model.widths=8"}}
	want, err := s.Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	hashes := make(chan string, 8)
	for range 8 {
		go func() {
			c, err := s.Resolve(src)
			if err != nil {
				hashes <- err.Error()
				return
			}
			_ = c.Ints("model.widths")
			hashes <- c.Hash()
		}()
	}
	for range 8 {
		if h := <-hashes; h != want.Hash() {
			t.Errorf("concurrent Resolve gave %s, want %s", h, want.Hash())
		}
	}
}

package config

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestNewSchemaErrors(t *testing.T) {
	tests := []struct {
		name   string
		params []Param
		want   string // substring of the error
	}{
		{"duplicate", []Param{{Key: "epochs", Default: 1}, {Key: "epochs", Default: 2}}, `duplicate key "epochs"`},
		{"empty key", []Param{{Key: "", Default: 1}}, "empty key"},
		{"empty segment", []Param{{Key: "optim..lr", Default: 1.0}}, "empty segment"},
		{"leading dot", []Param{{Key: ".lr", Default: 1.0}}, "empty segment"},
		{"upper case", []Param{{Key: "Epochs", Default: 1}}, `character 'E'`},
		{"hyphen", []Param{{Key: "batch-size", Default: 1}}, `character '-'`},
		{"space", []Param{{Key: "a b", Default: 1}}, `character ' '`},
		{"prefix", []Param{{Key: "model", Default: "mlp"}, {Key: "model.widths", Default: []int{1}}}, `"model" is a prefix of key "model.widths"`},
		{"deep prefix", []Param{{Key: "a.b.c", Default: 1}, {Key: "a.b", Default: 1}, {Key: "a.a", Default: 1}}, `"a.b" is a prefix`},
		{"env clash", []Param{{Key: "batch_size", Default: 1}, {Key: "batch.size", Default: 1}}, "both map to GRADLAB_BATCH_SIZE"},
		{"nil default", []Param{{Key: "x", Default: nil}}, "nil default"},
		{"int64 default", []Param{{Key: "x", Default: int64(1)}}, "unsupported default type int64"},
		{"float32 default", []Param{{Key: "x", Default: float32(1)}}, "unsupported default type float32"},
		{"[]any default", []Param{{Key: "x", Default: []any{1}}}, "unsupported default type []interface {}"},
		{"NaN default", []Param{{Key: "x", Default: math.NaN()}}, "not finite"},
		{"Inf in list default", []Param{{Key: "x", Default: []float64{1, math.Inf(1)}}}, "non-finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSchema(tc.params...)
			if err == nil {
				t.Fatalf("NewSchema succeeded with keys %v, want error containing %q", s.Keys(), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestMustSchemaPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustSchema with a duplicate key did not panic")
		}
	}()
	MustSchema(Param{Key: "a", Default: 1}, Param{Key: "a", Default: 1})
}

func TestParamsSortedAndCopied(t *testing.T) {
	widths := []int{64, 32}
	s := MustSchema(
		Param{Key: "optim.lr", Default: 0.1, Help: "learning rate"},
		Param{Key: "epochs", Default: 3},
		Param{Key: "model.widths", Default: widths},
		Param{Key: "batch_size", Default: 8},
	)
	widths[0] = 1 // the schema must have copied the default
	ps := s.Params()
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	if want := []string{"batch_size", "epochs", "model.widths", "optim.lr"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("Params keys = %v, want %v", keys, want)
	}
	if got := ps[2].Default.([]int); !reflect.DeepEqual(got, []int{64, 32}) {
		t.Fatalf("model.widths default = %v, want [64 32]", got)
	}
	ps[2].Default.([]int)[1] = 0
	if got := s.Params()[2].Default.([]int); got[1] != 32 {
		t.Errorf("mutating Params() output changed the schema: %v", got)
	}
	if ps[3].Help != "learning rate" {
		t.Errorf("help lost: %q", ps[3].Help)
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"epochs":       "GRADLAB_EPOCHS",
		"optim.lr":     "GRADLAB_OPTIM_LR",
		"batch_size":   "GRADLAB_BATCH_SIZE",
		"model.n_head": "GRADLAB_MODEL_N_HEAD",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

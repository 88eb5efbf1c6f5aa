package config

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSet(t *testing.T) {
	tests := []struct {
		in        string
		key, val  string
		errSubstr string // "" = success
	}{
		{in: "a.b=1", key: "a.b", val: "1"},
		{in: "epochs=3", key: "epochs", val: "3"},
		{in: "batch_size=", key: "batch_size", val: ""},
		{in: "name=a=b", key: "name", val: "a=b"},
		{in: " optim.lr =0.1", key: "optim.lr", val: "0.1"},
		{in: "Optim.LR=0.1", key: "optim.lr", val: "0.1"},
		{in: "x= spaced ", key: "x", val: " spaced "},
		{in: "model.widths=[1, 2]", key: "model.widths", val: "[1, 2]"},
		{in: "epochs", errSubstr: "missing '='"},
		{in: "", errSubstr: "missing '='"},
		{in: "=3", errSubstr: "empty key"},
		{in: "  =3", errSubstr: "empty key"},
		{in: "a..b=1", errSubstr: "empty segment"},
		{in: ".a=1", errSubstr: "empty segment"},
		{in: "a.=1", errSubstr: "empty segment"},
		{in: "a-b=1", errSubstr: "character '-'"},
		{in: "a b=1", errSubstr: "character ' '"},
		{in: "é=1", errSubstr: "character 'é'"},
		{in: "--set=1", errSubstr: "character '-'"},
	}
	for _, tc := range tests {
		key, val, err := ParseSet(tc.in)
		if tc.errSubstr != "" {
			if err == nil {
				t.Errorf("ParseSet(%q) = (%q, %q), want error containing %q", tc.in, key, val, tc.errSubstr)
				continue
			}
			if !errors.Is(err, ErrBadSet) || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("ParseSet(%q) error %q: want ErrBadSet containing %q", tc.in, err, tc.errSubstr)
			}
			continue
		}
		if err != nil || key != tc.key || val != tc.val {
			t.Errorf("ParseSet(%q) = (%q, %q, %v), want (%q, %q, nil)", tc.in, key, val, err, tc.key, tc.val)
		}
	}
}

// TestParseString pins the value syntax of the environment and --set
// (documented in doc.go) kind by kind.
func TestParseString(t *testing.T) {
	tests := []struct {
		k    kind
		in   string
		want any    // nil when an error is expected
		why  string // substring of the error when want is nil
	}{
		{kindInt, "42", 42, ""},
		{kindInt, " -3 ", -3, ""},
		{kindInt, "+7", 7, ""},
		{kindInt, "007", 7, ""},
		{kindInt, "1e3", 1000, ""},
		{kindInt, "2.0", 2, ""},
		{kindInt, "-4.5e1", -45, ""},
		{kindInt, "9007199254740992", 1 << 53, ""},
		{kindInt, "9223372036854775807", math.MaxInt64, ""},
		{kindInt, "1.5", nil, "not an integer"},
		{kindInt, "1e-3", nil, "not an integer"},
		{kindInt, "1e30", nil, "beyond 2^53"},
		{kindInt, "9223372036854775808", nil, "out of range"},
		{kindInt, "abc", nil, `got "abc"`},
		{kindInt, "", nil, `got ""`},
		{kindInt, "0x10", nil, "expected int"},
		{kindInt, "1_000", nil, "expected int"},
		{kindInt, "3 4", nil, "expected int"},
		{kindInt, "true", nil, "expected int"},
		{kindFloat, "0.1", 0.1, ""},
		{kindFloat, "3", 3.0, ""},
		{kindFloat, "1e-4", 1e-4, ""},
		{kindFloat, ".5", 0.5, ""},
		{kindFloat, "5.", 5.0, ""},
		{kindFloat, "-2.5E+2", -250.0, ""},
		{kindFloat, "NaN", nil, "expected float"},
		{kindFloat, "inf", nil, "expected float"},
		{kindFloat, "1e400", nil, "out of range"},
		{kindFloat, "0x1p-2", nil, "expected float"},
		{kindFloat, "1,5", nil, "expected float"},
		{kindFloat, "", nil, "expected float"},
		{kindBool, "true", true, ""},
		{kindBool, "TRUE", true, ""},
		{kindBool, "False", false, ""},
		{kindBool, "1", true, ""},
		{kindBool, " 0 ", false, ""},
		{kindBool, "yes", nil, "want true, false, 1 or 0"},
		{kindBool, "2", nil, "want true, false, 1 or 0"},
		{kindBool, "", nil, "expected bool"},
		{kindString, " any text, 1 ", " any text, 1 ", ""},
		{kindString, "", "", ""},
		{kindString, "caf\xe9", nil, "not valid UTF-8"},
		{kindStrings, "a,\xff", nil, "not valid UTF-8"},
		{kindInts, "64,32", []int{64, 32}, ""},
		{kindInts, "[64, 32]", []int{64, 32}, ""},
		{kindInts, " [ 1 ] ", []int{1}, ""},
		{kindInts, "7", []int{7}, ""},
		{kindInts, "[]", []int{}, ""},
		{kindInts, "", []int{}, ""},
		{kindInts, "1,,2", nil, "element 1 is empty"},
		{kindInts, "1,2,", nil, "element 2 is empty"},
		{kindInts, "[1,2", nil, "unclosed"},
		{kindInts, "1,x", nil, `got "x" (element 1`},
		{kindInts, "1,2.5", nil, "not an integer"},
		{kindFloats, "0.1, 1e-2,3", []float64{0.1, 1e-2, 3}, ""},
		{kindFloats, "[nan]", nil, "expected float"},
		{kindStrings, "a, b ,c", []string{"a", "b", "c"}, ""},
		{kindStrings, "[relu]", []string{"relu"}, ""},
		{kindStrings, "[]", []string{}, ""},
		{kindStrings, "a,", nil, "element 1 is empty"},
	}
	for _, tc := range tests {
		got, err := parseString(tc.k, tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parse %s %q = %#v, want error containing %q", tc.k, tc.in, got, tc.why)
			} else if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("parse %s %q: error %q, want ErrBadValue containing %q", tc.k, tc.in, err, tc.why)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parse %s %q = %#v, %v; want %#v", tc.k, tc.in, got, err, tc.want)
		}
	}
}

// TestConvertValue pins how values decoded from YAML or given in a preset
// are checked.
func TestConvertValue(t *testing.T) {
	tests := []struct {
		k    kind
		in   any
		want any
		why  string
	}{
		{kindInt, 3, 3, ""},
		{kindInt, int64(-3), -3, ""},
		{kindInt, uint8(9), 9, ""},
		{kindInt, 1000.0, 1000, ""},
		{kindInt, "12", 12, ""},
		{kindInt, 1.5, nil, "not an integer"},
		{kindInt, uint64(math.MaxUint64), nil, "out of range"},
		{kindInt, true, nil, "expected int, got true (bool)"},
		{kindInt, []any{1}, nil, "expected int, got [1] (list)"},
		{kindInt, nil, nil, "expected int, got null"},
		{kindInt, time.Second, nil, "expected int, got 1s (time.Duration)"},
		{kindFloat, 2, 2.0, ""},
		{kindFloat, float32(0.5), 0.5, ""},
		{kindFloat, 0.25, 0.25, ""},
		{kindFloat, "1e-3", 1e-3, ""},
		{kindFloat, math.Inf(1), nil, "not finite"},
		{kindFloat, "x", nil, `got "x"`},
		{kindBool, true, true, ""},
		{kindBool, 0, false, ""},
		{kindBool, 1, true, ""},
		{kindBool, "false", false, ""},
		{kindBool, 2, nil, "want true, false, 1 or 0"},
		{kindBool, 1.0, nil, "expected bool"},
		{kindString, "relu", "relu", ""},
		{kindString, 12, nil, "quote it"},
		{kindString, true, nil, "quote it"},
		{kindString, map[string]any{"a": 1}, nil, "(mapping)"},
		{kindInts, []any{1, 2}, []int{1, 2}, ""},
		{kindInts, []int{3}, []int{3}, ""},
		{kindInts, []any{}, []int{}, ""},
		{kindInts, []any{"4", 5.0}, []int{4, 5}, ""},
		{kindInts, "1,2", []int{1, 2}, ""},
		{kindInts, 1, nil, "expected list of int"},
		{kindInts, []any{1, "a"}, nil, `got "a" (element 1`},
		{kindInts, []any{1, nil}, nil, "got null (element 1"},
		{kindInts, []any{[]any{1}}, nil, "element 0 is not a scalar"},
		{kindFloats, []any{1, 0.5}, []float64{1, 0.5}, ""},
		{kindFloats, []float64{2}, []float64{2}, ""},
		{kindStrings, []any{"a", "b"}, []string{"a", "b"}, ""},
		{kindStrings, []string{" a,b "}, []string{" a,b "}, ""},
		{kindStrings, []any{"a", 1}, nil, "quote it"},
	}
	for _, tc := range tests {
		got, err := convertValue(tc.k, tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("convert %s %#v = %#v, want error containing %q", tc.k, tc.in, got, tc.why)
			} else if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("convert %s %#v: error %q, want ErrBadValue containing %q", tc.k, tc.in, err, tc.why)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("convert %s %#v = %#v, %v; want %#v", tc.k, tc.in, got, err, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"batch_size", "epochs", "model.widths", "optim.lr", "optim.momentum"}
	for name, want := range map[string]string{
		"epoch":          "epochs",
		"epochz":         "epochs",
		"optim.lrr":      "optim.lr",
		"optim_lr":       "optim.lr",
		"batchsize":      "batch_size",
		"lr":             "optim.lr",
		"momentum":       "optim.momentum",
		"widths":         "model.widths",
		"seed":           "",
		"completely_off": "",
	} {
		if got := suggest(name, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}, {"lr", "lr", 0}, {"ab", "ba", 2},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
		if got := editDistance(tc.b, tc.a); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetry)", tc.b, tc.a, got, tc.d)
		}
	}
}
